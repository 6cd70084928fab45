//! One night's download: a state machine over the files beside the final one.
//!
//! - `NAME.part`: the bytes received so far; `NAME.part.json`: the validator of the
//!   first response (`etag`, `last_modified`, `length`), so a later run can resume with
//!   `Range: bytes=<len>-` and `If-Range: <validator>`.
//! - `NAME`: the verified tarball; `NAME.md5`: its MD5 and size (`{"md5", "size"}`), so
//!   a later run skips it without reading it again.
//! - `NAME.bad`: a download whose MD5 did not match `MD5SUMS`.

use std::path::{Path, PathBuf};

use ateda_retry::{with_causes, Schedule};
use md5::{Digest, Md5};
use reqwest::header::{CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use url::Url;

use crate::tee::Tee;
use crate::{Archive, FetchError, Md5Sums};

/// Size of the write buffer and of the reads when hashing a partial file again.
const BUF: usize = 1 << 20;

/// Where a download's bytes go while they arrive; the CLI draws a progress bar.
pub trait Progress: Send + Sync {
    /// A transfer (re)starts with `at` bytes already on disk, of `total` if known.
    fn start(&self, name: &str, at: u64, total: Option<u64>);
    /// `n` more bytes were written.
    fn advance(&self, n: u64);
}

/// No progress reporting.
impl Progress for () {
    fn start(&self, _: &str, _: u64, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// Why a download started again from byte zero with a partial file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// The server's file changed since the partial download (If-Range did not match).
    Changed,
    /// The server ignored the Range request (answered 200 with the same validator).
    RangeIgnored,
    /// The partial file is longer than the server's file.
    LongerThanRemote,
    /// No usable validator (`.part.json` missing, unreadable, or without a strong ETag
    /// or Last-Modified).
    NoValidator,
    /// The server answered 416 to the resumed request.
    RangeNotSatisfiable,
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Restart::Changed => "the file changed on the server",
            Restart::RangeIgnored => "the server ignored the Range request",
            Restart::LongerThanRemote => "the partial file is longer than the server's",
            Restart::NoValidator => "no validator beside the partial file",
            Restart::RangeNotSatisfiable => "the server refused the range (HTTP 416)",
        })
    }
}

/// Whether a night was downloaded or found already verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Downloaded (in full or resumed) and verified now.
    Fetched,
    /// Already fetched and verified by an earlier run; not read again.
    Skipped,
}

/// A night's verified tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The tarball's file name.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its MD5 (lower-case hex), equal to `MD5SUMS`.
    pub md5: String,
    /// Downloaded now or skipped.
    pub outcome: Outcome,
    /// The byte at which the first resumed transfer of this run started, if any.
    pub resumed_at: Option<u64>,
    /// Each restart from zero with a partial file on disk, in order.
    pub restarts: Vec<Restart>,
    /// Bytes received over the network in this run.
    pub received: u64,
}

/// The validator of the first response, kept beside the partial file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Validator {
    etag: Option<String>,
    last_modified: Option<String>,
    length: Option<u64>,
}

impl Validator {
    /// The `If-Range` value: a strong ETag, else the Last-Modified date.
    fn if_range(&self) -> Option<&str> {
        self.etag
            .as_deref()
            .filter(|e| !e.starts_with("W/"))
            .or(self.last_modified.as_deref())
    }
}

/// The record of a verified tarball, `NAME.md5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Verified {
    md5: String,
    size: u64,
}

/// The files of one night in the target directory.
struct Paths {
    fin: PathBuf,
    part: PathBuf,
    json: PathBuf,
    record: PathBuf,
    bad: PathBuf,
}

impl Paths {
    fn new(dir: &Path, name: &str) -> Self {
        Paths {
            fin: dir.join(name),
            part: dir.join(format!("{name}.part")),
            json: dir.join(format!("{name}.part.json")),
            record: dir.join(format!("{name}.md5")),
            bad: dir.join(format!("{name}.bad")),
        }
    }
}

/// What a night's download knows between attempts.
#[derive(Default)]
struct State {
    /// The MD5 state over the first `hashed` bytes of the partial file.
    hasher: Md5,
    hashed: u64,
    resumed_at: Option<u64>,
    restarts: Vec<Restart>,
    received: u64,
}

/// Fetches one night's tarball `name` from `archive` into `dir` and verifies it against
/// `sums`: skipped when `NAME` and its `NAME.md5` record say it is already verified with
/// the listed MD5 and size (unless `force`); otherwise downloaded to `NAME.part`
/// (resumed if a partial download with its validator is there), transient failures
/// retried under the archive's policy (a failure after progress starts a new budget),
/// then renamed to `NAME` on a matching MD5 or to `NAME.bad` on a mismatch.
pub async fn fetch_night(
    archive: &Archive,
    sums: &Md5Sums,
    dir: &Path,
    name: &str,
    force: bool,
    progress: &dyn Progress,
) -> Result<Fetched, FetchError> {
    fetch(archive, sums, dir, name, force, progress, None).await
}

/// [`fetch_night`], handing the tarball's bytes to `tee`'s reader as they arrive
/// (`ateda fetch --ingest`; see [`crate::tee`]): the reader sees the whole tarball once,
/// in order, also when the download resumes a `.part` (read from disk first) or the
/// night was already verified (the final file is read). The pipe ends at the tarball's
/// end when every byte was handed over (also on an MD5 mismatch: the reader has read the
/// whole file by then), and is aborted on any other error.
pub async fn fetch_night_tee(
    archive: &Archive,
    sums: &Md5Sums,
    dir: &Path,
    name: &str,
    force: bool,
    progress: &dyn Progress,
    mut tee: Tee,
) -> Result<Fetched, FetchError> {
    let res = fetch(archive, sums, dir, name, force, progress, Some(&mut tee)).await;
    match &res {
        Ok(_) | Err(FetchError::Mismatch { .. }) => tee.finish(),
        Err(e) => tee.abort(e.to_string()),
    }
    res
}

async fn fetch(
    archive: &Archive,
    sums: &Md5Sums,
    dir: &Path,
    name: &str,
    force: bool,
    progress: &dyn Progress,
    mut tee: Option<&mut Tee>,
) -> Result<Fetched, FetchError> {
    let paths = Paths::new(dir, name);
    let Some(expected) = sums.get(name) else {
        // Tell a night the archive does not have from one MD5SUMS forgot.
        let status = archive.head_status(name).await?;
        return Err(match status {
            404 | 410 => FetchError::NotInArchive {
                name: name.to_string(),
                status,
            },
            _ => FetchError::NoMd5Entry {
                name: name.to_string(),
            },
        });
    };
    if !force {
        if let Some(done) = already_verified(&paths, name, expected).await {
            if let Some(t) = tee.as_deref_mut() {
                t.catch_up(&done.path, done.size).await?;
            }
            return Ok(done);
        }
    }
    let url = archive.url_of(name)?;
    let mut st = State::default();
    let mut schedule: Option<Schedule> = None;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let before = st.received;
        match attempt(
            archive,
            &url,
            name,
            &paths,
            &mut st,
            progress,
            tee.as_deref_mut(),
        )
        .await
        {
            Ok(()) => break,
            Err(e) if e.is_transient() => {
                if st.received > before {
                    schedule = None;
                }
                let wait = schedule
                    .get_or_insert_with(|| archive.policy().start())
                    .next_wait();
                match wait {
                    Some(wait) => {
                        tracing::warn!(
                            file = name,
                            wait_ms = wait.as_millis() as u64,
                            error = %with_causes(&e),
                            "download failed transiently; resuming after a wait"
                        );
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        let kept = file_len(&paths.part).await?;
                        return Err(FetchError::GaveUp {
                            name: name.to_string(),
                            attempts,
                            kept,
                            part: paths.part.clone(),
                            last: Box::new(e),
                        });
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    verify(name, expected, &paths, st).await
}

/// The night as recorded by an earlier run, if its record matches `expected` and the
/// file's size.
async fn already_verified(paths: &Paths, name: &str, expected: &str) -> Option<Fetched> {
    let text = tokio::fs::read(&paths.record).await.ok()?;
    let rec: Verified = serde_json::from_slice(&text).ok()?;
    let size = tokio::fs::metadata(&paths.fin).await.ok()?.len();
    if rec.size != size || !rec.md5.eq_ignore_ascii_case(expected) {
        tracing::info!(
            file = name,
            "the verified record does not match the file or MD5SUMS; fetching again"
        );
        return None;
    }
    Some(Fetched {
        name: name.to_string(),
        path: paths.fin.clone(),
        size,
        md5: rec.md5,
        outcome: Outcome::Skipped,
        resumed_at: None,
        restarts: Vec::new(),
        received: 0,
    })
}

/// The length of a file, 0 if it does not exist.
async fn file_len(path: &Path) -> Result<u64, FetchError> {
    match tokio::fs::metadata(path).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(FetchError::io(path)(e)),
    }
}

async fn read_validator(path: &Path) -> Option<Validator> {
    let text = tokio::fs::read(path).await.ok()?;
    serde_json::from_slice(&text).ok()
}

async fn write_validator(path: &Path, v: &Validator) -> Result<(), FetchError> {
    let text = serde_json::to_vec(v).map_err(|e| FetchError::io(path)(e.into()))?;
    tokio::fs::write(path, text)
        .await
        .map_err(FetchError::io(path))
}

/// Makes `st.hasher` cover exactly the first `len` bytes of the partial file, reading it
/// again (streaming) when what was hashed differs from what is on disk.
async fn rehash(st: &mut State, part: &Path, len: u64) -> Result<(), FetchError> {
    if st.hashed == len {
        return Ok(());
    }
    let mut f = tokio::fs::File::open(part)
        .await
        .map_err(FetchError::io(part))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; BUF];
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len - done).unwrap_or(BUF).min(BUF);
        let n = f
            .read(&mut buf[..want])
            .await
            .map_err(FetchError::io(part))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
    }
    st.hasher = hasher;
    st.hashed = done;
    Ok(())
}

/// Records a restart from zero and removes the partial file and its validator.
async fn restart(
    st: &mut State,
    name: &str,
    paths: &Paths,
    why: Restart,
    tee: Option<&mut Tee>,
) -> Result<(), FetchError> {
    tracing::info!(file = name, reason = %why, "restarting the download from zero");
    if let Some(t) = tee {
        t.restarted(why);
    }
    st.restarts.push(why);
    for p in [&paths.part, &paths.json] {
        match tokio::fs::remove_file(p).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(FetchError::io(p)(e)),
        }
    }
    st.hasher = Md5::new();
    st.hashed = 0;
    Ok(())
}

/// The first byte and total length of a `Content-Range: bytes a-b/total` header.
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (first, _) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, total))
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// One request: resumes from the partial file when it can, streams the body to disk
/// while hashing it; `Ok` when the whole file is on disk.
async fn attempt(
    archive: &Archive,
    url: &Url,
    name: &str,
    paths: &Paths,
    st: &mut State,
    progress: &dyn Progress,
    mut tee: Option<&mut Tee>,
) -> Result<(), FetchError> {
    let on_disk = file_len(&paths.part).await?;
    let validator = read_validator(&paths.json).await;
    let mut from = 0;
    let mut if_range = None;
    if on_disk > 0 || tokio::fs::try_exists(&paths.part).await.unwrap_or(false) {
        match validator.as_ref() {
            Some(v) if v.length.is_some_and(|l| on_disk > l) => {
                restart(
                    st,
                    name,
                    paths,
                    Restart::LongerThanRemote,
                    tee.as_deref_mut(),
                )
                .await?;
            }
            Some(v) if v.length == Some(on_disk) && on_disk > 0 => {
                // Everything is on disk (stopped between the last byte and the rename).
                rehash(st, &paths.part, on_disk).await?;
                if let Some(t) = tee {
                    t.catch_up(&paths.part, on_disk).await?;
                }
                return Ok(());
            }
            Some(v) if on_disk > 0 && v.if_range().is_some() => {
                from = on_disk;
                if_range = v.if_range().map(str::to_string);
            }
            _ if on_disk == 0 => {}
            _ => restart(st, name, paths, Restart::NoValidator, tee.as_deref_mut()).await?,
        }
    }
    let mut req = archive.client().get(url.clone());
    if let Some(tag) = &if_range {
        req = req
            .header(RANGE, format!("bytes={from}-"))
            .header(IF_RANGE, tag.as_str());
    }
    let request_error = |source| FetchError::Request {
        url: url.to_string(),
        source,
    };
    let mut resp = req.send().await.map_err(request_error)?;
    let status = resp.status();
    let (mut file, total) = match status {
        StatusCode::PARTIAL_CONTENT if from > 0 => {
            let (first, total) = header(&resp, CONTENT_RANGE)
                .as_deref()
                .and_then(content_range)
                .ok_or_else(|| FetchError::Protocol {
                    name: name.to_string(),
                    reason: "HTTP 206 without a valid Content-Range".into(),
                })?;
            if first != from {
                return Err(FetchError::Protocol {
                    name: name.to_string(),
                    reason: format!("asked for bytes from {from}, got from {first}"),
                });
            }
            tracing::info!(file = name, at = from, "resuming the download");
            st.resumed_at.get_or_insert(from);
            rehash(st, &paths.part, from).await?;
            let file = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&paths.part)
                .await
                .map_err(FetchError::io(&paths.part))?;
            (file, total.or(validator.and_then(|v| v.length)))
        }
        StatusCode::OK => {
            let etag = header(&resp, ETAG);
            if from > 0 {
                let old = validator.as_ref().and_then(|v| v.etag.clone());
                let old_lm = validator.as_ref().and_then(|v| v.last_modified.clone());
                let changed = (old.is_some() && old != etag)
                    || (old.is_none() && old_lm != header(&resp, LAST_MODIFIED));
                let why = if changed {
                    Restart::Changed
                } else {
                    Restart::RangeIgnored
                };
                restart(st, name, paths, why, tee.as_deref_mut()).await?;
            }
            let v = Validator {
                etag,
                last_modified: header(&resp, LAST_MODIFIED),
                length: resp.content_length(),
            };
            write_validator(&paths.json, &v).await?;
            let file = tokio::fs::File::create(&paths.part)
                .await
                .map_err(FetchError::io(&paths.part))?;
            st.hasher = Md5::new();
            st.hashed = 0;
            (file, v.length)
        }
        StatusCode::RANGE_NOT_SATISFIABLE if from > 0 => {
            restart(
                st,
                name,
                paths,
                Restart::RangeNotSatisfiable,
                tee.as_deref_mut(),
            )
            .await?;
            return Err(FetchError::RangeRefused {
                name: name.to_string(),
            });
        }
        StatusCode::NOT_FOUND | StatusCode::GONE => {
            return Err(FetchError::NotInArchive {
                name: name.to_string(),
                status: status.as_u16(),
            })
        }
        _ => {
            return Err(FetchError::Http {
                url: url.to_string(),
                status: status.as_u16(),
            })
        }
    };
    progress.start(name, st.hashed, total);
    if let Some(t) = tee.as_deref_mut() {
        // A part resumed from an earlier run: the reader gets its bytes from disk first.
        t.catch_up(&paths.part, st.hashed).await?;
    }
    let mut w = BufWriter::with_capacity(BUF, &mut file);
    let streamed: Result<(), FetchError> = async {
        while let Some(chunk) = resp.chunk().await.map_err(request_error)? {
            w.write_all(&chunk)
                .await
                .map_err(FetchError::io(&paths.part))?;
            if let Some(t) = tee.as_deref_mut() {
                t.chunk(st.hashed, &chunk).await;
            }
            st.hasher.update(&chunk);
            st.hashed += chunk.len() as u64;
            st.received += chunk.len() as u64;
            progress.advance(chunk.len() as u64);
        }
        Ok(())
    }
    .await;
    if streamed.is_ok() && total == Some(st.hashed) {
        if let Some(t) = tee {
            // The reader has the whole tarball: its end need not wait for the flush and
            // sync of the part below (a failure there fails the download, not the bytes).
            t.end();
        }
    }
    // What was received is kept, also when the body failed: the next attempt resumes.
    let flushed = w.flush().await.map_err(FetchError::io(&paths.part));
    streamed?;
    flushed?;
    drop(w);
    file.sync_all().await.map_err(FetchError::io(&paths.part))?;
    match total {
        Some(t) if st.hashed < t => Err(FetchError::ShortBody {
            name: name.to_string(),
            got: st.hashed,
            expected: t,
        }),
        Some(t) if st.hashed > t => Err(FetchError::Protocol {
            name: name.to_string(),
            reason: format!("received {} bytes of a {t}-byte file", st.hashed),
        }),
        _ => Ok(()),
    }
}

/// Compares the MD5 of the whole partial file with `expected`; renames it into place
/// and records it, or moves it aside as `.bad`.
async fn verify(
    name: &str,
    expected: &str,
    paths: &Paths,
    st: State,
) -> Result<Fetched, FetchError> {
    let size = st.hashed;
    let got = hex(&st.hasher.finalize());
    let remove_json = async {
        match tokio::fs::remove_file(&paths.json).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(FetchError::io(&paths.json)(e))
            }
            _ => Ok(()),
        }
    };
    if !got.eq_ignore_ascii_case(expected) {
        tokio::fs::rename(&paths.part, &paths.bad)
            .await
            .map_err(FetchError::io(&paths.bad))?;
        remove_json.await?;
        return Err(FetchError::Mismatch {
            name: name.to_string(),
            expected: expected.to_ascii_lowercase(),
            got,
            bad: paths.bad.clone(),
        });
    }
    tokio::fs::rename(&paths.part, &paths.fin)
        .await
        .map_err(FetchError::io(&paths.fin))?;
    remove_json.await?;
    let rec = Verified {
        md5: got.clone(),
        size,
    };
    let text = serde_json::to_vec(&rec).map_err(|e| FetchError::io(&paths.record)(e.into()))?;
    tokio::fs::write(&paths.record, text)
        .await
        .map_err(FetchError::io(&paths.record))?;
    Ok(Fetched {
        name: name.to_string(),
        path: paths.fin.clone(),
        size,
        md5: got,
        outcome: Outcome::Fetched,
        resumed_at: st.resumed_at,
        restarts: st.restarts,
        received: st.received,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ateda_retry::RetryPolicy;

    use super::*;
    use crate::test_server::Server;

    const NAME: &str = "ztf_public_20231012.tar.gz";

    /// Bytes that differ along the file, so a misplaced range shows in the MD5.
    fn content(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
            .collect()
    }

    fn md5_of(b: &[u8]) -> String {
        hex(&Md5::digest(b))
    }

    fn fast(budget_ms: u64) -> RetryPolicy {
        RetryPolicy {
            first_wait: Duration::from_millis(10),
            max_wait: Duration::from_millis(50),
            budget: Duration::from_millis(budget_ms),
        }
    }

    fn sums(entries: &[(&str, &[u8])]) -> Md5Sums {
        let text: String = entries
            .iter()
            .map(|(n, c)| format!("{}  {n}\n", md5_of(c)))
            .collect();
        Md5Sums::parse(&text)
    }

    fn ls(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn clean_fetch_then_skip_then_force() {
        let server = Server::start().await;
        let data = content(300_000, 1);
        let empty = content(45, 2);
        let empty_name = "ztf_public_20231013.tar.gz";
        server.put(NAME, &data, "v1");
        server.put(empty_name, &empty, "e1");
        server.put(
            "MD5SUMS",
            format!(
                "{}  {NAME}\n{}  {empty_name}\n",
                md5_of(&data),
                md5_of(&empty)
            )
            .as_bytes(),
            "m",
        );
        let archive = Archive::new(server.base.trim_end_matches('/'), fast(500)).unwrap();
        let sums = archive.md5sums().await.unwrap();
        assert_eq!(sums.len(), 2);
        let dir = tempfile::tempdir().unwrap();

        let got = fetch_night(&archive, &sums, dir.path(), NAME, false, &())
            .await
            .unwrap();
        assert_eq!(got.outcome, Outcome::Fetched);
        assert_eq!((got.size, got.received), (300_000, 300_000));
        assert_eq!(got.md5, md5_of(&data));
        assert_eq!(got.resumed_at, None);
        assert!(got.restarts.is_empty());
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);
        assert_eq!(ls(dir.path()), [NAME.to_string(), format!("{NAME}.md5")]);

        let e = fetch_night(&archive, &sums, dir.path(), empty_name, false, &())
            .await
            .unwrap();
        assert_eq!((e.outcome, e.size), (Outcome::Fetched, 45));

        // a second run skips it without a request
        let again = fetch_night(&archive, &sums, dir.path(), NAME, false, &())
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Skipped);
        assert_eq!(server.gets(NAME).len(), 1);
        // --force fetches it again
        let forced = fetch_night(&archive, &sums, dir.path(), NAME, true, &())
            .await
            .unwrap();
        assert_eq!(forced.outcome, Outcome::Fetched);
        assert_eq!(server.gets(NAME).len(), 2);
        // a final file of another size than recorded is fetched again
        std::fs::write(dir.path().join(NAME), b"truncated").unwrap();
        let refetched = fetch_night(&archive, &sums, dir.path(), NAME, false, &())
            .await
            .unwrap();
        assert_eq!(refetched.outcome, Outcome::Fetched);
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);
    }

    #[tokio::test]
    async fn resume_after_a_cut_sends_only_the_remainder() {
        let server = Server::start().await;
        let data = content(500_000, 3);
        server.put(NAME, &data, "v1");
        let sums = sums(&[(NAME, &data)]);
        let dir = tempfile::tempdir().unwrap();

        // Within one run: the cut is retried at once, resuming.
        server.state().cut_next_after = Some(100_000);
        let archive = Archive::new(&server.base, fast(2_000)).unwrap();
        let got = fetch_night(&archive, &sums, dir.path(), NAME, false, &())
            .await
            .unwrap();
        assert_eq!(got.resumed_at, Some(100_000));
        assert_eq!(got.received, 500_000);
        let gets = server.gets(NAME);
        assert_eq!(gets.len(), 2, "{gets:?}");
        assert_eq!(gets[0].body_sent, 100_000);
        assert_eq!(gets[1].range.as_deref(), Some("bytes=100000-"));
        assert_eq!((gets[1].status, gets[1].body_sent), (206, 400_000));
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);

        // Across runs: a run without retries gives up and keeps the part...
        let dir = tempfile::tempdir().unwrap();
        server.state().cut_next_after = Some(123_456);
        let no_retry = Archive::new(&server.base, fast(0)).unwrap();
        let e = fetch_night(&no_retry, &sums, dir.path(), NAME, false, &())
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::GaveUp { kept: 123_456, .. }), "{e}");
        assert!(e.to_string().contains("re-run to resume"), "{e}");
        let part = dir.path().join(format!("{NAME}.part"));
        assert_eq!(std::fs::metadata(&part).unwrap().len(), 123_456);
        let v: Validator = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("{NAME}.part.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(v.etag.as_deref(), Some("\"v1\""));
        assert_eq!(v.length, Some(500_000));
        // ...and the next run resumes from it.
        let before = server.gets(NAME).len();
        let got = fetch_night(&no_retry, &sums, dir.path(), NAME, false, &())
            .await
            .unwrap();
        assert_eq!(got.resumed_at, Some(123_456));
        assert_eq!(got.received, 500_000 - 123_456);
        let gets = server.gets(NAME);
        assert_eq!(gets.len(), before + 1);
        assert_eq!(gets[before].body_sent, 500_000 - 123_456);
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);
        assert_eq!(ls(dir.path()), [NAME.to_string(), format!("{NAME}.md5")]);
    }

    /// A cut first run leaves a part of `old`; then the server changes as `change` says.
    async fn cut_then(
        change: impl FnOnce(&Server),
    ) -> (
        Server,
        tempfile::TempDir,
        Result<Fetched, FetchError>,
        Vec<u8>,
    ) {
        let server = Server::start().await;
        let old = content(200_000, 4);
        server.put(NAME, &old, "v1");
        server.state().cut_next_after = Some(50_000);
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let first = fetch_night(
            &archive,
            &sums(&[(NAME, &old)]),
            dir.path(),
            NAME,
            false,
            &(),
        )
        .await;
        assert!(matches!(first, Err(FetchError::GaveUp { .. })));
        change(&server);
        let now = server.state().files[NAME].0.clone();
        let got = fetch_night(
            &archive,
            &sums(&[(NAME, &now)]),
            dir.path(),
            NAME,
            false,
            &(),
        )
        .await;
        (server, dir, got, now)
    }

    #[tokio::test]
    async fn a_changed_file_restarts_from_zero() {
        let (server, dir, got, now) = cut_then(|s| s.put(NAME, &content(210_000, 9), "v2")).await;
        let got = got.unwrap();
        assert_eq!(got.restarts, [Restart::Changed]);
        assert_eq!(got.resumed_at, None);
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), now);
        let gets = server.gets(NAME);
        assert_eq!(gets[1].range.as_deref(), Some("bytes=50000-"));
        assert_eq!((gets[1].status, gets[1].body_sent), (200, 210_000));
    }

    #[tokio::test]
    async fn a_server_ignoring_range_restarts_from_zero() {
        let (server, dir, got, now) = cut_then(|s| s.state().ignore_range = true).await;
        let got = got.unwrap();
        assert_eq!(got.restarts, [Restart::RangeIgnored]);
        assert_eq!(got.received, 200_000);
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), now);
        assert_eq!(server.gets(NAME)[1].status, 200);
    }

    #[tokio::test]
    async fn a_part_longer_than_the_remote_file_restarts() {
        let server = Server::start().await;
        let data = content(1_000, 5);
        server.put(NAME, &data, "v1");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{NAME}.part")), content(2_000, 6)).unwrap();
        std::fs::write(
            dir.path().join(format!("{NAME}.part.json")),
            r#"{"etag":"\"v1\"","last_modified":null,"length":1000}"#,
        )
        .unwrap();
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let got = fetch_night(
            &archive,
            &sums(&[(NAME, &data)]),
            dir.path(),
            NAME,
            false,
            &(),
        )
        .await
        .unwrap();
        assert_eq!(got.restarts, [Restart::LongerThanRemote]);
        assert_eq!(server.gets(NAME)[0].range, None);
        assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);
    }

    #[tokio::test]
    async fn a_wrong_md5_is_kept_as_bad() {
        let server = Server::start().await;
        let data = content(10_000, 7);
        server.put(NAME, &data, "v1");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{NAME}.bad")), b"older bad").unwrap();
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let wrong = sums(&[(NAME, b"something else")]);
        let e = fetch_night(&archive, &wrong, dir.path(), NAME, false, &())
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!(
                "{NAME}: MD5 mismatch: expected {}, got {} (kept as ",
                md5_of(b"something else"),
                md5_of(&data)
            )),
            "{msg}"
        );
        assert!(msg.ends_with(".bad); re-run to download again"), "{msg}");
        assert_eq!(ls(dir.path()), [format!("{NAME}.bad")]);
        assert_eq!(
            std::fs::read(dir.path().join(format!("{NAME}.bad"))).unwrap(),
            data
        );
    }

    #[tokio::test]
    async fn missing_nights_are_clear_errors() {
        let server = Server::start().await;
        let data = content(100, 8);
        server.put(NAME, &data, "v1");
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let other = "ztf_public_20231014.tar.gz";
        // listed in MD5SUMS but 404
        let e = fetch_night(
            &archive,
            &sums(&[(other, b"x")]),
            dir.path(),
            other,
            false,
            &(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{other}: not in the archive (HTTP 404)")
        );
        // in neither
        let e = fetch_night(&archive, &Md5Sums::default(), dir.path(), other, false, &())
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{other}: not in the archive (HTTP 404)")
        );
        // served but not listed
        let e = fetch_night(&archive, &Md5Sums::default(), dir.path(), NAME, false, &())
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), format!("{NAME}: no MD5SUMS entry"));
        assert!(ls(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn a_lasting_outage_gives_up_keeping_the_part() {
        let server = Server::start().await;
        let data = content(100_000, 10);
        server.put(NAME, &data, "v1");
        server.state().cut_next_after = Some(30_000);
        let archive = Archive::new(&server.base, fast(0)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let s = sums(&[(NAME, &data)]);
        assert!(fetch_night(&archive, &s, dir.path(), NAME, false, &())
            .await
            .is_err());
        server.state().unavailable = true;
        let archive = Archive::new(&server.base, fast(200)).unwrap();
        let e = fetch_night(&archive, &s, dir.path(), NAME, false, &())
            .await
            .unwrap_err();
        assert!(matches!(e, FetchError::GaveUp { kept: 30_000, .. }), "{e}");
        assert!(server.gets(NAME).len() > 2, "retried");
        assert!(e.to_string().contains("HTTP 503"), "{e}");
        server.state().unavailable = false;
        let got = fetch_night(&archive, &s, dir.path(), NAME, false, &())
            .await
            .unwrap();
        assert_eq!(got.resumed_at, Some(30_000));
    }

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 10-99/100"), Some((10, Some(100))));
        assert_eq!(content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(content_range("bytes */100"), None);
        assert_eq!(content_range("items 1-2/3"), None);
    }
}
