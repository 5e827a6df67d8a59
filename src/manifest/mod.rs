//! Manifest: the declarative description of one dataset (layout, labels, tasks, render/split/output options).
pub mod load;
pub mod schema;

pub use load::*;
pub use schema::*;
