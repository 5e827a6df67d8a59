//! The stored-type reader (`open_image` → `ImageFile::read`) against the `f32` reader (`read_image`, itself
//! checked against nibabel in `golden_tests`): for every stored type and a range of `scl_slope`/`scl_inter`
//! pairs, the same values as `f32`, the same geometry, and the stored type kept exactly where promised.

use ndarray::Array3;

use super::tests::Scratch;
use super::*;
use crate::synth::{write_nifti, NiftiScalar, WriteOptions};

/// Which variant a read gave.
fn variant(v: &ImageVolume) -> &'static str {
    match v {
        ImageVolume::U8(_) => "u8",
        ImageVolume::I16(_) => "i16",
        ImageVolume::U16(_) => "u16",
        ImageVolume::I32(_) => "i32",
        ImageVolume::F32(_) => "f32",
    }
}

/// Writes `values` (cycled over a 7×5×3 volume stored LPS) with the scaling, reads it both ways, compares,
/// and returns the variant.
fn check<T: NiftiScalar>(
    dir: &Scratch,
    name: &str,
    values: &[T],
    slope: f32,
    inter: f32,
) -> &'static str {
    let n = values.len();
    let data = Array3::from_shape_fn((7, 5, 3), |(i, j, k)| values[(i + 7 * j + 35 * k) % n]);
    let p = dir.path(&format!("{name}.nii.gz"));
    let opts = WriteOptions {
        scl_slope: slope,
        scl_inter: inter,
        ..WriteOptions::default()
    };
    write_nifti(&p, &data, [0.8, 1.0, 2.5], "LPS", &opts).expect("write");
    let f32_volume = read_image(&p, None).expect("f32 read");
    let file = open_image(&p, None).expect("open");
    assert_eq!(file.shape(), [7, 5, 3], "{name}");
    assert_eq!(file.geometry(), &f32_volume.geometry, "{name}");
    let typed = file.read().expect("typed read");
    let as_f32 = typed.to_f32();
    assert_eq!(typed.shape(), [7, 5, 3]);
    assert_eq!(as_f32.geometry, f32_volume.geometry, "{name}");
    // Bit patterns, so that NaN and -0.0 count too.
    let bits = |a: &Array3<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&as_f32.data),
        bits(&f32_volume.data),
        "{name} slope {slope} inter {inter}"
    );
    variant(&typed)
}

#[test]
fn stored_types_are_kept_and_equal_the_f32_reader() {
    let dir = Scratch::new("typed");
    let u8s: Vec<u8> = vec![0, 1, 2, 127, 128, 200, 254, 255];
    let i8s: Vec<i8> = vec![-128, -127, -1, 0, 1, 100, 127];
    let i16s: Vec<i16> = vec![-32768, -32767, -1024, -1, 0, 1, 40, 3071, 32766, 32767];
    let u16s: Vec<u16> = vec![0, 1, 1024, 4095, 32767, 32768, 65534, 65535];
    let i32s: Vec<i32> = vec![
        i32::MIN,
        -16_777_217,
        -5,
        0,
        7,
        16_777_217,
        16_777_219,
        i32::MAX,
    ];
    let u32s: Vec<u32> = vec![0, 1, 16_777_217, u32::MAX];
    let f32s: Vec<f32> = vec![-1024.5, -0.0, 0.0, 0.25, f32::NAN, f32::INFINITY, 3e38];
    let f64s: Vec<f64> = vec![-1024.123456789, 0.0, 1e-40, 1e300, f64::NAN];
    let i64s: Vec<i64> = vec![i64::MIN, -1, 0, 1 << 40, i64::MAX];
    let u64s: Vec<u64> = vec![0, 1, 1 << 60, u64::MAX];

    // No scaling: the stored type (i8 widened to i16), else f32.
    assert_eq!(check(&dir, "u8", &u8s, 1.0, 0.0), "u8");
    assert_eq!(check(&dir, "i8", &i8s, 1.0, 0.0), "i16");
    assert_eq!(check(&dir, "i16", &i16s, 1.0, 0.0), "i16");
    assert_eq!(check(&dir, "u16", &u16s, 1.0, 0.0), "u16");
    assert_eq!(check(&dir, "i32", &i32s, 1.0, 0.0), "i32");
    assert_eq!(check(&dir, "u32", &u32s, 1.0, 0.0), "f32");
    assert_eq!(check(&dir, "f32", &f32s, 1.0, 0.0), "f32");
    assert_eq!(check(&dir, "f64", &f64s, 1.0, 0.0), "f32");
    assert_eq!(check(&dir, "i64", &i64s, 1.0, 0.0), "f32");
    assert_eq!(check(&dir, "u64", &u64s, 1.0, 0.0), "f32");
    // Slope 0 or NaN means no scaling at all.
    assert_eq!(check(&dir, "i16-slope0", &i16s, 0.0, -1024.0), "i16");
    assert_eq!(check(&dir, "i16-nan", &i16s, f32::NAN, -1024.0), "i16");

    // Integral scaling: i16 when every possible value fits, i32 within ±2^24, f32 otherwise.
    assert_eq!(check(&dir, "u8-ct", &u8s, 1.0, -1024.0), "i16");
    assert_eq!(check(&dir, "i8-x2", &i8s, -2.0, 5.0), "i16");
    assert_eq!(check(&dir, "u16-ct", &u16s, 1.0, -1024.0), "i32");
    assert_eq!(check(&dir, "u16-neg", &u16s, -1.0, 0.0), "i32");
    assert_eq!(check(&dir, "i16-ct", &i16s, 1.0, -1024.0), "i32");
    assert_eq!(check(&dir, "i16-x1", &i16s, 1.0, 1.0), "i32");
    assert_eq!(check(&dir, "i16-x256", &i16s, 256.0, 0.0), "i32");
    assert_eq!(check(&dir, "i16-x1024", &i16s, 1024.0, 0.0), "f32");
    assert_eq!(check(&dir, "u8-x2", &u8s, 2.0, 0.0), "i16");
    // Non-integral slope or intercept: f32, exactly as before.
    assert_eq!(check(&dir, "i16-tenth", &i16s, 0.1, -1024.0), "f32");
    assert_eq!(check(&dir, "i16-half", &i16s, 1.0, -0.5), "f32");
    // Wider stored integers with scaling: f32.
    assert_eq!(check(&dir, "i32-ct", &i32s, 1.0, -1024.0), "f32");
    assert_eq!(check(&dir, "u32-ct", &u32s, 1.0, -1024.0), "f32");
}
