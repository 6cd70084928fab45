//! Object storage for stamps and quarantined bytes.
//!
//! A [`Bucket`] is a root URI (`file:///abs/dir`, a plain path, or
//! `s3://bucket/prefix`) plus an `object_store` client. Every write is
//! create-if-absent (`PutMode::Create`), so re-runs never rewrite an object
//! and a crash leaves nothing half-written.
//!
//! Cutout key layout (relative to the cutouts root):
//! `ztf/night=<YYYY-MM-DD>/<candid>/<science|template|difference>.fits.gz`.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use sha2::{Digest, Sha256};

/// Errors of object storage.
///
/// No `source()`: the message carries each distinct cause once (object_store errors
/// print their source inside their own message, so walking the chain repeated it).
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The root URI is not usable.
    #[error("storage URI {uri}: {reason}")]
    Uri {
        /// URI as given.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The store refused or failed a write.
    #[error("writing {uri}: {}", with_causes(cause))]
    Write {
        /// Object URI.
        uri: String,
        /// Underlying error.
        cause: object_store::Error,
    },
}

/// An error's message followed by those of its causes not already part of it.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !msg.contains(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        cause = c.source();
    }
    msg
}

/// A root in object storage.
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    base_uri: String,
    /// Set for a local root: stamps are written with plain `create_new` files
    /// (one create per object) instead of object_store's staging file + hard
    /// link, which the profile showed costs three file creations per stamp.
    local_root: Option<std::path::PathBuf>,
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
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("no bucket name".into()));
            }
            let store = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
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
        let dir = match uri.strip_prefix("file://") {
            Some(p) => std::path::PathBuf::from(p),
            None if uri.contains("://") => {
                return Err(bad("scheme must be file:// or s3://".into()))
            }
            None => std::path::PathBuf::from(uri),
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

    fn path(&self, key: &str) -> Path {
        let mut p = self.prefix.clone();
        for part in key.split('/') {
            p = p.join(part);
        }
        p
    }

    /// Writes `data` under `key` unless an object already exists there.
    ///
    /// object_store retries requests that never reached the server, but not a
    /// create-if-absent PUT cut off in flight (a connection reset when the server
    /// restarts): to object_store it is not idempotent. Here it is, since keys are
    /// deterministic and content immutable: such a PUT is repeated (a few times, within
    /// about 4 s), and if the first one had landed the repeat reports `Existed`.
    pub async fn put_if_absent(&self, key: &str, data: bytes::Bytes) -> Result<Put, ObjectError> {
        let path = self.path(key);
        let mut pause = std::time::Duration::from_millis(250);
        loop {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match self
                .store
                .put_opts(&path, PutPayload::from(data.clone()), opts)
                .await
            {
                Ok(_) => return Ok(Put::Created),
                Err(object_store::Error::AlreadyExists { .. }) => return Ok(Put::Existed),
                Err(e) if pause.as_secs() < 4 && cut_off_in_flight(&e) => {
                    tracing::warn!(uri = %self.uri(key), "PUT cut off in flight, repeating: {e}");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(cause) => {
                    return Err(ObjectError::Write {
                        uri: self.uri(key),
                        cause,
                    })
                }
            }
        }
    }

    /// Writes many objects create-if-absent with `concurrency` writes in flight.
    /// Results are in input order.
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
                        .map(|(key, data)| put_local(&root, &base, &key, &data))
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

/// Whether a request failed because its connection broke after it was sent.
fn cut_off_in_flight(e: &object_store::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
            ) {
                return true;
            }
        }
        if c.to_string()
            .contains("connection closed before message completed")
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Create-if-absent of one local file. An existing file of the same length
/// is the same object (keys are deterministic and content is immutable); a
/// shorter one is what a killed process left half-written, and is replaced.
fn put_local(
    root: &std::path::Path,
    base: &str,
    key: &str,
    data: &[u8],
) -> Result<Put, ObjectError> {
    use std::io::Write;
    let path = root.join(key);
    let err = |e: std::io::Error| ObjectError::Write {
        uri: format!("{base}/{key}"),
        cause: object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(e),
        },
    };
    let write = |create_new: bool| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(create_new)
            .truncate(!create_new)
            .create(!create_new)
            .open(&path)?;
        f.write_all(data)
    };
    match write(true) {
        Ok(()) => Ok(Put::Created),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            match write(true) {
                Ok(()) => Ok(Put::Created),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    existing(&path, data, &write).map_err(err)
                }
                Err(e) => Err(err(e)),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            existing(&path, data, &write).map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

fn existing(
    path: &std::path::Path,
    data: &[u8],
    write: &dyn Fn(bool) -> std::io::Result<()>,
) -> std::io::Result<Put> {
    if std::fs::metadata(path)?.len() == data.len() as u64 {
        Ok(Put::Existed)
    } else {
        write(false)?;
        Ok(Put::Created)
    }
}

/// Key of a stamp object: `ztf/night=<YYYY-MM-DD>/<candid>/<kind>.fits.gz`.
pub fn stamp_key(night: i32, candid: i64, kind: &str) -> String {
    format!(
        "ztf/night={}/{candid}/{kind}.fits.gz",
        ateda_ztf_schema::format_day(night)
    )
}

/// Key of quarantined bytes: `<sha256>.bin`, so the same bad bytes are kept once.
pub fn quarantine_key(bytes: &[u8]) -> (String, String) {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (format!("{hex}.bin"), hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_if_absent_keeps_first_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = Bucket::open(&dir.path().join("cutouts").display().to_string()).expect("open");
        let key = stamp_key(19648, 42, "science");
        assert_eq!(key, "ztf/night=2023-10-18/42/science.fits.gz");
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
        // the batch path: creates, skips existing, repairs a half-written file
        let half = stamp_key(19648, 43, "template");
        std::fs::create_dir_all(dir.path().join("cutouts/ztf/night=2023-10-18/43")).expect("mkdir");
        std::fs::write(dir.path().join("cutouts").join(&half), b"par").expect("write");
        let items = vec![
            (key.clone(), bytes::Bytes::from_static(b"one")),
            (half.clone(), bytes::Bytes::from_static(b"partial no more")),
            (
                stamp_key(19648, 44, "science"),
                bytes::Bytes::from_static(b"new"),
            ),
        ];
        let got = b.put_many_if_absent(items, 2).await.expect("many");
        assert_eq!(got, vec![Put::Existed, Put::Created, Put::Created]);
        assert_eq!(
            b.get(&half).await.expect("get").as_ref(),
            b"partial no more"
        );
    }
}
