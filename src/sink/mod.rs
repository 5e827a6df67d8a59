//! Output writers: Parquet shards (the only module importing `arrow`/`parquet`), GMAI-style TSV, chat JSONL
//! and the dataset card. Writers only serialise rows and write files: every image they store was made by the
//! case worker; no thread pool and no rendering here.

mod arrow_size;
mod background;
mod batch;
mod card;
mod error;
pub mod files;
pub mod jsonl;
pub mod lock;
pub mod outputs;
mod parquet_sink;
mod png_hash;
mod schema;
pub mod tsv;
pub mod tsv_sample;

#[cfg(test)]
mod parquet_tests;

pub use background::Background;
pub use card::{
    size_category, write_card, CardConfig, CardInfo, CardRows, CardSample, CardSource, CardSplit,
    CardStructure,
};
pub use error::SinkError;
pub use files::{
    refuse_links, remove_leftovers, shard_paths, write_atomic, OutputFormat, WrittenFile,
};
pub use lock::DatasetLock;
pub use outputs::{Sinks, Written};
pub use parquet_sink::{ParquetOptions, ParquetSink, WrittenShard, MAX_ROW_GROUP_BYTES};
