//! The files of one TSV (split, language): parts below the size limit, each image in full once per part and
//! referred to by index after, the hidden copy without the answer written beside the file on its own thread.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use super::format::{base64, line, quote, ItemText, COLUMNS, HIDDEN_COLUMNS, HIDDEN_TEXT};
use crate::sink::error::SinkError;
use crate::sink::files::{partial_path, WriteBehind};

/// Write buffer of a TSV part: image fields longer than this skip it.
const PART_BUFFER_BYTES: usize = 64 << 10;

/// Items queued for the hidden copy's thread (each holds its PNG and base64: a few MB at most).
pub(super) const HIDDEN_QUEUE_ITEMS: usize = 8;

/// An item's image field: the base64 of its PNG (ASCII, no quote to double), or the index of an earlier item
/// in the same file.
pub(super) enum ImageField {
    Base64(Base64),
    Reference(String),
}

impl ImageField {
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            ImageField::Base64(text) => text,
            ImageField::Reference(index) => index.as_bytes(),
        }
    }
}

/// A PNG's base64 text as bytes, shared by the file and its hidden copy (held as made: no copy into an
/// `Arc<str>`, no UTF-8 check of a spilled one).
pub(super) type Base64 = Arc<Vec<u8>>;

/// An item's image: its content hash and its base64, made from its PNG once some file needs it (an item is
/// written to its file and to the hidden copy, and base64 is a large part of a TSV's cost: encoded once,
/// shared) or made earlier (a spilled candidate's, while the cases were built).
pub(super) struct ItemImage {
    pub(super) key: u128,
    pub(super) png: Option<Arc<[u8]>>,
    base64: Option<Base64>,
}

impl ItemImage {
    pub(super) fn from_png(key: u128, png: Arc<[u8]>) -> ItemImage {
        ItemImage {
            key,
            png: Some(png),
            base64: None,
        }
    }

    pub(super) fn from_base64(key: u128, base64: Base64) -> ItemImage {
        ItemImage {
            key,
            png: None,
            base64: Some(base64),
        }
    }

    pub(super) fn base64(&mut self) -> Base64 {
        let png = self.png.as_deref().unwrap_or_default();
        self.base64
            .get_or_insert_with(|| Arc::new(base64(png).into_bytes()))
            .clone()
    }
}

/// Parts of one TSV (or its hidden copy): the open part and the closed ones as (partial path, rows).
pub(super) struct Parts {
    pub(super) stem: String,
    pub(super) hidden: bool,
    pub(super) open: Option<OpenPart>,
    pub(super) closed: Vec<(PathBuf, u64)>,
}

pub(super) struct OpenPart {
    pub(super) writer: BufWriter<WriteBehind>,
    pub(super) path: PathBuf,
    pub(super) bytes: u64,
    pub(super) rows: u64,
    /// Content hash of each image written in full in this part → the index of its item.
    pub(super) first_index: HashMap<u128, u64>,
}

impl Parts {
    pub(super) fn new(stem: String, hidden: bool) -> Parts {
        Parts {
            stem,
            hidden,
            open: None,
            closed: Vec::new(),
        }
    }

    pub(super) fn header(&self) -> String {
        let columns: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| !self.hidden || !HIDDEN_COLUMNS.contains(c))
            .collect();
        line(&columns)
    }

    /// An item's line up to the opening quote of its `image` field.
    pub(super) fn head(&self, index: u64, text: &ItemText) -> String {
        let mut head = String::with_capacity(text.iter().map(|f| f.len() + 3).sum::<usize>() + 32);
        quote(&index.to_string(), &mut head);
        for (i, field) in text.iter().enumerate() {
            if !(self.hidden && HIDDEN_TEXT.contains(&i)) {
                head.push('\t');
                quote(field, &mut head);
            }
        }
        head.push_str("\t\"");
        head
    }

    /// Writes one item, its image as a reference when an earlier item of the same part has the same image.
    /// The line goes out in pieces, the image field (most of its bytes) straight from its string.
    pub(super) fn write_item(
        &mut self,
        dir: &Path,
        index: u64,
        text: &ItemText,
        image: &mut ItemImage,
        max_bytes: u64,
        partials: &mut Vec<PathBuf>,
    ) -> Result<(), SinkError> {
        let key = image.key;
        let reference = self
            .open
            .as_ref()
            .and_then(|o| o.first_index.get(&key).copied());
        let head = self.head(index, text);
        let mut field = match reference {
            Some(first) => ImageField::Reference(first.to_string()),
            None => ImageField::Base64(image.base64()),
        };
        let line_len = |field: &ImageField| (head.len() + field.as_bytes().len() + 2) as u64;
        let mut full = reference.is_none();
        if let Some(open) = &self.open {
            if open.rows > 0 && open.bytes + line_len(&field) > max_bytes {
                self.close()?;
                if !full {
                    // A new part holds no earlier image to refer to.
                    field = ImageField::Base64(image.base64());
                    full = true;
                }
            }
        }
        if self.open.is_none() {
            self.open_part(dir, partials)?;
        }
        if let Some(open) = self.open.as_mut() {
            let writer = &mut open.writer;
            (writer.write_all(head.as_bytes()))
                .and_then(|()| writer.write_all(field.as_bytes()))
                .and_then(|()| writer.write_all(b"\"\n"))
                .map_err(|source| SinkError::Write {
                    path: open.path.clone(),
                    source,
                })?;
            open.bytes += line_len(&field);
            open.rows += 1;
            if full {
                open.first_index.insert(key, index);
            }
        }
        Ok(())
    }

    pub(super) fn open_part(
        &mut self,
        dir: &Path,
        partials: &mut Vec<PathBuf>,
    ) -> Result<(), SinkError> {
        let header = self.header();
        let path =
            partial_path(&dir.join(format!("{}_part_{}.tsv", self.stem, self.closed.len() + 1)));
        let file = File::create(&path).map_err(|source| SinkError::CreateFile {
            path: path.clone(),
            source,
        })?;
        partials.push(path.clone());
        // Image fields (tens to hundreds of KB) are at least this long and go to the file without a copy.
        let mut writer = BufWriter::with_capacity(PART_BUFFER_BYTES, WriteBehind::new(file));
        writer
            .write_all(header.as_bytes())
            .map_err(|source| SinkError::Write {
                path: path.clone(),
                source,
            })?;
        self.open = Some(OpenPart {
            writer,
            path,
            bytes: header.len() as u64,
            rows: 0,
            first_index: HashMap::new(),
        });
        Ok(())
    }

    /// Flushes and closes the open part (made durable with the whole output set, before it is renamed).
    pub(super) fn close(&mut self) -> Result<(), SinkError> {
        if let Some(open) = self.open.take() {
            let mut file = open.writer.into_inner().map_err(|e| SinkError::Write {
                path: open.path.clone(),
                source: e.into_error(),
            })?;
            file.hint_rest();
            self.closed.push((open.path, open.rows));
        }
        Ok(())
    }

    /// Final names: `<stem>.tsv` for a single part, `<stem>_part_N.tsv` (from 1) otherwise.
    pub(super) fn final_name(&self, index: usize) -> String {
        if self.closed.len() == 1 {
            format!("{}.tsv", self.stem)
        } else {
            format!("{}_part_{}.tsv", self.stem, index + 1)
        }
    }
}

/// The TSV files of one (split, language).
pub(super) struct Group {
    pub(super) split: String,
    pub(super) lang: String,
    pub(super) next_index: u64,
    pub(super) offered: u64,
    pub(super) full: Parts,
    pub(super) hidden: Option<Parts>,
}

impl Group {
    /// Writes the next item to the file and its hidden copy.
    pub(super) fn write_item(
        &mut self,
        dir: &Path,
        text: &ItemText,
        mut image: ItemImage,
        max_bytes: u64,
        partials: &mut Vec<PathBuf>,
    ) -> Result<(), SinkError> {
        let index = self.next_index;
        self.next_index += 1;
        self.full
            .write_item(dir, index, text, &mut image, max_bytes, partials)?;
        if let Some(hidden) = self.hidden.as_mut() {
            hidden.write_item(dir, index, text, &mut image, max_bytes, partials)?;
        }
        Ok(())
    }

    /// Writes items to the file on this thread and to its hidden copy on a second one, each image's base64
    /// made once and shared. It runs at finish, when the case workers are done: the two files are the
    /// sample's whole cost, most of it the kernel's copy of their bytes, and the copies run side by side.
    pub(super) fn write_items(
        &mut self,
        dir: &Path,
        items: impl Iterator<Item = Result<(ItemText, ItemImage), SinkError>>,
        max_bytes: u64,
        partials: &mut Vec<PathBuf>,
    ) -> Result<(), SinkError> {
        let Some(mut hidden) = self.hidden.take() else {
            for item in items {
                let (text, image) = item?;
                self.write_item(dir, &text, image, max_bytes, partials)?;
            }
            return Ok(());
        };
        let (to_copy, queue) = mpsc::sync_channel::<(u64, ItemText, ItemImage)>(HIDDEN_QUEUE_ITEMS);
        let (written, copy) = std::thread::scope(|scope| {
            let copy = scope.spawn(move || {
                let mut partials = Vec::new();
                let written = queue.into_iter().try_for_each(|(index, text, mut image)| {
                    hidden.write_item(dir, index, &text, &mut image, max_bytes, &mut partials)
                });
                (hidden, partials, written)
            });
            let written = items.into_iter().try_for_each(|item| {
                let (text, mut image) = item?;
                let index = self.next_index;
                self.next_index += 1;
                (self.full).write_item(dir, index, &text, &mut image, max_bytes, partials)?;
                // A closed queue means the copy failed: its error is reported below.
                let _ = to_copy.send((index, text, image));
                Ok(())
            });
            drop(to_copy);
            let copy = copy
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (written, copy)
        });
        let (hidden, hidden_partials, hidden_written) = copy;
        self.hidden = Some(hidden);
        partials.extend(hidden_partials);
        written.and(hidden_written)
    }
}
