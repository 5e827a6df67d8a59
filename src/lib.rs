//! medvision-build: turns a public medical segmentation/landmark dataset into a quantitative VQA dataset.
//!
//! Data flows one way: manifest → discover → volume → annotate → render → vqa → sink, with `pipeline` the only
//! module that knows every stage (see the README's code map; `tests/architecture.rs` enforces the layers).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod annotate;
pub mod cli;
pub mod discover;
pub mod gallery;
pub mod geom;
pub mod manifest;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod score;
pub mod sink;
pub mod synth;
pub mod volume;
pub mod vqa;
