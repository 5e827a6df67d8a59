//! The slices a segmentation case shows, rendered batch by batch: a batch's slices of one plane are gathered
//! in one sweep over the image ([`PlaneView::extract_image`], which sweeps a plane whose slices are strided
//! in memory once per block), then rendered in parallel on the build's pool, each once per window it is
//! shown in, results in the batch's order.

use rayon::prelude::*;

use crate::annotate::slices::slices_per_sweep;
use crate::annotate::{DisplayFrame, PlaneView};
use crate::manifest::{Plane, WindowGroup};
use crate::render::{self, RenderError, RenderedSlice, Rounding, Scaling};
use crate::volume::ImageVolume;

/// A rendered slice is shared by every row on it: (plane, slice, window group or none).
pub(super) type ShotKey = (Plane, usize, Option<WindowGroup>);

/// How a case's slices are shown.
pub(super) struct ShotStyle<'a> {
    pub frame: DisplayFrame,
    pub rounding: Rounding,
    pub max_side: Option<u32>,
    /// The scaling of a slice shown in a window group (or none).
    pub scaling: &'a (dyn Fn(Option<WindowGroup>) -> Scaling + Sync),
}

/// The display view of `plane` for `image`.
fn plane_view(image: &ImageVolume, plane: Plane, frame: DisplayFrame) -> PlaneView {
    PlaneView::new(plane, frame, image.shape(), image.geometry().spacing_mm)
}

/// Renders the slice of every key (sorted, so each plane's keys are adjacent), in order. Memory: the batch's
/// gathered slices (at most one sweep block, half the volume's bytes, see [`slices_per_sweep`]) and results.
pub(super) fn render_batch(
    image: &ImageVolume,
    keys: &[ShotKey],
    style: &ShotStyle,
    pool: &rayon::ThreadPool,
) -> Result<Vec<RenderedSlice>, RenderError> {
    let mut rendered = Vec::with_capacity(keys.len());
    for plane_keys in keys.chunk_by(|a, b| a.0 == b.0) {
        let view = plane_view(image, plane_keys[0].0, style.frame);
        let mut slices: Vec<usize> = plane_keys.iter().map(|k| k.1).collect();
        slices.dedup();
        for block in slices.chunks(slices_per_sweep(&view, image)) {
            let grids = view.extract_image(image, block);
            let jobs: Vec<(&_, Option<WindowGroup>)> = plane_keys
                .iter()
                .filter(|k| block.contains(&k.1))
                .map(|&(_, slice, group)| {
                    let at = block.iter().position(|&s| s == slice).unwrap_or(0);
                    (&grids[at], group)
                })
                .collect();
            let out: Vec<Result<RenderedSlice, RenderError>> = pool.install(|| {
                jobs.par_iter()
                    .map(|(grid, group)| {
                        render::render_image_slice(
                            grid,
                            (style.scaling)(*group),
                            style.rounding,
                            style.max_side,
                        )
                    })
                    .collect()
            });
            for slice in out {
                rendered.push(slice?);
            }
        }
    }
    Ok(rendered)
}
