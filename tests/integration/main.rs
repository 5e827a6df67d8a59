//! The one integration-test binary (design.md): end-to-end runs of the `medvision-build` binary, one module per
//! concern, sharing the helpers in `common`.

mod common;

mod build;
mod bundled;
mod cluster;
mod datasets;
mod doctor;
mod formats;
mod gallery;
mod hostile;
mod hostile_readers;
mod labels;
mod landmarks;
mod nnunet;
mod pieces;
mod score;
