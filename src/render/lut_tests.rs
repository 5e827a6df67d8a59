//! The lookup-table path of `render_slice` (integral slices) against the per-pixel float path (the same
//! values as `f32`): every `i16` and `u16` value, every `u8` value, CT-like and skewed value mixes, each
//! under several fixed windows and percentile pairs, both roundings, with and without resizing.

use super::*;

/// xorshift64: deterministic pseudo-random numbers for value mixes.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn windows() -> Vec<Scaling> {
    let mut out: Vec<Scaling> = [
        (-160.0, 240.0),
        (-1350.0, 150.0),
        (0.0, 80.0),
        (-500.0, 1300.0),
        (-0.5, 0.5),
        (100.0, 100.25),
        (-32768.0, 32767.0),
        (1.0e-3, 7.3),
        (10.0, 10.0),
        (20.0, 10.0),
        (f64::NEG_INFINITY, 0.0),
    ]
    .into_iter()
    .map(|(low, high)| Scaling::Window { low, high })
    .collect();
    for (low_pct, high_pct) in [
        (0.5, 99.5),
        (0.0, 100.0),
        (1.0, 99.0),
        (50.0, 50.0),
        (25.0, 75.0),
        (0.1, 0.2),
    ] {
        out.push(Scaling::Percentile { low_pct, high_pct });
    }
    out
}

/// Renders `values` (width × height) through the integral path and, as `f32`, through the float path,
/// under every window, rounding and a resize, and asserts identical gray pixels and PNG bytes.
fn assert_same<T: Intensity>(name: &str, width_px: usize, values: Vec<T>) {
    let height_px = values.len() / width_px;
    let integral = Grid2 {
        width_px,
        height_px,
        data: values,
    };
    let float = Grid2 {
        width_px,
        height_px,
        data: integral
            .data
            .iter()
            .map(|v| v.to_f32())
            .collect::<Vec<f32>>(),
    };
    for scaling in windows() {
        for rounding in [Rounding::HalfEven, Rounding::Truncate] {
            for max_side in [None, Some(width_px.max(height_px) as u32 * 2 / 3)] {
                let a = render_slice(&integral, scaling, rounding, max_side).expect("lut");
                let b = render_slice(&float, scaling, rounding, max_side).expect("float");
                assert_eq!(a, b, "{name}: {scaling:?} {rounding:?} {max_side:?}");
            }
        }
    }
}

#[test]
fn every_i16_value_renders_as_the_float_path() {
    let all: Vec<i16> = (i16::MIN..=i16::MAX).collect();
    assert_same("all i16", 256, all.clone());
    // Shuffled, and a CT-like mix: mostly air and soft tissue, a few extremes.
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut shuffled = all;
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    assert_same("shuffled i16", 256, shuffled);
    let ct: Vec<i16> = (0..300 * 200)
        .map(|_| match rng.next() % 10 {
            0..=3 => -1024,
            4..=7 => (rng.next() % 400) as i16 - 100,
            8 => (rng.next() % 3000) as i16,
            _ => (rng.next() % 65536) as u16 as i16,
        })
        .collect();
    assert_same("ct-like i16", 300, ct);
    assert_same("flat i16", 16, vec![-1024i16; 16 * 9]);
}

#[test]
fn every_u8_and_u16_value_renders_as_the_float_path() {
    assert_same("all u8", 16, (0..=255u8).collect());
    assert_same("all u16", 256, (0..=u16::MAX).collect());
    let mut rng = XorShift(7);
    let skewed: Vec<u16> = (0..128 * 96)
        .map(|_| (rng.next() % 1000).pow(2) as u16 / 16)
        .collect();
    assert_same("skewed u16", 128, skewed);
}

#[test]
fn i32_renders_as_the_float_path_in_both_paths() {
    // A narrow span beyond 2^24 (table path; `as f32` rounds neighbours together) and a span too wide for a
    // table (per-pixel path).
    let narrow: Vec<i32> = (0..64 * 64).map(|v| 16_777_000 + v * 3).collect();
    assert_same("narrow i32 above 2^24", 64, narrow);
    let mut rng = XorShift(11);
    let wide: Vec<i32> = (0..64 * 64).map(|_| rng.next() as i32).collect();
    assert_same("wide i32", 64, wide);
}
