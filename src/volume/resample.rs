//! Resampling an image onto another voxel grid through an ITK transform (FeTA: a T2w volume onto its
//! measurement map's grid): trilinear samples at single output voxels or over a whole 2D slice.

use std::path::Path;

use super::landmarks::{apply, format_err, invert, LandmarkError};
use super::Volume;
use crate::geom::affine::Affine;
use crate::geom::Grid2;

/// Samples an image at output-grid voxels through an ITK transform (ITK resampling semantics: the transform
/// maps an output point to the input point), trilinearly; points outside the image give 0.
pub struct Resampler<'a> {
    image: &'a Volume<f32>,
    /// Output canonical voxel → input canonical voxel.
    out_to_in: Affine,
}

impl<'a> Resampler<'a> {
    /// `out_affine`: output canonical voxel → RAS mm; `transform_lps`: ITK transform of LPS points.
    pub fn new(
        image: &'a Volume<f32>,
        out_affine: &Affine,
        transform_lps: &Affine,
        path: &Path,
    ) -> Result<Self, LandmarkError> {
        let flip: Affine = [
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, -1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let in_inverse = invert(&image.geometry.affine)
            .ok_or_else(|| format_err(path, "the image affine is singular"))?;
        // input voxel = inv(A_in) · flip · T · flip · A_out · output voxel  (flip: RAS ↔ LPS).
        let chain = [in_inverse, flip, *transform_lps, flip, *out_affine];
        let out_to_in = chain.iter().skip(1).fold(chain[0], |acc, m| mul4(&acc, m));
        Ok(Resampler { image, out_to_in })
    }

    /// Trilinear value at output canonical voxel `voxel`.
    pub fn sample(&self, voxel: [usize; 3]) -> f32 {
        let p = apply(&self.out_to_in, voxel.map(|v| v as f64));
        trilinear(self.image, p)
    }

    /// A `width_px` x `height_px` grid whose pixel `(x, y)` is `sample(voxel_of(x, y))`: a resampled 2D
    /// slice when `voxel_of` maps display pixels to the output voxels of one slice. Rows are filled top to
    /// bottom, each left to right.
    pub fn sample_grid(
        &self,
        width_px: usize,
        height_px: usize,
        voxel_of: impl Fn(usize, usize) -> [usize; 3],
    ) -> Grid2<f32> {
        let mut grid = Grid2::filled(width_px, height_px, 0.0f32);
        for y in 0..height_px {
            for x in 0..width_px {
                grid.set(x, y, self.sample(voxel_of(x, y)));
            }
        }
        grid
    }
}

fn mul4(a: &Affine, b: &Affine) -> Affine {
    let mut out = [[0.0; 4]; 4];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    out
}

/// Trilinear interpolation at a continuous canonical index; 0 outside `[0, n - 1]` on any axis (a tolerance
/// of 1e-6 voxel absorbs round-off at the borders).
fn trilinear(image: &Volume<f32>, p: [f64; 3]) -> f32 {
    const EPS: f64 = 1e-6;
    let shape = image.data.shape();
    let mut lo = [0usize; 3];
    let mut frac = [0.0f64; 3];
    for a in 0..3 {
        let n = shape[a];
        let max = (n - 1) as f64;
        if !p[a].is_finite() || p[a] < -EPS || p[a] > max + EPS {
            return 0.0;
        }
        let q = p[a].clamp(0.0, max);
        let f = q.floor();
        lo[a] = (f as usize).min(n.saturating_sub(2));
        frac[a] = q - lo[a] as f64;
        if n == 1 {
            lo[a] = 0;
            frac[a] = 0.0;
        }
    }
    let mut acc = 0.0f64;
    for corner in 0..8usize {
        let mut w = 1.0;
        let mut idx = [0usize; 3];
        for a in 0..3 {
            let hi = (corner >> a) & 1 == 1;
            w *= if hi { frac[a] } else { 1.0 - frac[a] };
            idx[a] = lo[a] + usize::from(hi && shape[a] > 1);
        }
        if w != 0.0 {
            acc += w * f64::from(image.data[idx]);
        }
    }
    acc as f32
}

#[cfg(test)]
mod tests {
    use ndarray::Array3;

    use super::*;
    use crate::geom::affine;
    use crate::volume::Geometry;

    /// value = 10 i + 100 j + 1000 k on a 0.5 mm RAS grid (linear, so trilinear is exact).
    fn ramp() -> Volume<f32> {
        Volume {
            data: Array3::from_shape_fn((6, 5, 4), |(i, j, k)| {
                (10 * i + 100 * j + 1000 * k) as f32
            }),
            geometry: Geometry {
                spacing_mm: [0.5; 3],
                affine: [
                    [0.5, 0.0, 0.0, 0.0],
                    [0.0, 0.5, 0.0, 0.0],
                    [0.0, 0.0, 0.5, 0.0],
                    [0.0, 0.0, 0.0, 1.0],
                ],
                source_axes: "RAS".into(),
            },
        }
    }

    #[test]
    fn resampling_follows_itk_semantics_and_interpolates_trilinearly() {
        let image = ramp();
        // Transform of LPS points: +0.25 mm along L, i.e. -0.25 mm along R = half a voxel towards lower i.
        let mut t = affine::identity();
        t[0][3] = 0.25;
        let r = Resampler::new(&image, &image.geometry.affine, &t, Path::new("img"))
            .expect("resampler");
        assert_eq!(r.sample([2, 1, 3]), 10.0 * 1.5 + 100.0 + 3000.0);
        // Outside the image (i = -0.5) → 0.
        assert_eq!(r.sample([0, 0, 0]), 0.0);
        // Identity transform on the same grid is the image itself.
        let id = Resampler::new(
            &image,
            &image.geometry.affine,
            &affine::identity(),
            Path::new("img"),
        )
        .expect("id");
        assert_eq!(id.sample([5, 4, 3]), image.data[[5, 4, 3]]);
    }

    #[test]
    fn sample_grid_matches_single_samples_pixel_by_pixel() {
        let image = ramp();
        let mut t = affine::identity();
        t[0][3] = 0.25;
        t[2][3] = -0.1;
        let r = Resampler::new(&image, &image.geometry.affine, &t, Path::new("img"))
            .expect("resampler");
        // A coronal-like slice j = 2, displayed with k flipped (row 0 = top = highest k).
        let voxel_of = |x: usize, y: usize| [x, 2, 3 - y];
        let grid = r.sample_grid(6, 4, voxel_of);
        assert_eq!((grid.width_px, grid.height_px), (6, 4));
        for y in 0..4 {
            for x in 0..6 {
                assert_eq!(grid.get(x, y), r.sample(voxel_of(x, y)), "pixel ({x}, {y})");
            }
        }
        // Spot values: x = 0 falls outside (i = -0.5); x = 3, y = 0 is i = 2.5, j = 2, k = 3 - 0.2.
        assert_eq!(grid.get(0, 1), 0.0);
        let expected = 10.0 * 2.5 + 100.0 * 2.0 + 1000.0 * 2.8;
        assert!(
            (grid.get(3, 0) - expected).abs() < 1e-3,
            "{}",
            grid.get(3, 0)
        );
        // Interior pixels are not all the same value (the grid is not a constant fill).
        assert_ne!(grid.get(3, 1), grid.get(4, 1));
    }
}
