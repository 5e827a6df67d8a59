//! Parquet sink tests.
