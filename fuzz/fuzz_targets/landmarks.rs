//! Landmark text: cephalogram `x,y` lines and 3D Slicer `.fcsv` markups (plain or gzip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medvision_build::geom::affine::identity;
use medvision_build::volume::landmarks::{read_ceph_txt, read_slicer_fcsv};
use medvision_build_fuzz::check;

fuzz_target!(|data: &[u8]| {
    check("in.txt", data, |p| read_ceph_txt(p, 19, 1).map(|_| ()));
    check("in.fcsv", data, |p| read_slicer_fcsv(p, &identity()).map(|_| ()));
});
