//! The slices a segmentation case shows, rendered batch by batch. A plane whose slices are strided in memory
//! is gathered in one sweep per block of its needed slices ([`slices_per_sweep`], at most half the volume's
//! bytes; with the build's pool, one share of the block per thread), and the block is kept while the batches
//! that show its slices are rendered; other planes' slices are taken one by one. A batch is rendered in
//! parallel on the build's pool (when the case has it), each slice once per window it is shown in, results in
//! the batch's order, while the case makes the rows of the batch before (`mask.rs`).

use std::collections::BTreeMap;

use super::CaseContext;
use crate::annotate::slices::slices_per_sweep;
use crate::annotate::{DisplayFrame, PlaneView};
use crate::geom::IntensityGrid;
use crate::manifest::{Plane, WindowGroup};
use crate::render::{self, RenderError, RenderedSlice, Rounding, Scaling};
use crate::volume::ImageVolume;

/// A rendered slice is shared by every row on it: (plane, slice, window group or none).
pub(super) type ShotKey = (Plane, usize, Option<WindowGroup>);

/// How a case's slices are shown.
pub(super) struct ShotStyle<'a> {
    pub rounding: Rounding,
    pub max_side: Option<u32>,
    /// The scaling of a slice shown in a window group (or none).
    pub scaling: &'a (dyn Fn(Option<WindowGroup>) -> Scaling + Sync),
}

/// The gathered slices of a case's image, block by block.
pub(super) struct Slices<'a> {
    image: &'a ImageVolume,
    frame: DisplayFrame,
    /// Each plane's needed slice indices, ascending.
    needed: BTreeMap<Plane, Vec<usize>>,
    /// Gathered slices by (plane, slice): the blocks the current batch touches.
    gathered: BTreeMap<(Plane, usize), IntensityGrid>,
}

impl<'a> Slices<'a> {
    /// The slices of `image` that `keys` (every shot of the case) show.
    pub(super) fn new(
        image: &'a ImageVolume,
        frame: DisplayFrame,
        keys: impl IntoIterator<Item = ShotKey>,
    ) -> Slices<'a> {
        let mut needed: BTreeMap<Plane, Vec<usize>> = BTreeMap::new();
        for (plane, slice, _) in keys {
            needed.entry(plane).or_default().push(slice);
        }
        for slices in needed.values_mut() {
            slices.sort_unstable();
            slices.dedup();
        }
        Slices {
            image,
            frame,
            needed,
            gathered: BTreeMap::new(),
        }
    }

    /// `(width, height)` in pixels of a slice of `plane`, before any resizing.
    pub(super) fn size(&self, plane: Plane) -> (usize, usize) {
        let view = self.view(plane);
        (view.width_px(), view.height_px())
    }

    fn view(&self, plane: Plane) -> PlaneView {
        let image = self.image;
        PlaneView::new(
            plane,
            self.frame,
            image.shape(),
            image.geometry().spacing_mm,
        )
    }

    /// Gathers every slice `keys` (ascending) shows, letting go of the slices before the first of them.
    fn gather(&mut self, keys: &[ShotKey], ctx: &CaseContext) {
        let Some(&(first_plane, first_slice, _)) = keys.first() else {
            return;
        };
        self.gathered
            .retain(|&k, _| k >= (first_plane, first_slice));
        for &(plane, slice, _) in keys {
            if self.gathered.contains_key(&(plane, slice)) {
                continue;
            }
            let view = self.view(plane);
            let list = self.needed.get(&plane).map_or(&[][..], Vec::as_slice);
            let per_sweep = slices_per_sweep(&view, self.image);
            let block = match list.binary_search(&slice) {
                Ok(at) => {
                    let start = at - at % per_sweep;
                    &list[start..(start + per_sweep).min(list.len())]
                }
                Err(_) => std::slice::from_ref(&slice),
            };
            // With the pool, each thread sweeps the volume for its share of the block (the sweep is bound by
            // memory, not by arithmetic, so the shares read the volume side by side).
            let shares: Vec<&[usize]> = block.chunks(block.len().div_ceil(ctx.threads())).collect();
            let image = self.image;
            let grids = ctx.map_ordered(&shares, |share| view.extract_image(image, share));
            for (grid, &s) in grids.into_iter().flatten().zip(block) {
                self.gathered.insert((plane, s), grid);
            }
        }
    }

    /// Renders the slice of every key (ascending), in order (in parallel when the case has the pool).
    pub(super) fn render_batch(
        &mut self,
        keys: &[ShotKey],
        style: &ShotStyle,
        ctx: &CaseContext,
    ) -> Result<Vec<RenderedSlice>, RenderError> {
        self.gather(keys, ctx);
        let gathered = &self.gathered;
        let jobs: Vec<(&IntensityGrid, Option<WindowGroup>)> = keys
            .iter()
            .filter_map(|&(plane, slice, group)| gathered.get(&(plane, slice)).map(|g| (g, group)))
            .collect();
        ctx.map_ordered(&jobs, |(grid, group)| {
            render::render_image_slice(
                grid,
                (style.scaling)(*group),
                style.rounding,
                style.max_side,
            )
        })
        .into_iter()
        .collect()
    }
}
