//! Tumour / lesion size of one connected component (docs/measurements.md §7): ellipse fit on the outer border
//! in millimetres, major/minor diameters and end points, max Feret diameter, and the guards that drop
//! implausible fits — in the default profile and in the two MedVision benchmark profiles.
//!
//! Profiles ([`LesionRules`]); the MedVision ones reproduce the published planner release by release
//! (derivation and sources: docs/measurements.md §7.7):
//! - `Default`: boundary points paired with their own spacing (`x·col_spacing`, `y·row_spacing`), continuous
//!   axis lengths, all five guards of docs/measurements.md §7.5, no pixel floor.
//! - `MedVision10` (v1.0.0 leaderboard release): at least 200 px; spacing pairing reversed
//!   (`x·row_spacing`, `y·col_spacing`); end points built from the fitted half-axes divided by the (swapped)
//!   spacings ([`AxisModel::PlannerPixelAxes`]); the 0.9/1.1 scaled-box rule on the unrounded end points with
//!   the box measured as `max − min + 1`; end points then rounded half-to-even and the lengths measured
//!   between the rounded points with each axis's own spacing. Only the guards without which there is no fit
//!   at all (fewer than 5 points, singular or non-finite fit) apply.
//! - `MedVision14` (v1.4.0): per-axis pairing and the continuous fitted axes (since planner 1.1.1), rounded
//!   end points written, no pixel floor, the mm floor and the other §7.5 guards, no scaled-box rule.
//!
//! The component mask is assumed to hold a single component (the caller counts components first, docs/measurements.md §7.1);
//! with several, the contour is the one of the first component in raster order while counts and boxes
//! cover the whole mask.

use crate::geom::contour::outer_contour;
use crate::geom::ellipse::{fit_ellipse, Ellipse, EllipseError};
use crate::geom::feret::feret_diameters;
use crate::geom::Grid2;

/// Which benchmark's rules to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LesionRules {
    /// This builder's own rules.
    Default,
    /// The rules of MedVision v1.0.
    MedVision10,
    /// The rules of MedVision v1.4.
    MedVision14,
}

/// How boundary pixel coordinates are paired with the slice's spacings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpacingPairing {
    /// `x_mm = x · col_spacing`, `y_mm = y · row_spacing` (correct).
    PerAxis,
    /// `x_mm = x · row_spacing`, `y_mm = y · col_spacing` (MedVision v1.0 defect).
    Swapped,
}

/// How the fitted ellipse becomes the written end points P1–P4 and the reported diameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AxisModel {
    /// The fit's own axes: end points in the fit's mm frame mapped back by the inverse of the spacing map,
    /// P1/P2 on the longer fitted axis, ordered smaller `x` (then smaller `y`) first; diameters are the fitted
    /// full axes (or, with rounded end points, the per-axis distances between them).
    Fitted,
    /// MedVision planner 1.0.0–1.1.0: the fitted full axes `w`, `h` are divided by the `x` and `y` spacing
    /// of the fit respectively and laid out along OpenCV's angle in pixel space; P1/P2 lie on the axis that
    /// is longer *in pixels*; within each pair the point with the larger row (then larger column) comes first.
    /// Diameters: between the written end points (rounded half-to-even in the `medvision` profile), in mm
    /// with each axis's own spacing.
    PlannerPixelAxes,
    /// MedVision planner 1.1.1 and later: end points in the fit's mm frame mapped back per coordinate,
    /// P1/P2 on the longer fitted axis, planner order (larger row, then larger column, first); diameters are
    /// the fitted full axes.
    PlannerRealAxes,
}

/// Options of [`measure_lesion`]; [`LesionOptions::new`] fills them for a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LesionOptions {
    /// Benchmark whose rules these options follow.
    pub rules: LesionRules,
    /// Components with fewer pixels are rejected (`BelowMinPixels`); 0 disables.
    pub min_pixels: u64,
    /// How boundary coordinates are paired with the row/column spacings.
    pub pairing: SpacingPairing,
    /// How end points and diameters are derived from the fit.
    pub axis_model: AxisModel,
    /// Write end points rounded half-to-even to integer pixels (with [`AxisModel::Fitted`] the diameters are
    /// then measured between the rounded points).
    pub round_end_points: bool,
    /// Apply the 0.9/1.1 scaled-box rule of MedVision v1.0 (on the unrounded end points).
    pub scaled_box_rule: bool,
    /// Guard: minor axis shorter than one pixel of the coarser spacing.
    pub guard_minor_below_pixel: bool,
    /// Guard: major axis longer than `max_major_over_bbox_diagonal` × bounding-box diagonal (mm).
    pub guard_major_above_bbox: bool,
    /// Ratio bound used by `guard_major_above_bbox`.
    pub max_major_over_bbox_diagonal: f64,
    /// Guard: major axis under `max(min_major_floor_mm, min_major_floor_pixels × coarser spacing)`.
    pub guard_major_floor: bool,
    /// Floor in mm used by `guard_major_floor`.
    pub min_major_floor_mm: f64,
    /// Floor in pixels of the coarser spacing used by `guard_major_floor`.
    pub min_major_floor_pixels: f64,
}

impl LesionOptions {
    /// The options of one profile (see the module docs).
    pub fn new(rules: LesionRules) -> Self {
        let base = LesionOptions {
            rules,
            min_pixels: 0,
            pairing: SpacingPairing::PerAxis,
            axis_model: AxisModel::Fitted,
            round_end_points: false,
            scaled_box_rule: false,
            guard_minor_below_pixel: true,
            guard_major_above_bbox: true,
            max_major_over_bbox_diagonal: 1.5,
            guard_major_floor: true,
            min_major_floor_mm: 2.0,
            min_major_floor_pixels: 2.0,
        };
        match rules {
            LesionRules::Default => base,
            LesionRules::MedVision10 => LesionOptions {
                min_pixels: 200,
                pairing: SpacingPairing::Swapped,
                axis_model: AxisModel::PlannerPixelAxes,
                round_end_points: true,
                scaled_box_rule: true,
                guard_minor_below_pixel: false,
                guard_major_above_bbox: false,
                guard_major_floor: false,
                ..base
            },
            LesionRules::MedVision14 => LesionOptions {
                axis_model: AxisModel::PlannerRealAxes,
                round_end_points: true,
                ..base
            },
        }
    }
}

/// Why a component got no lesion measurement; each reason is counted in the build report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LesionReject {
    /// Fewer pixels than `min_pixels` (MedVision v1.0 200 px floor).
    BelowMinPixels,
    /// Fewer than 5 boundary points.
    TooFewPoints,
    /// Near-singular least-squares system (OpenCV would perturb randomly; we drop).
    SingularFit,
    /// The fitted conic is not finite / degenerate, an axis has (near) zero length (the planner skips
    /// axes under 1e-6 px), or no decomposition of its system passed the reconstruction check (`geom::linalg`).
    NonFiniteConic,
    /// Minor axis shorter than one pixel of the coarser spacing.
    MinorBelowOnePixel,
    /// Major axis longer than 1.5x the bounding-box diagonal (mm).
    MajorAboveBboxDiagonal,
    /// Major axis under `max(2 mm, 2 x coarser spacing)`.
    MajorBelowFloor,
    /// An end point lies outside the 1.1-scaled box or inside the 0.9-scaled box (MedVision v1.0).
    ScaledBoxRule,
}

impl LesionReject {
    /// Every reason, in report order.
    pub const ALL: [LesionReject; 8] = [
        LesionReject::BelowMinPixels,
        LesionReject::TooFewPoints,
        LesionReject::SingularFit,
        LesionReject::NonFiniteConic,
        LesionReject::MinorBelowOnePixel,
        LesionReject::MajorAboveBboxDiagonal,
        LesionReject::MajorBelowFloor,
        LesionReject::ScaledBoxRule,
    ];

    /// Stable snake_case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            LesionReject::BelowMinPixels => "below_min_pixels",
            LesionReject::TooFewPoints => "too_few_boundary_points",
            LesionReject::SingularFit => "singular_fit",
            LesionReject::NonFiniteConic => "non_finite_conic",
            LesionReject::MinorBelowOnePixel => "minor_below_one_pixel",
            LesionReject::MajorAboveBboxDiagonal => "major_above_bbox_diagonal",
            LesionReject::MajorBelowFloor => "major_below_floor",
            LesionReject::ScaledBoxRule => "scaled_box_rule",
        }
    }
}

impl std::fmt::Display for LesionReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Inclusive pixel bounds of a component in the display frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelBox {
    /// Smallest column, pixels.
    pub x_min: usize,
    /// Smallest row, pixels.
    pub y_min: usize,
    /// Largest column, pixels (inclusive).
    pub x_max: usize,
    /// Largest row, pixels (inclusive).
    pub y_max: usize,
}

/// Everything measured on one component.
#[derive(Debug, Clone, PartialEq)]
pub struct LesionMeasurement {
    /// Major diameter in mm: the fitted full axis, or (with rounded end points in the `Fitted` model, and
    /// always in the v1.0 planner model) the length between the rounded end points P1, P2 — in the v1.0
    /// model it can be shorter than `minor_mm`, as in the planner.
    pub major_mm: f64,
    /// Minor (shorter) diameter in mm, same rule as `major_mm` with P3, P4.
    pub minor_mm: f64,
    /// Direction of the axis P1–P2 lies on, in the (profile's) mm frame of the fit, degrees in `[0, 180)`,
    /// from +x towards +y.
    pub major_angle_deg: f64,
    /// Ellipse centre in display pixels `[x, y]`.
    pub center_px: [f64; 2],
    /// Major-axis end points P1, P2 in display pixels, ordered as the [`AxisModel`] says; integer-valued
    /// when end points are rounded.
    pub major_end_points_px: [[f64; 2]; 2],
    /// Minor-axis end points P3, P4, same ordering rule.
    pub minor_end_points_px: [[f64; 2]; 2],
    /// The raw fit, in the profile's mm frame (as OpenCV returns it).
    pub ellipse_mm: Ellipse,
    /// Max Feret diameter between boundary pixel centres (mm, always with per-axis spacing).
    pub feret_longest_mm: f64,
    /// Largest extent perpendicular to the max Feret chord (mm).
    pub feret_perpendicular_mm: f64,
    /// End points of the max Feret chord in display pixels.
    pub feret_end_points_px: [[i32; 2]; 2],
    /// Number of pixels in the component.
    pub pixel_count: u64,
    /// `pixel_count · row_spacing · col_spacing`.
    pub area_mm2: f64,
    /// Inclusive pixel bounds of the component.
    pub bbox: PixelBox,
    /// Number of outer-contour points the fit used.
    pub boundary_points: usize,
}

/// `(row, column)` of every foreground pixel in raster order (never reads past `data`).
fn foreground(mask: &Grid2<bool>) -> impl Iterator<Item = (usize, usize)> + '_ {
    let width = mask.width_px.max(1);
    mask.data
        .chunks(width)
        .take(mask.height_px)
        .enumerate()
        .flat_map(|(y, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, v)| **v)
                .map(move |(x, _)| (y, x))
        })
}

fn bounding_box(mask: &Grid2<bool>) -> Option<(PixelBox, u64)> {
    let mut count = 0u64;
    let mut b: Option<PixelBox> = None;
    for (y, x) in foreground(mask) {
        count += 1;
        b = Some(match b {
            None => PixelBox {
                x_min: x,
                y_min: y,
                x_max: x,
                y_max: y,
            },
            Some(p) => PixelBox {
                x_min: p.x_min.min(x),
                y_min: p.y_min.min(y),
                x_max: p.x_max.max(x),
                y_max: p.y_max.max(y),
            },
        });
    }
    b.map(|b| (b, count))
}

/// Python's `round()` (half to even) for the end-point rounding of MedVision v1.0.
fn round_half_even(v: f64) -> f64 {
    v.round_ties_even()
}

/// Order two points by `x`, then `y`.
fn ordered(a: [f64; 2], b: [f64; 2]) -> [[f64; 2]; 2] {
    if (a[0], a[1]) <= (b[0], b[1]) {
        [a, b]
    } else {
        [b, a]
    }
}

/// One axis of the planner's scaled box: `len = hi − lo + 1` (inclusive pixel count), `c = (lo + hi)/2`,
/// `len_s = trunc(len·s)`, `min = trunc(c − len_s/2)`, `max = trunc(c + len_s/2)`, clipped to
/// `[0, size − 1]`.
fn scaled_range(lo: usize, hi: usize, s: f64, size: usize) -> (f64, f64) {
    let len = (hi - lo + 1) as f64;
    let centre = (lo + hi) as f64 / 2.0;
    let len_s = (len * s).trunc();
    let a = (centre - len_s / 2.0).trunc().max(0.0);
    let b = (centre + len_s / 2.0)
        .trunc()
        .min(size.saturating_sub(1) as f64);
    (a, b)
}

/// The 0.9/1.1 rule of the planner: every (unrounded) end point inside the 1.1-scaled box, border included,
/// and not strictly inside the 0.9-scaled box.
fn scaled_box_rule_passes(
    bbox: PixelBox,
    width: usize,
    height: usize,
    pts: &[[f64; 2]; 4],
) -> bool {
    let (ox0, ox1) = scaled_range(bbox.x_min, bbox.x_max, 1.1, width);
    let (oy0, oy1) = scaled_range(bbox.y_min, bbox.y_max, 1.1, height);
    let (ix0, ix1) = scaled_range(bbox.x_min, bbox.x_max, 0.9, width);
    let (iy0, iy1) = scaled_range(bbox.y_min, bbox.y_max, 0.9, height);
    pts.iter().all(|p| {
        let in_outer = p[0] >= ox0 && p[0] <= ox1 && p[1] >= oy0 && p[1] <= oy1;
        let in_inner = p[0] > ix0 && p[0] < ix1 && p[1] > iy0 && p[1] < iy1;
        in_outer && !in_inner
    })
}

/// Measure one component (see the module docs for the profiles). Spacings are the display frame's row
/// (vertical) and column (horizontal) pixel spacings in mm.
pub fn measure_lesion(
    component: &Grid2<bool>,
    row_spacing_mm: f64,
    col_spacing_mm: f64,
    opts: &LesionOptions,
) -> Result<LesionMeasurement, LesionReject> {
    let Some((bbox, pixel_count)) = bounding_box(component) else {
        return Err(if opts.min_pixels > 0 {
            LesionReject::BelowMinPixels
        } else {
            LesionReject::TooFewPoints
        });
    };
    if pixel_count < opts.min_pixels {
        return Err(LesionReject::BelowMinPixels);
    }
    let contour = outer_contour(component);
    if contour.len() < 5 {
        return Err(LesionReject::TooFewPoints);
    }
    // Spacing applied to x (columns) and y (rows) for the fit, per the profile's pairing.
    let (sx, sy) = match opts.pairing {
        SpacingPairing::PerAxis => (col_spacing_mm, row_spacing_mm),
        SpacingPairing::Swapped => (row_spacing_mm, col_spacing_mm),
    };
    let ellipse = fit_contour_mm(&contour, sx, sy)?;
    let axes = FittedAxes::new(&ellipse, [sx, sy], [row_spacing_mm, col_spacing_mm], opts)?;
    check_guards(opts, component, bbox, &axes, row_spacing_mm, col_spacing_mm)?;

    // RECIST longest diameter: always on the correctly paired boundary pixel centres.
    let boundary_mm: Vec<[f64; 2]> = contour
        .iter()
        .map(|p| {
            [
                f64::from(p[0]) * col_spacing_mm,
                f64::from(p[1]) * row_spacing_mm,
            ]
        })
        .collect();
    let feret = feret_diameters(&boundary_mm).ok_or(LesionReject::TooFewPoints)?;

    let [p1, p2, p3, p4] = axes.end_points_px;
    // The planner models ordered their pairs before rounding (`FittedAxes::planner`).
    let order = match opts.axis_model {
        AxisModel::Fitted => ordered,
        AxisModel::PlannerPixelAxes | AxisModel::PlannerRealAxes => |a, b| [a, b],
    };
    Ok(LesionMeasurement {
        major_mm: axes.major_mm,
        minor_mm: axes.minor_mm,
        major_angle_deg: axes.major_angle_deg,
        center_px: axes.center_px,
        major_end_points_px: order(p1, p2),
        minor_end_points_px: order(p3, p4),
        ellipse_mm: ellipse,
        feret_longest_mm: feret.longest_mm,
        feret_perpendicular_mm: feret.perpendicular_mm,
        feret_end_points_px: [contour[feret.longest_pair.0], contour[feret.longest_pair.1]],
        pixel_count,
        area_mm2: pixel_count as f64 * row_spacing_mm * col_spacing_mm,
        bbox,
        boundary_points: contour.len(),
    })
}

/// The planner's order within a pair: the point with the larger row (`y`), then the larger column, first.
fn planner_ordered(a: [f64; 2], b: [f64; 2]) -> [[f64; 2]; 2] {
    if a[1] < b[1] || (a[1] == b[1] && a[0] < b[0]) {
        [b, a]
    } else {
        [a, b]
    }
}

/// Ellipse fit of the contour pixels scaled by `(sx, sy)` mm (rounded to float32, as the fit takes them).
fn fit_contour_mm(contour: &[[i32; 2]], sx: f64, sy: f64) -> Result<Ellipse, LesionReject> {
    let pts_mm: Vec<[f32; 2]> = contour
        .iter()
        .map(|p| [(f64::from(p[0]) * sx) as f32, (f64::from(p[1]) * sy) as f32])
        .collect();
    fit_ellipse(&pts_mm).map_err(|e| match e {
        EllipseError::TooFewPoints { .. } => LesionReject::TooFewPoints,
        EllipseError::Singular => LesionReject::SingularFit,
        EllipseError::NonFiniteInput { .. }
        | EllipseError::NonFiniteConic { .. }
        | EllipseError::Decomposition(_) => LesionReject::NonFiniteConic,
    })
}

/// The fitted ellipse's diameters and axis end points, back in display pixels.
struct FittedAxes {
    major_mm: f64,
    minor_mm: f64,
    major_angle_deg: f64,
    center_px: [f64; 2],
    /// P1, P2 (major axis) and P3, P4 (minor axis) as written: unordered, integer-valued when rounded.
    end_points_px: [[f64; 2]; 4],
    /// The same points before rounding (what the scaled-box rule tests).
    unrounded_px: [[f64; 2]; 4],
}

impl FittedAxes {
    /// End points and diameters per `opts.axis_model`; `fit_spacing` is the `(x, y)` spacing the fit used,
    /// `[row, col]` the display spacings. Refuses non-finite results and (near) zero-length axes.
    fn new(
        ellipse: &Ellipse,
        fit_spacing: [f64; 2],
        [row_mm, col_mm]: [f64; 2],
        opts: &LesionOptions,
    ) -> Result<Self, LesionReject> {
        let mut axes = match opts.axis_model {
            AxisModel::Fitted => Self::fitted(ellipse, fit_spacing, opts.round_end_points),
            AxisModel::PlannerPixelAxes | AxisModel::PlannerRealAxes => {
                Self::planner(ellipse, fit_spacing, opts.axis_model)?
            }
        };
        if opts.round_end_points {
            for p in &mut axes.end_points_px {
                *p = [round_half_even(p[0]), round_half_even(p[1])];
            }
        }
        if opts.axis_model == AxisModel::PlannerPixelAxes {
            // The v1.0 planner's distance: rounded voxel indices times each axis's own voxel size.
            let len = |a: [f64; 2], b: [f64; 2]| {
                let (dy, dx) = ((a[1] - b[1]) * row_mm, (a[0] - b[0]) * col_mm);
                (dy * dy + dx * dx).sqrt()
            };
            let [p1, p2, p3, p4] = axes.end_points_px;
            axes.major_mm = len(p1, p2);
            axes.minor_mm = len(p3, p4);
        }
        let finite = [axes.major_mm, axes.minor_mm]
            .into_iter()
            .chain(axes.end_points_px.iter().flatten().copied())
            .chain(axes.unrounded_px.iter().flatten().copied())
            .all(f64::is_finite);
        if !finite {
            return Err(LesionReject::NonFiniteConic);
        }
        Ok(axes)
    }

    /// The default model (unchanged since the first release of this builder).
    fn fitted(ellipse: &Ellipse, [sx, sy]: [f64; 2], round_end_points: bool) -> Self {
        let [cx, cy] = ellipse.center;
        let major_len = ellipse.major_full_axis();
        let minor_len = ellipse.minor_full_axis();
        let major_angle_deg = ellipse.major_axis_angle_deg();
        let (c, s) = (
            major_angle_deg.to_radians().cos(),
            major_angle_deg.to_radians().sin(),
        );
        let to_px = |x_mm: f64, y_mm: f64| [x_mm / sx, y_mm / sy];
        let p1 = to_px(cx - c * major_len / 2.0, cy - s * major_len / 2.0);
        let p2 = to_px(cx + c * major_len / 2.0, cy + s * major_len / 2.0);
        let p3 = to_px(cx + s * minor_len / 2.0, cy - c * minor_len / 2.0);
        let p4 = to_px(cx - s * minor_len / 2.0, cy + c * minor_len / 2.0);
        let (major_mm, minor_mm) = if round_end_points {
            let r = |p: [f64; 2]| [round_half_even(p[0]), round_half_even(p[1])];
            let len = |a: [f64; 2], b: [f64; 2]| {
                let (a, b) = (r(a), r(b));
                ((a[0] - b[0]) * sx).hypot((a[1] - b[1]) * sy)
            };
            (len(p1, p2), len(p3, p4))
        } else {
            (major_len, minor_len)
        };
        FittedAxes {
            major_mm,
            minor_mm,
            major_angle_deg,
            center_px: to_px(cx, cy),
            end_points_px: [p1, p2, p3, p4],
            unrounded_px: [p1, p2, p3, p4],
        }
    }

    /// The planner's construction (docs/measurements.md §7.7): OpenCV's `w` axis along its angle `θ`, the
    /// `h` axis at `θ + 90°`; in the pixel-axes model the half-axes are `w/(2·sx)`, `h/(2·sy)` pixels laid
    /// out from the pixel centre, in the real-axes model `w/2`, `h/2` mm laid out from the mm centre and
    /// mapped back per coordinate. P1/P2 go on the longer axis (in pixels, resp. in mm).
    fn planner(
        ellipse: &Ellipse,
        [sx, sy]: [f64; 2],
        model: AxisModel,
    ) -> Result<Self, LesionReject> {
        let [cx, cy] = ellipse.center;
        let [w, h] = ellipse.full_axes;
        let theta = ellipse.angle_deg.to_radians();
        let (cos, sin) = (theta.cos(), theta.sin());
        let pixel_axes = model == AxisModel::PlannerPixelAxes;
        let [mut p1, mut p2, mut p3, mut p4] = if pixel_axes {
            let (ccx, ccy) = (cx / sx, cy / sy);
            let (a, b) = (w / sx / 2.0, h / sy / 2.0);
            let (major_x, major_y, minor_x, minor_y) = (a * cos, a * sin, -b * sin, b * cos);
            [
                [ccx + major_x, ccy + major_y],
                [ccx - major_x, ccy - major_y],
                [ccx + minor_x, ccy + minor_y],
                [ccx - minor_x, ccy - minor_y],
            ]
        } else {
            let (a, b) = (w / 2.0, h / 2.0);
            let (major_x, major_y, minor_x, minor_y) = (a * cos, a * sin, -b * sin, b * cos);
            let to_px = |x_mm: f64, y_mm: f64| [x_mm / sx, y_mm / sy];
            [
                to_px(cx + major_x, cy + major_y),
                to_px(cx - major_x, cy - major_y),
                to_px(cx + minor_x, cy + minor_y),
                to_px(cx - minor_x, cy - minor_y),
            ]
        };
        let px_len =
            |a: [f64; 2], b: [f64; 2]| ((a[1] - b[1]).powi(2) + (a[0] - b[0]).powi(2)).sqrt();
        let (l12, l34) = (px_len(p1, p2), px_len(p3, p4));
        let both_axes_long_enough = l12 >= 1e-6 && l34 >= 1e-6;
        if !both_axes_long_enough {
            return Err(LesionReject::NonFiniteConic);
        }
        // Which of the two axes is labelled major: longer in pixels (v1.0), longer in mm (v1.1.1+).
        let w_is_major = if pixel_axes { l12 >= l34 } else { w >= h };
        let mut angle_deg = ellipse.angle_deg;
        if !w_is_major {
            std::mem::swap(&mut p1, &mut p3);
            std::mem::swap(&mut p2, &mut p4);
            angle_deg += 90.0;
        }
        let (major_mm, minor_mm) = if w_is_major { (w, h) } else { (h, w) };
        // The planner orders each pair on the unrounded points (then rounds).
        let [p1, p2] = planner_ordered(p1, p2);
        let [p3, p4] = planner_ordered(p3, p4);
        Ok(FittedAxes {
            major_mm,
            minor_mm,
            major_angle_deg: angle_deg.rem_euclid(180.0),
            center_px: [cx / sx, cy / sy],
            end_points_px: [p1, p2, p3, p4],
            unrounded_px: [p1, p2, p3, p4],
        })
    }
}

/// The plausibility guards of docs/measurements.md §7.5 and the scaled-box rule, in that order, as `opts` enables them.
fn check_guards(
    opts: &LesionOptions,
    component: &Grid2<bool>,
    bbox: PixelBox,
    axes: &FittedAxes,
    row_spacing_mm: f64,
    col_spacing_mm: f64,
) -> Result<(), LesionReject> {
    let (major_mm, minor_mm) = (axes.major_mm, axes.minor_mm);
    let coarser_mm = row_spacing_mm.max(col_spacing_mm);
    if opts.guard_minor_below_pixel && minor_mm < coarser_mm {
        return Err(LesionReject::MinorBelowOnePixel);
    }
    let bbox_w_mm = (bbox.x_max - bbox.x_min + 1) as f64 * col_spacing_mm;
    let bbox_h_mm = (bbox.y_max - bbox.y_min + 1) as f64 * row_spacing_mm;
    if opts.guard_major_above_bbox
        && major_mm > opts.max_major_over_bbox_diagonal * bbox_w_mm.hypot(bbox_h_mm)
    {
        return Err(LesionReject::MajorAboveBboxDiagonal);
    }
    if opts.guard_major_floor
        && major_mm
            < opts
                .min_major_floor_mm
                .max(opts.min_major_floor_pixels * coarser_mm)
    {
        return Err(LesionReject::MajorBelowFloor);
    }
    if opts.scaled_box_rule
        && !scaled_box_rule_passes(
            bbox,
            component.width_px,
            component.height_px,
            &axes.unrounded_px,
        )
    {
        return Err(LesionReject::ScaledBoxRule);
    }
    Ok(())
}

/// Second-moment ("equivalent") ellipse full axes `[major, minor]` in mm: `4·sqrt(eigenvalues)` of the
/// population covariance of the pixel centres `(x·col_spacing, y·row_spacing)`. `None` for an empty mask (or
/// an eigen decomposition that fails its check, see `geom::linalg`).
pub fn second_moment_axes_mm(
    component: &Grid2<bool>,
    row_spacing_mm: f64,
    col_spacing_mm: f64,
) -> Option<[f64; 2]> {
    let mut n = 0f64;
    let (mut sx, mut sy) = (0f64, 0f64);
    for (y, x) in foreground(component) {
        n += 1.0;
        sx += x as f64 * col_spacing_mm;
        sy += y as f64 * row_spacing_mm;
    }
    if n == 0.0 {
        return None;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut cxx, mut cyy, mut cxy) = (0f64, 0f64, 0f64);
    for (y, x) in foreground(component) {
        let dx = x as f64 * col_spacing_mm - mx;
        let dy = y as f64 * row_spacing_mm - my;
        cxx += dx * dx;
        cyy += dy * dy;
        cxy += dx * dy;
    }
    let cov = nalgebra::Matrix2::new(cxx / n, cxy / n, cxy / n, cyy / n);
    let (eigenvalues, _) = crate::geom::linalg::symmetric_eigen2(&cov).ok()?;
    let a = eigenvalues[0].max(0.0);
    let b = eigenvalues[1].max(0.0);
    Some([4.0 * a.max(b).sqrt(), 4.0 * a.min(b).sqrt()])
}

#[cfg(test)]
#[path = "lesion_tests.rs"]
mod tests;
