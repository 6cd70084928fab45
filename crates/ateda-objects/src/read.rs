//! Reading a stamp back from what a bronze row records about it.
//!
//! A row points at a stamp with a [`StampLocation`]: the object's full URI and, for a
//! stamp stored inside a larger object (a pack), the byte range within it. One function,
//! [`read_stamp`], turns either into the exact stamp bytes: a whole-object GET, or one
//! ranged read (an HTTP `Range` GET on S3, a seek and read on a local file).

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::bucket::{s3_store, Location};
use crate::ObjectError;

/// Where one stamp's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampLocation {
    /// Full URI of the object holding the stamp: `file:///abs/path`, `/abs/path` or
    /// `s3://bucket/key`.
    pub uri: String,
    /// The stamp's bytes within the object (`offset..offset + length`); `None`: the
    /// whole object is the stamp (the per-stamp layout).
    pub range: Option<Range<u64>>,
}

impl StampLocation {
    /// A stamp that is a whole object.
    pub fn whole(uri: impl Into<String>) -> StampLocation {
        StampLocation {
            uri: uri.into(),
            range: None,
        }
    }

    /// A stamp stored as `length` bytes at `offset` in the object at `uri`.
    pub fn ranged(uri: impl Into<String>, offset: u64, length: u64) -> StampLocation {
        StampLocation {
            uri: uri.into(),
            range: Some(offset..offset.saturating_add(length)),
        }
    }
}

/// A read failure naming the object.
fn read_error(uri: &str, reason: impl std::fmt::Display) -> ObjectError {
    ObjectError::Read {
        uri: uri.to_string(),
        reason: reason.to_string(),
    }
}

/// Reads the exact bytes of a stamp: the whole object, or only its range (one ranged
/// read). S3 credentials, endpoint and region come from the standard `AWS_*` variables.
///
/// Fails when the object is missing or shorter than the range.
pub async fn read_stamp(loc: &StampLocation) -> Result<bytes::Bytes, ObjectError> {
    let path = match Location::parse(&loc.uri).map_err(|e| read_error(&loc.uri, e))? {
        Location::S3 { bucket, rest: key } => {
            if key.is_empty() {
                return Err(read_error(&loc.uri, "expected s3://bucket/key"));
            }
            let store = s3_store(bucket).map_err(|e| read_error(&loc.uri, e))?;
            return read_from(&store, &Path::from(key), loc).await;
        }
        Location::Local(path) => path,
    };
    let l = loc.clone();
    tokio::task::spawn_blocking(move || read_local(&path, l.range.clone()))
        .await
        .map_err(|e| read_error(&loc.uri, format!("reader thread failed: {e}")))?
        .map_err(|e| read_error(&loc.uri, e))
}

/// One GET (whole object) or one ranged GET from an object store, checking the length.
async fn read_from(
    store: &dyn ObjectStore,
    path: &Path,
    loc: &StampLocation,
) -> Result<bytes::Bytes, ObjectError> {
    match &loc.range {
        None => {
            let res = store.get(path).await.map_err(|e| read_error(&loc.uri, e))?;
            res.bytes().await.map_err(|e| read_error(&loc.uri, e))
        }
        Some(r) => {
            if r.start > r.end {
                return Err(read_error(&loc.uri, "empty byte range"));
            }
            let got = store
                .get_range(path, r.clone())
                .await
                .map_err(|e| read_error(&loc.uri, e))?;
            let want = r.end - r.start;
            if got.len() as u64 != want {
                return Err(read_error(
                    &loc.uri,
                    format!("range {}..{} gave {} bytes", r.start, r.end, got.len()),
                ));
            }
            Ok(got)
        }
    }
}

/// Reads a local file whole, or `range` of it (an error if the file is shorter).
fn read_local(path: &std::path::Path, range: Option<Range<u64>>) -> std::io::Result<bytes::Bytes> {
    let Some(r) = range else {
        return std::fs::read(path).map(bytes::Bytes::from);
    };
    let len = usize::try_from(r.end.saturating_sub(r.start))
        .map_err(|_| std::io::Error::other("byte range too large"))?;
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(r.start))?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "range {}..{} past the end of the object: {e}",
                r.start, r.end
            ),
        )
    })?;
    Ok(bytes::Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Bucket;

    #[tokio::test]
    async fn reads_a_whole_local_object_by_its_uri() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = Bucket::open(&dir.path().display().to_string()).expect("open");
        let key = "ztf/night=2023-10-18/42/science-00.fits.gz";
        b.put_if_absent(key, bytes::Bytes::from_static(b"\x1f\x8bstamp"))
            .await
            .expect("put");
        let got = read_stamp(&StampLocation::whole(b.uri(key)))
            .await
            .expect("read");
        assert_eq!(got.as_ref(), b"\x1f\x8bstamp");
        // a plain path reads the same object
        let plain = b.uri(key).trim_start_matches("file://").to_string();
        assert_eq!(
            read_stamp(&StampLocation::whole(plain))
                .await
                .expect("read")
                .as_ref(),
            b"\x1f\x8bstamp"
        );
    }

    #[tokio::test]
    async fn reads_only_the_range_of_a_local_object() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pack-0.bin");
        std::fs::write(&path, b"AAAABBBBBBCC").expect("write");
        let uri = format!("file://{}", path.display());
        let got = read_stamp(&StampLocation::ranged(&uri, 4, 6))
            .await
            .expect("read");
        assert_eq!(got.as_ref(), b"BBBBBB");
        let tail = read_stamp(&StampLocation::ranged(&uri, 10, 2))
            .await
            .expect("read");
        assert_eq!(tail.as_ref(), b"CC");
        // a range past the end is an error naming the object, never short bytes
        let err = read_stamp(&StampLocation::ranged(&uri, 10, 5))
            .await
            .expect_err("past the end");
        assert!(err.to_string().contains("pack-0.bin"), "{err}");
    }

    #[tokio::test]
    async fn missing_objects_and_bad_uris_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let missing = format!("file://{}/nope.fits.gz", dir.path().display());
        assert!(read_stamp(&StampLocation::whole(missing)).await.is_err());
        assert!(read_stamp(&StampLocation::whole("ftp://x/y"))
            .await
            .is_err());
        assert!(read_stamp(&StampLocation::whole("s3://bucket-only"))
            .await
            .is_err());
    }

    #[tokio::test]
    async fn ranged_reads_through_an_object_store() {
        let store = object_store::memory::InMemory::new();
        let path = Path::from("ztf/packs/night=2023-10-18/p.bin");
        store
            .put(&path, bytes::Bytes::from_static(b"0123456789").into())
            .await
            .expect("put");
        let loc = StampLocation::ranged("s3://b/ztf/packs/night=2023-10-18/p.bin", 3, 4);
        let got = read_from(&store, &path, &loc).await.expect("range");
        assert_eq!(got.as_ref(), b"3456");
        let whole = StampLocation::whole("s3://b/ztf/packs/night=2023-10-18/p.bin");
        assert_eq!(
            read_from(&store, &path, &whole)
                .await
                .expect("whole")
                .as_ref(),
            b"0123456789"
        );
        let past = StampLocation::ranged("s3://b/p.bin", 8, 5);
        assert!(read_from(&store, &path, &past).await.is_err());
    }
}
