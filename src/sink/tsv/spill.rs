//! The TSV sample's candidates out of memory: each candidate's text record and each distinct image's base64
//! once (by content hash) appended to a spill file while the cases are built, read back at finish for the
//! items the sample selected.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{base64, ItemText};
use super::parts::Base64;
use crate::sink::error::SinkError;

/// Where a sampled candidate's text and image are in the spill file.
#[derive(Debug, Clone, Copy)]
pub struct SpillRef {
    offset: u64,
    len: u64,
    /// The content hash of its image.
    pub(super) image: u128,
}

/// Candidates of the sample, out of memory: text records and each distinct image once.
pub(super) struct Spill {
    path: PathBuf,
    writer: BufWriter<File>,
    len: u64,
    images: HashMap<u128, (u64, u64)>,
}

impl Spill {
    pub(super) fn create(path: PathBuf) -> Result<Spill, SinkError> {
        let file = File::create(&path).map_err(|source| SinkError::CreateFile {
            path: path.clone(),
            source,
        })?;
        Ok(Spill {
            path,
            writer: BufWriter::with_capacity(1 << 20, file),
            len: 0,
            images: HashMap::new(),
        })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<u64, SinkError> {
        let at = self.len;
        self.writer
            .write_all(bytes)
            .map_err(|source| SinkError::Write {
                path: self.path.clone(),
                source,
            })?;
        self.len += bytes.len() as u64;
        Ok(at)
    }

    /// Stores an item's text (and its image's base64, `image` being its content hash, unless already stored: encoded here, while the case
    /// workers are busy, rather than at finish, when the build waits for it).
    pub(super) fn store(
        &mut self,
        text: &ItemText,
        image: u128,
        png: &[u8],
    ) -> Result<SpillRef, SinkError> {
        if !self.images.contains_key(&image) {
            let encoded = base64(png);
            let at = self.append(encoded.as_bytes())?;
            self.images.insert(image, (at, encoded.len() as u64));
        }
        let mut record = Vec::new();
        for field in text {
            record.extend_from_slice(&(field.len() as u64).to_le_bytes());
            record.extend_from_slice(field.as_bytes());
        }
        let offset = self.append(&record)?;
        Ok(SpillRef {
            offset,
            len: record.len() as u64,
            image,
        })
    }

    /// Flushes the spill and opens it for reading back.
    pub(super) fn into_reader(self) -> Result<SpillReader, SinkError> {
        let Spill {
            path,
            mut writer,
            images,
            ..
        } = self;
        let fail = |source| SinkError::Write {
            path: path.clone(),
            source,
        };
        writer.flush().map_err(fail)?;
        drop(writer);
        let file = File::open(&path).map_err(|source| SinkError::CreateFile {
            path: path.clone(),
            source,
        })?;
        Ok(SpillReader { path, file, images })
    }
}

/// Reads spilled candidates back.
pub(super) struct SpillReader {
    pub(super) path: PathBuf,
    pub(super) file: File,
    pub(super) images: HashMap<u128, (u64, u64)>,
}

impl SpillReader {
    /// The spill file.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>, SinkError> {
        let fail = |source| SinkError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(offset)).map_err(fail)?;
        let mut bytes = Vec::with_capacity(len as usize);
        (&mut self.file)
            .take(len)
            .read_to_end(&mut bytes)
            .map_err(fail)?;
        if bytes.len() as u64 != len {
            return Err(fail(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(bytes)
    }

    pub(super) fn text(&mut self, at: SpillRef) -> Result<ItemText, SinkError> {
        let record = self.read_at(at.offset, at.len)?;
        let mut text = Vec::new();
        let mut rest = record.as_slice();
        while rest.len() >= 8 {
            let (len, tail) = rest.split_at(8);
            let len = u64::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
            let (field, tail) = tail.split_at(len.min(tail.len()));
            text.push(String::from_utf8_lossy(field).into_owned());
            rest = tail;
        }
        Ok(text)
    }

    /// A stored image's base64.
    pub(super) fn image(&mut self, key: u128) -> Result<Base64, SinkError> {
        let (offset, len) = self.images.get(&key).copied().unwrap_or((0, 0));
        self.read_at(offset, len).map(Arc::new)
    }
}
