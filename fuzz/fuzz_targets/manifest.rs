//! Manifest TOML: parsed and validated (every diagnostic collected).
#![no_main]

use libfuzzer_sys::fuzz_target;
use medvision_build::manifest::load;
use medvision_build_fuzz::check;

fuzz_target!(|data: &[u8]| {
    check("in.toml", data, |p| load(p).map(|_| ()));
});
