//! Per-slice facts computed from one load of a label map: display-frame slices, boxes and mask sizes.
pub mod lesion;
