//! NRRD header with attached data (`.nrrd`: raw, gzip, ascii), or detached (`.nhdr`, first byte odd) beside a
//! fixed `data.raw`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medvision_build_fuzz::{check, input_file, read_volume};

fuzz_target!(|data: &[u8]| {
    input_file("data.raw", &[7u8; 64]);
    let name = if data.first().is_some_and(|b| b & 1 == 1) { "in.nhdr" } else { "in.nrrd" };
    check(name, data, read_volume);
});
