//! Helpers every integration module uses: the binary, the repository root, per-module temp dirs, file trees.

use std::collections::BTreeMap;
use std::fs;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The `medvision-build` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_medvision-build");
/// The repository root (manifests, fixtures, golden files).
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A fresh, empty directory under the target's temp dir, prefixed with the calling module's file name so
/// tests of different modules running in parallel never share one.
#[track_caller]
pub fn temp_dir(name: &str) -> PathBuf {
    let module = Path::new(Location::caller().file())
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{module}-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Runs the binary with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run medvision-build")
}

/// Every file under `dir`: relative `/`-separated path → bytes.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("prefix")
                .to_string_lossy()
                .replace('\\', "/");
            files.insert(rel, fs::read(entry.path()).expect("read"));
        }
    }
    files
}

/// Every record batch of every Parquet shard in a config folder, shards in name order; none when the folder
/// does not exist (a config without rows).
pub fn config_batches(config_dir: &Path) -> Vec<RecordBatch> {
    let Ok(entries) = fs::read_dir(config_dir) else {
        return Vec::new();
    };
    let mut shards: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    shards.sort();
    let mut batches = Vec::new();
    for shard in shards {
        let file = fs::File::open(&shard).expect("open shard");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader");
        batches.extend(reader.map(|b| b.expect("batch")));
    }
    batches
}
