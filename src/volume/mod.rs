//! Reads image and mask volumes into canonical RAS+ arrays with their voxel geometry.
//!
//! The only module that imports `nifti`. Everything downstream sees `Volume<T>` whose array index axes point,
//! in order, to patient Right, Anterior, Superior (spec annotations.md §1), with spacing permuted to match.

use std::path::PathBuf;

use ndarray::Array3;

/// Voxel geometry of a canonical (RAS+) volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// Voxel spacing in mm along canonical axes 0, 1, 2 (R, A, S).
    pub spacing_mm: [f64; 3],
    /// Canonical voxel-index → world (RAS mm) affine, row-major 4x4.
    pub affine: [[f64; 4]; 4],
    /// Axis codes of the file as stored, e.g. `LPS`, `LSA`, `RAS`.
    pub source_axes: String,
}

/// A canonical RAS+ volume: `data[[i, j, k]]` with i→Right, j→Anterior, k→Superior.
#[derive(Debug, Clone)]
pub struct Volume<T> {
    pub data: Array3<T>,
    pub geometry: Geometry,
}

/// Why a volume could not be read or used; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable NIfTI-1 file: {reason}")]
    ReadNifti { path: PathBuf, reason: String },
    #[error("{path}: unsupported data type {datatype}")]
    UnsupportedDatatype { path: PathBuf, datatype: String },
    #[error("{path}: expected a 3D volume (or a 4D one with `channel`), found shape {shape:?}")]
    Dimensions { path: PathBuf, shape: Vec<usize> },
    #[error("{path}: channel {channel} requested but the 4th axis has {available} channel(s)")]
    Channel {
        path: PathBuf,
        channel: usize,
        available: usize,
    },
    #[error("{path}: degenerate affine (a zero or non-finite axis); cannot determine orientation")]
    Affine { path: PathBuf },
    #[error("{path}: mask holds non-integral values (e.g. {example})")]
    NonIntegralMask { path: PathBuf, example: f64 },
    #[error("{path}: mask holds negative labels (e.g. {example})")]
    NegativeLabel { path: PathBuf, example: i64 },
    #[error("{path}: mask holds labels not in the manifest: {labels:?} (known: {known:?})")]
    UnknownLabels {
        path: PathBuf,
        labels: Vec<i64>,
        known: Vec<u16>,
    },
    #[error("{mask}: geometry differs from image {image}: {what}")]
    GeometryMismatch {
        image: PathBuf,
        mask: PathBuf,
        what: String,
    },
}
