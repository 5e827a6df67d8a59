//! NIfTI-1 header and voxels, plain and gzip (the first input byte picks which).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medvision_build_fuzz::{check, read_volume};

fuzz_target!(|data: &[u8]| {
    let name = if data.first().is_some_and(|b| b & 1 == 1) { "in.nii.gz" } else { "in.nii" };
    check(name, data, read_volume);
});
