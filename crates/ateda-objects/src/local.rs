//! Create-if-absent of one local file, never seen half-written.
//!
//! The bytes go to a temporary name in the object's directory
//! (`.<name>.<pid>-<n>.tmp`) and are renamed to the object's name only if nothing is
//! there (`renameat2(RENAME_NOREPLACE)` on Linux; a hard link + unlink elsewhere or on a
//! file system without it). So an object under its key is always complete and, once
//! present, never changes; of two writers of the same key one creates it and the other
//! reports [`Put::Existed`]. A process killed mid-write leaves only the hidden temporary
//! file, which no key names (no fsync: a power loss may still lose recent writes, as for
//! any unsynced file).

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Put;

/// Writes `data` as `root/key` unless a file is already there.
pub(crate) fn put(root: &Path, key: &str, data: &[u8]) -> std::io::Result<Put> {
    let dest = root.join(key);
    // A re-run finds most objects present: one stat instead of writing them again.
    if dest.try_exists()? {
        return Ok(Put::Existed);
    }
    let tmp = match write_temp(&dest, data) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            write_temp(&dest, data)?
        }
        other => other?,
    };
    let placed = rename_noreplace(&tmp, &dest);
    match placed {
        Ok(()) => Ok(Put::Created),
        Err(e) => {
            // best effort: the temporary file is garbage either way, never an object
            let _ = std::fs::remove_file(&tmp);
            if e.kind() == ErrorKind::AlreadyExists {
                Ok(Put::Existed)
            } else {
                Err(e)
            }
        }
    }
}

/// Writes `data` to a new temporary file next to `dest` and returns its path.
fn write_temp(dest: &Path, data: &[u8]) -> std::io::Result<PathBuf> {
    let (mut f, tmp) = create_temp(dest)?;
    match f.write_all(data) {
        Ok(()) => Ok(tmp),
        Err(e) => {
            drop(f);
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates a new, empty hidden temporary file next to `dest`
/// (`.<name>.<pid>-<n>.tmp`), which no key names, and returns it with its path.
pub(crate) fn create_temp(dest: &Path) -> std::io::Result<(std::fs::File, PathBuf)> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "key has no file name"))?
        .to_string_lossy();
    loop {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dest.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()));
        // create_new: a leftover of a dead process with the same pid is skipped, not reused
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`), atomically.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // a kernel or file system without RENAME_NOREPLACE
        Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP => {
            link_then_unlink(from, to)
        }
        Err(e) => Err(e.into()),
    }
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`), atomically.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    link_then_unlink(from, to)
}

/// `link(2)` never replaces its target: the portable no-clobber rename.
fn link_then_unlink(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn creates_then_leaves_existing_untouched() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = "ztf/night=2023-10-18/42/science.fits.gz";
        assert_eq!(put(dir.path(), key, b"first").expect("put"), Put::Created);
        assert_eq!(put(dir.path(), key, b"second!").expect("put"), Put::Existed);
        let obj = dir.path().join(key);
        assert_eq!(std::fs::read(&obj).expect("read"), b"first");
        // no temporary file left behind
        assert_eq!(files_in(obj.parent().expect("parent")), ["science.fits.gz"]);
    }

    #[test]
    fn a_crash_leftover_is_not_the_object() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = "ztf/night=2023-10-18/43/template.fits.gz";
        let obj = dir.path().join(key);
        let obj_dir = obj.parent().expect("parent");
        std::fs::create_dir_all(obj_dir).expect("mkdir");
        // what a writer killed mid-write leaves, even one with our own pid and sequence
        let ours = format!(".template.fits.gz.{}-0.tmp", std::process::id());
        for stale in [".template.fits.gz.1-0.tmp".to_string(), ours.clone()] {
            std::fs::write(obj_dir.join(stale), b"par").expect("write");
        }
        assert!(!obj.exists(), "a leftover is not an object");
        assert_eq!(
            put(dir.path(), key, b"partial no more").expect("put"),
            Put::Created
        );
        assert_eq!(std::fs::read(&obj).expect("read"), b"partial no more");
        // the leftovers stay as they were: never renamed into place, never reused
        assert_eq!(std::fs::read(obj_dir.join(&ours)).expect("read"), b"par");
        assert_eq!(
            files_in(obj_dir),
            [
                ".template.fits.gz.1-0.tmp",
                ours.as_str(),
                "template.fits.gz"
            ]
        );
    }

    #[test]
    fn concurrent_writers_of_one_key_end_with_one_complete_object() {
        for round in 0..20 {
            let dir = tempfile::tempdir().expect("tmp");
            let key = format!("ztf/night=2023-10-18/{round}/science.fits.gz");
            let outcomes: Vec<(Put, Vec<u8>)> = std::thread::scope(|s| {
                let writers: Vec<_> = (0..8u8)
                    .map(|w| {
                        let (root, key) = (dir.path(), key.as_str());
                        s.spawn(move || {
                            // each writer's bytes differ, so a mix would show
                            let data = vec![w; 64 * 1024];
                            (put(root, key, &data).expect("put"), data)
                        })
                    })
                    .collect();
                writers
                    .into_iter()
                    .map(|h| h.join().expect("writer"))
                    .collect()
            });
            let created: Vec<&Vec<u8>> = outcomes
                .iter()
                .filter(|(p, _)| *p == Put::Created)
                .map(|(_, d)| d)
                .collect();
            assert_eq!(
                created.len(),
                1,
                "round {round}: exactly one writer creates"
            );
            let obj = dir.path().join(&key);
            assert_eq!(&std::fs::read(&obj).expect("read"), created[0]);
            assert_eq!(
                files_in(obj.parent().expect("parent")),
                ["science.fits.gz"],
                "round {round}: no temporary file left"
            );
        }
    }

    #[test]
    fn link_fallback_never_replaces() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").expect("write");
        std::fs::write(&b, b"old").expect("write");
        let err = link_then_unlink(&a, &b).expect_err("must not replace");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&b).expect("read"), b"old");
        std::fs::remove_file(&b).expect("rm");
        link_then_unlink(&a, &b).expect("link");
        assert_eq!(files_in(dir.path()), ["b"]);
    }
}
