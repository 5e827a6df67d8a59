//! The slices a segmentation case shows, rendered before its rows are made: grouped by plane so that a plane
//! whose slices are strided in memory is gathered in one sweep per block of slices
//! ([`PlaneView::extract_many`]), each slice extracted once and rendered once per window it is shown in.

use std::collections::BTreeMap;

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
    pub scaling: &'a dyn Fn(Option<WindowGroup>) -> Scaling,
}

/// The display view of `plane` for `image`.
pub(super) fn plane_view(image: &ImageVolume, plane: Plane, frame: DisplayFrame) -> PlaneView {
    PlaneView::new(plane, frame, image.shape(), image.geometry().spacing_mm)
}

/// Renders every key's slice of `image`. Memory: at most one block of gathered slices at a time (half the
/// volume's bytes, see [`slices_per_sweep`]) besides the rendered results.
pub(super) fn render_shots(
    image: &ImageVolume,
    keys: impl IntoIterator<Item = ShotKey>,
    style: &ShotStyle,
) -> Result<BTreeMap<ShotKey, RenderedSlice>, RenderError> {
    // plane → slice → window groups shown.
    let mut wanted: BTreeMap<Plane, BTreeMap<usize, Vec<Option<WindowGroup>>>> = BTreeMap::new();
    for (plane, slice, group) in keys {
        let groups = wanted.entry(plane).or_default().entry(slice).or_default();
        if !groups.contains(&group) {
            groups.push(group);
        }
    }
    let mut rendered = BTreeMap::new();
    for (plane, slices) in wanted {
        let view = plane_view(image, plane, style.frame);
        let indices: Vec<usize> = slices.keys().copied().collect();
        for block in indices.chunks(slices_per_sweep(&view, image)) {
            for (grid, &slice) in view.extract_image(image, block).iter().zip(block) {
                for &group in &slices[&slice] {
                    let out = render::render_image_slice(
                        grid,
                        (style.scaling)(group),
                        style.rounding,
                        style.max_side,
                    )?;
                    rendered.insert((plane, slice, group), out);
                }
            }
        }
    }
    Ok(rendered)
}

/// Renders one key's slice on its own (for a slice [`render_shots`] was not asked for).
pub(super) fn render_shot(
    image: &ImageVolume,
    (plane, slice, group): ShotKey,
    style: &ShotStyle,
) -> Result<RenderedSlice, RenderError> {
    let view = plane_view(image, plane, style.frame);
    let grid = view.extract_image(image, &[slice]).remove(0);
    render::render_image_slice(
        &grid,
        (style.scaling)(group),
        style.rounding,
        style.max_side,
    )
}
