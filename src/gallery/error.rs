//! Why `gallery` wrote no page: an unreadable folder or shard, a dataset that is not a build, an unwritable
//! output.

use std::path::PathBuf;

/// Why no gallery was written.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The dataset is not a readable build.
    #[error("{}: {reason}", path.display())]
    Dataset {
        /// The dataset folder or shard.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The page could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
