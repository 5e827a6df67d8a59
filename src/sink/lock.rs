//! One build at a time per dataset folder (and per partition's part folder): an advisory lock (`flock` through
//! std's `File::try_lock`) on `<dataset>/.medvision-build.lock` (`<part folder>.lock`), which holds the
//! holder's process id. Two builds into one `--out` used to share fixed `.partial` names and both fail
//! half-way; now the second fails at once, naming the first.
//!
//! The lock file exists only while a build holds it (a killed build leaves it, unlocked; the next build takes
//! it over), so finished outputs are the same with or without it. On a file system that has no locks (some
//! network mounts) the build goes on unguarded, as before.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::error::SinkError;

/// Name of the lock file inside the dataset folder.
pub const LOCK_FILE_NAME: &str = ".medvision-build.lock";

/// Held while a build writes a dataset folder; dropping it removes the lock file and releases the lock.
#[derive(Debug)]
pub struct DatasetLock {
    path: PathBuf,
    // Kept open: closing it releases the lock.
    _file: File,
}

impl DatasetLock {
    /// Takes the lock of `dataset_dir` (which must exist) without waiting: another build holding it is
    /// [`SinkError::Locked`], naming its process id.
    pub fn acquire(dataset_dir: &Path) -> Result<DatasetLock, SinkError> {
        DatasetLock::acquire_file(
            dataset_dir.join(LOCK_FILE_NAME),
            dataset_dir,
            "dataset folder",
        )
    }

    /// Takes the lock of a partition's part folder `part_dir` — the file `<part_dir>.lock` beside it, since the
    /// folder itself is replaced when the part is complete — so that two runs of one partition cannot replace
    /// each other's work; partitions of one build still run side by side.
    pub fn acquire_part(part_dir: &Path) -> Result<DatasetLock, SinkError> {
        let mut path = part_dir.as_os_str().to_os_string();
        path.push(".lock");
        DatasetLock::acquire_file(PathBuf::from(path), part_dir, "partition")
    }

    fn acquire_file(
        path: PathBuf,
        guarded: &Path,
        what: &'static str,
    ) -> Result<DatasetLock, SinkError> {
        let io_error = |source| SinkError::Lock {
            path: path.clone(),
            source,
        };
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_error)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut text = String::new();
                    let _ = file.read_to_string(&mut text);
                    let holder = text.trim();
                    return Err(SinkError::Locked {
                        what,
                        dir: guarded.to_path_buf(),
                        holder: if holder.is_empty() {
                            "another build (its pid is not written yet)".into()
                        } else {
                            format!("another build, pid {holder}")
                        },
                    });
                }
                // A file system without locks (some network mounts): build unguarded, as before locks existed.
                Err(TryLockError::Error(e)) if no_locks_here(&e) => {}
                Err(TryLockError::Error(e)) => return Err(io_error(e)),
            }
            // The previous holder removes the file before releasing it: a lock taken on a file no longer
            // at `path` guards nothing, so open the new one and try again.
            if !still_at_path(&file, &path).map_err(io_error)? {
                continue;
            }
            file.set_len(0).map_err(io_error)?;
            file.rewind().map_err(io_error)?;
            writeln!(file, "{}", std::process::id()).map_err(io_error)?;
            return Ok(DatasetLock { path, _file: file });
        }
    }
}

/// The file system does not support locks (`ENOLCK`, or unsupported).
fn no_locks_here(e: &std::io::Error) -> bool {
    const ENOLCK: i32 = 37;
    e.kind() == std::io::ErrorKind::Unsupported
        || (cfg!(target_os = "linux") && e.raw_os_error() == Some(ENOLCK))
}

/// True when `file` is the file now at `path` (same device and inode).
#[cfg(unix)]
fn still_at_path(file: &File, path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let locked = file.metadata()?;
    Ok(fs::metadata(path).is_ok_and(|now| now.dev() == locked.dev() && now.ino() == locked.ino()))
}

/// Elsewhere an open file cannot be removed, so the file locked is the one at the path.
#[cfg(not(unix))]
fn still_at_path(_file: &File, _path: &Path) -> std::io::Result<bool> {
    Ok(true)
}

impl Drop for DatasetLock {
    fn drop(&mut self) {
        // Removed while still locked (see `acquire`); the file handle closes after this, releasing the lock.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_and_the_file_goes_with_the_lock() {
        let dir = std::env::temp_dir().join(format!("mvb-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        let first = DatasetLock::acquire(&dir).expect("first lock");
        let text = fs::read_to_string(dir.join(LOCK_FILE_NAME)).expect("lock file");
        assert_eq!(text, format!("{}\n", std::process::id()));
        let err = DatasetLock::acquire(&dir).expect_err("second lock refused");
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id()))
                && message.contains("mvb-lock"),
            "{message}"
        );
        drop(first);
        assert!(!dir.join(LOCK_FILE_NAME).exists());
        // A lock file left by a killed build (unlocked) is taken over.
        fs::write(dir.join(LOCK_FILE_NAME), "999999\n").expect("stale lock file");
        let again = DatasetLock::acquire(&dir).expect("stale lock taken over");
        drop(again);
        assert!(!dir.join(LOCK_FILE_NAME).exists());
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
