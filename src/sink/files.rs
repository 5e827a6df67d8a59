//! Naming and placing output files, shared by every writer: the output formats, what a writer reports it
//! wrote, atomic small-file writes, `.partial` names and the removal of a previous build's stale files.
//!
//! Every file is written as `<name>.partial` and renamed only once complete, so a killed build never leaves
//! a file that looks finished.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::SinkError;

/// One output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputFormat {
    /// `datasets`-ready Parquet shards with a dataset card.
    Parquet,
    /// GMAI-MMBench-style multiple-choice TSV for VLMEvalKit.
    Tsv,
    /// Chat JSONL with PNGs beside it for trainers.
    Jsonl,
}

impl OutputFormat {
    /// Every output format.
    pub const ALL: [OutputFormat; 3] = [
        OutputFormat::Parquet,
        OutputFormat::Tsv,
        OutputFormat::Jsonl,
    ];

    /// The report and CLI spelling, e.g. `jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Parquet => "parquet",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Jsonl => "jsonl",
        }
    }
}

/// A finished TSV or JSONL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Format of the file.
    pub format: OutputFormat,
    /// Where the file was written.
    pub path: PathBuf,
    /// Split the file holds.
    pub split: String,
    /// The language of a TSV file (JSONL files hold every language).
    pub lang: Option<String>,
    /// Lines (TSV: multiple-choice items; JSONL: rows).
    pub rows: u64,
}

/// `<path>.partial` beside `path`.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Every Parquet shard of a built dataset, `<dataset_dir>/<config>/*.parquet`, sorted: the layout the
/// Parquet sink writes, listed for its readers (`score`, `gallery`). `Err` names the folder that could not be
/// listed.
pub fn shard_paths(dataset_dir: &Path) -> Result<Vec<PathBuf>, (PathBuf, io::Error)> {
    let read = |path: &Path| fs::read_dir(path).map_err(|e| (path.to_path_buf(), e));
    let mut out = Vec::new();
    for entry in read(dataset_dir)?.flatten() {
        let config = entry.path();
        if !config.is_dir() {
            continue;
        }
        for file in read(&config)?.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes a small file atomically: `<path>.partial`, fsync, rename over `path`. The partial file is
/// removed if any step fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let partial = partial_path(path);
    let result = (|| {
        let mut file = fs::File::create(&partial)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&partial, path)
    })();
    if result.is_err() {
        // Best effort: the original error is the one worth reporting.
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Writes a file without syncing it: `<path>.partial`, then a rename over `path`. A killed process never
/// leaves a file at `path` that is incomplete; durability against power loss is the caller's job, once per
/// output set, through [`make_durable`]. The partial file is removed if any step fails.
pub fn write_renamed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let partial = partial_path(path);
    let result = (|| {
        let mut file = WriteBehind::new(fs::File::create(&partial)?);
        file.write_all(bytes)?;
        file.hint_rest();
        drop(file);
        fs::rename(&partial, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&partial);
    }
    result
}

/// Bytes a file takes before the kernel is asked to start writing them to disk ([`WriteBehind`]).
const WRITE_BEHIND_BYTES: u64 = 8 << 20;

/// A file being written that asks the kernel to start writing its data to disk every
/// `WRITE_BEHIND_BYTES` (8 MiB), without waiting: then the output set's one durable point ([`make_durable`]) finds
/// most of the data already on disk instead of writing all of it while the build waits (on the 512×512×200
/// CT, all formats: the `syncfs` took 0.12 s of a ~1 s build, writing back ~210 MB). On Linux the hint is
/// `posix_fadvise(POSIX_FADV_DONTNEED)` (through `rustix`), which starts the writeback of the range and lets
/// the page cache drop the parts already on disk — output files are not read back by the build; elsewhere it
/// does nothing. A hint, not a sync: no durability is claimed from it and its failure is ignored.
pub struct WriteBehind {
    file: fs::File,
    written: u64,
    hinted: u64,
}

impl WriteBehind {
    /// Writes to `file` from its start.
    pub fn new(file: fs::File) -> WriteBehind {
        WriteBehind {
            file,
            written: 0,
            hinted: 0,
        }
    }

    /// Asks for the writeback of everything written and not yet hinted (call once the file is complete).
    pub fn hint_rest(&mut self) {
        start_writeback(&self.file, self.hinted, self.written - self.hinted);
        self.hinted = self.written;
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.hinted >= WRITE_BEHIND_BYTES {
            self.hint_rest();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Starts writing `len` bytes of `file` from `offset` to disk, without waiting (see [`WriteBehind`]).
fn start_writeback(file: &fs::File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    if let Some(len) = std::num::NonZeroU64::new(len) {
        let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// The one durable point of an output set: after it returns, the data of every file written so far under
/// `dir` (in particular `files`) is on stable storage.
///
/// On Linux this is a single `syncfs(2)` on the file system holding `dir` (through `rustix`, no unsafe code):
/// one call instead of an `fsync` per file, at the price of also flushing other dirty data of that file
/// system — the same work the kernel's writeback would do anyway. Elsewhere each of `files` is fsynced.
pub fn make_durable(dir: &Path, files: &[PathBuf]) -> Result<(), SinkError> {
    sync_all_under(dir, files).map_err(|source| SinkError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

fn sync_all_under(dir: &Path, files: &[PathBuf]) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let _ = files;
        let handle = fs::File::open(dir)?;
        rustix::fs::syncfs(&handle)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for file in files {
            fs::File::open(file)?.sync_all()?;
        }
        Ok(())
    }
}

/// Deletes the regular files directly in `dir` whose names `is_output` recognises as this writer's and that
/// are not in `keep` (a previous build's files, leftovers of a killed one).
pub fn remove_stale(
    dir: &Path,
    keep: &BTreeSet<&Path>,
    is_output: impl Fn(&str) -> bool,
) -> Result<(), SinkError> {
    let entries = fs::read_dir(dir).map_err(|source| SinkError::ReadDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut stale = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| SinkError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let matches = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(&is_output);
        if matches && !keep.contains(path.as_path()) && path.is_file() {
            stale.push(path);
        }
    }
    stale.sort();
    for path in stale {
        fs::remove_file(&path).map_err(|source| SinkError::RemoveStale { path, source })?;
    }
    Ok(())
}

/// Puts the folder `staged` (complete, fsynced) in place of `live` in one step, and removes what `live` held
/// that `is_output` recognises as this writer's (the previous build's files); anything else in `live` is moved
/// into the new folder. On Linux the two folders are exchanged atomically (`renameat2(RENAME_EXCHANGE)`), so
/// `live` always names a complete set; where that is unavailable `live` is first renamed aside to
/// `<staged>.old.partial` (a build killed in between leaves no folder at `live`, never a mixed one). Leftovers
/// are removed by the next build ([`remove_leftovers`]).
pub fn swap_in(
    staged: &Path,
    live: &Path,
    is_output: impl Fn(&str) -> bool,
) -> Result<(), SinkError> {
    let rename_error = |from: &Path, to: &Path| {
        let (from, to) = (from.to_path_buf(), to.to_path_buf());
        move |source| SinkError::Rename { from, to, source }
    };
    let live_meta = fs::symlink_metadata(live).ok();
    let Some(live_meta) = live_meta else {
        fs::rename(staged, live).map_err(rename_error(staged, live))?;
        return Ok(());
    };
    let old = if live_meta.is_dir() && exchange(staged, live).is_ok() {
        staged.to_path_buf()
    } else {
        let mut aside = staged.as_os_str().to_os_string();
        aside.push(".old.partial");
        let aside = PathBuf::from(aside);
        let _ = fs::remove_dir_all(&aside);
        fs::rename(live, &aside).map_err(rename_error(live, &aside))?;
        fs::rename(staged, live).map_err(rename_error(staged, live))?;
        aside
    };
    test_abort_point("parquet-after-swap");
    // The old folder: a link or file is simply dropped; a folder loses this writer's files and gives the rest
    // back. Best effort: what stays is a leftover the next build removes.
    if !live_meta.is_dir() {
        let _ = fs::remove_file(&old);
        return Ok(());
    }
    if let Ok(entries) = fs::read_dir(&old) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let ours = name
                .to_str()
                .is_some_and(|n| is_output(n) || n.ends_with(".partial"));
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if ours && is_file {
                let _ = fs::remove_file(entry.path());
            } else if fs::symlink_metadata(live.join(&name)).is_err() {
                let _ = fs::rename(entry.path(), live.join(&name));
            }
        }
    }
    let _ = fs::remove_dir(&old);
    Ok(())
}

/// Exchanges two folders atomically (Linux `renameat2(RENAME_EXCHANGE)`); an error elsewhere or where the
/// file system does not support it.
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{renameat_with, RenameFlags, CWD};
        renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)?;
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// Refuses a dataset folder, or a format folder in it (`tsv`, `jsonl`, `jsonl/images`), that is a symbolic
/// link: writing through it would put files outside `--out`. (A Parquet config folder that is a link is
/// replaced, not followed: see [`swap_in`].)
pub fn refuse_links(dataset_dir: &Path) -> Result<(), SinkError> {
    for path in [
        dataset_dir.to_path_buf(),
        dataset_dir.join("tsv"),
        dataset_dir.join("jsonl"),
        dataset_dir.join("jsonl/images"),
    ] {
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(SinkError::LinkInOutput { path });
        }
    }
    Ok(())
}

/// Removes what a killed build left in `dataset_dir` (which this build has locked): `*.partial` files down to
/// `jsonl/images/<xx>/` and the shard staging folders `.<config>.partial` (with what they hold).
/// Returns what was removed, sorted, for the user to be told.
pub fn remove_leftovers(dataset_dir: &Path) -> Result<Vec<PathBuf>, SinkError> {
    let mut found = Vec::new();
    let walker = walkdir::WalkDir::new(dataset_dir)
        .min_depth(1)
        .max_depth(4)
        .sort_by_file_name();
    for entry in walker.into_iter().flatten() {
        let name = entry.file_name().to_string_lossy();
        if !name.ends_with(".partial") {
            continue;
        }
        if entry.file_type().is_dir() && is_staging(&entry) {
            found.push((entry.path().to_path_buf(), true));
        } else if !entry.file_type().is_dir() {
            found.push((entry.path().to_path_buf(), false));
        }
    }
    let mut removed = Vec::new();
    for (path, is_dir) in found {
        if removed.iter().any(|r: &PathBuf| path.starts_with(r)) {
            continue;
        }
        let result = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        result.map_err(|source| SinkError::RemoveLeftover {
            path: path.clone(),
            source,
        })?;
        removed.push(path);
    }
    Ok(removed)
}

/// A shard staging folder: `.<name>.partial` directly in the dataset folder.
fn is_staging(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    entry.depth() == 1 && name.starts_with('.') && name.ends_with(".partial")
}

/// Test hook for the kill tests (tests/integration/hostile.rs, which CI runs against the release binary):
/// when the environment variable `MEDVISION_BUILD_ABORT_AT` equals `point`, the process aborts on the spot, as
/// `kill -9` would stop it there (no clean-up runs). Unset, as in every normal run, it does nothing.
pub fn test_abort_point(point: &str) {
    if std::env::var_os("MEDVISION_BUILD_ABORT_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_partial() {
        let dir = std::env::temp_dir().join(format!("mvb-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("build-report.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert!(!partial_path(&path).exists());
        // Failure (parent missing) reports the error and leaves nothing behind.
        let missing = dir.join("no-such-dir").join("x.json");
        assert!(write_atomic(&missing, b"x").is_err());
        assert!(!partial_path(&missing).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    fn write_all(dir: &Path, files: &[&str]) {
        for f in files {
            let path = dir.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, f.as_bytes()).unwrap();
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn leftovers_of_a_killed_build_are_removed_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("mvb-leftovers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        write_all(
            &dir,
            &[
                ".bbox.partial/train-00000-of-00001.parquet",
                ".bbox.partial/train-00001.parquet.partial",
                "bbox/train-00000-of-00001.parquet",
                "tsv/T_train_en.tsv.partial",
                "tsv/T_train_en.tsv",
                "jsonl/images/ab/abc.png.partial",
                "jsonl/images/ab/abd.png",
                "README.md.partial",
                "README.md",
            ],
        );
        let removed = remove_leftovers(&dir).unwrap();
        let rel: Vec<String> = removed
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rel,
            [
                ".bbox.partial",
                "README.md.partial",
                "jsonl/images/ab/abc.png.partial",
                "tsv/T_train_en.tsv.partial"
            ]
        );
        assert_eq!(names(&dir), ["README.md", "bbox", "jsonl", "tsv"]);
        assert_eq!(names(&dir.join("jsonl/images/ab")), ["abd.png"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn swap_in_replaces_the_old_set_whole_and_keeps_foreign_files() {
        let dir = std::env::temp_dir().join(format!("mvb-swap-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        write_all(
            &dir,
            &[
                "bbox/train-00000-of-00002.parquet",
                "bbox/train-00001-of-00002.parquet",
                "bbox/notes.txt",
                ".bbox.partial/train-00000-of-00001.parquet",
            ],
        );
        let is_shard = |n: &str| n.ends_with(".parquet");
        swap_in(&dir.join(".bbox.partial"), &dir.join("bbox"), is_shard).unwrap();
        assert_eq!(names(&dir), ["bbox"]);
        assert_eq!(
            names(&dir.join("bbox")),
            ["notes.txt", "train-00000-of-00001.parquet"]
        );
        // A config that did not exist yet is a plain rename; a link in its place is replaced, not followed.
        write_all(&dir, &[".mask.partial/a.parquet", "elsewhere/b.parquet"]);
        swap_in(&dir.join(".mask.partial"), &dir.join("mask"), is_shard).unwrap();
        assert_eq!(names(&dir.join("mask")), ["a.parquet"]);
        write_all(&dir, &[".link.partial/c.parquet"]);
        std::os::unix::fs::symlink(dir.join("elsewhere"), dir.join("link")).unwrap();
        swap_in(&dir.join(".link.partial"), &dir.join("link"), is_shard).unwrap();
        assert_eq!(names(&dir.join("link")), ["c.parquet"]);
        assert_eq!(names(&dir.join("elsewhere")), ["b.parquet"]);
        assert_eq!(names(&dir), ["bbox", "elsewhere", "link", "mask"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_behind_keeps_every_byte_and_hints_each_step_once() {
        let dir = std::env::temp_dir().join(format!("mvb-write-behind-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.partial");
        // 20 MiB + a tail in 1 MiB − 7 byte writes: the hints fall between writes, not on write boundaries.
        let bytes: Vec<u8> = (0..(20u64 << 20) + 12_345)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut file = WriteBehind::new(fs::File::create(&path).unwrap());
        let mut hints = Vec::new();
        for chunk in bytes.chunks((1 << 20) - 7) {
            file.write_all(chunk).unwrap();
            if hints.last() != Some(&file.hinted) {
                hints.push(file.hinted);
            }
        }
        assert_eq!(hints[1..].len(), 2, "one hint per 8 MiB: {hints:?}");
        assert!(hints[1] >= WRITE_BEHIND_BYTES && hints[2] >= 2 * WRITE_BEHIND_BYTES);
        file.hint_rest();
        assert_eq!(
            (file.written, file.hinted),
            (bytes.len() as u64, bytes.len() as u64)
        );
        drop(file);
        assert!(fs::read(&path).unwrap() == bytes);
        fs::remove_dir_all(&dir).unwrap();
    }
}
