//! Listing and removing objects under a root (maintenance: orphan packs).

use std::time::SystemTime;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::{Bucket, ObjectError};

/// An object found under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key relative to the root.
    pub key: String,
    /// Full URI (as a row would record it).
    pub uri: String,
    /// When it was last written.
    pub modified: SystemTime,
    /// Size in bytes.
    pub size: u64,
}

impl Bucket {
    /// Every object whose key starts with `prefix/` (recursively), hidden temporary files
    /// of a local root included.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, ObjectError> {
        let root = self.root_path();
        let under = self.path(prefix.trim_end_matches('/'));
        let failed = |e: object_store::Error| ObjectError::Read {
            uri: self.uri(prefix),
            reason: format!("listing: {e}"),
        };
        let metas: Vec<object_store::ObjectMeta> = self
            .store()
            .list(Some(&under))
            .try_collect()
            .await
            .map_err(failed)?;
        let mut out = Vec::with_capacity(metas.len());
        for m in metas {
            let key = match m.location.prefix_match(root) {
                Some(parts) => parts
                    .map(|p| p.as_ref().to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                None => continue,
            };
            out.push(Listed {
                uri: self.uri(&key),
                key,
                modified: SystemTime::from(m.last_modified),
                size: m.size,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Removes an object (no error when it is already gone).
    pub async fn delete(&self, key: &str) -> Result<(), ObjectError> {
        match self.store().delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(cause) => Err(ObjectError::Write {
                uri: self.uri(key),
                cause,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_keys_under_a_prefix_and_deletes() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = Bucket::open(&dir.path().display().to_string()).expect("open");
        for k in [
            "ztf/packs/night=2023-10-18/a.pack",
            "ztf/packs/night=2023-10-18/.a.pack.1-0.tmp",
            "ztf/night=2023-10-18/1/science.fits.gz",
        ] {
            b.put_if_absent(k, bytes::Bytes::from_static(b"xyz"))
                .await
                .expect("put");
        }
        let got = b.list("ztf/packs").await.expect("list");
        let keys: Vec<&str> = got.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ztf/packs/night=2023-10-18/.a.pack.1-0.tmp",
                "ztf/packs/night=2023-10-18/a.pack"
            ]
        );
        assert_eq!(got[1].uri, b.uri("ztf/packs/night=2023-10-18/a.pack"));
        assert_eq!(got[1].size, 3);
        b.delete("ztf/packs/night=2023-10-18/a.pack")
            .await
            .expect("delete");
        b.delete("ztf/packs/night=2023-10-18/a.pack")
            .await
            .expect("delete again");
        assert_eq!(b.list("ztf/packs").await.expect("list").len(), 1);
        assert!(b.list("nothing").await.expect("list").is_empty());
    }
}
