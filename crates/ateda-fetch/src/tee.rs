//! The tarball's bytes handed to a reader while they arrive (`ateda fetch --ingest`).
//!
//! The download keeps writing `NAME.part` (so an interrupted download still resumes)
//! and sends the same body chunks into a bounded channel; [`TeeReader`] is a blocking
//! [`Read`] over that channel for the ingest's reader thread. The reader sees the whole
//! tarball exactly once, in order, whatever the download goes through:
//!
//! - resumed from a `.part` left by an earlier run: the part's bytes are read from disk
//!   first (the file is opened by the download and handed over, so a later rename does
//!   not matter), then the rest as it arrives;
//! - resumed within the run after a cut: the bytes already handed over are not sent
//!   again;
//! - restarted from zero because the server ignored Range (same file): the bytes already
//!   handed over are skipped in the new body;
//! - restarted from zero because the file changed on the server, or any error that ends
//!   the download (given up, 404, local I/O): the pipe is *aborted*: the reader gets
//!   the chunks already queued, then an error, and [`TeeStatus::aborted`] says why (the
//!   ingest stops there; the members read before are whole and valid);
//! - already fetched and verified by an earlier run: the final file is read from disk.
//!
//! Backpressure: the channel holds a bounded number of chunks, so the download goes at
//! the reader's pace when the reader is slower. A reader that is dropped early (the
//! ingest failed or stopped) never blocks the download: it goes on to disk alone.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::{FetchError, Restart};

/// Chunks queued between the download and the reader.
const CHANNEL_CHUNKS: usize = 256;

enum Msg {
    /// Bytes received now.
    Bytes(Bytes),
    /// `len` bytes of a file on disk, from its current position.
    Disk(std::fs::File, u64),
}

/// Whether the pipe ended early, shared by both ends.
#[derive(Debug, Clone, Default)]
pub struct TeeStatus(Arc<StatusInner>);

#[derive(Debug, Default)]
struct StatusInner {
    reason: Mutex<Option<String>>,
    /// The reader has returned the abort's error (it read everything handed over).
    reader_hit: AtomicBool,
}

impl TeeStatus {
    /// Why the download stopped handing bytes over before the tarball's end, if it did.
    pub fn aborted(&self) -> Option<String> {
        self.0
            .reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the reader has reached the abort (returned its error): what it reads
    /// from then on is cut.
    pub fn reader_hit_abort(&self) -> bool {
        self.0.reader_hit.load(Ordering::SeqCst)
    }

    fn set(&self, reason: String) {
        let mut g = self.0.reason.lock().unwrap_or_else(|p| p.into_inner());
        g.get_or_insert(reason);
    }
}

/// The download's end of the pipe; see the module documentation.
pub struct Tee {
    tx: Option<mpsc::Sender<Msg>>,
    /// Bytes of the tarball handed over so far (its offset for the reader).
    delivered: u64,
    status: TeeStatus,
}

/// The reader's end of the pipe: a blocking [`Read`] of the whole tarball. Call it from
/// a thread outside the async runtime (it blocks on the channel).
pub struct TeeReader {
    rx: mpsc::Receiver<Msg>,
    cur: Bytes,
    disk: Option<(std::fs::File, u64)>,
    status: TeeStatus,
}

/// A pipe from one night's download to a reader.
pub fn tee() -> (Tee, TeeReader) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let status = TeeStatus::default();
    (
        Tee {
            tx: Some(tx),
            delivered: 0,
            status: status.clone(),
        },
        TeeReader {
            rx,
            cur: Bytes::new(),
            disk: None,
            status,
        },
    )
}

impl Tee {
    /// Bytes handed over so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// The pipe's status, shared with the reader.
    pub fn status(&self) -> TeeStatus {
        self.status.clone()
    }

    async fn send(&mut self, msg: Msg) {
        if let Some(tx) = &self.tx {
            if tx.send(msg).await.is_err() {
                // The reader is gone: the download goes on to disk alone.
                tracing::debug!("the reader of the download stopped; downloading on");
                self.tx = None;
            }
        }
    }

    /// Hands over the bytes `delivered..upto` of `file` (already on disk and flushed):
    /// a part resumed from an earlier run, or the verified tarball itself.
    pub(crate) async fn catch_up(&mut self, file: &Path, upto: u64) -> Result<(), FetchError> {
        if self.tx.is_none() || upto <= self.delivered {
            return Ok(());
        }
        let mut f = std::fs::File::open(file).map_err(FetchError::io(file))?;
        f.seek(SeekFrom::Start(self.delivered))
            .map_err(FetchError::io(file))?;
        tracing::info!(
            file = %file.display(),
            from = self.delivered,
            to = upto,
            "the reader reads the bytes already on disk first"
        );
        let len = upto - self.delivered;
        self.delivered = upto;
        self.send(Msg::Disk(f, len)).await;
        Ok(())
    }

    /// Hands over a body chunk that starts at byte `at` of the tarball; bytes already
    /// handed over are skipped.
    pub(crate) async fn chunk(&mut self, at: u64, chunk: &Bytes) {
        let end = at + chunk.len() as u64;
        if self.tx.is_none() || end <= self.delivered {
            return;
        }
        if at > self.delivered {
            // A gap can only follow a failed catch-up: never hand over a hole.
            self.abort(format!(
                "internal: bytes {}..{at} of the tarball were never handed over",
                self.delivered
            ));
            return;
        }
        let skip = usize::try_from(self.delivered - at).unwrap_or(0);
        self.delivered = end;
        self.send(Msg::Bytes(chunk.slice(skip..))).await;
    }

    /// The download starts again from byte zero: fine when the server sends the same
    /// bytes again (it ignored Range), fatal for the pipe when the file changed.
    pub(crate) fn restarted(&mut self, why: Restart) {
        if self.delivered > 0 && why != Restart::RangeIgnored {
            self.abort(format!(
                "the download restarted from zero ({why}) after {} bytes were ingested",
                self.delivered
            ));
        }
    }

    /// Ends the pipe early: the reader gets what is queued, then an error.
    pub(crate) fn abort(&mut self, reason: String) {
        if self.tx.is_some() {
            tracing::warn!(reason = %reason, "the ingest stops reading this download");
        }
        self.status.set(reason);
        self.tx = None;
    }

    /// Ends the pipe at the tarball's end: the reader gets what is queued, then EOF.
    pub(crate) fn finish(mut self) {
        self.end();
    }

    /// The tarball's last byte was handed over: the reader gets EOF after what is
    /// queued (nothing more is sent).
    pub(crate) fn end(&mut self) {
        self.tx = None;
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        if self.tx.is_some() {
            self.abort("the download stopped".into());
        }
    }
}

impl TeeReader {
    /// The pipe's status, shared with the download.
    pub fn status(&self) -> TeeStatus {
        self.status.clone()
    }
}

impl Read for TeeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.cur.is_empty() {
                let n = self.cur.len().min(buf.len());
                buf[..n].copy_from_slice(&self.cur[..n]);
                self.cur = self.cur.slice(n..);
                return Ok(n);
            }
            if let Some((f, left)) = &mut self.disk {
                if *left > 0 {
                    let want = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    let n = f.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the partial download on disk is shorter than announced",
                        ));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
                self.disk = None;
            }
            match self.rx.blocking_recv() {
                Some(Msg::Bytes(b)) => self.cur = b,
                Some(Msg::Disk(f, len)) => self.disk = Some((f, len)),
                None => {
                    return match self.status.aborted() {
                        Some(reason) => {
                            self.status.0.reader_hit.store(true, Ordering::SeqCst);
                            Err(std::io::Error::other(reason))
                        }
                        None => Ok(0),
                    }
                }
            }
        }
    }
}

/// Reads a night's tarball from the pipe as a source named `name` (e.g.
/// `ztf_public_20231012.tar.gz`, members `name!member`) through
/// [`ateda_source::read_stream`], emitting each item; stops emitting once the reader
/// reached the pipe's abort (the items read before are whole members, all emitted; the
/// one the abort cut is not, so an outage never quarantines anything). Returns `false`
/// when stopped early.
pub fn read_tarball(
    reader: TeeReader,
    name: &str,
    opts: &ateda_source::ReadOptions,
    mut emit: impl FnMut(ateda_source::Item) -> bool,
) -> bool {
    let status = reader.status();
    let kind = if name.ends_with(".tar") {
        ateda_source::Kind::Tar
    } else {
        ateda_source::Kind::TarGz
    };
    ateda_source::read_stream(name, kind, reader, opts, |item| {
        if status.reader_hit_abort() {
            return false;
        }
        emit(item)
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ateda_retry::RetryPolicy;
    use md5::{Digest, Md5};

    use super::*;
    use crate::test_server::Server;
    use crate::{fetch_night, fetch_night_tee, Archive, Md5Sums, Outcome};

    const NAME: &str = "ztf_public_20231012.tar.gz";

    fn content(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    fn sums(name: &str, c: &[u8]) -> Md5Sums {
        let hex: String = Md5::digest(c).iter().map(|b| format!("{b:02x}")).collect();
        Md5Sums::parse(&format!("{hex}  {name}\n"))
    }

    fn fast(budget_ms: u64) -> RetryPolicy {
        RetryPolicy {
            first_wait: Duration::from_millis(10),
            max_wait: Duration::from_millis(50),
            budget: Duration::from_millis(budget_ms),
        }
    }

    /// Reads the whole pipe on a thread of its own, as the ingest does.
    fn drain(mut r: TeeReader) -> std::thread::JoinHandle<(Vec<u8>, Result<(), String>)> {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let res = r.read_to_end(&mut v).map(|_| ()).map_err(|e| e.to_string());
            (v, res)
        })
    }

    async fn run_tee(
        archive: &Archive,
        s: &Md5Sums,
        dir: &Path,
        force: bool,
    ) -> (
        Result<crate::Fetched, FetchError>,
        Vec<u8>,
        Result<(), String>,
    ) {
        let (t, r) = tee();
        let reader = drain(r);
        let got = fetch_night_tee(archive, s, dir, NAME, force, &(), t).await;
        let (bytes, res) = tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        (got, bytes, res)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reader_sees_the_tarball_once_through_cuts_and_runs() {
        let server = Server::start().await;
        let data = content(700_000, 1);
        server.put(NAME, &data, "v1");
        let s = sums(NAME, &data);
        let dir = tempfile::tempdir().unwrap();

        // clean, with a cut resumed within the run
        server.state().cut_next_after = Some(250_000);
        let archive = Archive::new(&server.base, fast(2_000)).unwrap();
        let (got, bytes, res) = run_tee(&archive, &s, dir.path(), false).await;
        let got = got.unwrap();
        assert_eq!(got.resumed_at, Some(250_000));
        assert_eq!(res, Ok(()));
        assert!(bytes == data, "the reader got {} bytes", bytes.len());
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);

        // already verified: read from disk, no request
        let before = server.gets(NAME).len();
        let (got, bytes, res) = run_tee(&archive, &s, dir.path(), false).await;
        assert_eq!(got.unwrap().outcome, Outcome::Skipped);
        assert_eq!((bytes == data, res), (true, Ok(())));
        assert_eq!(server.gets(NAME).len(), before);

        // a part left by an earlier run: read from disk, then the remainder arrives
        let dir = tempfile::tempdir().unwrap();
        server.state().cut_next_after = Some(123_457);
        let no_retry = Archive::new(&server.base, fast(0)).unwrap();
        assert!(fetch_night(&no_retry, &s, dir.path(), NAME, false, &())
            .await
            .is_err());
        let (got, bytes, res) = run_tee(&no_retry, &s, dir.path(), false).await;
        let got = got.unwrap();
        assert_eq!(got.resumed_at, Some(123_457));
        assert_eq!(got.received, 700_000 - 123_457);
        assert_eq!((bytes == data, res), (true, Ok(())));
        let gets = server.gets(NAME);
        assert_eq!(gets.last().unwrap().body_sent, 700_000 - 123_457);

        // the server ignores Range after a cut: the same bytes are not handed over twice
        let dir = tempfile::tempdir().unwrap();
        server.state().cut_next_after = Some(300_000);
        server.state().ignore_range = true;
        let (got, bytes, res) = run_tee(&archive, &s, dir.path(), false).await;
        server.state().ignore_range = false;
        assert_eq!(got.unwrap().restarts, [Restart::RangeIgnored]);
        assert_eq!((bytes == data, res), (true, Ok(())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_mismatch_ends_the_pipe_normally_an_outage_aborts_it() {
        let server = Server::start().await;
        let data = content(200_000, 2);
        server.put(NAME, &data, "v1");
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let (got, bytes, res) = run_tee(&archive, &sums(NAME, b"other"), dir.path(), false).await;
        assert!(matches!(got, Err(FetchError::Mismatch { .. })), "{got:?}");
        assert_eq!((bytes == data, res), (true, Ok(())));

        // cut and no retry budget: the reader gets the bytes received, then an error
        server.state().cut_next_after = Some(50_000);
        let (t, r) = tee();
        let status = r.status();
        let reader = drain(r);
        let got = fetch_night_tee(
            &archive,
            &sums(NAME, &data),
            dir.path(),
            NAME,
            false,
            &(),
            t,
        )
        .await;
        assert!(matches!(got, Err(FetchError::GaveUp { .. })), "{got:?}");
        let (bytes, res) = tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        assert_eq!(bytes, data[..50_000]);
        let err = res.unwrap_err();
        assert!(err.contains("giving up"), "{err}");
        assert!(status.aborted().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_gone_early_never_blocks_the_download() {
        let server = Server::start().await;
        let data = content(3_000_000, 3);
        server.put(NAME, &data, "v1");
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let (t, mut r) = tee();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 10];
            r.read_exact(&mut buf).unwrap();
        });
        let got = fetch_night_tee(
            &archive,
            &sums(NAME, &data),
            dir.path(),
            NAME,
            false,
            &(),
            t,
        )
        .await
        .unwrap();
        assert_eq!(got.size, 3_000_000);
        tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_changed_file_after_bytes_were_read_aborts_and_chunks_are_never_doubled() {
        let (mut t, mut r) = tee();
        let status = t.status();
        t.chunk(0, &Bytes::from_static(b"abcd")).await;
        // the same bytes again (Range ignored), then new ones overlapping
        t.restarted(Restart::RangeIgnored);
        t.chunk(0, &Bytes::from_static(b"ab")).await;
        t.chunk(2, &Bytes::from_static(b"cdef")).await;
        assert_eq!(t.delivered(), 6);
        assert!(status.aborted().is_none());
        t.restarted(Restart::Changed);
        let reason = status.aborted().unwrap();
        assert!(
            reason.contains("the file changed on the server"),
            "{reason}"
        );
        t.chunk(0, &Bytes::from_static(b"zzzzzzz")).await;
        drop(t);
        let got = tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            let e = r.read_to_end(&mut v).unwrap_err();
            (v, e.to_string())
        })
        .await
        .unwrap();
        assert_eq!(got.0, b"abcdef");
        assert!(got.1.contains("restarted from zero"), "{}", got.1);
        // a restart before anything was handed over is harmless
        let (mut t, _r) = tee();
        t.restarted(Restart::Changed);
        assert!(t.status().aborted().is_none());
    }

    fn tar_gz(members: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, *data).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap()
    }

    fn sources(r: TeeReader) -> std::thread::JoinHandle<Vec<String>> {
        std::thread::spawn(move || {
            let mut got = Vec::new();
            read_tarball(r, NAME, &ateda_source::ReadOptions::default(), |i| {
                got.push(match i {
                    ateda_source::Item::Member(m) => m.source.clone(),
                    ateda_source::Item::Unreadable(u) => format!("unreadable {}", u.source),
                });
                true
            });
            got
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn members_are_read_as_they_arrive_and_a_cut_member_is_not_emitted() {
        let server = Server::start().await;
        let big = content(400_000, 4);
        let data = tar_gz(&[("1.avro", b"one"), ("2.avro", &big), ("3.avro", b"three")]);
        server.put(NAME, &data, "v1");
        let s = sums(NAME, &data);
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let (t, r) = tee();
        let reader = sources(r);
        fetch_night_tee(&archive, &s, dir.path(), NAME, false, &(), t)
            .await
            .unwrap();
        let got = tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        assert_eq!(
            got,
            ["1.avro", "2.avro", "3.avro"].map(|m| format!("{NAME}!{m}"))
        );
        // an outage in the middle of member 2: member 1 only, nothing unreadable
        let dir = tempfile::tempdir().unwrap();
        server.state().cut_next_after = Some(data.len() / 2);
        let (t, r) = tee();
        let reader = sources(r);
        assert!(
            fetch_night_tee(&archive, &s, dir.path(), NAME, false, &(), t)
                .await
                .is_err()
        );
        let got = tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        assert_eq!(got, [format!("{NAME}!1.avro")]);
    }
}
