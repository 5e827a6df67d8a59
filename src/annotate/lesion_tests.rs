//! Tests of the lesion pipeline against OpenCV goldens (tests/golden/lesion, made by scripts/lesion_golden.py)
//! and closed-form phantoms; kept apart from lesion.rs to keep that file small.

use super::*;
use crate::geom::contour::outer_contour;
use crate::geom::ellipse::{fit_ellipse, EllipseError};
use crate::geom::feret::feret_diameters;
use serde_json::Value;

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/lesion/opencv_lesion_golden.json"
);

struct Case {
    name: String,
    mask: Grid2<bool>,
    row_sp: f64,
    col_sp: f64,
    contour: Vec<[i32; 2]>,
    fit: Value,
    fit_swapped: Option<Value>,
}

fn load_golden() -> Vec<Case> {
    let text = std::fs::read_to_string(GOLDEN).expect("golden file readable");
    let root: Value = serde_json::from_str(&text).expect("golden JSON");
    let cases = root["cases"].as_array().expect("cases array");
    cases
        .iter()
        .map(|c| {
            let w = c["width"].as_u64().expect("width") as usize;
            let h = c["height"].as_u64().expect("height") as usize;
            let mut data = Vec::with_capacity(w * h);
            for (k, run) in c["rle"].as_array().expect("rle").iter().enumerate() {
                let n = run.as_u64().expect("run") as usize;
                data.extend(std::iter::repeat_n(k % 2 == 1, n));
            }
            assert_eq!(data.len(), w * h, "rle length of {}", c["name"]);
            let flat: Vec<i32> = c["contour"]
                .as_array()
                .expect("contour")
                .iter()
                .map(|v| v.as_i64().expect("int") as i32)
                .collect();
            Case {
                name: c["name"].as_str().expect("name").to_string(),
                mask: Grid2 {
                    width_px: w,
                    height_px: h,
                    data,
                },
                row_sp: c["row_spacing"].as_f64().expect("row spacing"),
                col_sp: c["col_spacing"].as_f64().expect("col spacing"),
                contour: flat.chunks(2).map(|p| [p[0], p[1]]).collect(),
                fit: c["fit"].clone(),
                fit_swapped: c.get("fit_swapped").cloned(),
            }
        })
        .collect()
}

fn to_mm(contour: &[[i32; 2]], sx: f64, sy: f64) -> Vec<[f32; 2]> {
    contour
        .iter()
        .map(|p| [(f64::from(p[0]) * sx) as f32, (f64::from(p[1]) * sy) as f32])
        .collect()
}

/// Worst errors seen over the golden set: (length abs mm, length rel, angle deg).
#[derive(Default, Debug)]
struct MaxErr {
    length_abs: f64,
    length_rel: f64,
    angle_deg: f64,
    center_abs: f64,
    fits: usize,
    refused: usize,
}

fn angle_diff_deg(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(180.0);
    d.min(180.0 - d)
}

fn is_degenerate(want: &Value) -> bool {
    let axes: Vec<f64> = want["axes"]
        .as_array()
        .expect("axes")
        .iter()
        .map(|v| v.as_f64().expect("f"))
        .collect();
    axes[0].min(axes[1]) <= 1e-6 * axes[0].max(axes[1])
}

fn check_fit(name: &str, pts: &[[f32; 2]], want: &Value, err: &mut MaxErr) {
    let got = fit_ellipse(pts);
    match want["status"].as_str().expect("status") {
        "ok" if is_degenerate(want) => {
            // OpenCV keeps a zero-length axis when the quadratic form has a zero eigenvalue (e.g. the six
            // corner points of a 2x3 block give axes 0.0 / 0.5); we refuse such a conic instead.
            assert!(
                matches!(got, Err(EllipseError::NonFiniteConic { .. })),
                "{name}: {got:?}"
            );
            err.refused += 1;
        }
        "ok" => {
            let e = got.unwrap_or_else(|e| panic!("{name}: fit refused ({e}) but OpenCV fitted"));
            let axes: Vec<f64> = want["axes"]
                .as_array()
                .expect("axes")
                .iter()
                .map(|v| v.as_f64().expect("f"))
                .collect();
            let center: Vec<f64> = want["center"]
                .as_array()
                .expect("c")
                .iter()
                .map(|v| v.as_f64().expect("f"))
                .collect();
            for k in 0..2 {
                let d = (e.full_axes[k] - axes[k]).abs();
                let tol = 1e-3f64.max(1e-4 * axes[k].abs());
                assert!(
                    d <= tol,
                    "{name}: axis {k} {} vs OpenCV {}",
                    e.full_axes[k],
                    axes[k]
                );
                err.length_abs = err.length_abs.max(d);
                err.length_rel = err.length_rel.max(d / axes[k].abs());
                let dc = (e.center[k] - center[k]).abs();
                assert!(
                    dc <= 1e-3f64.max(1e-4 * center[k].abs()),
                    "{name}: centre {k} {} vs {}",
                    e.center[k],
                    center[k]
                );
                err.center_abs = err.center_abs.max(dc);
            }
            // The angle is meaningful only for a non-circular fit.
            if (axes[1] - axes[0]) > 1e-3 * axes[1] {
                let d = angle_diff_deg(e.angle_deg, want["angle"].as_f64().expect("angle"));
                assert!(
                    d <= 1e-2,
                    "{name}: angle {} vs OpenCV {}",
                    e.angle_deg,
                    want["angle"]
                );
                err.angle_deg = err.angle_deg.max(d);
            }
            err.fits += 1;
        }
        "singular" => {
            assert_eq!(
                got,
                Err(EllipseError::Singular),
                "{name}: OpenCV would perturb this set"
            );
            err.refused += 1;
        }
        "degenerate" => {
            assert!(
                matches!(got, Err(EllipseError::NonFiniteConic { .. })),
                "{name}: {got:?}"
            );
            err.refused += 1;
        }
        "too_few" => {
            assert!(
                matches!(got, Err(EllipseError::TooFewPoints { .. })),
                "{name}"
            );
            err.refused += 1;
        }
        other => panic!("{name}: unknown status {other}"),
    }
}

#[test]
fn golden_contours_match_opencv_point_for_point() {
    let cases = load_golden();
    assert!(cases.len() >= 30);
    for c in &cases {
        assert_eq!(outer_contour(&c.mask), c.contour, "contour of {}", c.name);
    }
}

#[test]
fn golden_ellipse_fits_match_opencv() {
    let mut err = MaxErr::default();
    for c in &load_golden() {
        check_fit(
            &c.name,
            &to_mm(&c.contour, c.col_sp, c.row_sp),
            &c.fit,
            &mut err,
        );
        if let Some(sw) = &c.fit_swapped {
            check_fit(
                &format!("{} (swapped)", c.name),
                &to_mm(&c.contour, c.row_sp, c.col_sp),
                sw,
                &mut err,
            );
        }
    }
    eprintln!("golden ellipse max errors: {err:?}");
    assert!(err.fits >= 55, "{err:?}");
}

/// Issue #13: small L pieces whose refit system is rank-deficient. nalgebra's SVD with `eps = f64::EPSILON`
/// returned a wrong decomposition for these (the 11-pixel AAL piece: 8.966 mm instead of OpenCV's 7.920 mm);
/// through the checked SVD every one of them matches OpenCV to 1e-3 mm, measured end to end.
#[test]
fn rank_deficient_l_pieces_match_opencv() {
    let cases: Vec<Case> = load_golden()
        .into_iter()
        .filter(|c| c.name.starts_with("rank_deficient_refit_"))
        .collect();
    assert!(cases.len() >= 13, "{} L pieces in the golden", cases.len());
    let opts = LesionOptions::new(LesionRules::Default);
    for c in &cases {
        let want: Vec<f64> = c.fit["axes"]
            .as_array()
            .expect("axes")
            .iter()
            .map(|v| v.as_f64().expect("f"))
            .collect();
        let m = measure_lesion(&c.mask, c.row_sp, c.col_sp, &opts)
            .unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
        let (major, minor) = (want[0].max(want[1]), want[0].min(want[1]));
        assert!(
            (m.major_mm - major).abs() <= 1e-3 && (m.minor_mm - minor).abs() <= 1e-3,
            "{}: ours {} / {} mm, OpenCV {major} / {minor} mm",
            c.name,
            m.major_mm,
            m.minor_mm
        );
    }
    let aal = cases
        .iter()
        .find(|c| c.name == "rank_deficient_refit_l6x6_flip_at28_36")
        .expect("the AAL piece");
    assert_eq!(aal.mask.data.iter().filter(|v| **v).count(), 11);
}

/// The spec's reference mask: 96x96, centre (48,48), semi-axes 20/10 px, major axis at 30°, pixel centres.
fn spec_reference_mask() -> Grid2<bool> {
    let mut g = Grid2::filled(96, 96, false);
    let t = 30f64.to_radians();
    for y in 0..96 {
        for x in 0..96 {
            let (dx, dy) = (x as f64 - 48.0, y as f64 - 48.0);
            let u = dx * t.cos() + dy * t.sin();
            let v = -dx * t.sin() + dy * t.cos();
            g.set(x, y, (u / 20.0).powi(2) + (v / 10.0).powi(2) <= 1.0);
        }
    }
    g
}

#[test]
fn spec_reference_figures() {
    let g = spec_reference_mask();
    let m =
        measure_lesion(&g, 0.8, 0.8, &LesionOptions::new(LesionRules::Default)).expect("measured");
    assert!((m.major_mm - 31.154).abs() < 1e-3, "{}", m.major_mm);
    assert!((m.minor_mm - 15.473).abs() < 1e-3, "{}", m.minor_mm);
    assert!(
        angle_diff_deg(m.major_angle_deg, 30.0) < 0.5,
        "{}",
        m.major_angle_deg
    );
    assert!(
        (m.feret_longest_mm - 31.557).abs() < 1e-3,
        "{}",
        m.feret_longest_mm
    );
    let sm = second_moment_axes_mm(&g, 0.8, 0.8).expect("non-empty");
    assert!(
        (sm[0] - 31.939).abs() < 1e-3 && (sm[1] - 16.149).abs() < 1e-3,
        "{sm:?}"
    );
    // End points: centre (48,48) px, P1..P2 spans the major axis in pixels with the per-axis spacing.
    assert!((m.center_px[0] - 48.0).abs() < 1e-3 && (m.center_px[1] - 48.0).abs() < 1e-3);
    let [p1, p2] = m.major_end_points_px;
    assert!((((p2[0] - p1[0]) * 0.8).hypot((p2[1] - p1[1]) * 0.8) - m.major_mm).abs() < 1e-9);
    let [p3, p4] = m.minor_end_points_px;
    assert!((((p4[0] - p3[0]) * 0.8).hypot((p4[1] - p3[1]) * 0.8) - m.minor_mm).abs() < 1e-9);
    assert_eq!(m.pixel_count, g.data.iter().filter(|v| **v).count() as u64);
    assert!((m.area_mm2 - m.pixel_count as f64 * 0.64).abs() < 1e-9);
}

/// Ellipse with full axes 73.1 / 17.5 mm defined in mm and rasterised at pixel centres (x·col, y·row).
fn phantom(row_sp: f64, col_sp: f64, angle_deg: f64) -> Grid2<bool> {
    let h = (100.0 / row_sp) as usize + 4;
    let w = (100.0 / col_sp) as usize + 4;
    let mut g = Grid2::filled(w, h, false);
    let t = angle_deg.to_radians();
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 * col_sp - 50.0, y as f64 * row_sp - 50.0);
            let u = dx * t.cos() + dy * t.sin();
            let v = -dx * t.sin() + dy * t.cos();
            g.set(x, y, (u / 36.55).powi(2) + (v / 8.75).powi(2) <= 1.0);
        }
    }
    g
}

#[test]
fn phantom_default_is_close_to_truth_at_any_spacing() {
    // Boundary pixel centres lie inside the true outline, so the fit is short by up to ~2 pixels along the
    // axis direction (the spec's reference figure is short by 1.06 px); bound: 2 pixels of the coarser spacing.
    let opts = LesionOptions::new(LesionRules::Default);
    for (rs, cs) in [(0.8, 0.8), (0.8, 2.0), (2.0, 0.8)] {
        for ang in [0.0, 10.0, 30.0, 90.0] {
            let m = measure_lesion(&phantom(rs, cs, ang), rs, cs, &opts).expect("measured");
            let px = f64::max(rs, cs);
            assert!(
                (m.major_mm - 73.1).abs() <= 2.0 * px,
                "{rs}x{cs} {ang}: {}",
                m.major_mm
            );
            assert!(
                (m.minor_mm - 17.5).abs() <= 2.0 * px,
                "{rs}x{cs} {ang}: {}",
                m.minor_mm
            );
            assert!(
                angle_diff_deg(m.major_angle_deg, ang) < 2.0,
                "{rs}x{cs} {ang}: {}",
                m.major_angle_deg
            );
            // The Feret diameter uses the same pixel-centre model, so the same bound applies.
            assert!(
                (m.feret_longest_mm - 73.1).abs() <= 2.0 * px,
                "{rs}x{cs} {ang}: {}",
                m.feret_longest_mm
            );
        }
    }
}

#[test]
fn phantom_medvision10_pairing_regression() {
    // 0.8 mm rows x 2.0 mm columns, major axis 10° from the x axis. OpenCV on these points (golden case
    // phantom_73.1x17.5_10deg_0.8x2.0): per-axis pairing 70.95 / 16.67 mm, swapped pairing 54.00 / 21.90 mm.
    let g = phantom(0.8, 2.0, 10.0);
    let good =
        measure_lesion(&g, 0.8, 2.0, &LesionOptions::new(LesionRules::Default)).expect("default");
    assert!(
        (good.major_mm - 70.95).abs() < 0.01 && (good.minor_mm - 16.67).abs() < 0.01,
        "{good:?}"
    );
    assert!((good.major_mm - 73.1).abs() < 2.5);
    let mut v10 = LesionOptions::new(LesionRules::MedVision10);
    v10.scaled_box_rule = false;
    let bad = measure_lesion(&g, 0.8, 2.0, &v10).expect("v1.0 pairing");
    // Continuous fit 54.00 mm. The planner (biometric_vqa@aa3caad, run on this mask by the method of
    // scripts/planner_golden.py with its box gate opened) writes P1 (12, 67), P2 (38, 58), P3 (30, 75),
    // P4 (20, 50) and measures L-1-2 = 52.496 mm, L-3-4 = 28.284 mm with each axis's own voxel size.
    assert!(
        (bad.ellipse_mm.major_full_axis() - 54.00).abs() < 0.01,
        "{bad:?}"
    );
    assert_eq!(bad.major_end_points_px, [[12.0, 67.0], [38.0, 58.0]]);
    assert_eq!(bad.minor_end_points_px, [[30.0, 75.0], [20.0, 50.0]]);
    // (1e-6: the planner multiplied by the float32 header spacings 0.8f32, 2.0f32; here 0.8 is f64.)
    assert!(
        (bad.major_mm - 52.496_095_107_588_26).abs() < 1e-6,
        "{}",
        bad.major_mm
    );
    assert!(
        (bad.minor_mm - 28.284_271_458_196_145).abs() < 1e-6,
        "{}",
        bad.minor_mm
    );
    for p in bad
        .major_end_points_px
        .iter()
        .chain(bad.minor_end_points_px.iter())
    {
        assert!(
            p[0].fract() == 0.0 && p[1].fract() == 0.0,
            "rounded end points: {p:?}"
        );
    }
    // Isotropic spacing: the pairing makes no difference.
    let iso = phantom(0.8, 0.8, 10.0);
    let a = measure_lesion(&iso, 0.8, 0.8, &LesionOptions::new(LesionRules::Default)).expect("a");
    let b = measure_lesion(&iso, 0.8, 0.8, &v10).expect("b");
    assert_eq!(a.ellipse_mm, b.ellipse_mm);
}

fn ellipse_grid(w: usize, h: usize, c: [f64; 2], semi: [f64; 2], angle_deg: f64) -> Grid2<bool> {
    let mut g = Grid2::filled(w, h, false);
    let t = angle_deg.to_radians();
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 - c[0], y as f64 - c[1]);
            let u = dx * t.cos() + dy * t.sin();
            let v = -dx * t.sin() + dy * t.cos();
            g.set(x, y, (u / semi[0]).powi(2) + (v / semi[1]).powi(2) <= 1.0);
        }
    }
    g
}

#[test]
fn each_guard_rejects_its_case() {
    let def = LesionOptions::new(LesionRules::Default);
    // 5-pixel plus: 4 boundary points.
    let mut plus = Grid2::filled(5, 5, false);
    for (x, y) in [(2, 1), (1, 2), (2, 2), (3, 2), (2, 3)] {
        plus.set(x, y, true);
    }
    assert_eq!(
        measure_lesion(&plus, 1.0, 1.0, &def),
        Err(LesionReject::TooFewPoints)
    );
    // One-pixel diagonal line: all boundary points collinear.
    let mut line = Grid2::filled(12, 12, false);
    for i in 1..11 {
        line.set(i, i, true);
    }
    assert_eq!(
        measure_lesion(&line, 1.0, 1.0, &def),
        Err(LesionReject::SingularFit)
    );
    // Thin ellipse: ~2 px tall at 0.5 mm rows, columns 3 mm → minor ≈ 1 mm < 3 mm.
    let thin = ellipse_grid(40, 9, [20.0, 4.0], [15.0, 1.6], 0.0);
    assert_eq!(
        measure_lesion(&thin, 0.5, 3.0, &def),
        Err(LesionReject::MinorBelowOnePixel)
    );
    // Small ellipse at 0.3 mm: major ≈ 1.4 mm < 2 mm.
    let small = ellipse_grid(10, 10, [5.0, 5.0], [2.6, 1.9], 20.0);
    assert_eq!(
        measure_lesion(&small, 0.3, 0.3, &def),
        Err(LesionReject::MajorBelowFloor)
    );
    // Thin 50° arc of a radius-60 circle: the fit is the whole circle, far beyond the arc's box.
    let mut arc = Grid2::filled(70, 20, false);
    for k in 0..=600 {
        let a = (-25.0 + 50.0 * k as f64 / 600.0f64).to_radians();
        let (x, y) = (35.0 + 60.0 * a.sin(), 65.0 - 60.0 * a.cos());
        arc.set(x.round() as usize, y.round() as usize, true);
    }
    assert_eq!(
        measure_lesion(&arc, 1.0, 1.0, &def),
        Err(LesionReject::MajorAboveBboxDiagonal)
    );
    // v1.0: 200 px floor and the scaled-box rule.
    let v10 = LesionOptions::new(LesionRules::MedVision10);
    let blob = ellipse_grid(20, 20, [10.0, 10.0], [6.0, 4.0], 30.0);
    assert_eq!(
        measure_lesion(&blob, 1.0, 1.0, &v10),
        Err(LesionReject::BelowMinPixels)
    );
    assert!(measure_lesion(&blob, 1.0, 1.0, &def).is_ok());
    let mut square = Grid2::filled(30, 30, false);
    for y in 5..25 {
        for x in 5..25 {
            square.set(x, y, true);
        }
    }
    assert_eq!(
        measure_lesion(&square, 1.0, 1.0, &v10),
        Err(LesionReject::ScaledBoxRule)
    );
    // An axis-aligned ellipse passes; rotated by 30° its minor end points fall inside the 0.9 box (the rule
    // as written keeps only near-axis-aligned fits).
    let big = ellipse_grid(60, 60, [30.0, 30.0], [20.0, 10.0], 0.0);
    // The planner (biometric_vqa@aa3caad) keeps it with these points, in its order (larger row, then larger
    // column, first), and lengths 40 / 18 mm.
    let r = measure_lesion(&big, 1.0, 1.0, &v10).expect("axis-aligned ellipse passes");
    assert_eq!(r.minor_end_points_px, [[30.0, 39.0], [30.0, 21.0]]);
    assert_eq!(r.major_end_points_px, [[50.0, 30.0], [10.0, 30.0]]);
    assert_eq!((r.major_mm, r.minor_mm), (40.0, 18.0));
    let rotated = ellipse_grid(60, 60, [30.0, 30.0], [20.0, 10.0], 30.0);
    assert_eq!(
        measure_lesion(&rotated, 1.0, 1.0, &v10),
        Err(LesionReject::ScaledBoxRule)
    );
    // v1.4: no pixel floor and no box rule, but the mm guards.
    let v14 = LesionOptions::new(LesionRules::MedVision14);
    assert!(measure_lesion(&blob, 1.0, 1.0, &v14).is_ok());
    assert!(measure_lesion(&square, 1.0, 1.0, &v14).is_ok());
    assert_eq!(
        measure_lesion(&small, 0.3, 0.3, &v14),
        Err(LesionReject::MajorBelowFloor)
    );
    // Empty mask.
    assert_eq!(
        measure_lesion(&Grid2::filled(4, 4, false), 1.0, 1.0, &def),
        Err(LesionReject::TooFewPoints)
    );
}

#[test]
fn reject_names_are_unique_and_cover_all() {
    let mut names: Vec<&str> = LesionReject::ALL.iter().map(|r| r.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), LesionReject::ALL.len());
}

#[test]
fn feret_of_reference_contour_is_between_pixel_centres() {
    let g = spec_reference_mask();
    let c = outer_contour(&g);
    let pts: Vec<[f64; 2]> = c
        .iter()
        .map(|p| [f64::from(p[0]) * 0.8, f64::from(p[1]) * 0.8])
        .collect();
    let f = feret_diameters(&pts).expect("non-empty");
    let (i, j) = f.longest_pair;
    let brute = pts
        .iter()
        .flat_map(|a| pts.iter().map(move |b| (a[0] - b[0]).hypot(a[1] - b[1])))
        .fold(0.0f64, f64::max);
    assert!((f.longest_mm - brute).abs() < 1e-12);
    assert!(((pts[i][0] - pts[j][0]).hypot(pts[i][1] - pts[j][1]) - brute).abs() < 1e-12);
    // Perpendicular extent of a 20x10 px semi-axis ellipse at 0.8 mm: about the minor axis (16 mm).
    assert!(
        f.perpendicular_mm > 14.0 && f.perpendicular_mm < 17.0,
        "{}",
        f.perpendicular_mm
    );
}

#[test]
fn measure_lesion_pairs_spacings_like_the_golden_fits() {
    // End to end: the fit inside measure_lesion equals OpenCV on (x·col, y·row) for Default and on
    // (x·row, y·col) for the MedVision pairing, for every golden mask OpenCV fitted.
    let mut unguarded = LesionOptions::new(LesionRules::Default);
    unguarded.guard_minor_below_pixel = false;
    unguarded.guard_major_above_bbox = false;
    unguarded.guard_major_floor = false;
    let mut swapped = unguarded;
    swapped.pairing = SpacingPairing::Swapped;
    let mut checked = 0;
    for c in load_golden() {
        for (opts, want) in [
            (unguarded, Some(c.fit.clone())),
            (swapped, c.fit_swapped.clone()),
        ] {
            let Some(want) = want else { continue };
            if want["status"] != "ok" || is_degenerate(&want) || c.name.starts_with("multi") {
                continue;
            }
            let m = measure_lesion(&c.mask, c.row_sp, c.col_sp, &opts)
                .unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let axes = &want["axes"];
            let (w, h) = (axes[0].as_f64().expect("w"), axes[1].as_f64().expect("h"));
            assert!(
                (m.minor_mm - w.min(h)).abs() <= 1e-3f64.max(1e-4 * w),
                "{}",
                c.name
            );
            assert!(
                (m.major_mm - w.max(h)).abs() <= 1e-3f64.max(1e-4 * h),
                "{}",
                c.name
            );
            assert_eq!(m.boundary_points, c.contour.len());
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked}");
}

#[test]
fn profile_options_follow_the_spec() {
    let d = LesionOptions::new(LesionRules::Default);
    assert_eq!(
        (
            d.min_pixels,
            d.pairing,
            d.round_end_points,
            d.scaled_box_rule
        ),
        (0, SpacingPairing::PerAxis, false, false)
    );
    assert!(d.guard_minor_below_pixel && d.guard_major_above_bbox && d.guard_major_floor);
    assert_eq!(
        (
            d.max_major_over_bbox_diagonal,
            d.min_major_floor_mm,
            d.min_major_floor_pixels
        ),
        (1.5, 2.0, 2.0)
    );
    let v10 = LesionOptions::new(LesionRules::MedVision10);
    assert_eq!(
        (
            v10.min_pixels,
            v10.pairing,
            v10.round_end_points,
            v10.scaled_box_rule
        ),
        (200, SpacingPairing::Swapped, true, true)
    );
    assert_eq!(v10.axis_model, AxisModel::PlannerPixelAxes);
    assert!(!v10.guard_major_floor);
    let v14 = LesionOptions::new(LesionRules::MedVision14);
    assert_eq!(
        (v14.min_pixels, v14.scaled_box_rule, v14.guard_major_floor),
        (0, false, true)
    );
    // Planner 1.1.1 on: per-axis pairing, continuous fitted axes, rounded end points written.
    assert_eq!(
        (v14.pairing, v14.axis_model, v14.round_end_points),
        (SpacingPairing::PerAxis, AxisModel::PlannerRealAxes, true)
    );
    assert_eq!(d.axis_model, AxisModel::Fitted);
}

/// One row of tests/golden/lesion/planner_golden.json (made by scripts/planner_golden.py).
struct PlannerCase {
    name: String,
    mask: Grid2<bool>,
    row_sp: f64,
    col_sp: f64,
    v10: Value,
    v14: Value,
}

fn load_planner_golden() -> Vec<PlannerCase> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/lesion/planner_golden.json"
    );
    let root: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("planner golden readable"))
            .expect("planner golden JSON");
    root["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let w = c["width"].as_u64().expect("width") as usize;
            let h = c["height"].as_u64().expect("height") as usize;
            let mut data = Vec::with_capacity(w * h);
            for (k, run) in c["rle"].as_array().expect("rle").iter().enumerate() {
                data.extend(std::iter::repeat_n(
                    k % 2 == 1,
                    run.as_u64().expect("run") as usize,
                ));
            }
            assert_eq!(data.len(), w * h, "rle length of {}", c["name"]);
            PlannerCase {
                name: c["name"].as_str().expect("name").to_string(),
                mask: Grid2 {
                    width_px: w,
                    height_px: h,
                    data,
                },
                row_sp: c["row_spacing"].as_f64().expect("row spacing"),
                col_sp: c["col_spacing"].as_f64().expect("col spacing"),
                v10: c["v10"].clone(),
                v14: c["v14"].clone(),
            }
        })
        .collect()
}

/// The planner's P1..P4 as `[x, y]` pixels, in its order.
fn golden_points(row: &Value) -> Vec<[f64; 2]> {
    row["points_xy"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| [p[0].as_f64().expect("x"), p[1].as_f64().expect("y")])
        .collect()
}

fn our_points(m: &LesionMeasurement) -> Vec<[f64; 2]> {
    let [p1, p2] = m.major_end_points_px;
    let [p3, p4] = m.minor_end_points_px;
    vec![p1, p2, p3, p4]
}

fn flag(row: &Value, key: &str) -> bool {
    row[key].as_bool().unwrap_or(false)
}

#[test]
fn medvision_profiles_reproduce_the_planner_row_for_row() {
    // v1.0: the planner's own code at biometric_vqa@aa3caad, run by scripts/planner_golden.py on these
    // masks (kept/dropped, rounded P1..P4 in its order, L-1-2 / L-3-4 from its `_cal_distance`).
    // v1.4: the release-notes rules computed with OpenCV (see the script). Comparisons that sit on a knife
    // edge (an end point within 1e-3 px of a box border or of a .5 rounding boundary, a guard within 1e-4 of
    // its threshold) are skipped, because our fit matches OpenCV to ~1e-4 rather than bit for bit.
    let cases = load_planner_golden();
    assert!(cases.len() >= 120, "{} cases", cases.len());
    let v10 = LesionOptions::new(LesionRules::MedVision10);
    let v14 = LesionOptions::new(LesionRules::MedVision14);
    let (mut kept10, mut dropped10, mut kept14, mut dropped14, mut skipped) = (0, 0, 0, 0, 0);
    for c in &cases {
        // v1.0
        let ours = measure_lesion(&c.mask, c.row_sp, c.col_sp, &v10);
        let want_kept = c.v10["kept"].as_bool().expect("kept");
        if flag(&c.v10, "fragile_keep") {
            skipped += 1;
        } else {
            assert_eq!(ours.is_ok(), want_kept, "v1.0 {}: ours {ours:?}", c.name);
            if want_kept {
                kept10 += 1;
            } else {
                dropped10 += 1;
            }
        }
        if let (Ok(m), true) = (&ours, want_kept) {
            if flag(&c.v10, "fragile_points") {
                skipped += 1;
            } else {
                assert_eq!(
                    our_points(m),
                    golden_points(&c.v10),
                    "v1.0 {} points",
                    c.name
                );
                let l12 = c.v10["l12_mm"].as_f64().expect("l12");
                let l34 = c.v10["l34_mm"].as_f64().expect("l34");
                assert!(
                    (m.major_mm - l12).abs() <= 1e-9 * l12,
                    "v1.0 {}: {} vs {l12}",
                    c.name,
                    m.major_mm
                );
                assert!(
                    (m.minor_mm - l34).abs() <= 1e-9 * l34,
                    "v1.0 {}: {} vs {l34}",
                    c.name,
                    m.minor_mm
                );
            }
        }
        // v1.4
        let ours = measure_lesion(&c.mask, c.row_sp, c.col_sp, &v14);
        let want_kept = c.v14["kept"].as_bool().expect("kept");
        if flag(&c.v14, "fragile_keep") {
            skipped += 1;
            continue;
        }
        match (&ours, want_kept) {
            (Ok(m), true) => {
                kept14 += 1;
                let major = c.v14["major_mm"].as_f64().expect("major");
                let minor = c.v14["minor_mm"].as_f64().expect("minor");
                assert!(
                    (m.major_mm - major).abs() <= 1e-3f64.max(1e-4 * major),
                    "v1.4 {}",
                    c.name
                );
                assert!(
                    (m.minor_mm - minor).abs() <= 1e-3f64.max(1e-4 * minor),
                    "v1.4 {}",
                    c.name
                );
                if flag(&c.v14, "fragile_points") {
                    skipped += 1;
                } else {
                    assert_eq!(
                        our_points(m),
                        golden_points(&c.v14),
                        "v1.4 {} points",
                        c.name
                    );
                }
            }
            (Err(why), false) => {
                dropped14 += 1;
                // OpenCV perturbs a singular system randomly and the guards then catch the result as
                // non-finite; we drop it as singular without a random retry (§7.3): same decision.
                let want = c.v14["reason"].as_str().expect("reason");
                let degenerate = |r: &str| r == "singular_fit" || r == "non_finite_conic";
                assert!(
                    why.name() == want || (degenerate(why.name()) && degenerate(want)),
                    "v1.4 {}: ours {why}, planner {want}",
                    c.name
                );
            }
            _ => panic!("v1.4 {}: ours {ours:?}, planner {}", c.name, c.v14),
        }
    }
    eprintln!("planner golden: v1.0 kept {kept10} dropped {dropped10}; v1.4 kept {kept14} dropped {dropped14}; skipped {skipped}");
    assert!(kept10 >= 20 && dropped10 >= 80, "{kept10} / {dropped10}");
    assert!(kept14 >= 100 && dropped14 >= 7, "{kept14} / {dropped14}");
    assert!(skipped <= 20, "{skipped} knife-edge comparisons skipped");
}

#[test]
fn each_guard_can_be_switched_off() {
    // The cases of `each_guard_rejects_its_case`, each with its own rule switched off (manifest
    // `lesion = { <rule> = false }`), pass; the other guards still hold.
    let def = LesionOptions::new(LesionRules::Default);
    let thin = ellipse_grid(40, 9, [20.0, 4.0], [15.0, 1.6], 0.0);
    let no_minor = LesionOptions {
        guard_minor_below_pixel: false,
        ..def
    };
    let m = measure_lesion(&thin, 0.5, 3.0, &no_minor).expect("guard 3 off");
    assert!(m.minor_mm < 3.0 && m.major_mm > 80.0, "{m:?}");
    let small = ellipse_grid(10, 10, [5.0, 5.0], [2.6, 1.9], 20.0);
    let no_floor = LesionOptions {
        guard_major_floor: false,
        ..def
    };
    assert!(
        measure_lesion(&small, 0.3, 0.3, &no_floor)
            .expect("guard 5 off")
            .major_mm
            < 2.0
    );
    let mut arc = Grid2::filled(70, 20, false);
    for k in 0..=600 {
        let a = (-25.0 + 50.0 * k as f64 / 600.0f64).to_radians();
        let (x, y) = (35.0 + 60.0 * a.sin(), 65.0 - 60.0 * a.cos());
        arc.set(x.round() as usize, y.round() as usize, true);
    }
    let no_bbox = LesionOptions {
        guard_major_above_bbox: false,
        ..def
    };
    let m = measure_lesion(&arc, 1.0, 1.0, &no_bbox).expect("guard 4 off");
    assert!(m.major_mm > 1.5 * 51f64.hypot(20.0), "{}", m.major_mm);
    let mut square = Grid2::filled(30, 30, false);
    for y in 5..25 {
        for x in 5..25 {
            square.set(x, y, true);
        }
    }
    let v10 = LesionOptions::new(LesionRules::MedVision10);
    assert_eq!(
        measure_lesion(&square, 1.0, 1.0, &v10),
        Err(LesionReject::ScaledBoxRule)
    );
    let no_box = LesionOptions {
        scaled_box_rule: false,
        ..v10
    };
    assert!(measure_lesion(&square, 1.0, 1.0, &no_box).is_ok());
    // Switching the scaled-box rule on in the default profile applies it to the default end points.
    let with_box = LesionOptions {
        scaled_box_rule: true,
        ..def
    };
    assert_eq!(
        measure_lesion(&square, 1.0, 1.0, &with_box),
        Err(LesionReject::ScaledBoxRule)
    );
}
