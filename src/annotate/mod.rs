//! Per-slice facts computed from one load of a label map: display-frame slices, boxes, mask sizes and lesion
//! ellipses / diameters.

pub mod boxes;
pub mod frame;
pub mod landmarks;
pub mod lesion;
pub mod lesion_facts;
pub mod slices;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod pieces_golden_tests;

pub use boxes::{
    box_facts, instances_facts, mask_size_facts, mask_stats, AnnotateError, BoxFact, FilterCounts,
    InstancesFact, LabelStats, MaskSizeFact, MaskStats, PieceStats, PlaneStats, SliceStats,
};
pub use frame::{DisplayFrame, PlaneView};
pub use lesion_facts::{lesion_facts, LesionCounts, LesionFact};
