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
