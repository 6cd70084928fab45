//! Alert sources: `.avro` files, directories (recursive) and nightly
//! `ztf_public_YYYYMMDD.tar.gz` tarballs read as a stream (never extracted).
//!
//! [`read_stream`] reads the same kinds from any [`std::io::Read`] (e.g. a tarball as it
//! arrives over the network, `ateda fetch --ingest`) through the same code.
//!
//! Each source yields [`Item`]s in order: a [`Member`] with its bytes, or an
//! [`Unreadable`] part with the reason and whatever bytes could be read, so
//! nothing is dropped silently.
//!
//! Memory is bounded whatever the input ([`SourceLimits`]): a member larger than the
//! member cap is never held whole; it becomes an [`Unreadable`] item with its first bytes,
//! its full size and the sha256 of all of it (computed while streaming past it), and
//! reading goes on with the next member. Names are escaped ([`escape_bytes`]) where the
//! source string is built: it is logged and stored, so it must be one unambiguous line.

#![deny(missing_docs)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

/// Errors about the sources themselves (before any member is read).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The path does not exist or cannot be inspected.
    #[error("source {path}: {source}")]
    Io {
        /// The path given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The path is neither a file nor a directory.
    #[error("source {0}: not a file or directory")]
    NotAFile(PathBuf),
}

/// How a source file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One Avro container (one or more alerts).
    Avro,
    /// A gzip-compressed tar stream of Avro members.
    TarGz,
    /// An uncompressed tar stream.
    Tar,
}

/// A file to read.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path on disk.
    pub path: PathBuf,
    /// How to read it.
    pub kind: Kind,
    /// Size in bytes (for progress).
    pub size: u64,
}

/// One alert container read from a source.
#[derive(Debug)]
pub struct Member {
    /// `path` for a file, `path!member` for a tarball member (escaped: [`escape_bytes`]).
    pub source: String,
    /// The member's bytes.
    pub bytes: Vec<u8>,
    /// Its share of the bytes in flight, given back when the member is dropped.
    permit: Permit,
}

/// A part of a source that could not be read.
#[derive(Debug)]
pub struct Unreadable {
    /// `path` or `path!member` (escaped: [`escape_bytes`]).
    pub source: String,
    /// Why it could not be read.
    pub reason: String,
    /// The bytes that could be read (at most [`SourceLimits::keep_bytes`] of an
    /// oversized member), kept for quarantine.
    pub bytes: Vec<u8>,
    /// Its share of the bytes in flight, given back when the item is dropped.
    permit: Permit,
}

/// What reading a source yields.
#[derive(Debug)]
pub enum Item {
    /// A readable member.
    Member(Member),
    /// An unreadable part (recorded and quarantined downstream).
    Unreadable(Unreadable),
}

/// A directory entry that could not be used (warned and skipped).
#[derive(Debug, Clone)]
pub struct BadEntry {
    /// The entry's path.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// The files to read, with what was skipped.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// Files in reading order.
    pub files: Vec<SourceFile>,
    /// Files inside directories that were skipped (not .avro / tarballs).
    pub skipped: Vec<PathBuf>,
    /// Directory entries that could not be used: dangling symlinks, symlink loops,
    /// unreadable directories, fifos, sockets, devices (each already warned).
    pub bad_entries: Vec<BadEntry>,
}

impl Plan {
    /// Total bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The raw bytes of a path (lossless on Unix).
fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::borrow::Cow::Borrowed(path.as_os_str().as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::borrow::Cow::Owned(path.to_string_lossy().into_owned().into_bytes())
    }
}

/// A path as one unambiguous, printable line ([`escape_bytes`] of its raw bytes).
pub fn escape_path(path: &Path) -> String {
    escape_bytes(&path_bytes(path))
}

/// Escapes a name so that it is one printable line and maps back to exactly one byte
/// string: `\` becomes `\\`; newline, carriage return and tab `\n`, `\r`, `\t`; other
/// ASCII control characters (ESC, DEL, ...) `\xNN`; Unicode control and invisible
/// direction characters `\u{NNNN}`; each byte that is not valid UTF-8 `\xNN` (always
/// `\x80` or above, so never confused with an escaped ASCII control).
pub fn escape_bytes(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() || invisible(c) => {
                    let _ = write!(out, "\\u{{{:04x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Characters that change how a line reads without showing: line/paragraph separators,
/// zero-width characters and bidirectional overrides.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
    )
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path_bytes(path.file_name().map(Path::new)?).to_ascii_lowercase();
    if name.ends_with(b".tar.gz") || name.ends_with(b".tgz") {
        Some(Kind::TarGz)
    } else if name.ends_with(b".tar") {
        Some(Kind::Tar)
    } else if name.ends_with(b".avro") {
        Some(Kind::Avro)
    } else {
        None
    }
}

fn bad_entry(out: &mut Plan, path: PathBuf, reason: String) {
    tracing::warn!(
        path = %escape_path(&path),
        reason = %reason,
        "skipped directory entry"
    );
    out.bad_entries.push(BadEntry { path, reason });
}

/// Why walkdir could not use an entry, in words.
fn walk_reason(e: &walkdir::Error) -> String {
    if let Some(ancestor) = e.loop_ancestor() {
        return format!("symlink loop (back to {})", escape_path(ancestor));
    }
    match e.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "dangling symlink (its target does not exist)".to_string()
        }
        Some(io) => io.to_string(),
        None => "unreadable entry".to_string(),
    }
}

/// Expands the given paths: files as given (a file of unknown extension is
/// read as Avro and quarantined if it is not), directories recursively in
/// sorted order (keeping `.avro`, `.tar.gz`, `.tgz`, `.tar`; hidden files skipped).
/// A directory entry that cannot be used (dangling symlink, symlink loop, unreadable
/// directory, fifo, socket, device) is warned, recorded in [`Plan::bad_entries`] and
/// skipped: it never stops the run. A path given explicitly must exist.
pub fn plan(paths: &[PathBuf]) -> Result<Plan, SourceError> {
    let mut out = Plan::default();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| SourceError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_file() {
            out.files.push(SourceFile {
                path: p.clone(),
                kind: kind_of(p).unwrap_or(Kind::Avro),
                size: meta.len(),
            });
        } else if meta.is_dir() {
            let walker = walkdir::WalkDir::new(p)
                .sort_by_file_name()
                .follow_links(true);
            for entry in walker {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| p.clone());
                        let reason = walk_reason(&e);
                        bad_entry(&mut out, path, reason);
                        continue;
                    }
                };
                let ft = entry.file_type();
                if ft.is_dir() {
                    continue;
                }
                let path = entry.path().to_path_buf();
                if !ft.is_file() {
                    bad_entry(
                        &mut out,
                        path,
                        "not a regular file (fifo, socket or device)".into(),
                    );
                    continue;
                }
                let hidden = path_bytes(Path::new(entry.file_name())).starts_with(b".");
                match kind_of(&path) {
                    Some(kind) if !hidden => {
                        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                        out.files.push(SourceFile { path, kind, size });
                    }
                    _ => out.skipped.push(path),
                }
            }
        } else {
            return Err(SourceError::NotAFile(p.clone()));
        }
    }
    Ok(out)
}

/// Caps on what is read into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Largest member held in memory; a larger one is quarantined.
    pub max_member_bytes: u64,
    /// Bytes of an oversized or unreadable member kept for quarantine.
    pub keep_bytes: u64,
}

impl SourceLimits {
    /// Bytes of emitted items not yet consumed before the reader waits: four of the
    /// largest members (at least 64 MiB).
    pub fn in_flight_bytes(&self) -> u64 {
        self.max_member_bytes
            .max(self.keep_bytes)
            .saturating_mul(4)
            .max(64 << 20)
    }
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_member_bytes: 16 << 20,
            keep_bytes: 16 << 20,
        }
    }
}

/// Bytes of items emitted and not yet dropped by their consumer: the reader waits
/// before emitting more than the budget, so the items queued between the reader and the
/// decoders stay bounded in bytes (not only in number) whatever the member sizes.
#[derive(Debug, Clone)]
struct Budget(Arc<(Mutex<u64>, Condvar, u64)>);

/// A share of the in-flight budget, given back on drop.
#[derive(Debug, Default)]
struct Permit {
    budget: Option<Budget>,
    bytes: u64,
}

impl Budget {
    fn new(cap: u64) -> Budget {
        Budget(Arc::new((Mutex::new(0), Condvar::new(), cap.max(1))))
    }

    /// Waits until `bytes` fit (an item larger than the whole budget waits until nothing
    /// else is in flight).
    fn acquire(&self, bytes: u64) -> Permit {
        let (lock, freed, cap) = &*self.0;
        let bytes = bytes.min(*cap);
        let mut used = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *used > 0 && *used + bytes > *cap {
            used = freed.wait(used).unwrap_or_else(|p| p.into_inner());
        }
        *used += bytes;
        Permit {
            budget: Some(self.clone()),
            bytes,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(b) = &self.budget {
            let (lock, freed, _) = &*b.0;
            let mut used = lock.lock().unwrap_or_else(|p| p.into_inner());
            *used = used.saturating_sub(self.bytes);
            freed.notify_all();
        }
    }
}

/// The bytes in flight of items made outside this crate (a stream's messages): each
/// item holds its share until it is dropped, and making one waits for room, so memory
/// stays bounded whatever the producer sends (see [`SourceLimits::in_flight_bytes`]).
#[derive(Clone)]
pub struct InFlight(Budget);

impl InFlight {
    /// A budget of `limits.in_flight_bytes()`.
    pub fn new(limits: &SourceLimits) -> InFlight {
        InFlight(Budget::new(limits.in_flight_bytes()))
    }
}

impl Item {
    /// A member read elsewhere (e.g. a Kafka message; `source` names it), counted in
    /// `in_flight` (waits for room).
    pub fn member(source: String, bytes: Vec<u8>, in_flight: &InFlight) -> Item {
        Item::Member(Member {
            source,
            bytes,
            permit: Permit {
                budget: None,
                bytes: 0,
            },
        })
        .with_permit(&in_flight.0)
    }

    /// An unreadable part read elsewhere, with the bytes kept for quarantine.
    pub fn unreadable(
        source: String,
        reason: String,
        bytes: Vec<u8>,
        in_flight: &InFlight,
    ) -> Item {
        Item::Unreadable(Unreadable {
            source,
            reason,
            bytes,
            permit: Permit {
                budget: None,
                bytes: 0,
            },
        })
        .with_permit(&in_flight.0)
    }

    fn with_permit(mut self, budget: &Budget) -> Item {
        let (bytes, slot) = match &mut self {
            Item::Member(m) => (m.bytes.len(), &mut m.permit),
            Item::Unreadable(u) => (u.bytes.len(), &mut u.permit),
        };
        *slot = budget.acquire(bytes as u64);
        self
    }
}

/// Counts bytes read from the underlying files, for progress reporting.
#[derive(Debug, Default, Clone)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    /// Counts `n` more bytes read (a reader outside this crate, e.g. a stream).
    pub fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What reading skipped or found wrong besides the items (each also warned).
#[derive(Debug, Default, Clone)]
pub struct SourceCounters {
    /// Tar members that are not regular files (symlinks, hard links, fifos, devices).
    pub skipped_members: Arc<AtomicU64>,
    /// Sources (tarballs) that held no member at all.
    pub empty_sources: Arc<AtomicU64>,
    /// Members over the member cap (quarantined with their first bytes).
    pub oversized_members: Arc<AtomicU64>,
}

/// How a plan is read.
#[derive(Debug, Default, Clone)]
pub struct ReadOptions {
    /// Bytes read, for progress.
    pub progress: Progress,
    /// Caps on what is held in memory.
    pub limits: SourceLimits,
    /// What was skipped or found wrong.
    pub counters: SourceCounters,
}

struct Counting<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n);
        Ok(n)
    }
}

/// Reads every file of the plan in order, calling `emit` for each item.
/// `emit` returns `false` to stop early (e.g. the consumer has failed).
/// Items held by the consumer count against an in-flight budget until dropped
/// ([`SourceLimits::in_flight_bytes`]): the reader waits for room before emitting more.
pub fn read_plan(plan: &Plan, opts: &ReadOptions, mut emit: impl FnMut(Item) -> bool) {
    let budget = Budget::new(opts.limits.in_flight_bytes());
    let mut emit = |item: Item| emit(item.with_permit(&budget));
    for f in &plan.files {
        if !read_file(f, opts, &mut emit) {
            return;
        }
    }
}

/// A member read under the member cap.
enum Capped {
    /// All of it, within the cap.
    Whole(Vec<u8>),
    /// Over the cap: its first bytes, its full size and the sha256 of all of it.
    Oversized {
        kept: Vec<u8>,
        size: u64,
        sha256: String,
    },
    /// Reading failed: what was read (at most the cap or the kept bytes).
    Failed {
        bytes: Vec<u8>,
        error: std::io::Error,
        oversized: bool,
    },
}

fn hex(digest: &[u8]) -> String {
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Reads a member to its end holding at most `max_member_bytes + 1` bytes: past the
/// cap the rest is only hashed (and counted) while streaming past it.
fn read_capped<R: Read>(mut r: R, limits: &SourceLimits) -> Capped {
    let mut bytes = Vec::new();
    if let Err(error) = (&mut r)
        .take(limits.max_member_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return Capped::Failed {
            bytes,
            error,
            oversized: false,
        };
    }
    if bytes.len() as u64 <= limits.max_member_bytes {
        return Capped::Whole(bytes);
    }
    let mut hasher = Sha256::new();
    hasher.update(&bytes);
    let mut size = bytes.len() as u64;
    bytes.truncate(usize::try_from(limits.keep_bytes).unwrap_or(usize::MAX));
    bytes.shrink_to_fit();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&chunk[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                return Capped::Failed {
                    bytes,
                    error,
                    oversized: true,
                }
            }
        }
    }
    Capped::Oversized {
        kept: bytes,
        size,
        sha256: hex(&hasher.finalize()),
    }
}

fn oversized_reason(size: u64, kept: usize, sha256: &str, limits: &SourceLimits) -> String {
    format!(
        "member of {size} bytes exceeds the member cap of {} bytes (--max-member-bytes); \
         first {kept} bytes kept, sha256 of the whole member {sha256}",
        limits.max_member_bytes
    )
}

/// The item of a member read under the cap. `what` names it in a read error.
fn capped_item(source: String, got: Capped, opts: &ReadOptions) -> Item {
    match got {
        Capped::Whole(bytes) => Item::Member(Member {
            source,
            bytes,
            permit: Permit::default(),
        }),
        Capped::Oversized { kept, size, sha256 } => {
            opts.counters
                .oversized_members
                .fetch_add(1, Ordering::Relaxed);
            let reason = oversized_reason(size, kept.len(), &sha256, &opts.limits);
            Item::Unreadable(Unreadable {
                source,
                reason,
                bytes: kept,
                permit: Permit::default(),
            })
        }
        Capped::Failed {
            bytes,
            error,
            oversized,
        } => Item::Unreadable(Unreadable {
            source,
            reason: if oversized {
                format!(
                    "member over the member cap of {} bytes (--max-member-bytes), then a read \
                     error: {error}",
                    opts.limits.max_member_bytes
                )
            } else {
                format!("read error: {error}")
            },
            bytes,
            permit: Permit::default(),
        }),
    }
}

/// The raw bytes of a file kept for quarantine (at most `keep_bytes`), with a note of
/// its full size and sha256 when it is larger.
fn raw_file(path: &Path, limits: &SourceLimits) -> (Vec<u8>, String) {
    let Ok(file) = File::open(path) else {
        return (Vec::new(), String::new());
    };
    let keep = SourceLimits {
        max_member_bytes: limits.keep_bytes,
        keep_bytes: limits.keep_bytes,
    };
    match read_capped(file, &keep) {
        Capped::Whole(bytes) => (bytes, String::new()),
        Capped::Oversized { kept, size, sha256 } => {
            let note = format!(
                "; file of {size} bytes, first {} kept, sha256 of the whole file {sha256}",
                kept.len()
            );
            (kept, note)
        }
        Capped::Failed { bytes, .. } => (bytes, String::new()),
    }
}

fn read_file(f: &SourceFile, opts: &ReadOptions, emit: &mut impl FnMut(Item) -> bool) -> bool {
    let name = escape_path(&f.path);
    let file = match File::open(&f.path) {
        Ok(file) => file,
        Err(e) => {
            return emit(Item::Unreadable(Unreadable {
                source: name,
                reason: format!("cannot open: {e}"),
                bytes: Vec::new(),
                permit: Permit::default(),
            }))
        }
    };
    let reader = Counting {
        inner: file,
        progress: opts.progress.clone(),
    };
    let mut raw = || raw_file(&f.path, &opts.limits);
    read_source(&name, f.kind, reader, opts, &mut raw, emit)
}

/// Reads one source of `kind` from `reader` (a file or a stream), `name` being its
/// escaped source string. `raw` gives the source's own bytes (at most `keep_bytes`, with
/// a note) when it is unreadable before its first member: a file reads them again, a
/// stream hands back what it recorded.
fn read_source<R: Read>(
    name: &str,
    kind: Kind,
    reader: R,
    opts: &ReadOptions,
    raw: &mut dyn FnMut() -> (Vec<u8>, String),
    emit: &mut impl FnMut(Item) -> bool,
) -> bool {
    match kind {
        Kind::Avro => emit(capped_item(
            name.to_string(),
            read_capped(reader, &opts.limits),
            opts,
        )),
        Kind::TarGz => {
            let mut buffered = BufReader::with_capacity(1 << 20, reader);
            let head = match buffered.fill_buf() {
                Ok(head) => head,
                Err(e) => {
                    return emit(Item::Unreadable(Unreadable {
                        source: name.to_string(),
                        reason: format!("read error: {e}"),
                        bytes: Vec::new(),
                        permit: Permit::default(),
                    }))
                }
            };
            if head.is_empty() {
                no_alerts(name, 0, opts);
                return true;
            }
            if !head.starts_with(&[0x1f, 0x8b]) {
                let (bytes, note) = raw();
                return emit(Item::Unreadable(Unreadable {
                    source: name.to_string(),
                    reason: format!("not gzip data (bad magic bytes){note}"),
                    bytes,
                    permit: Permit::default(),
                }));
            }
            read_tar(
                name,
                flate2::read::MultiGzDecoder::new(buffered),
                opts,
                raw,
                emit,
            )
        }
        Kind::Tar => read_tar(
            name,
            BufReader::with_capacity(1 << 20, reader),
            opts,
            raw,
            emit,
        ),
    }
}

/// Reads one source from any reader, e.g. a tarball as it arrives over the network,
/// yielding the same [`Item`]s as a file of that kind would: members named
/// `name!member`, the same member cap, the same in-flight budget
/// ([`SourceLimits::in_flight_bytes`]) and counters. `name` is the source string
/// (escaped here, [`escape_bytes`]), e.g. `ztf_public_20231012.tar.gz`.
///
/// A stream cannot be read twice: when it is unreadable before its first member (not
/// gzip, not tar), the quarantined bytes are the stream's first bytes as far as they
/// were read (at most [`SourceLimits::keep_bytes`]), with their count and sha256 in the
/// reason; a file would have been read again from its start. Returns `false` when `emit`
/// asked to stop.
pub fn read_stream<R: Read>(
    name: &str,
    kind: Kind,
    reader: R,
    opts: &ReadOptions,
    mut emit: impl FnMut(Item) -> bool,
) -> bool {
    let budget = Budget::new(opts.limits.in_flight_bytes());
    let recorded = Arc::new(Mutex::new(Recorded {
        armed: true,
        kept: Vec::new(),
        seen: 0,
        hasher: Sha256::new(),
        keep: usize::try_from(opts.limits.keep_bytes).unwrap_or(usize::MAX),
    }));
    let reader = Recording {
        inner: Counting {
            inner: reader,
            progress: opts.progress.clone(),
        },
        recorded: recorded.clone(),
    };
    let name = escape_bytes(name.as_bytes());
    let rec = recorded.clone();
    let mut raw = move || {
        let mut r = rec.lock().unwrap_or_else(|p| p.into_inner());
        let note = if r.seen as usize > r.kept.len() {
            format!(
                "; first {} of the {} bytes read from the stream kept, sha256 of those {}",
                r.kept.len(),
                r.seen,
                hex(&r.hasher.clone().finalize())
            )
        } else {
            String::new()
        };
        (std::mem::take(&mut r.kept), note)
    };
    let mut emit = |item: Item| {
        // The first item ends the recording: only a source unreadable before its first
        // member quarantines its own bytes.
        let mut r = recorded.lock().unwrap_or_else(|p| p.into_inner());
        if r.armed {
            r.armed = false;
            r.kept = Vec::new();
        }
        drop(r);
        emit(item.with_permit(&budget))
    };
    read_source(&name, kind, reader, opts, &mut raw, &mut emit)
}

/// The first bytes of a stream, kept until its first item (see [`read_stream`]).
struct Recorded {
    armed: bool,
    kept: Vec<u8>,
    seen: u64,
    hasher: Sha256,
    keep: usize,
}

/// A reader that records the first bytes read through it while armed.
struct Recording<R> {
    inner: R,
    recorded: Arc<Mutex<Recorded>>,
}

impl<R: Read> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut r = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        if r.armed && n > 0 {
            let room = r.keep.saturating_sub(r.kept.len()).min(n);
            r.kept.extend_from_slice(&buf[..room]);
            r.hasher.update(&buf[..n]);
            r.seen += n as u64;
        }
        Ok(n)
    }
}

fn read_tar<R: Read>(
    name: &str,
    reader: R,
    opts: &ReadOptions,
    raw: &mut dyn FnMut() -> (Vec<u8>, String),
    emit: &mut impl FnMut(Item) -> bool,
) -> bool {
    let mut archive = tar::Archive::new(reader);
    // Before any member, a broken stream keeps the source's own bytes for quarantine.
    let mut unreadable = |members: usize, reason: String, bytes: Vec<u8>| {
        if members == 0 && bytes.is_empty() {
            let (bytes, note) = raw();
            Unreadable {
                source: name.to_string(),
                reason: format!("{reason}{note}"),
                bytes,
                permit: Permit::default(),
            }
        } else {
            Unreadable {
                source: name.to_string(),
                reason,
                bytes,
                permit: Permit::default(),
            }
        }
    };
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            return emit(Item::Unreadable(unreadable(
                0,
                format!("not a readable tar stream: {e}"),
                Vec::new(),
            )))
        }
    };
    let mut members = 0usize;
    let mut skipped = 0usize;
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                return emit(Item::Unreadable(unreadable(
                    members,
                    format!("tar stream unreadable after {members} members: {e}"),
                    Vec::new(),
                )))
            }
        };
        let kind = entry.header().entry_type();
        let member = escape_bytes(&entry.path_bytes());
        if kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse()) {
            skipped += 1;
            opts.counters
                .skipped_members
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                source = %format!("{name}!{member}"),
                kind = ?kind,
                "skipped tar member: not a regular file"
            );
            continue;
        }
        let source = format!("{name}!{member}");
        members += 1;
        let item = match read_capped(entry, &opts.limits) {
            Capped::Failed {
                bytes,
                error,
                oversized,
            } => {
                // The stream itself is broken: record what we have and stop this tarball.
                let cap = if oversized {
                    format!(
                        " (over the member cap of {} bytes, --max-member-bytes)",
                        opts.limits.max_member_bytes
                    )
                } else {
                    String::new()
                };
                return emit(Item::Unreadable(Unreadable {
                    source,
                    reason: format!("tar member truncated or stream corrupt{cap}: {error}"),
                    bytes,
                    permit: Permit::default(),
                }));
            }
            got => capped_item(source, got, opts),
        };
        if !emit(item) {
            return false;
        }
    }
    if members == 0 {
        no_alerts(name, skipped, opts);
    }
    true
}

/// A tarball that held no member: said, and counted (it is not an error).
fn no_alerts(name: &str, skipped_members: usize, opts: &ReadOptions) {
    opts.counters.empty_sources.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        skipped_members,
        "no alerts in {name}: the tar stream holds no regular file"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tarball(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("ztf_public_20231018.tar.gz");
        let gz = flate2::write::GzEncoder::new(
            File::create(&path).expect("create"),
            flate2::Compression::fast(),
        );
        let mut t = tar::Builder::new(gz);
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append_data(&mut h, name, *data).expect("append");
        }
        t.into_inner()
            .expect("tar")
            .finish()
            .expect("gz")
            .flush()
            .expect("flush");
        path
    }

    #[test]
    fn tarball_members_stream_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let tb = tarball(dir.path(), &[("a.avro", b"one"), ("b.avro", b"two")]);
        let plan = plan(std::slice::from_ref(&tb)).expect("plan");
        assert_eq!(plan.files[0].kind, Kind::TarGz);
        let mut got = Vec::new();
        read_plan(&plan, &ReadOptions::default(), |i| {
            got.push(i);
            true
        });
        let names: Vec<String> = got
            .iter()
            .map(|i| match i {
                Item::Member(m) => m.source.clone(),
                Item::Unreadable(u) => u.reason.clone(),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                format!("{}!a.avro", tb.display()),
                format!("{}!b.avro", tb.display())
            ]
        );
    }

    #[test]
    fn truncated_tarball_is_reported_not_panicked() {
        let dir = tempfile::tempdir().expect("tmp");
        let big = vec![7u8; 200_000];
        let tb = tarball(dir.path(), &[("a.avro", b"one"), ("b.avro", &big)]);
        let bytes = std::fs::read(&tb).expect("read");
        std::fs::write(&tb, &bytes[..bytes.len() / 2]).expect("write");
        let plan = plan(&[tb]).expect("plan");
        let mut unreadable = 0;
        read_plan(&plan, &ReadOptions::default(), |i| {
            if let Item::Unreadable(u) = i {
                assert!(!u.reason.is_empty());
                unreadable += 1;
            }
            true
        });
        assert_eq!(unreadable, 1);
    }

    #[test]
    fn directories_are_walked_sorted_and_filtered() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        for sub in ["a/b", "zz"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        // created out of order: the plan's order must come from the names alone
        for f in [
            "zz/nested.TAR.GZ",
            "b.tgz",
            "a/z.avro",
            "notes.json",
            "a/b/c.tar",
            "2.avro",
            ".hidden.avro",
            "a/B.avro",
            "README.txt",
            "10.avro",
        ] {
            std::fs::write(root.join(f), b"x").expect("write");
        }
        let p = plan(&[root.to_path_buf()]).expect("plan");
        let rel = |path: &Path| {
            path.strip_prefix(root)
                .expect("under root")
                .display()
                .to_string()
        };
        let files: Vec<(String, Kind)> = p.files.iter().map(|f| (rel(&f.path), f.kind)).collect();
        // each directory's entries in byte order of their names, depth first
        assert_eq!(
            files,
            [
                ("10.avro", Kind::Avro),
                ("2.avro", Kind::Avro),
                ("a/B.avro", Kind::Avro),
                ("a/b/c.tar", Kind::Tar),
                ("a/z.avro", Kind::Avro),
                ("b.tgz", Kind::TarGz),
                ("zz/nested.TAR.GZ", Kind::TarGz),
            ]
            .map(|(f, k)| (f.to_string(), k))
        );
        let skipped: Vec<String> = p.skipped.iter().map(|f| rel(f)).collect();
        assert_eq!(skipped, [".hidden.avro", "README.txt", "notes.json"]);
        assert_eq!(p.total_bytes(), 7);
        assert!(plan(&[root.join("missing")]).is_err());
    }

    fn read_all(paths: &[PathBuf], limits: SourceLimits) -> (Vec<Item>, ReadOptions) {
        let plan = plan(paths).expect("plan");
        let opts = ReadOptions {
            limits,
            ..ReadOptions::default()
        };
        let mut got = Vec::new();
        read_plan(&plan, &opts, |i| {
            got.push(i);
            true
        });
        (got, opts)
    }

    fn sha256_hex(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    #[test]
    fn oversized_tar_member_is_capped_hashed_and_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let tb = tarball(
            dir.path(),
            &[("a.avro", b"one"), ("big.avro", &big), ("c.avro", b"three")],
        );
        let limits = SourceLimits {
            max_member_bytes: 1 << 20,
            keep_bytes: 1000,
        };
        let (got, opts) = read_all(&[tb], limits);
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[0], Item::Member(m) if m.bytes == b"one"));
        let Item::Unreadable(u) = &got[1] else {
            panic!("oversized member should be unreadable: {:?}", got[1]);
        };
        assert!(u.source.ends_with("!big.avro"), "{}", u.source);
        assert_eq!(u.bytes, big[..1000]);
        assert!(u.reason.contains("member of 3000000 bytes"), "{}", u.reason);
        assert!(u.reason.contains("--max-member-bytes"), "{}", u.reason);
        assert!(u.reason.contains(&sha256_hex(&big)), "{}", u.reason);
        // reading went on with the next member
        assert!(matches!(&got[2], Item::Member(m) if m.bytes == b"three"));
        assert_eq!(opts.counters.oversized_members.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn oversized_avro_file_is_capped_and_a_member_at_the_cap_is_whole() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("huge.avro");
        // sparse: 64 MiB that take no disk
        let f = File::create(&path).expect("create");
        f.set_len(64 << 20).expect("truncate");
        let limits = SourceLimits {
            max_member_bytes: 4 << 20,
            keep_bytes: 16,
        };
        let (got, _) = read_all(std::slice::from_ref(&path), limits);
        let Item::Unreadable(u) = &got[0] else {
            panic!("capped");
        };
        assert_eq!(u.bytes, vec![0u8; 16]);
        assert!(
            u.reason.contains(&sha256_hex(&vec![0u8; 64 << 20])),
            "{}",
            u.reason
        );
        let exact = dir.path().join("exact.avro");
        std::fs::write(&exact, vec![1u8; 4 << 20]).expect("write");
        let (got, _) = read_all(&[exact], limits);
        assert!(matches!(&got[0], Item::Member(m) if m.bytes.len() == 4 << 20));
    }

    #[test]
    fn non_gzip_tarball_keeps_its_bytes() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ztf_public_20231018.tar.gz");
        std::fs::write(&path, b"plain text, not gzip").expect("write");
        let (got, _) = read_all(&[path], SourceLimits::default());
        let Item::Unreadable(u) = &got[0] else {
            panic!("unreadable");
        };
        assert_eq!(u.bytes, b"plain text, not gzip");
        assert!(u.reason.contains("not gzip"), "{}", u.reason);
        // a gzip stream that is not tar: the file's bytes are kept too
        let gz = dir.path().join("b.tgz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&[9u8; 700]).expect("gz");
        let raw = e.finish().expect("gz");
        std::fs::write(&gz, &raw).expect("write");
        let (got, _) = read_all(&[gz], SourceLimits::default());
        let Item::Unreadable(u) = &got[0] else {
            panic!("unreadable: {got:?}");
        };
        assert_eq!(u.bytes, raw);
    }

    #[test]
    fn tarballs_without_alerts_are_counted() {
        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.tar.gz");
        std::fs::write(&empty, b"").expect("write");
        let zeros = dir.path().join("zeros.tar.gz");
        let mut e = flate2::write::GzEncoder::new(
            File::create(&zeros).expect("create"),
            flate2::Compression::fast(),
        );
        e.write_all(&vec![0u8; 1 << 20]).expect("gz");
        e.finish().expect("gz");
        let (got, opts) = read_all(&[empty, zeros], SourceLimits::default());
        assert!(got.is_empty(), "{got:?}");
        assert_eq!(opts.counters.empty_sources.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn non_regular_tar_members_are_counted_and_skipped() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("links.tar");
        let mut t = tar::Builder::new(File::create(&path).expect("create"));
        for (kind, name) in [
            (tar::EntryType::Symlink, "sym.avro"),
            (tar::EntryType::Link, "hard.avro"),
            (tar::EntryType::Fifo, "fifo.avro"),
            (tar::EntryType::Directory, "dir/"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(0);
            h.set_mode(0o644);
            if kind.is_symlink() || kind.is_hard_link() {
                h.set_link_name("a.avro").expect("link");
            }
            h.set_cksum();
            t.append_data(&mut h, name, std::io::empty())
                .expect("append");
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "a.avro", &b"one"[..])
            .expect("append");
        t.finish().expect("finish");
        drop(t);
        let (got, opts) = read_all(&[path], SourceLimits::default());
        assert_eq!(got.len(), 1);
        assert_eq!(opts.counters.skipped_members.load(Ordering::Relaxed), 3);
        assert_eq!(opts.counters.empty_sources.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn names_are_escaped_unambiguously() {
        assert_eq!(escape_bytes(b"ztf/123.avro"), "ztf/123.avro");
        assert_eq!(
            escape_bytes(b"a\nINFO forged\x1b[31m\\x"),
            "a\\nINFO forged\\x1b[31m\\\\x"
        );
        assert_eq!(escape_bytes(b"\r\t\x7f"), "\\r\\t\\x7f");
        // invalid UTF-8: one escape per byte, never U+FFFD
        assert_eq!(escape_bytes(b"caf\xe9\xff.avro"), "caf\\xe9\\xff.avro");
        // valid non-ASCII is kept; C1 controls and bidi overrides are escaped
        assert_eq!(
            escape_bytes("é\u{85}\u{202e}".as_bytes()),
            "é\\u{0085}\\u{202e}"
        );
        // distinct inputs never escape to the same text
        assert_ne!(escape_bytes(b"\xe9"), escape_bytes(b"\\xe9"));
        assert_ne!(escape_bytes(b"\x1b"), escape_bytes("\\x1b".as_bytes()));
    }

    #[test]
    fn tar_member_names_are_escaped_in_sources() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("names.tar");
        let mut t = tar::Builder::new(File::create(&path).expect("create"));
        for name in [&b"evil\nERROR x\x1b[2K.avro"[..], &b"caf\xe9.avro"[..]] {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.as_gnu_mut().expect("gnu").name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            t.append(&h, &b"x"[..]).expect("append");
        }
        t.finish().expect("finish");
        drop(t);
        let (got, _) = read_all(&[path], SourceLimits::default());
        let sources: Vec<String> = got
            .iter()
            .map(|i| match i {
                Item::Member(m) => m.source.clone(),
                Item::Unreadable(u) => u.source.clone(),
            })
            .collect();
        assert_eq!(sources.len(), 2);
        assert!(
            sources[0].ends_with("!evil\\nERROR x\\x1b[2K.avro"),
            "{}",
            sources[0]
        );
        assert!(sources[1].ends_with("!caf\\xe9.avro"), "{}", sources[1]);
        assert!(sources
            .iter()
            .all(|s| !s.contains('\n') && !s.contains('\x1b')));
    }

    #[cfg(unix)]
    #[test]
    fn bad_directory_entries_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::write(root.join("good.avro"), b"x").expect("write");
        std::os::unix::fs::symlink(root.join("missing.avro"), root.join("dangling.avro"))
            .expect("symlink");
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        std::os::unix::fs::symlink(root, root.join("sub/loop")).expect("symlink");
        let p = plan(&[root.to_path_buf()]).expect("a bad entry never fails the plan");
        let files: Vec<&Path> = p.files.iter().map(|f| f.path.as_path()).collect();
        assert_eq!(files, [root.join("good.avro").as_path()]);
        let mut reasons: Vec<(String, String)> = p
            .bad_entries
            .iter()
            .map(|b| {
                (
                    b.path
                        .strip_prefix(root)
                        .expect("under")
                        .display()
                        .to_string(),
                    b.reason.clone(),
                )
            })
            .collect();
        reasons.sort();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert_eq!(reasons[0].0, "dangling.avro");
        assert!(reasons[0].1.contains("dangling symlink"), "{reasons:?}");
        assert_eq!(reasons[1].0, "sub/loop");
        assert!(reasons[1].1.contains("symlink loop"), "{reasons:?}");
    }

    /// A reader handing out at most `step` bytes per read, then failing if `fail`.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.data.len() && self.fail {
                return Err(std::io::Error::other("connection lost"));
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn trickle(data: Vec<u8>) -> Trickle {
        Trickle {
            data,
            at: 0,
            step: 777,
            fail: false,
        }
    }

    fn stream_all(name: &str, kind: Kind, r: impl Read) -> (Vec<Item>, ReadOptions) {
        let opts = ReadOptions::default();
        let mut got = Vec::new();
        assert!(read_stream(name, kind, r, &opts, |i| {
            got.push(i);
            true
        }));
        (got, opts)
    }

    fn described(items: &[Item]) -> Vec<(String, Vec<u8>)> {
        items
            .iter()
            .map(|i| match i {
                Item::Member(m) => (m.source.clone(), m.bytes.clone()),
                Item::Unreadable(u) => (format!("unreadable {}", u.source), u.bytes.clone()),
            })
            .collect()
    }

    #[test]
    fn a_stream_yields_the_items_of_the_same_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let tb = tarball(
            dir.path(),
            &[("a.avro", b"one"), ("big.avro", &big), ("c.avro", b"three")],
        );
        let (from_file, _) = read_all(std::slice::from_ref(&tb), SourceLimits::default());
        let bytes = std::fs::read(&tb).expect("read");
        let name = "ztf_public_20231018.tar.gz";
        let (from_stream, opts) = stream_all(name, Kind::TarGz, trickle(bytes.clone()));
        let prefix = format!("{}!", tb.display());
        let file_items: Vec<(String, Vec<u8>)> = described(&from_file)
            .into_iter()
            .map(|(s, b)| (s.replacen(&prefix, &format!("{name}!"), 1), b))
            .collect();
        assert_eq!(described(&from_stream), file_items);
        assert_eq!(
            described(&from_stream)[0].0,
            "ztf_public_20231018.tar.gz!a.avro"
        );
        assert_eq!(opts.progress.bytes(), bytes.len() as u64);
        // an uncompressed tar stream, and one Avro member
        let mut t = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        t.append_data(&mut h, "x.avro", &b"abc"[..])
            .expect("append");
        let plain = t.into_inner().expect("tar");
        let (got, _) = stream_all("n.tar", Kind::Tar, trickle(plain));
        assert_eq!(
            described(&got),
            [("n.tar!x.avro".to_string(), b"abc".to_vec())]
        );
        let (got, _) = stream_all("one.avro", Kind::Avro, trickle(b"avro".to_vec()));
        assert_eq!(
            described(&got),
            [("one.avro".to_string(), b"avro".to_vec())]
        );
    }

    #[test]
    fn an_empty_stream_has_no_alerts_and_a_stream_name_is_escaped() {
        let (got, opts) = stream_all("e.tar.gz", Kind::TarGz, trickle(Vec::new()));
        assert!(got.is_empty());
        assert_eq!(opts.counters.empty_sources.load(Ordering::Relaxed), 1);
        // an empty night as the archive serves it: a gzip'd empty tar
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        t.finish().expect("tar");
        let bytes = t.into_inner().expect("tar").finish().expect("gz");
        let (got, opts) = stream_all("a\nb.tar.gz", Kind::TarGz, trickle(bytes));
        assert!(got.is_empty());
        assert_eq!(opts.counters.empty_sources.load(Ordering::Relaxed), 1);
        let (got, _) = stream_all("bad\n.tar.gz", Kind::TarGz, trickle(b"nope".to_vec()));
        let Item::Unreadable(u) = &got[0] else {
            panic!("unreadable");
        };
        assert_eq!(u.source, "bad\\n.tar.gz");
    }

    #[test]
    fn a_broken_stream_keeps_what_it_read() {
        // not gzip: the bytes read are kept for quarantine
        let (got, _) = stream_all(
            "x.tar.gz",
            Kind::TarGz,
            trickle(b"<html>404</html>".to_vec()),
        );
        let Item::Unreadable(u) = &got[0] else {
            panic!("unreadable: {got:?}");
        };
        assert_eq!(u.bytes, b"<html>404</html>");
        assert!(u.reason.contains("not gzip"), "{}", u.reason);
        // gzip, not tar: the compressed bytes are kept
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&[9u8; 700]).expect("gz");
        let raw = e.finish().expect("gz");
        let (got, _) = stream_all("y.tar.gz", Kind::TarGz, trickle(raw.clone()));
        let Item::Unreadable(u) = &got[0] else {
            panic!("unreadable: {got:?}");
        };
        assert_eq!(u.bytes, raw);
        // a stream failing after its first member: that member stays, the cut one is
        // reported with the error, and nothing of the stream's head is kept
        let dir = tempfile::tempdir().expect("tmp");
        let big: Vec<u8> = (0..400_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let tb = tarball(dir.path(), &[("a.avro", b"one"), ("b.avro", &big)]);
        let bytes = std::fs::read(&tb).expect("read");
        let cut = Trickle {
            data: bytes[..bytes.len() / 2].to_vec(),
            at: 0,
            step: 4096,
            fail: true,
        };
        let (got, _) = stream_all("z.tar.gz", Kind::TarGz, cut);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(matches!(&got[0], Item::Member(m) if m.bytes == b"one"));
        let Item::Unreadable(u) = &got[1] else {
            panic!("unreadable: {got:?}");
        };
        assert_eq!(u.source, "z.tar.gz!b.avro");
        assert!(u.reason.contains("connection lost"), "{}", u.reason);
    }

    #[test]
    fn a_stream_stops_when_asked() {
        let dir = tempfile::tempdir().expect("tmp");
        let tb = tarball(dir.path(), &[("a.avro", b"one"), ("b.avro", b"two")]);
        let bytes = std::fs::read(&tb).expect("read");
        let mut n = 0;
        let all = read_stream(
            "s.tar.gz",
            Kind::TarGz,
            trickle(bytes),
            &ReadOptions::default(),
            |_| {
                n += 1;
                false
            },
        );
        assert!(!all);
        assert_eq!(n, 1);
    }

    #[test]
    fn in_flight_budget_waits_for_consumed_items() {
        let budget = Budget::new(10);
        let first = budget.acquire(6);
        let (tx, rx) = std::sync::mpsc::channel();
        let b = budget.clone();
        let waiter = std::thread::spawn(move || {
            let p = b.acquire(6);
            tx.send(()).expect("send");
            drop(p);
        });
        // the second item does not fit until the first is dropped
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("released");
        waiter.join().expect("join");
        // an item larger than the whole budget passes when nothing else is in flight
        drop(budget.acquire(100));
    }
}
