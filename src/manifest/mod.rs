//! Manifest: the declarative description of one dataset (layout, labels, tasks, render/split/output options).
pub mod bundled;
pub mod label_table;
pub mod lang;
pub mod load;
pub mod nnunet;
pub mod schema;
mod schema_de;

pub use bundled::ManifestSource;
pub use lang::{Lang, Localized};
pub use load::*;
pub use schema::*;
