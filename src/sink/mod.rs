//! Output writers: Parquet shards (the only module importing `arrow`/`parquet`), dataset card.
