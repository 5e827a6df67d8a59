//! A 2D row-major grid: the shape every per-slice computation (components, contours, rendering) works on.

/// Row-major 2D array in the display frame: `x` = column (left→right), `y` = row (top→bottom).
#[derive(Debug, Clone, PartialEq)]
pub struct Grid2<T> {
    /// Number of columns.
    pub width_px: usize,
    /// Number of rows.
    pub height_px: usize,
    /// `data[y * width_px + x]`.
    pub data: Vec<T>,
}

impl<T: Copy> Grid2<T> {
    /// A grid filled with `value`.
    pub fn filled(width_px: usize, height_px: usize, value: T) -> Self {
        Grid2 {
            width_px,
            height_px,
            data: vec![value; width_px * height_px],
        }
    }

    /// Value at column `x`, row `y`.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> T {
        self.data[y * self.width_px + x]
    }

    #[inline]
    /// Sets the value at column `x`, row `y`.
    pub fn set(&mut self, x: usize, y: usize, value: T) {
        self.data[y * self.width_px + x] = value;
    }
}

/// A voxel or pixel intensity in the type an image is stored in: what rendering needs to know about it.
///
/// Every image value reaches the renderer as the `f32` the reader would have produced (`to_f32`); integral
/// types also give their exact value (`to_i64`) so a slice can be rendered through a lookup table indexed
/// by it.
pub trait Intensity: Copy + Default + Send + Sync + 'static {
    /// Whether values are integers (`to_i64` exact).
    const INTEGRAL: bool;
    /// The value as `f32` (exact for the ≤ 16-bit types; `i32` rounds like `as f32`).
    fn to_f32(self) -> f32;
    /// The exact integer value for integral types (truncated for floats; not used for them).
    fn to_i64(self) -> i64;
    /// Smallest and largest value of `data` as exact integers: `None` when it is empty, and for floats.
    fn range_i64(data: &[Self]) -> Option<(i64, i64)>;
}

/// Lanes of the min/max sweep in [`Intensity::range_i64`].
const RANGE_LANES: usize = 32;

macro_rules! impl_intensity_int {
    ($($t:ty),*) => {$(
        impl Intensity for $t {
            const INTEGRAL: bool = true;
            #[inline(always)]
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                i64::from(self)
            }
            /// Lane by lane in the stored type, which the compiler vectorises: a fold of `(i64, i64)` pairs
            /// stays scalar and took longer than rendering the slice through its lookup table (~20× slower
            /// on a 512×512 `i16` slice).
            fn range_i64(data: &[Self]) -> Option<(i64, i64)> {
                let first = *data.first()?;
                let (mut lo, mut hi) = ([first; RANGE_LANES], [first; RANGE_LANES]);
                let chunks = data.chunks_exact(RANGE_LANES);
                let rest = chunks.remainder();
                for chunk in chunks {
                    for k in 0..RANGE_LANES {
                        lo[k] = lo[k].min(chunk[k]);
                        hi[k] = hi[k].max(chunk[k]);
                    }
                }
                let lo = lo.iter().chain(rest).min().copied().unwrap_or(first);
                let hi = hi.iter().chain(rest).max().copied().unwrap_or(first);
                Some((i64::from(lo), i64::from(hi)))
            }
        }
    )*};
}
impl_intensity_int!(u8, i16, u16, i32);

impl Intensity for f32 {
    const INTEGRAL: bool = false;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    fn range_i64(_: &[Self]) -> Option<(i64, i64)> {
        None
    }
}

/// A displayed image slice in its volume's stored type (see `volume::ImageVolume`).
#[derive(Debug, Clone, PartialEq)]
pub enum IntensityGrid {
    /// Unsigned 8-bit values.
    U8(Grid2<u8>),
    /// Signed 16-bit values (also stored `i8`, and integral scaled values that fit).
    I16(Grid2<i16>),
    /// Unsigned 16-bit values.
    U16(Grid2<u16>),
    /// Signed 32-bit values (stored `i32`, or integral scaled values within ±2^24).
    I32(Grid2<i32>),
    /// Everything else, as the `f32` the reader produces.
    F32(Grid2<f32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The range by the plain definition, over exact integers.
    fn plain<T: Intensity>(data: &[T]) -> Option<(i64, i64)> {
        let values = data.iter().map(|v| v.to_i64());
        Some((values.clone().min()?, values.max()?))
    }

    #[test]
    fn the_lane_sweep_finds_the_range_at_every_length_and_position() {
        // Extremes placed in a full lane block, in the remainder and at the first element, for lengths around
        // the lane count.
        for len in [0usize, 1, 2, 31, 32, 33, 63, 64, 65, 1000, 1031] {
            for at in [0, len / 2, len.saturating_sub(1)] {
                let i16s: Vec<i16> = (0..len)
                    .map(|i| match i {
                        _ if i == at => i16::MIN,
                        _ if i == len - 1 - at => i16::MAX,
                        _ => (i as i16).wrapping_mul(37) % 1000,
                    })
                    .collect();
                assert_eq!(i16::range_i64(&i16s), plain(&i16s), "i16 {len} {at}");
                let u8s: Vec<u8> = (0..len).map(|i| (i * 7 + at) as u8).collect();
                assert_eq!(u8::range_i64(&u8s), plain(&u8s), "u8 {len} {at}");
                let u16s: Vec<u16> = (0..len)
                    .map(|i| {
                        if i == at {
                            u16::MAX
                        } else {
                            (i * 13) as u16 + 5
                        }
                    })
                    .collect();
                assert_eq!(u16::range_i64(&u16s), plain(&u16s), "u16 {len} {at}");
                let i32s: Vec<i32> = (0..len)
                    .map(|i| {
                        if i == at {
                            i32::MIN
                        } else {
                            i as i32 * 1_000_003
                        }
                    })
                    .collect();
                assert_eq!(i32::range_i64(&i32s), plain(&i32s), "i32 {len} {at}");
            }
        }
        assert_eq!(i16::range_i64(&[-5]), Some((-5, -5)));
        assert_eq!(f32::range_i64(&[1.0, 2.0]), None);
    }
}
