//! The display frame: how a canonical RAS+ slice is laid out as the image a model sees (docs/measurements.md §3.2).
//!
//! Every coordinate written (boxes, landmarks, ellipse end points) goes through [`PlaneView`], so the
//! radiological convention (default profile) and the raw-array convention (MedVision profile) are decided in
//! this one file. A view maps each display axis to one canonical array axis, possibly reversed:
//!
//! | frame        | plane    | fixed | rows (`y`)        | columns (`x`)     |
//! |--------------|----------|-------|-------------------|-------------------|
//! | Radiological | axial    | k     | `y = nj-1-j`      | `x = ni-1-i`      |
//! | Radiological | coronal  | j     | `y = nk-1-k`      | `x = ni-1-i`      |
//! | Radiological | sagittal | i     | `y = nk-1-k`      | `x = nj-1-j`      |
//! | RawArray     | axial    | k     | `y = i`           | `x = j`           |
//! | RawArray     | coronal  | j     | `y = i`           | `x = k`           |
//! | RawArray     | sagittal | i     | `y = j`           | `x = k`           |
//!
//! (i → patient Right, j → Anterior, k → Superior.)

use ndarray::{ArrayBase, Axis, Data, Ix3};

use crate::geom::Grid2;
use crate::manifest::schema::Plane;

/// How slices are oriented on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisplayFrame {
    /// Radiological convention: patient right on the image's left, anterior (axial) or superior
    /// (coronal, sagittal) at the top, anterior on the left in sagittal slices.
    Radiological,
    /// The raw RAS+ array slice as is: rows = first remaining array axis, columns = second.
    RawArray,
}

/// One plane of one volume shape in one display frame: slice extraction and coordinate conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneView {
    plane: Plane,
    frame: DisplayFrame,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    /// Canonical axis shown along rows (`y`) and whether it runs high → low from the top.
    row_axis: usize,
    row_reversed: bool,
    /// Canonical axis shown along columns (`x`) and whether it runs high → low from the left.
    col_axis: usize,
    col_reversed: bool,
}

impl PlaneView {
    /// `shape` and `spacing_mm` are the canonical volume's, indexed by canonical axis (R, A, S).
    pub fn new(plane: Plane, frame: DisplayFrame, shape: [usize; 3], spacing_mm: [f64; 3]) -> Self {
        // (row axis, row reversed, column axis, column reversed)
        let (row_axis, row_reversed, col_axis, col_reversed) = match (frame, plane) {
            (DisplayFrame::Radiological, Plane::Axial) => (1, true, 0, true),
            (DisplayFrame::Radiological, Plane::Coronal) => (2, true, 0, true),
            (DisplayFrame::Radiological, Plane::Sagittal) => (2, true, 1, true),
            (DisplayFrame::RawArray, Plane::Axial) => (0, false, 1, false),
            (DisplayFrame::RawArray, Plane::Coronal) => (0, false, 2, false),
            (DisplayFrame::RawArray, Plane::Sagittal) => (1, false, 2, false),
        };
        PlaneView {
            plane,
            frame,
            shape,
            spacing_mm,
            row_axis,
            row_reversed,
            col_axis,
            col_reversed,
        }
    }

    /// Plane this view shows.
    pub fn plane(&self) -> Plane {
        self.plane
    }

    /// Display-frame convention this view follows.
    pub fn frame(&self) -> DisplayFrame {
        self.frame
    }

    /// Canonical volume shape this view was built for.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Canonical axis held fixed by the plane.
    pub fn fixed_axis(&self) -> usize {
        self.plane.fixed_axis()
    }

    /// Canonical axis shown along rows (`y`).
    pub fn row_axis(&self) -> usize {
        self.row_axis
    }

    /// Canonical axis shown along columns (`x`).
    pub fn col_axis(&self) -> usize {
        self.col_axis
    }

    /// Number of slices along the fixed axis.
    pub fn slice_count(&self) -> usize {
        self.shape[self.fixed_axis()]
    }

    /// Image width `W` (number of columns).
    pub fn width_px(&self) -> usize {
        self.shape[self.col_axis]
    }

    /// Image height `H` (number of rows).
    pub fn height_px(&self) -> usize {
        self.shape[self.row_axis]
    }

    /// Distance in mm between the centres of two vertically adjacent pixels.
    pub fn row_spacing_mm(&self) -> f64 {
        self.spacing_mm[self.row_axis]
    }

    /// Distance in mm between the centres of two horizontally adjacent pixels.
    pub fn col_spacing_mm(&self) -> f64 {
        self.spacing_mm[self.col_axis]
    }

    /// Display `x` of canonical index `v` along the column axis.
    #[inline]
    pub fn x_of(&self, v: usize) -> usize {
        if self.col_reversed {
            self.shape[self.col_axis] - 1 - v
        } else {
            v
        }
    }

    /// Display `y` of canonical index `v` along the row axis.
    #[inline]
    pub fn y_of(&self, v: usize) -> usize {
        if self.row_reversed {
            self.shape[self.row_axis] - 1 - v
        } else {
            v
        }
    }

    /// Inclusive display box `[x_min, y_min, x_max, y_max]` of an inclusive canonical box given by its lowest
    /// and highest voxel indices (entries on the fixed axis are ignored).
    pub fn display_bbox(&self, lo: [usize; 3], hi: [usize; 3]) -> [usize; 4] {
        let (xa, xb) = (self.x_of(lo[self.col_axis]), self.x_of(hi[self.col_axis]));
        let (ya, yb) = (self.y_of(lo[self.row_axis]), self.y_of(hi[self.row_axis]));
        [xa.min(xb), ya.min(yb), xa.max(xb), ya.max(yb)]
    }

    /// Canonical voxel `[i, j, k]` → `(slice, x, y)` in this view.
    pub fn voxel_to_display(&self, voxel: [usize; 3]) -> (usize, usize, usize) {
        (
            voxel[self.fixed_axis()],
            self.x_of(voxel[self.col_axis]),
            self.y_of(voxel[self.row_axis]),
        )
    }

    /// `(slice, x, y)` in this view → canonical voxel `[i, j, k]` (the inverse of
    /// [`PlaneView::voxel_to_display`]; reversal is its own inverse).
    pub fn display_to_voxel(&self, slice: usize, x: usize, y: usize) -> [usize; 3] {
        let mut voxel = [0; 3];
        voxel[self.fixed_axis()] = slice;
        voxel[self.col_axis] = self.x_of(x);
        voxel[self.row_axis] = self.y_of(y);
        voxel
    }

    /// The displayed image of `slice`: `grid.get(x, y)` is the voxel at `display_to_voxel(slice, x, y)`.
    ///
    /// `data` is any 3D array or view (`&Array3<T>`, `&ArrayView3<T>`) in canonical axis order with any
    /// memory layout. Its shape must be this view's shape and `slice < slice_count()`; otherwise this is a
    /// caller bug and the call panics like an out-of-bounds index.
    pub fn extract<S, T>(&self, data: &ArrayBase<S, Ix3>, slice: usize) -> Grid2<T>
    where
        S: Data<Elem = T>,
        T: Copy,
    {
        let mut grid = Grid2 {
            width_px: 0,
            height_px: 0,
            data: Vec::new(),
        };
        self.extract_into(data, slice, &mut grid);
        grid
    }

    /// [`PlaneView::extract`] into `grid`, reusing its allocation.
    pub fn extract_into<S, T>(&self, data: &ArrayBase<S, Ix3>, slice: usize, grid: &mut Grid2<T>)
    where
        S: Data<Elem = T>,
        T: Copy,
    {
        assert_eq!(
            data.shape(),
            &self.shape[..],
            "PlaneView::extract: array shape differs from the view's"
        );
        let mut view = data.index_axis(Axis(self.fixed_axis()), slice);
        // The remaining axes keep canonical order; put the row axis first.
        if self.row_axis > self.col_axis {
            view.swap_axes(0, 1);
        }
        if self.row_reversed {
            view.invert_axis(Axis(0));
        }
        if self.col_reversed {
            view.invert_axis(Axis(1));
        }
        grid.width_px = self.width_px();
        grid.height_px = self.height_px();
        grid.data.clear();
        grid.data.reserve(grid.width_px * grid.height_px);
        // Logical (row-major) order whatever the strides; a row contiguous in memory (forwards or backwards:
        // the usual axial and coronal rows) is copied as a slice rather than element by element.
        for row in view.outer_iter() {
            let mut backwards = row;
            backwards.invert_axis(Axis(0));
            match (row.as_slice(), backwards.as_slice()) {
                (Some(values), _) => grid.data.extend_from_slice(values),
                (None, Some(values)) => grid.data.extend(values.iter().rev().copied()),
                (None, None) => grid.data.extend(row.iter().copied()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array3};

    /// Voxel value encoding its own index, so an extracted pixel names the voxel it came from.
    fn coded(shape: [usize; 3]) -> Array3<u32> {
        Array3::from_shape_fn((shape[0], shape[1], shape[2]), |(i, j, k)| {
            (i * 10_000 + j * 100 + k) as u32
        })
    }

    fn code(v: [usize; 3]) -> u32 {
        (v[0] * 10_000 + v[1] * 100 + v[2]) as u32
    }

    const SHAPE: [usize; 3] = [5, 4, 3];
    const SPACING_MM: [f64; 3] = [0.7, 0.9, 2.5];

    #[test]
    fn radiological_corners_follow_the_convention() {
        let (ni, nj, nk) = (SHAPE[0], SHAPE[1], SHAPE[2]);
        let axial = PlaneView::new(Plane::Axial, DisplayFrame::Radiological, SHAPE, SPACING_MM);
        // Top-left pixel: patient right (i increases towards the Right, so high i) and anterior (high j).
        assert_eq!(axial.display_to_voxel(2, 0, 0), [ni - 1, nj - 1, 2]);
        assert_eq!(axial.voxel_to_display([0, 0, 1]), (1, ni - 1, nj - 1));
        assert_eq!((axial.width_px(), axial.height_px()), (ni, nj));
        assert_eq!((axial.col_spacing_mm(), axial.row_spacing_mm()), (0.7, 0.9));
        let coronal = PlaneView::new(
            Plane::Coronal,
            DisplayFrame::Radiological,
            SHAPE,
            SPACING_MM,
        );
        assert_eq!(coronal.display_to_voxel(1, 0, 0), [ni - 1, 1, nk - 1]);
        assert_eq!((coronal.width_px(), coronal.height_px()), (ni, nk));
        assert_eq!(
            (coronal.col_spacing_mm(), coronal.row_spacing_mm()),
            (0.7, 2.5)
        );
        assert_eq!(coronal.slice_count(), nj);
        let sagittal = PlaneView::new(
            Plane::Sagittal,
            DisplayFrame::Radiological,
            SHAPE,
            SPACING_MM,
        );
        // Anterior (high j) on the left, superior (high k) on top.
        assert_eq!(sagittal.display_to_voxel(3, 0, 0), [3, nj - 1, nk - 1]);
        assert_eq!(sagittal.display_to_voxel(3, nj - 1, nk - 1), [3, 0, 0]);
        assert_eq!((sagittal.width_px(), sagittal.height_px()), (nj, nk));
        assert_eq!(
            (sagittal.col_spacing_mm(), sagittal.row_spacing_mm()),
            (0.9, 2.5)
        );
        assert_eq!(sagittal.slice_count(), ni);
    }

    #[test]
    fn raw_array_is_the_slice_as_is() {
        let data = coded(SHAPE);
        let axial = PlaneView::new(Plane::Axial, DisplayFrame::RawArray, SHAPE, SPACING_MM);
        let g = axial.extract(&data, 2);
        assert_eq!((g.width_px, g.height_px), (4, 5));
        assert_eq!(g.get(3, 1), code([1, 3, 2]));
        assert_eq!((axial.row_spacing_mm(), axial.col_spacing_mm()), (0.7, 0.9));
        let coronal = PlaneView::new(Plane::Coronal, DisplayFrame::RawArray, SHAPE, SPACING_MM);
        let g = coronal.extract(&data, 1);
        assert_eq!((g.width_px, g.height_px), (3, 5));
        assert_eq!(g.get(2, 4), code([4, 1, 2]));
        let sagittal = PlaneView::new(Plane::Sagittal, DisplayFrame::RawArray, SHAPE, SPACING_MM);
        let g = sagittal.extract(&data.view(), 4);
        assert_eq!((g.width_px, g.height_px), (3, 4));
        assert_eq!(g.get(0, 3), code([4, 3, 0]));
        assert_eq!(
            (sagittal.row_spacing_mm(), sagittal.col_spacing_mm()),
            (0.9, 2.5)
        );
    }

    #[test]
    fn extract_agrees_with_coordinate_maps_for_every_pixel_and_layout() {
        let data = coded(SHAPE);
        // Same logical content, three memory layouts: C order, Fortran order, reversed strides on axis 1.
        let fortran = data
            .view()
            .reversed_axes()
            .as_standard_layout()
            .into_owned()
            .reversed_axes();
        let mut inverted = data
            .slice(s![.., ..;-1, ..])
            .as_standard_layout()
            .into_owned();
        inverted.invert_axis(Axis(1));
        assert_eq!(fortran, data);
        assert_eq!(inverted, data);
        assert!(!fortran.is_standard_layout());
        assert!(inverted.strides()[1] < 0);
        for frame in [DisplayFrame::Radiological, DisplayFrame::RawArray] {
            for plane in Plane::ALL {
                let view = PlaneView::new(plane, frame, SHAPE, SPACING_MM);
                let mut reused = Grid2::filled(1, 1, 0u32);
                for slice in 0..view.slice_count() {
                    let g = view.extract(&data, slice);
                    for y in 0..view.height_px() {
                        for x in 0..view.width_px() {
                            let voxel = view.display_to_voxel(slice, x, y);
                            assert_eq!(g.get(x, y), code(voxel));
                            assert_eq!(view.voxel_to_display(voxel), (slice, x, y));
                        }
                    }
                    assert_eq!(view.extract(&fortran, slice), g);
                    view.extract_into(&inverted.view(), slice, &mut reused);
                    assert_eq!(reused, g);
                }
            }
        }
    }

    #[test]
    fn display_bbox_orders_reversed_axes() {
        let v = PlaneView::new(
            Plane::Coronal,
            DisplayFrame::Radiological,
            SHAPE,
            SPACING_MM,
        );
        // i in 1..=3 → x in 1..=3 (ni = 5); k in 0..=1 → y in 1..=2 (nk = 3).
        assert_eq!(v.display_bbox([1, 0, 0], [3, 0, 1]), [1, 1, 3, 2]);
        let raw = PlaneView::new(Plane::Coronal, DisplayFrame::RawArray, SHAPE, SPACING_MM);
        assert_eq!(raw.display_bbox([1, 0, 0], [3, 0, 1]), [0, 1, 1, 3]);
    }
}
