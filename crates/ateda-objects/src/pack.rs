//! Packed stamps: many stamps back to back in one object per survey and night.
//!
//! In the packed layout a stamp is not an object of its own but a byte range of a pack
//! object, `<survey>/packs/night=<YYYY-MM-DD>/<run id>-<seq>.pack` under the cutouts
//! root ([`pack_key`]); the row records the pack's URI, the stamp's offset and its length,
//! so one HTTP Range GET (or a seek and a read) returns the exact stamp bytes.
//!
//! - A pack grows until the next stamp would take it past the target size, then it is
//!   closed and the night's next pack begins. [`Packs::close`] closes every open pack and
//!   waits until each is whole under its key: the sink calls it before each commit, so a
//!   committed row never points into a pack that is not there.
//! - Names are unique per run and a pack is written once: a committed range never
//!   changes. A run that stops before its commit leaves packs no row points into
//!   (orphans: `docs/cutouts.md` says how they are found and removed).
//! - S3: a pack up to the part size is one create-if-absent PUT; a larger one is a
//!   multipart upload in parts of that size (at most two parts in flight). Local: the bytes
//!   go to a hidden temporary file in the pack's directory, renamed into place without
//!   replacing anything, as a per-stamp object is.
//! - Memory: a pack holds its stamps without copying them, so a stamp must not pin more
//!   than itself: the ingest hands over stamps copied back to back into one buffer per
//!   batch, not slices of the packets (which would keep whole packets alive). A
//!   [`Packs`] holds the open pack's stamps plus at most one pack still being closed in
//!   the background (multipart: two parts in flight); local packs are written out every
//!   8 MiB.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use ateda_schema::Survey;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload, PutPayloadMut, WriteMultipart};
use tokio::task::JoinHandle;

use crate::bucket::local_error;
use crate::{local, Bucket, ObjectError};

/// Local pack bytes buffered before one write to the temporary file.
const LOCAL_WRITE_BYTES: usize = 8 << 20;

/// Parts of a multipart pack upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// How packs are sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackOptions {
    /// A pack is closed before a stamp would take it past this many bytes (a single
    /// larger stamp gets a pack of its own).
    pub target: u64,
    /// S3: a pack up to this many bytes is one PUT, a larger one a multipart upload in
    /// parts of this size (S3 requires at least 5 MiB).
    pub part: usize,
}

impl PackOptions {
    /// Default target pack size: 128 MiB.
    pub const DEFAULT_TARGET: u64 = 128 << 20;
    /// Default S3 part size: 128 MiB, so a default pack is one PUT.
    pub const DEFAULT_PART: usize = 128 << 20;
    /// The smallest part S3 accepts (but for the last).
    pub const MIN_PART: usize = 5 << 20;
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            target: Self::DEFAULT_TARGET,
            part: Self::DEFAULT_PART,
        }
    }
}

/// Where one stamp was packed: what its row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// Full URI of the pack object.
    pub uri: Arc<str>,
    /// Byte offset of the stamp in the pack.
    pub offset: u64,
    /// Length of the stamp in bytes.
    pub length: u64,
}

/// Key of a pack: `<survey>/packs/night=<YYYY-MM-DD>/<run id>-<seq>.pack`, e.g.
/// `ztf/packs/night=2023-10-18/20261202T193000Z-a1b2c3-00003.pack`.
pub fn pack_key(survey: &Survey, night: i32, run_id: &str, seq: usize) -> String {
    format!(
        "{}/packs/night={}/{run_id}-{seq:05}.pack",
        survey.name,
        ateda_schema::format_day(night)
    )
}

/// The packs one writer (a survey's sink) fills: one open pack per night.
pub struct Packs {
    bucket: Bucket,
    survey: Survey,
    run_id: String,
    opts: PackOptions,
    open: BTreeMap<i32, Pack>,
    /// A pack closed when full, still being finished in the background.
    closing: Option<JoinHandle<Result<(), ObjectError>>>,
    seq: usize,
    closed: u64,
    /// `closed` at the last [`Packs::close`].
    reported: u64,
}

/// One pack being filled.
struct Pack {
    key: String,
    uri: Arc<str>,
    len: u64,
    out: Out,
}

/// Where a pack's bytes go.
enum Out {
    /// A hidden temporary file, renamed to `dest` when closed.
    Local {
        file: Option<std::fs::File>,
        tmp: PathBuf,
        dest: PathBuf,
        pending: Vec<Bytes>,
        pending_bytes: usize,
    },
    /// Buffered for one PUT while it fits in a part.
    Buffer(PutPayloadMut),
    /// A multipart upload (the pack outgrew one part).
    Multipart(WriteMultipart),
}

impl Packs {
    /// Packs of `survey` under the cutouts root, named after `run_id`.
    pub fn new(bucket: Bucket, survey: Survey, run_id: &str, opts: PackOptions) -> Packs {
        Packs {
            bucket,
            survey,
            run_id: run_id.to_string(),
            opts: PackOptions {
                target: opts.target.max(1),
                part: opts.part.max(PackOptions::MIN_PART),
            },
            open: BTreeMap::new(),
            closing: None,
            seq: 0,
            closed: 0,
            reported: 0,
        }
    }

    /// Packs closed so far (whole under their keys).
    pub fn closed(&self) -> u64 {
        self.closed
    }

    /// Appends a stamp to the night's open pack (a new one when none is open or it
    /// would grow past the target) and says where it is.
    pub async fn append(&mut self, night: i32, data: Bytes) -> Result<Packed, ObjectError> {
        let length = data.len() as u64;
        let full = self
            .open
            .get(&night)
            .is_some_and(|p| p.len > 0 && p.len.saturating_add(length) > self.opts.target);
        if full {
            if let Some(p) = self.open.remove(&night) {
                self.close_in_background(p).await?;
            }
        }
        let pack = match self.open.entry(night) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let key = pack_key(&self.survey, night, &self.run_id, self.seq);
                self.seq += 1;
                v.insert(start(&self.bucket, key)?)
            }
        };
        let offset = pack.len;
        pack.len += length;
        write(&self.bucket, pack, data, self.opts.part).await?;
        Ok(Packed {
            uri: pack.uri.clone(),
            offset,
            length,
        })
    }

    /// Closes every open pack and waits until each (and any closed before) is whole
    /// under its key. Returns how many packs became whole since the last call.
    pub async fn close(&mut self) -> Result<u64, ObjectError> {
        self.wait_closing().await?;
        for (_, pack) in std::mem::take(&mut self.open) {
            finish(self.bucket.clone(), pack).await?;
            self.closed += 1;
        }
        let new = self.closed - self.reported;
        self.reported = self.closed;
        Ok(new)
    }

    /// Finishes a full pack in the background (after the one before it, so at most one
    /// is in flight).
    async fn close_in_background(&mut self, pack: Pack) -> Result<(), ObjectError> {
        self.wait_closing().await?;
        self.closing = Some(tokio::spawn(finish(self.bucket.clone(), pack)));
        Ok(())
    }

    async fn wait_closing(&mut self) -> Result<(), ObjectError> {
        if let Some(task) = self.closing.take() {
            task.await.map_err(|e| ObjectError::Uri {
                uri: self.bucket.base_uri().to_string(),
                reason: format!("closing a pack failed: {e}"),
            })??;
            self.closed += 1;
        }
        Ok(())
    }
}

/// Opens a new pack under `key`.
fn start(bucket: &Bucket, key: String) -> Result<Pack, ObjectError> {
    let uri: Arc<str> = bucket.uri(&key).into();
    let out = match bucket.local_root() {
        Some(root) => {
            let dest = root.join(&key);
            let create = || {
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                local::create_temp(&dest)
            };
            let (file, tmp) = create().map_err(|e| local_error(bucket.base_uri(), &key, e))?;
            Out::Local {
                file: Some(file),
                tmp,
                dest,
                pending: Vec::new(),
                pending_bytes: 0,
            }
        }
        None => Out::Buffer(PutPayloadMut::new()),
    };
    Ok(Pack {
        key,
        uri,
        len: 0,
        out,
    })
}

/// Appends bytes to a pack.
async fn write(
    bucket: &Bucket,
    pack: &mut Pack,
    data: Bytes,
    part: usize,
) -> Result<(), ObjectError> {
    let write_error = |cause| ObjectError::Write {
        uri: pack.uri.to_string(),
        cause,
    };
    match &mut pack.out {
        Out::Local {
            pending,
            pending_bytes,
            ..
        } => {
            *pending_bytes += data.len();
            pending.push(data);
            if *pending_bytes >= LOCAL_WRITE_BYTES {
                flush_local(bucket, pack).await?;
            }
        }
        Out::Buffer(buf) => {
            if buf.content_length().saturating_add(data.len()) <= part {
                buf.push(data);
                return Ok(());
            }
            // Outgrew one part: a multipart upload from here on.
            let buffered = std::mem::take(buf).freeze();
            let path: Path = bucket.path(&pack.key);
            let upload = bucket
                .store()
                .put_multipart(&path)
                .await
                .map_err(write_error)?;
            let mut chunked = WriteMultipart::new_with_chunk_size(upload, part);
            for chunk in buffered {
                chunked.put(chunk);
            }
            chunked.put(data);
            pack.out = Out::Multipart(chunked);
        }
        Out::Multipart(chunked) => {
            chunked
                .wait_for_capacity(PARTS_IN_FLIGHT)
                .await
                .map_err(write_error)?;
            chunked.put(data);
        }
    }
    Ok(())
}

/// Writes a local pack's pending bytes to its temporary file.
async fn flush_local(bucket: &Bucket, pack: &mut Pack) -> Result<(), ObjectError> {
    let Out::Local {
        file,
        pending,
        pending_bytes,
        ..
    } = &mut pack.out
    else {
        return Ok(());
    };
    let (Some(mut f), bufs) = (file.take(), std::mem::take(pending)) else {
        return Err(local_error(
            bucket.base_uri(),
            &pack.key,
            std::io::Error::other("pack file already closed"),
        ));
    };
    *pending_bytes = 0;
    let written = tokio::task::spawn_blocking(move || {
        for b in &bufs {
            f.write_all(b)?;
        }
        Ok::<_, std::io::Error>(f)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("writer thread failed: {e}")))
    .and_then(|r| r)
    .map_err(|e| local_error(bucket.base_uri(), &pack.key, e))?;
    *file = Some(written);
    Ok(())
}

/// Closes a pack: whole under its key when this returns `Ok`.
async fn finish(bucket: Bucket, mut pack: Pack) -> Result<(), ObjectError> {
    let uri = pack.uri.to_string();
    match &mut pack.out {
        Out::Local { .. } => {
            flush_local(&bucket, &mut pack).await?;
            let Out::Local {
                file, tmp, dest, ..
            } = &mut pack.out
            else {
                return Ok(());
            };
            drop(file.take());
            let (tmp, dest) = (tmp.clone(), dest.clone());
            tokio::task::spawn_blocking(move || {
                let placed = local::rename_noreplace(&tmp, &dest);
                if placed.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                placed
            })
            .await
            .map_err(|e| std::io::Error::other(format!("writer thread failed: {e}")))
            .and_then(|r| r)
            .map_err(|e| local_error(bucket.base_uri(), &pack.key, e))
        }
        Out::Buffer(buf) => {
            let payload: PutPayload = std::mem::take(buf).freeze();
            bucket.put_payload_if_absent(&pack.key, payload).await?;
            Ok(())
        }
        Out::Multipart(_) => {
            let Out::Multipart(chunked) =
                std::mem::replace(&mut pack.out, Out::Buffer(PutPayloadMut::new()))
            else {
                return Ok(());
            };
            chunked
                .finish()
                .await
                .map(|_| ())
                .map_err(|cause| ObjectError::Write { uri, cause })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_stamp, StampLocation};
    use ateda_schema::ztf::ZTF;

    fn stamp(i: usize, n: usize) -> Bytes {
        Bytes::from(
            (0..n)
                .map(|j| ((i * 31 + j) % 251) as u8)
                .collect::<Vec<u8>>(),
        )
    }

    #[tokio::test]
    async fn stamps_come_back_exact_from_ranges_and_packs_roll_at_the_target() {
        let dir = tempfile::tempdir().expect("tmp");
        let bucket = Bucket::open(&dir.path().display().to_string()).expect("open");
        let opts = PackOptions {
            target: 10_000,
            part: PackOptions::MIN_PART,
        };
        let mut packs = Packs::new(bucket.clone(), ZTF, "run1", opts);
        let mut placed = Vec::new();
        for i in 0..30 {
            let night = 19648 + (i % 2) as i32;
            let data = stamp(i, 1_000 + i * 37);
            let at = packs.append(night, data.clone()).await.expect("append");
            assert!(at
                .uri
                .contains(&format!("/ztf/packs/night=2023-10-{}/run1-", 18 + i % 2)));
            placed.push((at, data));
        }
        // nothing is visible under a pack's key before it is closed
        let last = &placed.last().expect("a stamp").0;
        let path = last.uri.strip_prefix("file://").expect("local uri");
        assert!(!std::path::Path::new(path).exists());
        let closed_now = packs.close().await.expect("close");
        let uris: std::collections::BTreeSet<&str> = placed.iter().map(|(p, _)| &*p.uri).collect();
        assert_eq!(packs.closed() as usize, uris.len());
        assert_eq!(closed_now, packs.closed(), "every pack closed by now");
        assert!(uris.len() > 2, "packs rolled at the target: {uris:?}");
        for (p, data) in &placed {
            assert!(p.offset + p.length <= opts.target.max(p.length), "{p:?}");
            let got = read_stamp(&StampLocation::ranged(&*p.uri, p.offset, p.length))
                .await
                .expect("read");
            assert_eq!(got, *data);
        }
        // no temporary file is left behind
        let mut leftovers = Vec::new();
        for night in ["2023-10-18", "2023-10-19"] {
            for e in
                std::fs::read_dir(dir.path().join(format!("ztf/packs/night={night}"))).expect("dir")
            {
                let name = e.expect("entry").file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    leftovers.push(name);
                }
            }
        }
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[tokio::test]
    async fn a_stamp_larger_than_the_target_gets_a_pack_of_its_own() {
        let dir = tempfile::tempdir().expect("tmp");
        let bucket = Bucket::open(&dir.path().display().to_string()).expect("open");
        let opts = PackOptions {
            target: 100,
            part: PackOptions::MIN_PART,
        };
        let mut packs = Packs::new(bucket, ZTF, "run2", opts);
        let small = packs.append(19648, stamp(1, 10)).await.expect("append");
        let big = packs.append(19648, stamp(2, 500)).await.expect("append");
        let after = packs.append(19648, stamp(3, 10)).await.expect("append");
        assert_ne!(small.uri, big.uri);
        assert_eq!(big.offset, 0);
        assert_ne!(big.uri, after.uri);
        packs.close().await.expect("close");
        let got = read_stamp(&StampLocation::ranged(&*big.uri, big.offset, big.length))
            .await
            .expect("read");
        assert_eq!(got, stamp(2, 500));
    }

    #[test]
    fn pack_keys_name_survey_night_run_and_sequence() {
        assert_eq!(
            pack_key(&ZTF, 19648, "r", 7),
            "ztf/packs/night=2023-10-18/r-00007.pack"
        );
    }
}
