//! Chat JSONL for trainers (README, "Output formats"): `<dataset dir>/jsonl/<split>.jsonl`, one line per row
//! `{"id", "images": ["images/…png"], "lang", "messages": [user "<image>question", assistant answer],
//! "task_type"}`, with the PNGs beside it — the layout LLaMA-Factory and ms-swift read directly — and
//! `dataset_info.json`, LLaMA-Factory's registry of the folder (one `<dataset>_<split>` entry per file, ShareGPT
//! with OpenAI-style `role`/`content` tags), so `dataset_dir=<jsonl folder>` needs no hand-written file.
//! With [`ImagePaths::Absolute`] the lines name each image by its absolute path (trainers that resolve image
//! paths against their own working directory, e.g. ms-swift without `ROOT_IMAGE_DIR`).
//!
//! Images are named by content (`images/<2 hex>/<xxh3-128 hex>.png`), so a slice shared by several questions
//! and languages is stored once and the same input always gives the same names — and the order in which they
//! are written does not matter: new images are written in the background (the build's threads).
//!
//! Durability: images are written as `.partial` and renamed without an `fsync` each (one per image cost
//! ~0.8 s per CT case); everything is made durable at one point, for the whole output set
//! ([`files::make_durable`](super::files::make_durable), between [`JsonlSink::seal`] and
//! [`JsonlSink::publish`]) *before* the JSONL files are renamed into place, so
//! a JSONL file never names an image that is not on disk. An image torn by a power loss before that point
//! has no JSONL file referring to it, and the next build rewrites it (an image is kept only when its bytes
//! equal the new ones).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use super::background::{start, Background};
use super::error::SinkError;
use super::files::{
    make_durable, partial_path, remove_stale, write_atomic, write_renamed, OutputFormat,
    WriteBehind, WrittenFile,
};
use super::png_hash::LastPngHash;
use crate::record::Row;

/// Text put before the question in the user turn; trainers replace it with the image's tokens.
pub const IMAGE_TOKEN: &str = "<image>";

/// LLaMA-Factory's registry file (its `DATA_CONFIG`), looked up in `dataset_dir`.
pub const REGISTRY_FILE: &str = "dataset_info.json";

/// How JSONL lines name their images (`--jsonl-image-paths`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImagePaths {
    /// `images/<2 hex>/<hash>.png`, relative to the JSONL folder: the folder can move, and LLaMA-Factory
    /// resolves them against its `media_dir`, which defaults to `dataset_dir`.
    #[default]
    Relative,
    /// The absolute path of each image (the JSONL folder with symlinks resolved): the files then name this
    /// machine's paths.
    Absolute,
}

impl ImagePaths {
    /// The CLI and `part.json` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ImagePaths::Relative => "relative",
            ImagePaths::Absolute => "absolute",
        }
    }

    /// Inverse of [`ImagePaths::as_str`].
    pub fn parse(name: &str) -> Option<ImagePaths> {
        [ImagePaths::Relative, ImagePaths::Absolute]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

/// The text of `dataset_info.json` for `(split, file name)` pairs: LLaMA-Factory's registry entry per split
/// (`file_name`, `formatting: sharegpt`, `columns`, `tags`), keyed `<dataset>_<split>`.
pub fn registry(dataset: &str, files: &[(String, String)]) -> String {
    let entries: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|(split, file_name)| {
            let entry = serde_json::json!({
                "file_name": file_name,
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "images": "images"},
                "tags": {
                    "role_tag": "role",
                    "content_tag": "content",
                    "user_tag": "user",
                    "assistant_tag": "assistant",
                },
            });
            (format!("{dataset}_{split}"), entry)
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&entries).unwrap_or_default();
    text.push('\n');
    text
}

/// Path of a row's image relative to the JSONL folder.
pub fn image_rel_path(png: &[u8]) -> String {
    rel_path_of(xxhash_rust::xxh3::xxh3_128(png))
}

/// Path relative to the JSONL folder of the image whose xxh3-128 is `hash`.
fn rel_path_of(hash: u128) -> String {
    let hash = format!("{hash:032x}");
    format!("images/{}/{hash}.png", &hash[..2])
}

/// Images a background thread may have queued, per thread (each holds its PNG until written).
const IMAGES_IN_FLIGHT: usize = 8;

/// The outcome of one image write: the path when this build created the file (`None` when a file with the
/// same bytes was already there).
type ImageWritten = Result<Option<PathBuf>, SinkError>;

/// Writes `png` to `path` (`.partial`, then renamed) unless the file already holds exactly these bytes.
fn write_image(path: PathBuf, png: &[u8]) -> ImageWritten {
    if fs::read(&path).is_ok_and(|bytes| *bytes == *png) {
        return Ok(None);
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|source| SinkError::CreateDir {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    match write_renamed(&path, png) {
        Ok(()) => Ok(Some(path)),
        Err(source) => Err(SinkError::Write { path, source }),
    }
}

/// One JSONL line (with its newline) for a row whose image is at `image_rel`.
pub fn line(row: &Row, image_rel: &str) -> String {
    // Rows about a label's connected pieces say which piece and how many (docs/measurements.md §4.1); every
    // other row has both keys too, as null: `datasets`' JSON loader takes its schema from the file's first
    // 10 MiB and refuses a key that first appears after them.
    let value = serde_json::json!({
        "id": row.id,
        "lang": row.lang,
        "task_type": row.task_type,
        "images": [image_rel],
        "messages": [
            {"role": "user", "content": format!("{IMAGE_TOKEN}{}", row.question)},
            {"role": "assistant", "content": row.answer},
        ],
        "piece_index": row.piece_index,
        "piece_count": row.piece_count,
    });
    let mut text = value.to_string();
    text.push('\n');
    text
}

struct SplitFile {
    writer: BufWriter<WriteBehind>,
    partial: PathBuf,
    rows: u64,
}

/// Writes rows as chat JSONL with their images.
///
/// Dropping the sink without [`JsonlSink::finish`] removes its `.partial` files and the images it created.
pub struct JsonlSink {
    dir: PathBuf,
    /// Dataset name: the registry's keys.
    dataset: String,
    /// Prefix of the image paths written in the lines: empty, or the absolute JSONL folder and `/`.
    image_prefix: String,
    splits: BTreeMap<String, SplitFile>,
    /// Image paths (relative) referenced by this build.
    images: BTreeSet<String>,
    /// Images this build created (not present with the same bytes before).
    created: Vec<PathBuf>,
    /// Where new images are written (on the writing thread without).
    background: Option<Arc<dyn Background>>,
    /// Images being written in the background, oldest first: each reports the path when it created it.
    writing: VecDeque<Receiver<ImageWritten>>,
    partials: Vec<PathBuf>,
    /// The JSONL files [`JsonlSink::seal`] closed: (split, partial path, rows).
    sealed: Vec<(String, PathBuf, u64)>,
    png_hash: LastPngHash,
}

impl JsonlSink {
    /// Files go to `<dataset_dir>/jsonl/`; `dataset` names the registry entries.
    pub fn new(
        dataset_dir: &Path,
        dataset: &str,
        image_paths: ImagePaths,
        background: Option<Arc<dyn Background>>,
    ) -> Result<JsonlSink, SinkError> {
        let dir = dataset_dir.join("jsonl");
        fs::create_dir_all(&dir).map_err(|source| SinkError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let image_prefix = match image_paths {
            ImagePaths::Relative => String::new(),
            ImagePaths::Absolute => {
                let absolute = fs::canonicalize(&dir).map_err(|source| SinkError::CreateDir {
                    path: dir.clone(),
                    source,
                })?;
                let text = absolute.to_str().ok_or_else(|| SinkError::InvalidOptions {
                    reason: format!(
                        "--jsonl-image-paths absolute: {} is not UTF-8 and cannot go into JSON",
                        absolute.display()
                    ),
                })?;
                format!("{}/", text.trim_end_matches('/'))
            }
        };
        Ok(JsonlSink {
            dir,
            dataset: dataset.to_string(),
            image_prefix,
            splits: BTreeMap::new(),
            images: BTreeSet::new(),
            created: Vec::new(),
            background,
            writing: VecDeque::new(),
            partials: Vec::new(),
            sealed: Vec::new(),
            png_hash: LastPngHash::default(),
        })
    }

    /// Writes the row's line, and its image unless an identical one is already there.
    pub fn push(&mut self, row: &Row) -> Result<(), SinkError> {
        let split_ok = !row.split.is_empty()
            && row
                .split
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !split_ok {
            return Err(SinkError::InvalidName {
                dataset_dir: self.dir.clone(),
                row_id: row.id.clone(),
                field: "split",
                value: row.split.clone(),
            });
        }
        let rel = rel_path_of(self.png_hash.of(&row.image_png));
        if self.images.insert(rel.clone()) {
            self.write_image(self.dir.join(&rel), Arc::clone(&row.image_png))?;
        }
        if !self.splits.contains_key(&row.split) {
            let partial = partial_path(&self.dir.join(format!("{}.jsonl", row.split)));
            let file = File::create(&partial).map_err(|source| SinkError::CreateFile {
                path: partial.clone(),
                source,
            })?;
            self.partials.push(partial.clone());
            self.splits.insert(
                row.split.clone(),
                SplitFile {
                    writer: BufWriter::new(WriteBehind::new(file)),
                    partial,
                    rows: 0,
                },
            );
        }
        if let Some(split) = self.splits.get_mut(&row.split) {
            split
                .writer
                .write_all(line(row, &format!("{}{rel}", self.image_prefix)).as_bytes())
                .map_err(|source| SinkError::Write {
                    path: split.partial.clone(),
                    source,
                })?;
            split.rows += 1;
        }
        Ok(())
    }

    /// Writes a new image (named by its content, so the order of the writes does not matter): in the
    /// background when the sink has it, at most [`IMAGES_IN_FLIGHT`] per background thread at once.
    fn write_image(&mut self, path: PathBuf, png: Arc<[u8]>) -> Result<(), SinkError> {
        let receiver = start(self.background.as_ref(), move || write_image(path, &png));
        let Some(background) = &self.background else {
            return self.image_written(receiver);
        };
        self.writing.push_back(receiver);
        let most = IMAGES_IN_FLIGHT * background.threads().max(1);
        while self.writing.len() > most {
            if let Some(oldest) = self.writing.pop_front() {
                self.image_written(oldest)?;
            }
        }
        Ok(())
    }

    /// Waits for one image's write; records it when this build created it.
    fn image_written(&mut self, receiver: Receiver<ImageWritten>) -> Result<(), SinkError> {
        let lost = || SinkError::Write {
            path: self.dir.join("images"),
            source: std::io::Error::other("an image write was lost"),
        };
        if let Some(created) = receiver.recv().map_err(|_| lost())?? {
            self.created.push(created);
        }
        Ok(())
    }

    /// Waits for every image still being written.
    fn wait_for_images(&mut self) -> Result<(), SinkError> {
        while let Some(oldest) = self.writing.pop_front() {
            self.image_written(oldest)?;
        }
        Ok(())
    }

    /// [`seal`](Self::seal), the durable point, [`publish`](Self::publish): for a sink finished on its own.
    pub fn finish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        let files = self.seal()?;
        make_durable(&self.dir, &files)?;
        self.publish()
    }

    /// Flushes and closes every `<split>.jsonl.partial`. Returns them and the images this build created,
    /// which the caller makes durable (one point for the whole output set) before [`publish`](Self::publish):
    /// no JSONL file gets its name before every image and line it holds is on disk.
    pub fn seal(&mut self) -> Result<Vec<PathBuf>, SinkError> {
        self.wait_for_images()?;
        for (split, file) in std::mem::take(&mut self.splits) {
            let SplitFile {
                writer,
                partial,
                rows,
            } = file;
            let mut file = writer.into_inner().map_err(|e| SinkError::Write {
                path: partial.clone(),
                source: e.into_error(),
            })?;
            file.hint_rest();
            self.sealed.push((split, partial, rows));
        }
        Ok((self.created.iter().cloned())
            .chain(self.sealed.iter().map(|(_, partial, _)| partial.clone()))
            .collect())
    }

    /// Renames the sealed `<split>.jsonl.partial` files to `<split>.jsonl`, writes the registry and deletes
    /// JSONL files and images of a previous build that this one does not reference.
    pub fn publish(mut self) -> Result<Vec<WrittenFile>, SinkError> {
        let mut written = Vec::new();
        let flushed = std::mem::take(&mut self.sealed);
        for (split, partial, rows) in flushed {
            let path = self.dir.join(format!("{split}.jsonl"));
            fs::rename(&partial, &path).map_err(|source| SinkError::Rename {
                from: partial.clone(),
                to: path.clone(),
                source,
            })?;
            self.partials.retain(|p| *p != partial);
            written.push(WrittenFile {
                format: OutputFormat::Jsonl,
                path,
                split,
                lang: None,
                rows,
            });
        }
        let registry_path = self.dir.join(REGISTRY_FILE);
        if written.is_empty() {
            if registry_path.exists() {
                fs::remove_file(&registry_path).map_err(|source| SinkError::RemoveStale {
                    path: registry_path.clone(),
                    source,
                })?;
            }
        } else {
            let files: Vec<(String, String)> = written
                .iter()
                .map(|f| (f.split.clone(), format!("{}.jsonl", f.split)))
                .collect();
            write_atomic(&registry_path, registry(&self.dataset, &files).as_bytes()).map_err(
                |source| SinkError::Write {
                    path: registry_path.clone(),
                    source,
                },
            )?;
        }
        // Persist the renames; failure to sync a directory is not worth failing the build.
        if let Ok(handle) = File::open(&self.dir) {
            let _ = handle.sync_all();
        }
        let keep: BTreeSet<&Path> = written.iter().map(|f| f.path.as_path()).collect();
        remove_stale(&self.dir, &keep, |n| {
            n.ends_with(".jsonl") || n.ends_with(".jsonl.partial")
        })?;
        let images_dir = self.dir.join("images");
        if images_dir.is_dir() {
            let mut stale = Vec::new();
            for entry in walkdir::WalkDir::new(&images_dir).sort_by_file_name() {
                let entry = entry.map_err(|e| SinkError::ReadDir {
                    path: images_dir.clone(),
                    source: e.into(),
                })?;
                let rel = entry
                    .path()
                    .strip_prefix(&self.dir)
                    .ok()
                    .map(|p| p.to_string_lossy().replace('\\', "/"));
                if entry.file_type().is_file() && rel.is_some_and(|r| !self.images.contains(&r)) {
                    stale.push(entry.path().to_path_buf());
                }
            }
            for path in stale {
                let parent = path.parent().map(Path::to_path_buf);
                fs::remove_file(&path).map_err(|source| SinkError::RemoveStale { path, source })?;
                // A content-named subfolder (`images/<xx>/`) left empty goes too; one still holding files stays.
                if let Some(parent) = parent.filter(|p| p != &images_dir) {
                    let _ = fs::remove_dir(parent);
                }
            }
        }
        self.created.clear();
        Ok(written)
    }
}

impl Drop for JsonlSink {
    fn drop(&mut self) {
        // Images still being written finish first, so that the ones this build created are removed too.
        while let Some(oldest) = self.writing.pop_front() {
            if let Ok(Ok(Some(created))) = oldest.recv() {
                self.created.push(created);
            }
        }
        self.splits.clear();
        for path in self.partials.drain(..).chain(self.created.drain(..)) {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_is_chat_json_with_image_token_and_sorted_keys() {
        let row = Row {
            id: "KiTS23/default/case_00000/mask_size/T01/axial/3/2/ar".into(),
            lang: "ar".into(),
            task_type: "mask_size".into(),
            question: "ما مساحة \"الورم\"؟".into(),
            answer: "812.35".into(),
            ..Row::default()
        };
        let text = line(&row, "images/ab/abc.png");
        assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value["messages"][0]["role"], "user");
        assert_eq!(
            value["messages"][0]["content"],
            "<image>ما مساحة \"الورم\"؟"
        );
        assert_eq!(value["messages"][1]["content"], "812.35");
        assert_eq!(value["images"][0], "images/ab/abc.png");
        assert!(text.starts_with("{\"id\":"), "{text}");
        // Every line has the same keys: the piece keys are null on a row not about one piece.
        let keys = |value: &serde_json::Value| {
            value
                .as_object()
                .expect("object")
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert!(value["piece_index"].is_null() && value["piece_count"].is_null());
        let piece = Row {
            piece_index: Some(2),
            piece_count: Some(3),
            ..row.clone()
        };
        let with_piece: serde_json::Value =
            serde_json::from_str(&line(&piece, "images/ab/abc.png")).expect("valid JSON");
        assert_eq!(
            (
                with_piece["piece_index"].as_i64(),
                with_piece["piece_count"].as_i64()
            ),
            (Some(2), Some(3))
        );
        assert_eq!(keys(&value), keys(&with_piece));
    }

    #[test]
    fn image_names_follow_content() {
        let a = image_rel_path(b"\x89PNG one");
        assert_eq!(a, image_rel_path(b"\x89PNG one"));
        assert_ne!(a, image_rel_path(b"\x89PNG two"));
        assert!(
            a.starts_with("images/")
                && a.ends_with(".png")
                && a.len() == "images/xx/".len() + 32 + 4
        );
    }

    #[test]
    fn finish_renames_and_removes_stale_images() {
        // Images written on the writing thread and in the background (a thread per image).
        finish_renames_and_removes_stale_images_with(None);
        finish_renames_and_removes_stale_images_with(Some(Arc::new(
            super::super::background::ThreadPerJob(2),
        )));
    }

    fn finish_renames_and_removes_stale_images_with(background: Option<Arc<dyn Background>>) {
        let dir = std::env::temp_dir().join(format!(
            "mvb-jsonl-{}-{}",
            std::process::id(),
            background.is_some()
        ));
        let _ = fs::remove_dir_all(&dir);
        let png = |v: u8| crate::render::encode_png_gray(2, 2, &[v; 4]).expect("png");
        let row = |i: u8, lang: &str| Row {
            id: format!("ds/c/case/bbox/T01/axial/{i}/1/{lang}"),
            split: "train".into(),
            lang: lang.into(),
            question: "q".into(),
            answer: "a".into(),
            image_png: png(i).into(),
            ..Row::default()
        };
        let mut sink =
            JsonlSink::new(&dir, "ds", ImagePaths::Relative, background.clone()).expect("sink");
        for r in [row(1, "en"), row(1, "ar"), row(2, "en")] {
            sink.push(&r).expect("push");
        }
        let written = sink.finish().expect("finish");
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].rows, 3);
        // LLaMA-Factory's registry names the file, ShareGPT with role/content tags.
        let registry: serde_json::Value = serde_json::from_slice(
            &fs::read(dir.join("jsonl").join(REGISTRY_FILE)).expect("registry"),
        )
        .expect("JSON");
        assert_eq!(
            registry,
            serde_json::json!({"ds_train": {
                "file_name": "train.jsonl",
                "formatting": "sharegpt",
                "columns": {"messages": "messages", "images": "images"},
                "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                    "assistant_tag": "assistant"},
            }})
        );
        let count_images = || {
            walkdir::WalkDir::new(dir.join("jsonl/images"))
                .into_iter()
                .filter(|e| e.as_ref().is_ok_and(|e| e.file_type().is_file()))
                .count()
        };
        assert_eq!(count_images(), 2, "one image per distinct slice");
        // A rebuild without slice 2 removes its image; a dropped build leaves its old files alone.
        let mut sink =
            JsonlSink::new(&dir, "ds", ImagePaths::Relative, background.clone()).expect("sink");
        sink.push(&row(1, "en")).expect("push");
        sink.finish().expect("finish");
        assert_eq!(count_images(), 1);
        // The removed image's content-named folder went with it, the kept one's stays.
        let folders = || {
            fs::read_dir(dir.join("jsonl/images"))
                .expect("images")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        let folder_of =
            |v: u8| image_rel_path(&png(v))["images/".len().."images/xx".len()].to_string();
        assert_ne!(folder_of(1), folder_of(2));
        assert_eq!(folders(), [folder_of(1)]);
        let mut sink =
            JsonlSink::new(&dir, "ds", ImagePaths::Relative, background.clone()).expect("sink");
        sink.push(&row(1, "en")).expect("push");
        sink.push(&row(3, "en")).expect("push");
        drop(sink);
        assert_eq!(count_images(), 1);
        assert!(
            dir.join("jsonl/train.jsonl").exists()
                && !dir.join("jsonl/train.jsonl.partial").exists()
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn absolute_image_paths_name_existing_files() {
        let dir = std::env::temp_dir().join(format!("mvb-jsonl-abs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let png = crate::render::encode_png_gray(2, 2, &[7; 4]).expect("png");
        let row = Row {
            id: "ds/c/case/bbox/T01/axial/1/1/en".into(),
            split: "test".into(),
            lang: "en".into(),
            image_png: png.clone().into(),
            ..Row::default()
        };
        let mut sink = JsonlSink::new(&dir, "ds", ImagePaths::Absolute, None).expect("sink");
        sink.push(&row).expect("push");
        sink.finish().expect("finish");
        let text = fs::read_to_string(dir.join("jsonl/test.jsonl")).expect("jsonl");
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let image = Path::new(value["images"][0].as_str().expect("path"));
        assert!(image.is_absolute(), "{}", image.display());
        assert_eq!(fs::read(image).expect("image"), png);
        let want = fs::canonicalize(dir.join("jsonl"))
            .expect("canonical")
            .join(image_rel_path(&png));
        assert_eq!(image, want);
        assert_eq!(ImagePaths::parse("absolute"), Some(ImagePaths::Absolute));
        assert_eq!(
            ImagePaths::parse(ImagePaths::Relative.as_str()),
            Some(ImagePaths::Relative)
        );
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
