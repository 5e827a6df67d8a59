//! BMP (or PNG: the decoder goes by content) read as a 2D grayscale grid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use medvision_build::volume::image2d::read_image_2d;
use medvision_build_fuzz::check;

fuzz_target!(|data: &[u8]| {
    check("in.bmp", data, |p| read_image_2d(p).map(|_| ()));
});
