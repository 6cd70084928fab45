//! A root in object storage: opening it, create-if-absent writes, reads.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::{local, transient, ObjectError};

/// A root in object storage.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    base_uri: String,
    /// Set for a local root: objects are written by [`local::put`] (one file creation
    /// and one rename per object) instead of object_store's staging file + hard link,
    /// which the profile showed costs three file creations per stamp.
    local_root: Option<std::path::PathBuf>,
}

/// Where a URI of this crate points: `s3://bucket/rest`, or a local path
/// (`file:///abs/path`, `/abs/path`, `rel/path`). The one home of that rule, for roots
/// ([`Bucket::open`]) and single objects ([`crate::read_stamp`]).
pub(crate) enum Location<'a> {
    /// An S3 bucket and what follows it (a prefix or a key, possibly empty).
    S3 { bucket: &'a str, rest: &'a str },
    /// A local path.
    Local(std::path::PathBuf),
}

impl<'a> Location<'a> {
    /// Parses a URI; the error says what is wrong with it.
    pub(crate) fn parse(uri: &'a str) -> Result<Location<'a>, String> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, rest) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("no bucket name".into());
            }
            return Ok(Location::S3 { bucket, rest });
        }
        match uri.strip_prefix("file://") {
            Some(p) => Ok(Location::Local(p.into())),
            None if uri.contains("://") => Err("scheme must be file:// or s3://".into()),
            None => Ok(Location::Local(uri.into())),
        }
    }
}

/// A store for an S3 bucket: credentials, endpoint, region and `AWS_ALLOW_HTTP` from the
/// standard `AWS_*` environment variables.
pub(crate) fn s3_store(bucket: &str) -> Result<object_store::aws::AmazonS3, String> {
    AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| e.to_string())
}

/// Outcome of a create-if-absent write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The object was written now.
    Created,
    /// An object already existed under the key (left untouched).
    Existed,
}

impl Bucket {
    /// Opens a root: `file:///abs/dir`, `/abs/dir`, `rel/dir` (created if
    /// missing) or `s3://bucket/prefix` (credentials, endpoint, region and
    /// `AWS_ALLOW_HTTP` from the standard `AWS_*` environment variables).
    pub fn open(uri: &str) -> Result<Bucket, ObjectError> {
        let bad = |reason: String| ObjectError::Uri {
            uri: uri.to_string(),
            reason,
        };
        let dir = match Location::parse(uri).map_err(bad)? {
            Location::Local(dir) => dir,
            Location::S3 {
                bucket,
                rest: prefix,
            } => {
                let store = s3_store(bucket).map_err(bad)?;
                let prefix = prefix.trim_matches('/');
                return Ok(Bucket {
                    local_root: None,
                    store: Arc::new(store),
                    prefix: Path::from(prefix),
                    base_uri: if prefix.is_empty() {
                        format!("s3://{bucket}")
                    } else {
                        format!("s3://{bucket}/{prefix}")
                    },
                });
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| bad(format!("cannot create directory: {e}")))?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| bad(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(Bucket {
            store: Arc::new(store),
            prefix: Path::default(),
            base_uri: format!("file://{}", dir.display()),
            local_root: Some(dir),
        })
    }

    /// The root URI (no trailing slash).
    pub fn base_uri(&self) -> &str {
        &self.base_uri
    }

    /// Full URI of a key under this root.
    pub fn uri(&self, key: &str) -> String {
        format!("{}/{key}", self.base_uri)
    }

    /// The store's path of a key under this root.
    pub(crate) fn path(&self, key: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in key.split('/') {
            p = p.join(part);
        }
        p
    }

    /// The store's path of the root itself.
    pub(crate) fn root_path(&self) -> &Path {
        &self.prefix
    }

    /// The object store behind this root.
    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The directory of a local root (`None` on S3).
    pub(crate) fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// Writes `data` under `key` unless an object already exists there.
    ///
    /// A PUT that fails transiently (a connection cut in flight, see
    /// `transient::is_transient`) is repeated a few times within about 4 s; if the first
    /// one had landed, the repeat reports [`Put::Existed`].
    pub async fn put_if_absent(&self, key: &str, data: bytes::Bytes) -> Result<Put, ObjectError> {
        self.put_payload_if_absent(key, PutPayload::from(data))
            .await
    }

    /// [`Bucket::put_if_absent`] of a payload made of several buffers (not copied).
    pub(crate) async fn put_payload_if_absent(
        &self,
        key: &str,
        data: PutPayload,
    ) -> Result<Put, ObjectError> {
        let path = self.path(key);
        let uri = self.uri(key);
        let put = || {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            let (path, payload) = (&path, data.clone());
            async move {
                match self.store.put_opts(path, payload, opts).await {
                    Ok(_) => Ok(Put::Created),
                    Err(object_store::Error::AlreadyExists { .. }) => Ok(Put::Existed),
                    Err(e) => Err(e),
                }
            }
        };
        ateda_retry::retry(
            &transient::PUT_RETRY,
            &format!("PUT {uri}"),
            transient::is_transient,
            put,
        )
        .await
        .map_err(|cause| ObjectError::Write { uri, cause })
    }

    /// Writes many objects create-if-absent with `concurrency` writes in flight.
    /// Results are in input order.
    ///
    /// On a local root each object is written to a temporary name in its directory and
    /// renamed into place only if nothing is there (see `local::put`): an object under a
    /// key is always complete and never replaced.
    pub async fn put_many_if_absent(
        &self,
        items: Vec<(String, bytes::Bytes)>,
        concurrency: usize,
    ) -> Result<Vec<Put>, ObjectError> {
        use futures::{StreamExt, TryStreamExt};
        if let Some(root) = &self.local_root {
            // Local disk: a few blocking threads, each writing a contiguous share.
            let lanes = concurrency.clamp(1, 8);
            let per_lane = items.len().div_ceil(lanes).max(1);
            let mut tasks = Vec::new();
            let mut items = items;
            while !items.is_empty() {
                let rest = items.split_off(per_lane.min(items.len()));
                let lane = std::mem::replace(&mut items, rest);
                let root = root.clone();
                let base = self.base_uri.clone();
                tasks.push(tokio::task::spawn_blocking(move || {
                    lane.into_iter()
                        .map(|(key, data)| {
                            local::put(&root, &key, &data).map_err(|e| local_error(&base, &key, e))
                        })
                        .collect::<Result<Vec<_>, _>>()
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                let lane = t.await.map_err(|e| ObjectError::Uri {
                    uri: self.base_uri.clone(),
                    reason: format!("writer thread failed: {e}"),
                })??;
                out.extend(lane);
            }
            return Ok(out);
        }
        futures::stream::iter(items)
            .map(|(key, data)| async move { self.put_if_absent(&key, data).await })
            .buffered(concurrency.max(1))
            .try_collect()
            .await
    }

    /// Reads an object (used by tests and checks).
    pub async fn get(&self, key: &str) -> Result<bytes::Bytes, ObjectError> {
        let res = self
            .store
            .get(&self.path(key))
            .await
            .map_err(|cause| ObjectError::Write {
                uri: self.uri(key),
                cause,
            })?;
        res.bytes().await.map_err(|cause| ObjectError::Write {
            uri: self.uri(key),
            cause,
        })
    }
}

/// A local write's I/O error as an [`ObjectError`] naming the object.
pub(crate) fn local_error(base: &str, key: &str, e: std::io::Error) -> ObjectError {
    ObjectError::Write {
        uri: format!("{base}/{key}"),
        cause: object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ateda_schema::ztf::ZTF;

    use crate::stamp_key;

    #[tokio::test]
    async fn create_if_absent_keeps_first_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = Bucket::open(&dir.path().join("cutouts").display().to_string()).expect("open");
        let key = stamp_key(&ZTF, 19648, 42, "science", &[7; 32]);
        assert_eq!(
            key,
            "ztf/night=2023-10-18/42/science-07070707070707070707070707070707.fits.gz"
        );
        assert_eq!(
            b.put_if_absent(&key, bytes::Bytes::from_static(b"one"))
                .await
                .expect("put"),
            Put::Created
        );
        assert_eq!(
            b.put_if_absent(&key, bytes::Bytes::from_static(b"two"))
                .await
                .expect("put"),
            Put::Existed
        );
        assert_eq!(b.get(&key).await.expect("get").as_ref(), b"one");
        assert!(b.uri(&key).starts_with("file:///"));
        assert!(Bucket::open("ftp://x").is_err());
        assert!(Bucket::open("s3:///prefix").is_err());
    }

    #[tokio::test]
    async fn batch_path_creates_skips_existing_and_never_rewrites() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = Bucket::open(&dir.path().join("cutouts").display().to_string()).expect("open");
        let first = stamp_key(&ZTF, 19648, 42, "science", &[7; 32]);
        b.put_if_absent(&first, bytes::Bytes::from_static(b"one"))
            .await
            .expect("put");
        let items = vec![
            (first.clone(), bytes::Bytes::from_static(b"a different one")),
            (
                stamp_key(&ZTF, 19648, 43, "template", &[7; 32]),
                bytes::Bytes::from_static(b"new"),
            ),
            (
                stamp_key(&ZTF, 19648, 44, "science", &[7; 32]),
                bytes::Bytes::from_static(b"newer"),
            ),
        ];
        let got = b.put_many_if_absent(items, 2).await.expect("many");
        assert_eq!(got, vec![Put::Existed, Put::Created, Put::Created]);
        assert_eq!(b.get(&first).await.expect("get").as_ref(), b"one");
        assert_eq!(
            b.get(&stamp_key(&ZTF, 19648, 44, "science", &[7; 32]))
                .await
                .expect("get")
                .as_ref(),
            b"newer"
        );
    }
}
