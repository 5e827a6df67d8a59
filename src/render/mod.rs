//! Turns a display-frame image slice into 8-bit PNG bytes (CT windows or percentile scaling).
//! The only module that imports `image`/`png`.
//!
//! Pipeline per slice (docs/measurements.md §9): choose a [`Scaling`] (a fixed CT window or the slice's
//! 0.5th–99.5th percentiles), clip, map linearly to 0–255 in `f64`, optionally resize bilinearly so the
//! longer side fits `max_side`, round with the profile's [`Rounding`], encode as 8-bit grayscale PNG.

pub mod overlay;
mod png_encode;
mod resize;

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod lut_tests;

use crate::geom::{Grid2, Intensity, IntensityGrid};
use crate::manifest::{Modality, WindowGroup};

pub use png_encode::{encode_png_gray, encode_png_rgb};

/// Lower/upper percentile used for everything that is not a windowed CT (docs/measurements.md §9.2).
pub const DEFAULT_LOW_PCT: f64 = 0.5;
/// Upper percentile, the counterpart of [`DEFAULT_LOW_PCT`].
pub const DEFAULT_HIGH_PCT: f64 = 99.5;

/// How raw voxel values map to display gray levels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scaling {
    /// Fixed window in the image's units (HU for CT): values ≤ `low` are black, ≥ `high` white.
    Window {
        /// Gray level 0 at and below this value.
        low: f64,
        /// Gray level 255 at and above this value.
        high: f64,
    },
    /// Window taken from the slice's own percentiles (numpy `percentile`, method `linear`), in percent.
    Percentile {
        /// Lower percentile, in percent.
        low_pct: f64,
        /// Upper percentile, in percent.
        high_pct: f64,
    },
}

impl Scaling {
    /// CT with an anatomy group → that group's window `[L − W/2, L + W/2]`; anything else → the slice's
    /// 0.5th–99.5th percentiles.
    pub fn for_slice(modality: Modality, group: Option<WindowGroup>) -> Scaling {
        match (modality, group) {
            (Modality::CT, Some(group)) => {
                let (level, width) = group.level_width_hu();
                Scaling::Window {
                    low: level - width / 2.0,
                    high: level + width / 2.0,
                }
            }
            _ => Scaling::Percentile {
                low_pct: DEFAULT_LOW_PCT,
                high_pct: DEFAULT_HIGH_PCT,
            },
        }
    }
}

/// The grey level a mask-only collection's label map shows label `id` in (`render_from = "labels"`,
/// docs/measurements.md §9.8): background 0 is black; label `id ≥ 1` is `55 + ((id − 1) · 97 mod 201)`, so
/// ids 1–201 get 201 distinct levels from 55 to 255, neighbouring ids lie 97 levels (or 104) apart, and the
/// level depends on the id alone (the same structure is the same grey in every case and build).
pub fn label_grey(id: u16) -> u8 {
    if id == 0 {
        0
    } else {
        (55 + (u32::from(id) - 1) * 97 % 201) as u8
    }
}

/// The scaling of a label map drawn with [`label_grey`]: the identity window 0–255 (each level is kept
/// exactly under either rounding).
pub const LABEL_GREY_SCALING: Scaling = Scaling::Window {
    low: 0.0,
    high: 255.0,
};

/// How a scaled gray level in `[0, 255]` becomes an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Round half to even (numpy `rint`): 0.5 → 0, 1.5 → 2, 2.5 → 2. Our default: unbiased.
    HalfEven,
    /// Drop the fraction (`astype(np.uint8)` on non-negative values), as the MedVision benchmark does.
    Truncate,
}

impl Rounding {
    #[inline]
    fn apply(self, gray: f64) -> u8 {
        let rounded = match self {
            Rounding::HalfEven => gray.round_ties_even(),
            Rounding::Truncate => gray.trunc(),
        };
        // `gray` is already in [0, 255]; the clamp only guards against NaN (→ 0 by `as`).
        rounded.clamp(0.0, 255.0) as u8
    }
}

/// A rendered slice and how its pixel grid relates to the input grid.
///
/// A point at input pixel centre `(x, y)` is at `((x + 0.5) * scale_x − 0.5, (y + 0.5) * scale_y − 0.5)`
/// in the output; an input pixel spacing `s` becomes `s / scale` in the output. Without resizing both
/// scales are exactly 1.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedSlice {
    /// 8-bit grayscale PNG.
    pub png: Vec<u8>,
    /// The PNG's 8-bit gray pixels, row-major (`width_px × height_px`), for RGB copies without decoding.
    pub gray: Vec<u8>,
    /// Output width in pixels.
    pub width_px: u32,
    /// Output height in pixels.
    pub height_px: u32,
    /// Output width / input width.
    pub scale_x: f64,
    /// Output height / input height.
    pub scale_y: f64,
}

#[derive(Debug, thiserror::Error)]
/// Why a slice could not be rendered or encoded.
pub enum RenderError {
    #[error("cannot render an empty slice ({width_px}×{height_px} pixels)")]
    /// The slice has no pixels.
    EmptySlice {
        /// Slice width in pixels.
        width_px: usize,
        /// Slice height in pixels.
        height_px: usize,
    },
    #[error("slice grid is {width_px}×{height_px} pixels but holds {actual} values (expected {expected})")]
    /// The slice grid's data length does not match its size.
    DataLength {
        /// Slice width in pixels.
        width_px: usize,
        /// Slice height in pixels.
        height_px: usize,
        /// Values the size implies.
        expected: usize,
        /// Values the grid holds.
        actual: usize,
    },
    #[error(
        "slice of {width_px}×{height_px} pixels is too large for a PNG (sides must fit in u32)"
    )]
    /// A side of the slice does not fit in `u32`.
    TooLarge {
        /// Slice width in pixels.
        width_px: usize,
        /// Slice height in pixels.
        height_px: usize,
    },
    #[error("max_side must be at least 1 pixel, got {max_side}")]
    /// `max_side` is 0.
    InvalidMaxSide {
        /// The requested longest side in pixels.
        max_side: u32,
    },
    #[error("percentiles must satisfy 0 ≤ low ≤ high ≤ 100, got low {low_pct}, high {high_pct}")]
    /// The percentiles are outside `0 ≤ low ≤ high ≤ 100`.
    InvalidPercentiles {
        /// Lower percentile, in percent.
        low_pct: f64,
        /// Upper percentile, in percent.
        high_pct: f64,
    },
    #[error(
        "image buffer of {actual} bytes does not match {width_px}×{height_px}×{channels} pixels"
    )]
    /// An image buffer's length does not match its size.
    BufferLength {
        /// Image width in pixels.
        width_px: u32,
        /// Image height in pixels.
        height_px: u32,
        /// Bytes per pixel.
        channels: u32,
        /// Bytes the buffer holds.
        actual: usize,
    },
    #[error("PNG encoding of a {width_px}×{height_px} image failed: {source}")]
    /// The PNG encoder failed.
    Encode {
        /// Image width in pixels.
        width_px: u32,
        /// Image height in pixels.
        height_px: u32,
        /// The encoder's error.
        source: image::ImageError,
    },
}

/// Most lookup-table entries a slice of integral values may need (its value span); wider slices (only
/// possible for `i32`) take the per-pixel float path.
const LUT_MAX_ENTRIES: i64 = LUT_LEN as i64;
/// Entries of the grey lookup table: one per value of 16 bits.
const LUT_LEN: usize = 1 << 16;

/// A value's entry in the grey lookup table: its low 16 bits. Values of a span under 2^16 get distinct entries,
/// and the index of a fixed-size table needs no bounds check per pixel (the render's inner loop; 1.6–1.8×
/// faster than indexing by `value − min` into a table of the span's length).
#[inline(always)]
fn lut_index(value: i64) -> usize {
    (value as usize) & (LUT_LEN - 1)
}

/// Renders a slice in its stored type: [`render_slice`] on the grid inside.
pub fn render_image_slice(
    slice: &IntensityGrid,
    scaling: Scaling,
    rounding: Rounding,
    max_side: Option<u32>,
) -> Result<RenderedSlice, RenderError> {
    match slice {
        IntensityGrid::U8(g) => render_slice(g, scaling, rounding, max_side),
        IntensityGrid::I16(g) => render_slice(g, scaling, rounding, max_side),
        IntensityGrid::U16(g) => render_slice(g, scaling, rounding, max_side),
        IntensityGrid::I32(g) => render_slice(g, scaling, rounding, max_side),
        IntensityGrid::F32(g) => render_slice(g, scaling, rounding, max_side),
    }
}

/// The size a `width_in × height_in` slice is rendered at (fitted into `max_side` when larger).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderedSize {
    /// Output width in pixels.
    pub width_px: u32,
    /// Output height in pixels.
    pub height_px: u32,
    /// Output width / input width.
    pub scale_x: f64,
    /// Output height / input height.
    pub scale_y: f64,
    /// The fitted size when the slice is resized.
    resized: Option<(usize, usize)>,
}

/// The size [`render_slice`] gives a `width_in × height_in` slice, without rendering it (what a question
/// about the slice needs to know of its image).
pub fn rendered_size(
    width_in: usize,
    height_in: usize,
    max_side: Option<u32>,
) -> Result<RenderedSize, RenderError> {
    let resized = match max_side {
        Some(0) => return Err(RenderError::InvalidMaxSide { max_side: 0 }),
        Some(max_side) if width_in.max(height_in) > max_side as usize => {
            Some(resize::fitted_size(width_in, height_in, max_side as usize))
        }
        _ => None,
    };
    let (width_out, height_out) = resized.unwrap_or((width_in, height_in));
    let too_large = || RenderError::TooLarge {
        width_px: width_out,
        height_px: height_out,
    };
    Ok(RenderedSize {
        width_px: u32::try_from(width_out).map_err(|_| too_large())?,
        height_px: u32::try_from(height_out).map_err(|_| too_large())?,
        scale_x: width_out as f64 / width_in as f64,
        scale_y: height_out as f64 / height_in as f64,
        resized,
    })
}

/// Renders `slice` to an 8-bit grayscale PNG.
///
/// Every value is taken as the `f32` the reader gives ([`Intensity::to_f32`]). Non-finite values are ignored
/// by the percentile computation and render black. A slice whose window is empty (flat slice, `high ≤ low`,
/// no finite value) renders black.
///
/// Integral slices (value span ≤ 2^16) go through a lookup table indexed by the stored value: the window
/// (percentiles from a histogram of the values) and each table entry are computed with the very operations
/// of the per-pixel float path, so the bytes are the same (`lut_tests` checks every `i16`).
pub fn render_slice<T: Intensity>(
    slice: &Grid2<T>,
    scaling: Scaling,
    rounding: Rounding,
    max_side: Option<u32>,
) -> Result<RenderedSlice, RenderError> {
    check_size(slice)?;
    let range = if T::INTEGRAL {
        T::range_i64(&slice.data).filter(|(min, max)| max - min < LUT_MAX_ENTRIES)
    } else {
        None
    };
    let window = usable(match range {
        Some(range) => integral_window(&slice.data, range, scaling)?,
        None => float_window(&slice.data, scaling)?,
    });
    let (width_in, height_in) = (slice.width_px, slice.height_px);
    let size = rendered_size(width_in, height_in, max_side)?;
    let resized = size.resized;
    let (width_px, height_px) = (size.width_px, size.height_px);
    let pixels: Vec<u8> = match (range, resized) {
        (Some((min, max)), None) => {
            let mut lut: Box<[u8; LUT_LEN]> = (vec![0u8; LUT_LEN].into_boxed_slice())
                .try_into()
                .expect("a table of LUT_LEN entries");
            for v in min..=max {
                lut[lut_index(v)] = rounding.apply(gray_level(int_value(v), window));
            }
            slice
                .data
                .iter()
                .map(|&v| lut[lut_index(v.to_i64())])
                .collect()
        }
        (Some((min, max)), Some((w, h))) => {
            let lut: Vec<f64> = (min..=max)
                .map(|v| gray_level(int_value(v), window))
                .collect();
            let gray: Vec<f64> = slice
                .data
                .iter()
                .map(|&v| lut[(v.to_i64() - min) as usize])
                .collect();
            let resized = resize::bilinear(&gray, width_in, height_in, w, h);
            resized.iter().map(|&g| rounding.apply(g)).collect()
        }
        (None, None) => slice
            .data
            .iter()
            .map(|&v| rounding.apply(gray_level(f64::from(v.to_f32()), window)))
            .collect(),
        (None, Some((w, h))) => {
            let gray: Vec<f64> = slice
                .data
                .iter()
                .map(|&v| gray_level(f64::from(v.to_f32()), window))
                .collect();
            let resized = resize::bilinear(&gray, width_in, height_in, w, h);
            resized.iter().map(|&g| rounding.apply(g)).collect()
        }
    };
    let png = encode_png_gray(width_px, height_px, &pixels)?;
    Ok(RenderedSlice {
        png,
        gray: pixels,
        width_px,
        height_px,
        scale_x: size.scale_x,
        scale_y: size.scale_y,
    })
}

/// The value an integer has as the `f32` the reader gives, in f64 (`as` rounds to nearest, ties to even,
/// as the reader's `i32 as f32` does).
#[inline]
fn int_value(v: i64) -> f64 {
    f64::from(v as f32)
}

/// A slice with no pixels or with a data length that does not match its size is an error.
fn check_size<T>(slice: &Grid2<T>) -> Result<(), RenderError> {
    let (width_px, height_px) = (slice.width_px, slice.height_px);
    if width_px == 0 || height_px == 0 {
        return Err(RenderError::EmptySlice {
            width_px,
            height_px,
        });
    }
    let expected = width_px.saturating_mul(height_px);
    if slice.data.len() != expected {
        return Err(RenderError::DataLength {
            width_px,
            height_px,
            expected,
            actual: slice.data.len(),
        });
    }
    Ok(())
}

/// The window when it can map values: `low < high`, both finite (`!(high > low)` also catches NaN).
fn usable(window: Option<(f64, f64)>) -> Option<(f64, f64)> {
    window.filter(|&(low, high)| high > low && low.is_finite() && high.is_finite())
}

/// Percentiles must satisfy `0 ≤ low ≤ high ≤ 100`.
fn check_percentiles(low_pct: f64, high_pct: f64) -> Result<(), RenderError> {
    if !(0.0..=100.0).contains(&low_pct) || !(0.0..=100.0).contains(&high_pct) || low_pct > high_pct
    {
        return Err(RenderError::InvalidPercentiles { low_pct, high_pct });
    }
    Ok(())
}

/// The window of a slice, percentiles taken over its finite values.
fn float_window<T: Intensity>(
    data: &[T],
    scaling: Scaling,
) -> Result<Option<(f64, f64)>, RenderError> {
    Ok(match scaling {
        Scaling::Window { low, high } => Some((low, high)),
        Scaling::Percentile { low_pct, high_pct } => {
            check_percentiles(low_pct, high_pct)?;
            let mut finite: Vec<f64> = data
                .iter()
                .map(|v| v.to_f32())
                .filter(|v| v.is_finite())
                .map(f64::from)
                .collect();
            match (
                percentile_linear(&mut finite, low_pct),
                percentile_linear(&mut finite, high_pct),
            ) {
                (Some(low), Some(high)) => Some((low, high)),
                _ => None,
            }
        }
    })
}

/// The window of an integral slice whose values lie in `range`: percentiles from a histogram of the values.
/// The value order is the order of their `f32` images (a monotone map), so the order statistics are those
/// the float path selects.
fn integral_window<T: Intensity>(
    data: &[T],
    (min, max): (i64, i64),
    scaling: Scaling,
) -> Result<Option<(f64, f64)>, RenderError> {
    let (low_pct, high_pct) = match scaling {
        Scaling::Window { low, high } => return Ok(Some((low, high))),
        Scaling::Percentile { low_pct, high_pct } => (low_pct, high_pct),
    };
    check_percentiles(low_pct, high_pct)?;
    let mut counts = vec![0usize; (max - min + 1) as usize];
    for &v in data {
        counts[(v.to_i64() - min) as usize] += 1;
    }
    let order_statistic = |k: usize| {
        let mut seen = 0;
        for (offset, &c) in counts.iter().enumerate() {
            seen += c;
            if seen > k {
                return int_value(min + offset as i64);
            }
        }
        int_value(max)
    };
    let n = data.len();
    let low = percentile_of_sorted(n, low_pct, order_statistic);
    let high = percentile_of_sorted(n, high_pct, order_statistic);
    Ok(Some((low, high)))
}

/// Gray level in `[0, 255]` (not yet rounded) of value `v` in a usable window; 0 without one or for NaN.
#[inline]
fn gray_level(v: f64, window: Option<(f64, f64)>) -> f64 {
    match window {
        Some((low, high)) if !v.is_nan() => {
            // Same operation order as the numpy reference: (clip(x) - lo) / (hi - lo) * 255.
            (v.clamp(low, high) - low) / (high - low) * 255.0
        }
        _ => 0.0,
    }
}

/// numpy's `linear` percentile of `n` values given their `k`-th smallest (0-based) by `order_statistic`:
/// the arithmetic of [`percentile_linear`]. `n` must be at least 1.
fn percentile_of_sorted(n: usize, pct: f64, order_statistic: impl Fn(usize) -> f64) -> f64 {
    let q = pct / 100.0;
    let virtual_index = (n - 1) as f64 * q;
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    let previous_index = (previous as usize).min(n - 1);
    let next_index = (previous_index + 1).min(n - 1);
    let a = order_statistic(previous_index);
    let b = if next_index == previous_index {
        a
    } else {
        order_statistic(next_index)
    };
    let diff_b_a = b - a;
    if gamma >= 0.5 {
        b - diff_b_a * (1.0 - gamma)
    } else {
        a + diff_b_a * gamma
    }
}

/// numpy `percentile(values, pct)` with the default `linear` method, evaluated in `f64` exactly as numpy
/// does (virtual index `(n − 1)·q`, `_lerp` with its `t ≥ 0.5` branch). Reorders `values`.
/// `None` when `values` is empty.
fn percentile_linear(values: &mut [f64], pct: f64) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let q = pct / 100.0;
    let virtual_index = (n - 1) as f64 * q;
    let previous = virtual_index.floor();
    let gamma = virtual_index - previous;
    let previous_index = (previous as usize).min(n - 1);
    let next_index = (previous_index + 1).min(n - 1);
    let (_, a, rest) = values.select_nth_unstable_by(previous_index, f64::total_cmp);
    let a = *a;
    let b = if next_index == previous_index {
        a
    } else {
        // The next order statistic is the minimum of the part above `previous_index`.
        rest.iter().copied().fold(f64::INFINITY, f64::min)
    };
    let diff_b_a = b - a;
    Some(if gamma >= 0.5 {
        b - diff_b_a * (1.0 - gamma)
    } else {
        a + diff_b_a * gamma
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(width_px: usize, height_px: usize, data: Vec<f32>) -> Grid2<f32> {
        Grid2 {
            width_px,
            height_px,
            data,
        }
    }

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("our own PNG decodes");
        assert_eq!(img.color(), image::ColorType::L8);
        let gray = img.to_luma8();
        (gray.width(), gray.height(), gray.into_raw())
    }

    #[test]
    fn window_presets_follow_level_and_width() {
        assert_eq!(
            Scaling::for_slice(Modality::CT, Some(WindowGroup::SoftTissue)),
            Scaling::Window {
                low: -160.0,
                high: 240.0
            }
        );
        assert_eq!(
            Scaling::for_slice(Modality::CT, Some(WindowGroup::Lung)),
            Scaling::Window {
                low: -1350.0,
                high: 150.0
            }
        );
        assert_eq!(
            Scaling::for_slice(Modality::CT, Some(WindowGroup::Brain)),
            Scaling::Window {
                low: 0.0,
                high: 80.0
            }
        );
        assert_eq!(
            Scaling::for_slice(Modality::CT, Some(WindowGroup::Bone)),
            Scaling::Window {
                low: -500.0,
                high: 1300.0
            }
        );
        let pct = Scaling::Percentile {
            low_pct: 0.5,
            high_pct: 99.5,
        };
        assert_eq!(Scaling::for_slice(Modality::CT, None), pct);
        assert_eq!(
            Scaling::for_slice(Modality::MR, Some(WindowGroup::Brain)),
            pct
        );
        assert_eq!(Scaling::for_slice(Modality::PET, None), pct);
    }

    #[test]
    fn rounding_rules() {
        assert_eq!(Rounding::HalfEven.apply(0.5), 0);
        assert_eq!(Rounding::HalfEven.apply(1.5), 2);
        assert_eq!(Rounding::HalfEven.apply(2.5), 2);
        assert_eq!(Rounding::HalfEven.apply(254.5), 254);
        assert_eq!(Rounding::Truncate.apply(1.999), 1);
        assert_eq!(Rounding::Truncate.apply(255.0), 255);
    }

    #[test]
    fn percentile_matches_numpy_small_cases() {
        // np.percentile([1,2,3,4], 50) = 2.5; [10, 20] at 0.5 % = 10.05; single value → itself.
        assert_eq!(
            percentile_linear(&mut [4.0, 1.0, 3.0, 2.0], 50.0),
            Some(2.5)
        );
        assert_eq!(percentile_linear(&mut [20.0, 10.0], 0.5), Some(10.05));
        assert_eq!(percentile_linear(&mut [7.0], 99.5), Some(7.0));
        assert_eq!(percentile_linear(&mut [], 50.0), None);
        assert_eq!(percentile_linear(&mut [1.0, 2.0, 3.0], 100.0), Some(3.0));
        assert_eq!(percentile_linear(&mut [1.0, 2.0, 3.0], 0.0), Some(1.0));
    }

    #[test]
    fn window_maps_ends_and_midpoint() {
        // Brain window [0, 80]: -5 → 0, 0 → 0, 40 → 127.5 → 128 (half-even), 80 → 255, 200 → 255.
        let slice = grid(5, 1, vec![-5.0, 0.0, 40.0, 80.0, 200.0]);
        let scaling = Scaling::for_slice(Modality::CT, Some(WindowGroup::Brain));
        let out = render_slice(&slice, scaling, Rounding::HalfEven, None).unwrap();
        assert_eq!((out.width_px, out.height_px), (5, 1));
        assert_eq!((out.scale_x, out.scale_y), (1.0, 1.0));
        assert_eq!(decode(&out.png).2, vec![0, 0, 128, 255, 255]);
        let out = render_slice(&slice, scaling, Rounding::Truncate, None).unwrap();
        assert_eq!(decode(&out.png).2, vec![0, 0, 127, 255, 255]);
    }

    #[test]
    fn flat_and_non_finite_slices_render_black() {
        let flat = grid(3, 2, vec![42.0; 6]);
        let pct = Scaling::for_slice(Modality::MR, None);
        let out = render_slice(&flat, pct, Rounding::HalfEven, None).unwrap();
        assert_eq!(decode(&out.png), (3, 2, vec![0; 6]));
        let nan = grid(2, 1, vec![f32::NAN, f32::INFINITY]);
        let out = render_slice(&nan, pct, Rounding::HalfEven, None).unwrap();
        assert_eq!(decode(&out.png).2, vec![0, 0]);
        // NaN pixel beside finite ones: ignored by the percentiles, rendered black.
        let mixed = grid(3, 1, vec![0.0, f32::NAN, 10.0]);
        let out = render_slice(&mixed, pct, Rounding::HalfEven, None).unwrap();
        assert_eq!(decode(&out.png).2[1], 0);
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let pct = Scaling::for_slice(Modality::MR, None);
        let empty = grid(0, 3, vec![]);
        assert!(matches!(
            render_slice(&empty, pct, Rounding::HalfEven, None),
            Err(RenderError::EmptySlice { .. })
        ));
        let short = grid(2, 2, vec![1.0; 3]);
        assert!(matches!(
            render_slice(&short, pct, Rounding::HalfEven, None),
            Err(RenderError::DataLength { expected: 4, .. })
        ));
        let ok = grid(2, 2, vec![1.0; 4]);
        assert!(matches!(
            render_slice(&ok, pct, Rounding::HalfEven, Some(0)),
            Err(RenderError::InvalidMaxSide { .. })
        ));
        let bad_pct = Scaling::Percentile {
            low_pct: 60.0,
            high_pct: 40.0,
        };
        assert!(matches!(
            render_slice(&ok, bad_pct, Rounding::HalfEven, None),
            Err(RenderError::InvalidPercentiles { .. })
        ));
    }

    #[test]
    fn max_side_reports_scales() {
        let slice = grid(8, 4, (0..32).map(|v| v as f32).collect());
        let scaling = Scaling::Window {
            low: 0.0,
            high: 31.0,
        };
        let out = render_slice(&slice, scaling, Rounding::HalfEven, Some(4)).unwrap();
        assert_eq!((out.width_px, out.height_px), (4, 2));
        assert_eq!((out.scale_x, out.scale_y), (0.5, 0.5));
        let (w, h, _) = decode(&out.png);
        assert_eq!((w, h), (4, 2));
        // Already small enough: untouched.
        let out = render_slice(&slice, scaling, Rounding::HalfEven, Some(8)).unwrap();
        assert_eq!((out.width_px, out.height_px), (8, 4));
    }

    /// The label-map grey levels (docs/measurements.md §9.8): ids 1–201 distinct and at least 55, the
    /// period 201, and each level kept exactly through the identity window under both roundings.
    #[test]
    fn label_grey_levels_are_distinct_and_render_exactly() {
        let levels: Vec<u8> = (1..=201).map(label_grey).collect();
        let distinct: std::collections::BTreeSet<u8> = levels.iter().copied().collect();
        assert_eq!(distinct.len(), 201);
        assert_eq!((distinct.first(), distinct.last()), (Some(&55), Some(&255)));
        assert_eq!(label_grey(0), 0);
        assert_eq!(label_grey(1), 55);
        assert_eq!(label_grey(2), 152);
        assert_eq!(label_grey(202), label_grey(1));
        assert_eq!(label_grey(u16::MAX), (55 + 65534 * 97 % 201) as u8);
        let ids: Vec<u16> = (0..=255).collect();
        let data: Vec<u8> = ids.iter().map(|&id| label_grey(id)).collect();
        let slice = Grid2 {
            width_px: 16,
            height_px: 16,
            data: data.clone(),
        };
        for rounding in [Rounding::HalfEven, Rounding::Truncate] {
            let out = render_slice(&slice, LABEL_GREY_SCALING, rounding, None).expect("render");
            assert_eq!(out.gray, data, "{rounding:?}");
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        let slice = grid(
            64,
            48,
            (0..64 * 48).map(|v| ((v * 37) % 101) as f32).collect(),
        );
        let pct = Scaling::for_slice(Modality::MR, None);
        let a = render_slice(&slice, pct, Rounding::HalfEven, Some(40)).unwrap();
        let b = render_slice(&slice, pct, Rounding::HalfEven, Some(40)).unwrap();
        assert_eq!(a, b);
    }
}
