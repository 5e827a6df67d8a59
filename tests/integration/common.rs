//! Helpers every integration module uses: the binary, the repository root, per-module temp dirs, file trees.

use std::collections::BTreeMap;
use std::fs;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
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

/// Every record batch of the Parquet shards of one task family, shards in name order: the family's own config
/// folder (`parquet_configs = "per_task"`), else its rows of the `all` config beside it (the default
/// layout). None when neither holds rows of it.
pub fn config_batches(config_dir: &Path) -> Vec<RecordBatch> {
    if config_dir.is_dir() {
        return folder_batches(config_dir);
    }
    let family = config_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("config folder name");
    let all = config_dir.with_file_name("all");
    folder_batches(&all)
        .into_iter()
        .map(|batch| {
            let configs = column(&batch, "config");
            let configs = configs
                .as_any()
                .downcast_ref::<arrow_array::StringArray>()
                .expect("config strings");
            let keep: arrow_array::BooleanArray =
                configs.iter().map(|c| Some(c == Some(family))).collect();
            arrow_select::filter::filter_record_batch(&batch, &keep).expect("filter")
        })
        .filter(|batch| batch.num_rows() > 0)
        .collect()
}

/// Every record batch of every Parquet shard in a folder, shards in name order; none when the folder does not
/// exist.
pub fn folder_batches(dir: &Path) -> Vec<RecordBatch> {
    let Ok(entries) = fs::read_dir(dir) else {
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

/// The PNG bytes of every row of `batch` (the `image` struct's `bytes`).
pub fn png_bytes(batch: &RecordBatch) -> arrow_array::BinaryArray {
    use arrow_array::cast::AsArray;
    column(batch, "image")
        .as_struct()
        .column_by_name("bytes")
        .expect("image.bytes")
        .as_binary::<i32>()
        .clone()
}

/// One axial row of a box or mask-size config: where it is and what it says.
pub struct AxialRow {
    pub task: String,
    pub collection: String,
    pub case: String,
    pub slice: i32,
    pub label: i32,
    pub label_name: String,
    pub bbox_px: [i32; 4],
    /// -1 when null.
    pub pixel_count: i64,
    /// NaN when null.
    pub area_mm2: f64,
}

/// Column `name` of `batch` (panics naming it when absent).
pub fn column(batch: &RecordBatch, name: &str) -> arrow_array::ArrayRef {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"))
        .clone()
}

/// The axial rows of every shard in `config_dir`, in file order.
pub fn axial_rows(config_dir: &Path) -> Vec<AxialRow> {
    let mut out = Vec::new();
    for batch in config_batches(config_dir) {
        let col = |name: &str| column(&batch, name);
        let text = |c: &arrow_array::ArrayRef, r: usize| c.as_string::<i32>().value(r).to_string();
        let (task, coll, case, plane) = (
            col("task_id"),
            col("collection"),
            col("case_id"),
            col("plane"),
        );
        let (slice, label, name, bbox) = (
            col("slice_index"),
            col("label_id"),
            col("label_name"),
            col("bbox_px"),
        );
        let (count, area) = (col("pixel_count"), col("area_mm2"));
        for r in 0..batch.num_rows() {
            if plane.as_string::<i32>().value(r) != "axial" {
                continue;
            }
            let b = bbox.as_list::<i32>().value(r);
            let b = b.as_primitive::<Int32Type>();
            out.push(AxialRow {
                task: text(&task, r),
                collection: text(&coll, r),
                case: text(&case, r),
                slice: slice.as_primitive::<Int32Type>().value(r),
                label: label.as_primitive::<Int32Type>().value(r),
                label_name: text(&name, r),
                bbox_px: [b.value(0), b.value(1), b.value(2), b.value(3)],
                pixel_count: if count.is_null(r) {
                    -1
                } else {
                    count.as_primitive::<Int64Type>().value(r)
                },
                area_mm2: if area.is_null(r) {
                    f64::NAN
                } else {
                    area.as_primitive::<Float64Type>().value(r)
                },
            });
        }
    }
    out
}
