//! Landmark measurements (docs/measurements.md §8.2, §8.3): distances in mm and angles in degrees between points
//! given in voxel or pixel index space, each axis scaled by its own spacing before any geometry.
//!
//! Angles use `atan2(|u × v|, u · v)` with the cross-product norm summed over every axis pair, which equals
//! the spec's `acos` form mathematically and stays accurate near 0° and 180° where `acos` loses digits.

/// `(b - a) * spacing` per axis, in mm.
fn scaled<const N: usize>(a: [f64; N], b: [f64; N], spacing_mm: [f64; N]) -> [f64; N] {
    let mut out = [0.0; N];
    for i in 0..N {
        out[i] = (b[i] - a[i]) * spacing_mm[i];
    }
    out
}

fn dot<const N: usize>(u: [f64; N], v: [f64; N]) -> f64 {
    u.iter().zip(&v).map(|(a, b)| a * b).sum()
}

/// Norm of the wedge product `u ∧ v` (the cross-product norm in 3D, `|u_x v_y - u_y v_x|` in 2D).
fn wedge_norm<const N: usize>(u: [f64; N], v: [f64; N]) -> f64 {
    let mut sum = 0.0;
    for i in 0..N {
        for j in i + 1..N {
            let c = u[i] * v[j] - u[j] * v[i];
            sum += c * c;
        }
    }
    sum.sqrt()
}

fn is_zero<const N: usize>(u: [f64; N]) -> bool {
    u.iter().all(|c| *c == 0.0)
}

/// Euclidean distance in mm between two index-space points: `|(b - a) * spacing|`.
pub fn distance_mm<const N: usize>(a: [f64; N], b: [f64; N], spacing_mm: [f64; N]) -> f64 {
    let d = scaled(a, b, spacing_mm);
    dot(d, d).sqrt()
}

/// Acute angle in degrees (0–90) between line `a1→a2` and line `b1→b2` (MedVision's definition:
/// `acos(|u·v| / (|u||v|))`). `None` when a line has zero length.
pub fn line_angle_deg<const N: usize>(
    a1: [f64; N],
    a2: [f64; N],
    b1: [f64; N],
    b2: [f64; N],
    spacing_mm: [f64; N],
) -> Option<f64> {
    let u = scaled(a1, a2, spacing_mm);
    let v = scaled(b1, b2, spacing_mm);
    if is_zero(u) || is_zero(v) {
        return None;
    }
    Some(wedge_norm(u, v).atan2(dot(u, v).abs()).to_degrees())
}

/// Angle in degrees (0–180) at `vertex` between the rays `vertex→p1` and `vertex→p2` (the clinical
/// definition of e.g. SNA = angle S–N–A at N). `None` when a ray has zero length.
pub fn vertex_angle_deg<const N: usize>(
    p1: [f64; N],
    vertex: [f64; N],
    p2: [f64; N],
    spacing_mm: [f64; N],
) -> Option<f64> {
    let u = scaled(vertex, p1, spacing_mm);
    let v = scaled(vertex, p2, spacing_mm);
    if is_zero(u) || is_zero(v) {
        return None;
    }
    Some(wedge_norm(u, v).atan2(dot(u, v)).to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel_close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1e-300)
    }

    #[test]
    fn distances_scale_each_axis_by_its_own_spacing() {
        // 3-4-5 triangle in mm from anisotropic pixels: 6 px * 0.5 mm, 2 px * 2 mm.
        assert!(rel_close(
            distance_mm([1.0, 1.0], [7.0, 3.0], [0.5, 2.0]),
            5.0
        ));
        // 3D: (2, 3, 6) mm → 7 mm, points on different slices.
        assert!(rel_close(
            distance_mm([0.0, 0.0, 0.0], [4.0, 3.0, 2.0], [0.5, 1.0, 3.0]),
            7.0
        ));
        assert_eq!(distance_mm([2.0, 2.0], [2.0, 2.0], [0.1, 0.1]), 0.0);
    }

    #[test]
    fn angles_match_closed_form_constructions() {
        // Rays at 30° and 150° from the x axis, built from exact cos/sin with spacing undone per axis.
        let s = [0.1, 0.25];
        let ray = |deg: f64, r: f64| {
            let t = deg.to_radians();
            [10.0 + r * t.cos() / s[0], 20.0 + r * t.sin() / s[1]]
        };
        let v = [10.0, 20.0];
        for (a, b) in [
            (30.0, 150.0),
            (10.0, 55.0),
            (0.0, 89.0),
            (-20.0, 100.0),
            (5.0, 175.0),
        ] {
            let truth = f64::abs(b - a);
            let got = vertex_angle_deg(ray(a, 3.0), v, ray(b, 7.5), s).expect("non-degenerate");
            assert!(rel_close(got, truth), "vertex {a},{b}: {got} vs {truth}");
            let line = line_angle_deg(v, ray(a, 3.0), v, ray(b, 7.5), s).expect("non-degenerate");
            let acute = if truth > 90.0 { 180.0 - truth } else { truth };
            assert!(rel_close(line, acute), "line {a},{b}: {line} vs {acute}");
            // The two definitions differ exactly when the vertex angle exceeds 90°.
            assert_eq!(
                line != got,
                truth > 90.0,
                "{a},{b}: line {line} vertex {got}"
            );
        }
    }

    #[test]
    fn line_angle_ignores_direction_and_vertex_angle_does_not() {
        let s = [1.0, 1.0, 1.0];
        let o = [0.0, 0.0, 0.0];
        let x = [1.0, 0.0, 0.0];
        let d = [-1.0, 1.0, 0.0]; // 135° from +x
        assert!(rel_close(vertex_angle_deg(x, o, d, s).expect("ok"), 135.0));
        assert!(rel_close(line_angle_deg(o, x, o, d, s).expect("ok"), 45.0));
        assert!(rel_close(line_angle_deg(x, o, o, d, s).expect("ok"), 45.0));
        // Anisotropic spacing turns the index-space 45° into atan(3) in mm.
        let got = line_angle_deg(o, x, o, [1.0, 1.0, 0.0], [1.0, 3.0, 1.0]).expect("ok");
        assert!(rel_close(got, 3.0f64.atan().to_degrees()));
        // 3D: perpendicular lines on different slices.
        assert!(rel_close(
            line_angle_deg(o, [0.0, 0.0, 2.0], [5.0, 5.0, 5.0], [6.0, 5.0, 5.0], s).expect("ok"),
            90.0
        ));
    }

    #[test]
    fn degenerate_lines_have_no_angle() {
        let p = [1.0, 2.0];
        assert_eq!(
            line_angle_deg(p, p, [0.0, 0.0], [1.0, 0.0], [1.0, 1.0]),
            None
        );
        assert_eq!(vertex_angle_deg([3.0, 3.0], p, p, [1.0, 1.0]), None);
    }
}
