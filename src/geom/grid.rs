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
}

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
