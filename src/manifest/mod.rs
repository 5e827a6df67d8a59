//! Manifest: the declarative description of one dataset (layout, labels, tasks, render/split/output options).
pub mod schema;
pub use schema::*;
