//! Synthetic test data with closed-form truth: a deterministic NIfTI-1 writer (any stored orientation,
//! scaling, qform/sform combinations, 4D), CT phantoms with labelled cuboids/ellipsoids, a KiTS23-layout
//! fixture, landmark fixtures (Ceph-Biometrics-400 and FeTA24 layouts), a generic fixture in any manifest's
//! layout (`[fixture]` table), nnU-Net raw dataset folders, a full-size benchmark case and a many-label (TotalSegmentator-sized) stand-in.

mod fixtures;
mod landmark_fixtures;
mod layout;
mod many_labels;
mod meta_writer;
mod nnunet_fixtures;
mod phantom;
mod writer;

pub use fixtures::{
    write_benchmark_case, write_kits23_fixture, PhantomCase, CYST, FIXTURE_SHAPE, KIDNEY, TUMOR,
};
pub use landmark_fixtures::{
    write_bmp_gray, write_ceph_fixture, write_feta_fixture, CephCase, FetaCase, CEPH_HEIGHT_PX,
    CEPH_WIDTH_PX, FETA_SHAPE, FETA_SPACING_MM,
};
pub use layout::{
    layout_cuboids, layout_shape, write_manifest_fixture, LayoutCase, LayoutFixtureError,
    LAYOUT_RA_PX,
};
pub use many_labels::{write_many_label_case, SynthLabel};
pub use meta_writer::{write_metaimage, write_nrrd, ChannelLayout, MetaScalar, MetaWriteOptions};
pub use nnunet_fixtures::{write_nnunet_fixtures, NnunetFixture, NNUNET_SHAPE};
pub use phantom::{
    ct_volume, label_map, paint_cuboid, paint_ellipsoid, paint_region, Cuboid, Ellipsoid, Region,
    AIR_HU, BODY_HU,
};
pub use writer::{
    default_origin_mm, stored_affine, write_nifti, write_nifti_channels, NiftiScalar, QformMode,
    WriteOptions,
};
