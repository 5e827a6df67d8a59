//! Pure geometry on 2D slices and points: connected components, contours, ellipse fits, Feret diameters,
//! distances and angles. No I/O; every function is a deterministic map from numbers to numbers.

pub mod affine;
pub mod components;
pub mod contour;
pub mod ellipse;
pub mod feret;
pub mod grid;
pub mod linalg;

pub use grid::{Grid2, Intensity, IntensityGrid};
pub mod measure;
