//! Image slices in the display frame, in the volume's stored type, gathered plane by plane.
//!
//! Why a file of its own: a slice whose fixed axis is the volume's fastest-varying memory axis (sagittal for
//! most stored orientations) picks one voxel per stored row, so extracting it slice by slice reads the whole
//! volume at a stride of one row per voxel, once per slice (18 % of a Parquet-only build on a 512² CT).
//! [`PlaneView::extract_many`] instead reads every row once and scatters each needed voxel to its slice;
//! callers bound the memory by asking for a block of slices at a time ([`slices_per_sweep`]).

use ndarray::{ArrayBase, Axis, Data, Ix3};

use super::frame::PlaneView;
use crate::geom::{Grid2, IntensityGrid};
use crate::volume::ImageVolume;

/// Least number of bytes a sweep may gather, whatever the volume size.
const MIN_SWEEP_BYTES: usize = 8 << 20;

impl PlaneView {
    /// The displayed images of `slices` (each `< slice_count()`), equal to [`PlaneView::extract`] of each.
    ///
    /// When the fixed axis is the array's unit-stride axis and more than one slice is asked for, the array
    /// is read once: lane by lane along the fixed axis, in memory order, each lane's needed voxels written to
    /// their slices. Otherwise each slice is extracted on its own (its rows are already contiguous).
    pub fn extract_many<S, T>(&self, data: &ArrayBase<S, Ix3>, slices: &[usize]) -> Vec<Grid2<T>>
    where
        S: Data<Elem = T>,
        T: Copy + Default,
    {
        if !self.sweeps(data.strides()) || slices.len() < 2 {
            return slices.iter().map(|&s| self.extract(data, s)).collect();
        }
        assert_eq!(
            data.shape(),
            &self.shape()[..],
            "PlaneView::extract_many: array shape differs from the view's"
        );
        let (width_px, height_px) = (self.width_px(), self.height_px());
        let mut grids: Vec<Grid2<T>> = slices
            .iter()
            .map(|_| Grid2::filled(width_px, height_px, T::default()))
            .collect();
        let strides = data.strides();
        let (row_axis, col_axis, fixed) = (self.row_axis(), self.col_axis(), self.fixed_axis());
        // Outer loop over the shown axis with the larger stride, so lanes are visited in memory order.
        let rows_outer = strides[row_axis].unsigned_abs() >= strides[col_axis].unsigned_abs();
        let (outer, inner) = if rows_outer {
            (row_axis, col_axis)
        } else {
            (col_axis, row_axis)
        };
        let ordered = data.view().permuted_axes([outer, inner, fixed]);
        let last = self.slice_count() - 1;
        let reversed: Vec<usize> = slices.iter().map(|&s| last - s).collect();
        for (o, sheet) in ordered.outer_iter().enumerate() {
            for (i, mut lane) in sheet.outer_iter().enumerate() {
                let (row, col) = if rows_outer { (o, i) } else { (i, o) };
                let at = self.y_of(row) * width_px + self.x_of(col);
                // A lane running backwards in memory is read forwards, its indices mirrored.
                let picks = if lane.strides()[0] < 0 {
                    lane.invert_axis(Axis(0));
                    &reversed
                } else {
                    slices
                };
                match lane.as_slice() {
                    Some(values) => {
                        for (grid, &s) in grids.iter_mut().zip(picks) {
                            grid.data[at] = values[s];
                        }
                    }
                    None => {
                        for (grid, &s) in grids.iter_mut().zip(picks) {
                            grid.data[at] = lane[s];
                        }
                    }
                }
            }
        }
        grids
    }

    /// Whether [`PlaneView::extract_many`] sweeps an array with these strides (fixed axis of unit stride).
    fn sweeps(&self, strides: &[isize]) -> bool {
        strides[self.fixed_axis()].unsigned_abs() == 1
    }

    /// The displayed images of `slices` of an intensity volume, in its stored type
    /// ([`PlaneView::extract_many`]).
    pub fn extract_image(&self, image: &ImageVolume, slices: &[usize]) -> Vec<IntensityGrid> {
        match image {
            ImageVolume::U8(v) => wrap(self.extract_many(&v.data, slices), IntensityGrid::U8),
            ImageVolume::I16(v) => wrap(self.extract_many(&v.data, slices), IntensityGrid::I16),
            ImageVolume::U16(v) => wrap(self.extract_many(&v.data, slices), IntensityGrid::U16),
            ImageVolume::I32(v) => wrap(self.extract_many(&v.data, slices), IntensityGrid::I32),
            ImageVolume::F32(v) => wrap(self.extract_many(&v.data, slices), IntensityGrid::F32),
        }
    }
}

fn wrap<T>(grids: Vec<Grid2<T>>, f: fn(Grid2<T>) -> IntensityGrid) -> Vec<IntensityGrid> {
    grids.into_iter().map(f).collect()
}

/// How many slices of `view` one [`PlaneView::extract_image`] call should gather: all of them when the plane
/// is swept, at most half the volume's bytes (at least 8 MB) at a time; one when slices are extracted on
/// their own (no sweep, nothing gained by holding several).
pub fn slices_per_sweep(view: &PlaneView, image: &ImageVolume) -> usize {
    let (strides, elem_bytes) = match image {
        ImageVolume::U8(v) => (v.data.strides(), 1),
        ImageVolume::I16(v) => (v.data.strides(), 2),
        ImageVolume::U16(v) => (v.data.strides(), 2),
        ImageVolume::I32(v) => (v.data.strides(), 4),
        ImageVolume::F32(v) => (v.data.strides(), 4),
    };
    if !view.sweeps(strides) {
        return 1;
    }
    let volume_bytes = view.shape().iter().product::<usize>() * elem_bytes;
    let slice_bytes = (view.width_px() * view.height_px() * elem_bytes).max(1);
    ((volume_bytes / 2).max(MIN_SWEEP_BYTES) / slice_bytes).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotate::frame::DisplayFrame;
    use crate::manifest::schema::Plane;
    use ndarray::{Array3, ShapeBuilder};

    /// Every plane, frame, flip and memory order: the sweep equals slice-by-slice extraction.
    #[test]
    fn extract_many_equals_extract_for_every_layout() {
        let shape = (7, 5, 4);
        for fortran in [false, true] {
            let data: Vec<u32> = (0..7 * 5 * 4).collect();
            let base = if fortran {
                Array3::from_shape_vec(shape.f(), data).expect("shape")
            } else {
                Array3::from_shape_vec(shape, data).expect("shape")
            };
            for perm in [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]] {
                for flips in 0..8u8 {
                    let mut v = base.view().permuted_axes(perm);
                    for axis in 0..3 {
                        if flips & (1 << axis) != 0 {
                            v.invert_axis(Axis(axis));
                        }
                    }
                    let dim = v.dim();
                    let canonical = [dim.0, dim.1, dim.2];
                    for frame in [DisplayFrame::Radiological, DisplayFrame::RawArray] {
                        for plane in Plane::ALL {
                            let view = PlaneView::new(plane, frame, canonical, [1.0; 3]);
                            let n = view.slice_count();
                            let slices: Vec<usize> =
                                (0..n).filter(|s| s % 2 == 0 || *s == n - 1).collect();
                            let many = view.extract_many(&v, &slices);
                            for (grid, &s) in many.iter().zip(&slices) {
                                assert_eq!(
                                    grid,
                                    &view.extract(&v, s),
                                    "{perm:?} {flips} {plane:?} {s}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
