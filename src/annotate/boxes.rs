//! Bounding boxes and mask sizes of every label in every slice of every plane, from one sweep over a mask
//! (docs/measurements.md §4–§6).
//!
//! [`mask_stats`] walks the mask once in memory order, whatever its strides, and accumulates for each
//! (plane, slice, label) the pixel count and the canonical bounding box. Only slices that hold a label are
//! then labelled for connected components, and only inside the union box of their labels (read along
//! whichever in-plane axis is closer in memory), so empty space costs one read per voxel. On a 512x512x200
//! mask with four organ-sized labels all three planes take about 65-80 ms single-threaded (release build;
//! `mask_stats_speed_512x512x200` in boxes_tests.rs prints it). [`box_facts`] and [`mask_size_facts`] turn
//! those statistics into filtered facts in the display frame, counting what each filter removed.

use std::ops::{Add, AddAssign};

use ndarray::{s, ArrayView2, ArrayView3, Axis};

use crate::annotate::frame::{DisplayFrame, PlaneView};
use crate::geom::components::{Adjacency, Components, LabelScratch};
use crate::geom::Grid2;
use crate::manifest::schema::{Connectivity, Filters, Plane};
use crate::volume::Volume;

impl From<Connectivity> for Adjacency {
    fn from(connectivity: Connectivity) -> Self {
        match connectivity {
            Connectivity::Four => Adjacency::Four,
            Connectivity::Eight => Adjacency::Eight,
        }
    }
}

/// Why a mask could not be summarised.
#[derive(Debug, thiserror::Error)]
pub enum AnnotateError {
    #[error("mask of shape {shape:?} has an axis longer than 2^32 - 1 voxels; pixel coordinates are 32-bit")]
    /// The mask is too large for 32-bit pixel coordinates.
    VolumeTooLarge {
        /// Mask shape in voxels, stored axis order.
        shape: [usize; 3],
    },
}

/// One label in one slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelStats {
    /// Mask label value.
    pub label: u16,
    /// Connected components of the label in this slice (4- or 8-connectivity as requested).
    pub component_count: u32,
    /// Number of the label's pixels in the slice.
    pub pixel_count: u64,
    /// Inclusive display-frame box `[x_min, y_min, x_max, y_max]` of all the label's pixels in the slice.
    pub bbox_px: [u32; 4],
}

impl LabelStats {
    /// Width of `bbox_px` in pixels (inclusive bounds).
    pub fn width_px(&self) -> u32 {
        self.bbox_px[2] - self.bbox_px[0] + 1
    }

    /// Height of `bbox_px` in pixels (inclusive bounds).
    pub fn height_px(&self) -> u32 {
        self.bbox_px[3] - self.bbox_px[1] + 1
    }
}

/// One connected piece (component) of a label in one slice (docs/measurements.md §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceStats {
    /// Mask label value.
    pub label: u16,
    /// Number of pixels in the piece.
    pub pixel_count: u64,
    /// Inclusive display-frame box `[x_min, y_min, x_max, y_max]` of the piece.
    pub bbox_px: [u32; 4],
}

/// The labels present in one slice, ascending by label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceStats {
    /// Index of the slice along the plane's normal axis.
    pub slice_index: usize,
    /// Per-label statistics, ascending by label.
    pub labels: Vec<LabelStats>,
    /// The pieces of every label that forms more than one component here: ascending by label, and within a
    /// label in display order (`x_min`, then `y_min`, `x_max`, `y_max`; two pieces of one label never share
    /// a box, so the order is total). A label with one component has no entry: its piece is the label.
    pub pieces: Vec<PieceStats>,
}

impl SliceStats {
    /// Statistics of `label` in this slice, or `None` when the slice does not hold it.
    pub fn label(&self, label: u16) -> Option<&LabelStats> {
        self.labels
            .binary_search_by_key(&label, |l| l.label)
            .ok()
            .map(|i| &self.labels[i])
    }

    /// The connected pieces of `stats` (a label of this slice) in display order: left to right by `x_min`,
    /// then top to bottom by `y_min` (then `x_max`, `y_max`). One piece, the label itself, when it forms a
    /// single component.
    pub fn pieces(&self, stats: &LabelStats) -> Vec<PieceStats> {
        if stats.component_count <= 1 {
            return vec![PieceStats {
                label: stats.label,
                pixel_count: stats.pixel_count,
                bbox_px: stats.bbox_px,
            }];
        }
        self.pieces
            .iter()
            .filter(|p| p.label == stats.label)
            .copied()
            .collect()
    }
}

/// One plane: its view and its non-empty slices, ascending by slice index.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneStats {
    /// How the plane's slices are shown (axes, flips, spacings).
    pub view: PlaneView,
    /// Slices that hold at least one label.
    pub slices: Vec<SliceStats>,
}

impl PlaneStats {
    /// Statistics of `slice_index`, or `None` when that slice holds no label.
    pub fn slice(&self, slice_index: usize) -> Option<&SliceStats> {
        self.slices
            .binary_search_by_key(&slice_index, |s| s.slice_index)
            .ok()
            .map(|i| &self.slices[i])
    }
}

/// Per-plane, per-slice, per-label statistics of one mask, planes in the order requested.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskStats {
    /// Display-frame convention the statistics were computed in.
    pub frame: DisplayFrame,
    /// Pixel connectivity used to count components.
    pub connectivity: Connectivity,
    /// One entry per requested plane, in request order.
    pub planes: Vec<PlaneStats>,
}

impl MaskStats {
    /// The first entry for `plane`, if it was requested.
    pub fn plane(&self, plane: Plane) -> Option<&PlaneStats> {
        self.planes.iter().find(|p| p.view.plane() == plane)
    }
}

/// Running count and canonical inclusive box of one label in one slice.
#[derive(Debug, Clone, Copy)]
struct Acc {
    count: u64,
    lo: [u32; 3],
    hi: [u32; 3],
}

impl Acc {
    const EMPTY: Acc = Acc {
        count: 0,
        lo: [u32::MAX; 3],
        hi: [0; 3],
    };

    #[inline]
    fn add(&mut self, n: u64, lo: [u32; 3], hi: [u32; 3]) {
        self.count += n;
        for a in 0..3 {
            self.lo[a] = self.lo[a].min(lo[a]);
            self.hi[a] = self.hi[a].max(hi[a]);
        }
    }
}

/// Accumulators of one label: `[fixed axis][slice]` (empty for axes no requested plane fixes).
type LabelAccs = [Vec<Acc>; 3];

/// Summarises `mask` for each of `planes` in `frame`: for every slice and every label present, its
/// component count, pixel count and display-frame box. Label 0 is background.
pub fn mask_stats(
    mask: &Volume<u16>,
    frame: DisplayFrame,
    planes: &[Plane],
    connectivity: Connectivity,
) -> Result<MaskStats, AnnotateError> {
    let dim = mask.data.dim();
    let shape = [dim.0, dim.1, dim.2];
    if shape.iter().any(|&n| u32::try_from(n).is_err()) {
        return Err(AnnotateError::VolumeTooLarge { shape });
    }
    let mut wanted = [false; 3];
    for p in planes {
        wanted[p.fixed_axis()] = true;
    }
    let (labels, accs) = sweep(mask, shape, wanted);
    let mut summariser = SliceSummariser::new(&labels, &accs, Adjacency::from(connectivity));
    let out = planes
        .iter()
        .map(|&plane| {
            let view = PlaneView::new(plane, frame, shape, mask.geometry.spacing_mm);
            summariser.plane(mask, view)
        })
        .collect();
    Ok(MaskStats {
        frame,
        connectivity,
        planes: out,
    })
}

/// Turns the per-slice accumulators of [`sweep`] into [`SliceStats`], counting components only in slices
/// that hold a label; keeps the labelling buffers across slices and planes.
struct SliceSummariser<'a> {
    labels: &'a [u16],
    accs: &'a [LabelAccs],
    adjacency: Adjacency,
    /// Label indices in ascending label order.
    by_label: Vec<usize>,
    /// Label index of each label value (`usize::MAX` for labels not met).
    index_of_label: Vec<usize>,
    /// Components of each label index in the current slice.
    components_of: Vec<u32>,
    /// Every component of the current slice, display frame, in labelling order.
    found: Vec<PieceStats>,
    scratch: LabelScratch,
    region: Grid2<u16>,
}

impl<'a> SliceSummariser<'a> {
    fn new(labels: &'a [u16], accs: &'a [LabelAccs], adjacency: Adjacency) -> Self {
        let mut by_label: Vec<usize> = (0..labels.len()).collect();
        by_label.sort_by_key(|&li| labels[li]);
        let mut index_of_label = vec![usize::MAX; 1 << 16];
        for (li, &label) in labels.iter().enumerate() {
            index_of_label[label as usize] = li;
        }
        SliceSummariser {
            labels,
            accs,
            adjacency,
            by_label,
            index_of_label,
            components_of: vec![0u32; labels.len()],
            found: Vec::new(),
            scratch: LabelScratch::default(),
            region: Grid2 {
                width_px: 0,
                height_px: 0,
                data: Vec::new(),
            },
        }
    }

    /// The non-empty slices of `view`'s plane, ascending by slice index.
    fn plane(&mut self, mask: &Volume<u16>, view: PlaneView) -> PlaneStats {
        let fixed = view.plane().fixed_axis();
        let mut slices = Vec::new();
        for (s, slab) in mask.data.axis_iter(Axis(fixed)).enumerate() {
            if let Some(slice) = self.slice(slab, fixed, s, &view) {
                slices.push(slice);
            }
        }
        PlaneStats { view, slices }
    }

    /// Statistics of slice `s` (`slab`) across `fixed`, or `None` when it holds no label.
    fn slice(
        &mut self,
        slab: ArrayView2<u16>,
        fixed: usize,
        s: usize,
        view: &PlaneView,
    ) -> Option<SliceStats> {
        let accs = self.accs;
        // (label index, accumulator) of the labels present, ascending by label.
        let present: Vec<(usize, &Acc)> = self
            .by_label
            .iter()
            .map(|&li| (li, &accs[li][fixed][s]))
            .filter(|(_, acc)| acc.count > 0)
            .collect();
        if present.is_empty() {
            return None;
        }
        // Remaining canonical axes, ascending: they are the row/column axes of `index_axis`.
        let (a, b) = match fixed {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        };
        let mut lo = [u32::MAX; 3];
        let mut hi = [0u32; 3];
        for (_, acc) in &present {
            for ax in [a, b] {
                lo[ax] = lo[ax].min(acc.lo[ax]);
                hi[ax] = hi[ax].max(acc.hi[ax]);
            }
        }
        let (a0, a1, b0, b1) = (
            lo[a] as usize,
            hi[a] as usize,
            lo[b] as usize,
            hi[b] as usize,
        );
        let origin = Origin {
            fixed,
            slice: s,
            a: (a, a0),
            b: (b, b0),
        };
        self.count_components(slab.slice(s![a0..=a1, b0..=b1]), &origin, view);
        let mut label_stats = Vec::with_capacity(present.len());
        let mut pieces = Vec::new();
        for &(li, acc) in &present {
            if self.components_of[li] > 1 {
                let label = self.labels[li];
                let start = pieces.len();
                pieces.extend(self.found.iter().filter(|p| p.label == label).copied());
                pieces[start..].sort_unstable_by_key(|p| p.bbox_px);
            }
            let to_usize = |v: [u32; 3]| [v[0] as usize, v[1] as usize, v[2] as usize];
            let bbox = view.display_bbox(to_usize(acc.lo), to_usize(acc.hi));
            label_stats.push(LabelStats {
                label: self.labels[li],
                component_count: self.components_of[li],
                pixel_count: acc.count,
                // Fits: every axis is shorter than 2^32 (checked above).
                bbox_px: bbox.map(|v| v as u32),
            });
            self.components_of[li] = 0;
        }
        Some(SliceStats {
            slice_index: s,
            labels: label_stats,
            pieces,
        })
    }

    /// Adds the components of each label in `sub` (the union box of a slice's labels, placed by `origin`) to
    /// `components_of`, and lists each one's pixel count and display-frame box in `found`.
    fn count_components(&mut self, mut sub: ArrayView2<u16>, origin: &Origin, view: &PlaneView) {
        // Components do not change under transposition: read along the axis closer in memory.
        let swapped = sub.strides()[0].unsigned_abs() < sub.strides()[1].unsigned_abs();
        if swapped {
            sub.swap_axes(0, 1);
        }
        let region = &mut self.region;
        region.width_px = sub.ncols();
        region.height_px = sub.nrows();
        region.data.clear();
        for row in sub.outer_iter() {
            region.data.extend(row.iter().copied());
        }
        let components = Components::label_with(region, 0u16, self.adjacency, &mut self.scratch);
        self.found.clear();
        // Region rows run along canonical axis `a` (or `b` when swapped), columns along the other.
        let ((row_axis, row0), (col_axis, col0)) = if swapped {
            (origin.b, origin.a)
        } else {
            (origin.a, origin.b)
        };
        for st in components.stats() {
            self.components_of[self.index_of_label[st.value as usize]] += 1;
            let [x0, y0, x1, y1] = st.bbox_px;
            let mut lo = [0usize; 3];
            lo[origin.fixed] = origin.slice;
            let mut hi = lo;
            (lo[row_axis], hi[row_axis]) = (row0 + y0, row0 + y1);
            (lo[col_axis], hi[col_axis]) = (col0 + x0, col0 + x1);
            self.found.push(PieceStats {
                label: st.value,
                pixel_count: st.pixel_count,
                // Fits: every axis is shorter than 2^32 (checked in `mask_stats`).
                bbox_px: view.display_bbox(lo, hi).map(|v| v as u32),
            });
        }
    }
}

/// Where a slice's labelled region sits in the canonical volume: the fixed axis and slice, and for each of
/// the two in-plane axes (ascending) the axis and the region's first index along it.
struct Origin {
    fixed: usize,
    slice: usize,
    a: (usize, usize),
    b: (usize, usize),
}

/// One pass over the mask in memory order: the labels met (in order of first appearance) and, per label,
/// per fixed axis in `wanted`, per slice, the count and canonical box of its voxels.
fn sweep(mask: &Volume<u16>, shape: [usize; 3], wanted: [bool; 3]) -> (Vec<u16>, Vec<LabelAccs>) {
    let (view, reversed, order) = memory_order_view(mask);
    let [o_ax, m_ax, c_ax] = order;
    let canonical = |ax: usize, t: usize| -> usize {
        if reversed[ax] {
            shape[ax] - 1 - t
        } else {
            t
        }
    };
    let nc = shape[c_ax];

    let mut accumulator = RunAccumulator::new(shape, wanted, order);
    let mut lane_copy: Vec<u16> = Vec::new();
    for (o, slab) in view.outer_iter().enumerate() {
        let co = canonical(o_ax, o) as u32;
        for (m, lane) in slab.outer_iter().enumerate() {
            let cm = canonical(m_ax, m) as u32;
            let values: &[u16] = match lane.as_slice() {
                Some(values) => values,
                None => {
                    lane_copy.clear();
                    lane_copy.extend(lane.iter().copied());
                    &lane_copy
                }
            };
            for_each_run(values, |value, t0, t| {
                let (c0, c1) = if reversed[c_ax] {
                    (nc - t, nc - 1 - t0)
                } else {
                    (t0, t - 1)
                };
                let mut lo = [0u32; 3];
                lo[o_ax] = co;
                lo[m_ax] = cm;
                lo[c_ax] = c0 as u32;
                let mut hi = lo;
                hi[c_ax] = c1 as u32;
                accumulator.add_run(value, lo, hi);
            });
        }
    }
    (accumulator.labels, accumulator.accs)
}

/// The mask's view with every axis stepping forward in memory, permuted outermost (largest stride) first so
/// the innermost lane is the most contiguous one; which canonical axes were reversed; and the permutation
/// (`order[k]` is the canonical axis of view axis `k`).
fn memory_order_view(mask: &Volume<u16>) -> (ArrayView3<'_, u16>, [bool; 3], [usize; 3]) {
    let mut view = mask.data.view();
    let mut reversed = [false; 3];
    for (ax, rev) in reversed.iter_mut().enumerate() {
        if view.strides()[ax] < 0 {
            view.invert_axis(Axis(ax));
            *rev = true;
        }
    }
    let strides = [view.strides()[0], view.strides()[1], view.strides()[2]];
    let mut order = [0usize, 1, 2];
    order.sort_by_key(|&ax| std::cmp::Reverse(strides[ax]));
    (view.permuted_axes(order), reversed, order)
}

/// Calls `f(value, start, end)` for every maximal run `values[start..end]` of one non-zero value, in order.
#[inline]
fn for_each_run(values: &[u16], mut f: impl FnMut(u16, usize, usize)) {
    let n = values.len();
    let mut t = 0;
    while t < n {
        t = next_nonzero(values, t);
        if t == n {
            break;
        }
        let value = values[t];
        let t0 = t;
        while t < n && values[t] == value {
            t += 1;
        }
        f(value, t0, t);
    }
}

/// The accumulators [`sweep`] fills: labels in order of first appearance and their [`LabelAccs`].
struct RunAccumulator {
    shape: [usize; 3],
    wanted: [bool; 3],
    /// Canonical axes `[outer, middle, contiguous]` of the sweep.
    order: [usize; 3],
    labels: Vec<u16>,
    accs: Vec<LabelAccs>,
    index_of_label: Vec<u32>,
}

impl RunAccumulator {
    fn new(shape: [usize; 3], wanted: [bool; 3], order: [usize; 3]) -> Self {
        RunAccumulator {
            shape,
            wanted,
            order,
            labels: Vec::new(),
            accs: Vec::new(),
            index_of_label: vec![u32::MAX; 1 << 16],
        }
    }

    /// Adds a run of `value` spanning canonical `lo..=hi` (which differ only along the contiguous axis) to
    /// the slices it lies in.
    #[inline]
    fn add_run(&mut self, value: u16, lo: [u32; 3], hi: [u32; 3]) {
        let [o_ax, m_ax, c_ax] = self.order;
        let wanted = self.wanted;
        let li = self.label_index(value);
        let acc = &mut self.accs[li];
        let (c0, c1) = (lo[c_ax] as usize, hi[c_ax] as usize);
        let run_px = (c1 - c0 + 1) as u64;
        if wanted[o_ax] {
            acc[o_ax][lo[o_ax] as usize].add(run_px, lo, hi);
        }
        if wanted[m_ax] {
            acc[m_ax][lo[m_ax] as usize].add(run_px, lo, hi);
        }
        if wanted[c_ax] {
            for (c, slice_acc) in (c0..).zip(&mut acc[c_ax][c0..=c1]) {
                let mut p = lo;
                p[c_ax] = c as u32;
                slice_acc.add(1, p, p);
            }
        }
    }

    /// Index of `value` in `labels`, registering it (with empty accumulators) on first sight.
    #[inline]
    fn label_index(&mut self, value: u16) -> usize {
        let mut li = self.index_of_label[value as usize] as usize;
        if li == u32::MAX as usize {
            li = self.labels.len();
            self.index_of_label[value as usize] = li as u32;
            self.labels.push(value);
            let (shape, wanted) = (self.shape, self.wanted);
            self.accs.push(std::array::from_fn(|ax| {
                if wanted[ax] {
                    vec![Acc::EMPTY; shape[ax]]
                } else {
                    Vec::new()
                }
            }));
        }
        li
    }
}

/// Index of the first non-zero value at or after `from` (`values.len()` if none), skipping zeros 32 at a time.
#[inline]
fn next_nonzero(values: &[u16], from: usize) -> usize {
    let mut t = from;
    for chunk in values[from..].chunks_exact(32) {
        if chunk.iter().fold(0, |acc, &v| acc | v) != 0 {
            break;
        }
        t += 32;
    }
    while t < values.len() && values[t] == 0 {
        t += 1;
    }
    t
}

/// How many (plane, slice, label) candidates there were and what each filter removed; summed across cases
/// for the build report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterCounts {
    /// Candidates: (plane, slice, label) with the label present in the slice.
    pub considered: u64,
    /// Removed by `single_instance` (more than one component).
    pub multi_instance: u64,
    /// Removed by `min_side_px` (box facts).
    pub too_small_side: u64,
    /// Removed by `min_pixels` (mask-size facts).
    pub too_few_pixels: u64,
}

impl FilterCounts {
    /// Candidates that passed every filter.
    pub fn kept(&self) -> u64 {
        self.considered
            .saturating_sub(self.multi_instance)
            .saturating_sub(self.too_small_side)
            .saturating_sub(self.too_few_pixels)
    }
}

impl Add for FilterCounts {
    type Output = FilterCounts;

    fn add(self, other: FilterCounts) -> FilterCounts {
        FilterCounts {
            considered: self.considered + other.considered,
            multi_instance: self.multi_instance + other.multi_instance,
            too_small_side: self.too_small_side + other.too_small_side,
            too_few_pixels: self.too_few_pixels + other.too_few_pixels,
        }
    }
}

impl AddAssign for FilterCounts {
    fn add_assign(&mut self, other: FilterCounts) {
        *self = *self + other;
    }
}

/// A bounding-box fact: one label in one slice, in the display frame.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxFact {
    /// Plane the slice lies in.
    pub plane: Plane,
    /// Index of the slice along the plane's normal axis.
    pub slice_index: usize,
    /// Mask label value.
    pub label: u16,
    /// 1-based position of the piece among the label's pieces in the slice, in display order (§4.1).
    pub piece_index: u32,
    /// Connected pieces of the label in the slice (1 with `single_instance` on).
    pub piece_count: u32,
    /// Inclusive `[x_min, y_min, x_max, y_max]` of the piece.
    pub bbox_px: [u32; 4],
    /// Box width in pixels (inclusive bounds).
    pub width_px: u32,
    /// Box height in pixels (inclusive bounds).
    pub height_px: u32,
    /// Width of the rendered slice in pixels.
    pub image_width_px: u32,
    /// Height of the rendered slice in pixels.
    pub image_height_px: u32,
    /// Spacing between display rows in mm.
    pub row_spacing_mm: f64,
    /// Spacing between display columns in mm.
    pub col_spacing_mm: f64,
    /// `width_px * col_spacing_mm`.
    pub box_width_mm: f64,
    /// `height_px * row_spacing_mm`.
    pub box_height_mm: f64,
}

/// A mask-size fact: pixel count and area of one label in one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskSizeFact {
    /// Plane the slice lies in.
    pub plane: Plane,
    /// Index of the slice along the plane's normal axis.
    pub slice_index: usize,
    /// Mask label value.
    pub label: u16,
    /// 1-based position of the piece among the label's pieces in the slice, in display order (§4.1).
    pub piece_index: u32,
    /// Connected pieces of the label in the slice (1 with `single_instance` on).
    pub piece_count: u32,
    /// Number of the piece's pixels.
    pub pixel_count: u64,
    /// `pixel_count * row_spacing_mm * col_spacing_mm`.
    pub area_mm2: f64,
    /// Inclusive `[x_min, y_min, x_max, y_max]`.
    pub bbox_px: [u32; 4],
    /// Width of the rendered slice in pixels.
    pub image_width_px: u32,
    /// Height of the rendered slice in pixels.
    pub image_height_px: u32,
    /// Spacing between display rows in mm.
    pub row_spacing_mm: f64,
    /// Spacing between display columns in mm.
    pub col_spacing_mm: f64,
}

/// One candidate of the box and mask-size filters: a (plane, slice, label) with `single_instance` on, one
/// connected piece of it with the rule off.
struct Candidate<'a> {
    view: &'a PlaneView,
    slice_index: usize,
    piece: PieceStats,
    /// 1-based position of the piece in display order (§4.1); 1 with `single_instance` on.
    piece_index: u32,
    /// Pieces of the label in the slice; 1 with `single_instance` on.
    piece_count: u32,
}

/// Every candidate of `stats` whose label is in `labels`, in (plane order of `stats`, slice, label, piece)
/// order. With `filters.single_instance` on, a (slice, label) is one candidate, kept only when the label forms
/// one component; with it off, every connected piece is a candidate of its own (docs/measurements.md §4.2).
fn candidates<'a>(
    stats: &'a MaskStats,
    labels: &'a [u16],
    filters: &'a Filters,
    counts: &'a mut FilterCounts,
) -> impl Iterator<Item = Candidate<'a>> + 'a {
    let single_instance = filters.single_instance;
    stats
        .planes
        .iter()
        .flat_map(move |p| {
            p.slices.iter().flat_map(move |s| {
                s.labels
                    .iter()
                    .filter(move |l| labels.contains(&l.label))
                    .map(move |l| (&p.view, s, l))
            })
        })
        .flat_map(move |(view, slice, l)| {
            let pieces = if single_instance {
                counts.considered += 1;
                if l.component_count != 1 {
                    counts.multi_instance += 1;
                    Vec::new()
                } else {
                    slice.pieces(l)
                }
            } else {
                let pieces = slice.pieces(l);
                counts.considered += pieces.len() as u64;
                pieces
            };
            let piece_count = pieces.len() as u32;
            pieces
                .into_iter()
                .zip(1u32..)
                .map(move |(piece, piece_index)| Candidate {
                    view,
                    slice_index: slice.slice_index,
                    piece,
                    piece_index,
                    piece_count,
                })
        })
}

/// Image size of a view; every axis fits in u32 because [`mask_stats`] checked it.
fn image_size_px(view: &PlaneView) -> (u32, u32) {
    (view.width_px() as u32, view.height_px() as u32)
}

/// Box facts for `labels`: single-instance filter (if enabled), then both sides `>= filters.min_side_px`.
pub fn box_facts(
    stats: &MaskStats,
    labels: &[u16],
    filters: &Filters,
) -> (Vec<BoxFact>, FilterCounts) {
    let mut counts = FilterCounts::default();
    let mut too_small = 0;
    let mut facts = Vec::new();
    for c in candidates(stats, labels, filters, &mut counts) {
        let [x0, y0, x1, y1] = c.piece.bbox_px;
        let (width_px, height_px) = (x1 - x0 + 1, y1 - y0 + 1);
        if width_px < filters.min_side_px || height_px < filters.min_side_px {
            too_small += 1;
            continue;
        }
        let view = c.view;
        let (image_width_px, image_height_px) = image_size_px(view);
        let (row_spacing_mm, col_spacing_mm) = (view.row_spacing_mm(), view.col_spacing_mm());
        facts.push(BoxFact {
            plane: view.plane(),
            slice_index: c.slice_index,
            label: c.piece.label,
            piece_index: c.piece_index,
            piece_count: c.piece_count,
            bbox_px: c.piece.bbox_px,
            width_px,
            height_px,
            image_width_px,
            image_height_px,
            row_spacing_mm,
            col_spacing_mm,
            box_width_mm: f64::from(width_px) * col_spacing_mm,
            box_height_mm: f64::from(height_px) * row_spacing_mm,
        });
    }
    counts.too_small_side = too_small;
    (facts, counts)
}

/// Mask-size facts for `labels`: single-instance filter (if enabled), then `pixel_count >= filters.min_pixels`.
pub fn mask_size_facts(
    stats: &MaskStats,
    labels: &[u16],
    filters: &Filters,
) -> (Vec<MaskSizeFact>, FilterCounts) {
    let mut counts = FilterCounts::default();
    let mut too_few = 0;
    let mut facts = Vec::new();
    for c in candidates(stats, labels, filters, &mut counts) {
        let piece = c.piece;
        if piece.pixel_count < filters.min_pixels {
            too_few += 1;
            continue;
        }
        let view = c.view;
        let (image_width_px, image_height_px) = image_size_px(view);
        let (row_spacing_mm, col_spacing_mm) = (view.row_spacing_mm(), view.col_spacing_mm());
        facts.push(MaskSizeFact {
            plane: view.plane(),
            slice_index: c.slice_index,
            label: piece.label,
            piece_index: c.piece_index,
            piece_count: c.piece_count,
            pixel_count: piece.pixel_count,
            area_mm2: piece.pixel_count as f64 * row_spacing_mm * col_spacing_mm,
            bbox_px: piece.bbox_px,
            image_width_px,
            image_height_px,
            row_spacing_mm,
            col_spacing_mm,
        });
    }
    counts.too_few_pixels = too_few;
    (facts, counts)
}

/// A multi-instance fact: every connected piece of one label in one slice (docs/measurements.md §5.5).
#[derive(Debug, Clone, PartialEq)]
pub struct InstancesFact {
    /// Plane the slice lies in.
    pub plane: Plane,
    /// Index of the slice along the plane's normal axis.
    pub slice_index: usize,
    /// Mask label value.
    pub label: u16,
    /// Inclusive `[x_min, y_min, x_max, y_max]` of every piece, in display order (§4.1).
    pub boxes_px: Vec<[u32; 4]>,
    /// Spacing between display rows in mm.
    pub row_spacing_mm: f64,
    /// Spacing between display columns in mm.
    pub col_spacing_mm: f64,
}

/// Multi-instance facts for `labels`: every (plane, slice, label) with the label present, kept only when
/// every piece has both box sides `>= filters.min_side_px` (a piece too small to see would make the count
/// unanswerable; the slice counts under `too_small_side`). `single_instance` and `min_pixels` do not apply.
pub fn instances_facts(
    stats: &MaskStats,
    labels: &[u16],
    filters: &Filters,
) -> (Vec<InstancesFact>, FilterCounts) {
    let mut counts = FilterCounts::default();
    let mut facts = Vec::new();
    for plane in &stats.planes {
        let view = &plane.view;
        for slice in &plane.slices {
            for l in slice.labels.iter().filter(|l| labels.contains(&l.label)) {
                counts.considered += 1;
                let pieces = slice.pieces(l);
                let min = filters.min_side_px;
                if pieces.iter().any(|p| {
                    let [x0, y0, x1, y1] = p.bbox_px;
                    x1 - x0 + 1 < min || y1 - y0 + 1 < min
                }) {
                    counts.too_small_side += 1;
                    continue;
                }
                facts.push(InstancesFact {
                    plane: view.plane(),
                    slice_index: slice.slice_index,
                    label: l.label,
                    boxes_px: pieces.iter().map(|p| p.bbox_px).collect(),
                    row_spacing_mm: view.row_spacing_mm(),
                    col_spacing_mm: view.col_spacing_mm(),
                });
            }
        }
    }
    (facts, counts)
}

#[cfg(test)]
#[path = "boxes_tests.rs"]
mod tests;
