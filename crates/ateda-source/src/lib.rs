//! Alert sources: `.avro` files, directories (recursive) and nightly
//! `ztf_public_YYYYMMDD.tar.gz` tarballs read as a stream (never extracted).
//!
//! Each source yields [`Item`]s in order: a [`Member`] with its bytes, or an
//! [`Unreadable`] part with the reason and whatever bytes could be read, so
//! nothing is dropped silently.

#![deny(missing_docs)]

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    /// `path` for a file, `path!member` for a tarball member.
    pub source: String,
    /// The member's bytes.
    pub bytes: Vec<u8>,
}

/// A part of a source that could not be read.
#[derive(Debug)]
pub struct Unreadable {
    /// `path` or `path!member`.
    pub source: String,
    /// Why it could not be read.
    pub reason: String,
    /// The bytes that could be read, kept for quarantine.
    pub bytes: Vec<u8>,
}

/// What reading a source yields.
#[derive(Debug)]
pub enum Item {
    /// A readable member.
    Member(Member),
    /// An unreadable part (recorded and quarantined downstream).
    Unreadable(Unreadable),
}

/// The files to read, with what was skipped.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files in reading order.
    pub files: Vec<SourceFile>,
    /// Files inside directories that were skipped (not .avro / tarballs).
    pub skipped: Vec<PathBuf>,
}

impl Plan {
    /// Total bytes of all files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

fn kind_of(path: &Path) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Some(Kind::TarGz)
    } else if name.ends_with(".tar") {
        Some(Kind::Tar)
    } else if name.ends_with(".avro") {
        Some(Kind::Avro)
    } else {
        None
    }
}

/// Expands the given paths: files as given (a file of unknown extension is
/// read as Avro and quarantined if it is not), directories recursively in
/// sorted order (keeping `.avro`, `.tar.gz`, `.tgz`, `.tar`; hidden files skipped).
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
                let entry = entry.map_err(|e| SourceError::Io {
                    path: e.path().map(Path::to_path_buf).unwrap_or_else(|| p.clone()),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("walk error")),
                })?;
                if !entry.file_type().is_file() {
                    continue;
                }
                let path = entry.path().to_path_buf();
                let hidden = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with('.'));
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

/// Counts bytes read from the underlying files, for progress reporting.
#[derive(Debug, Default, Clone)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
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
pub fn read_plan(plan: &Plan, progress: &Progress, mut emit: impl FnMut(Item) -> bool) {
    for f in &plan.files {
        if !read_file(f, progress, &mut emit) {
            return;
        }
    }
}

fn read_file(f: &SourceFile, progress: &Progress, emit: &mut impl FnMut(Item) -> bool) -> bool {
    let name = f.path.display().to_string();
    let file = match File::open(&f.path) {
        Ok(file) => file,
        Err(e) => {
            return emit(Item::Unreadable(Unreadable {
                source: name,
                reason: format!("cannot open: {e}"),
                bytes: Vec::new(),
            }))
        }
    };
    let reader = Counting {
        inner: file,
        progress: progress.clone(),
    };
    match f.kind {
        Kind::Avro => {
            let mut bytes = Vec::with_capacity(f.size as usize);
            let mut r = reader;
            match r.read_to_end(&mut bytes) {
                Ok(_) => emit(Item::Member(Member {
                    source: name,
                    bytes,
                })),
                Err(e) => emit(Item::Unreadable(Unreadable {
                    source: name,
                    reason: format!("read error: {e}"),
                    bytes,
                })),
            }
        }
        Kind::TarGz => read_tar(
            &name,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, reader)),
            emit,
        ),
        Kind::Tar => read_tar(&name, BufReader::with_capacity(1 << 20, reader), emit),
    }
}

fn read_tar<R: Read>(name: &str, reader: R, emit: &mut impl FnMut(Item) -> bool) -> bool {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            return emit(Item::Unreadable(Unreadable {
                source: name.to_string(),
                reason: format!("not a readable tar stream: {e}"),
                bytes: Vec::new(),
            }))
        }
    };
    let mut members = 0usize;
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                return emit(Item::Unreadable(Unreadable {
                    source: name.to_string(),
                    reason: format!("tar stream unreadable after {members} members: {e}"),
                    bytes: Vec::new(),
                }))
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let member = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| format!("member-{members}"));
        let source = format!("{name}!{member}");
        // The header size may be corrupt: never trust it for an allocation.
        let mut bytes = Vec::with_capacity(entry.size().min(64 << 20) as usize);
        members += 1;
        match entry.read_to_end(&mut bytes) {
            Ok(_) => {
                if !emit(Item::Member(Member { source, bytes })) {
                    return false;
                }
            }
            Err(e) => {
                // The stream itself is broken: record what we have and stop this tarball.
                return emit(Item::Unreadable(Unreadable {
                    source,
                    reason: format!("tar member truncated or stream corrupt: {e}"),
                    bytes,
                }));
            }
        }
    }
    true
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
        read_plan(&plan, &Progress::default(), |i| {
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
        read_plan(&plan, &Progress::default(), |i| {
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
}
