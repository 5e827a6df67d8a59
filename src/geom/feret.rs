//! Maximum Feret (caliper) diameter and the extent perpendicular to it, the RECIST-style "longest diameter"
//! of a lesion (docs/measurements.md §7.6), computed exactly on boundary pixel centres given in millimetres.
//!
//! Method: convex hull (Andrew's monotone chain), then the exact maximum over all hull vertex pairs (the
//! farthest pair of a point set is always a pair of hull vertices); the perpendicular extent is the width of
//! the hull's projection onto the unit normal of that longest chord.

/// Feret diameters of a point set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feret {
    /// Largest distance between two input points (mm).
    pub longest_mm: f64,
    /// Extent of the point set along the direction perpendicular to the longest chord (mm).
    pub perpendicular_mm: f64,
    /// Indices `(i, j)`, `i < j`, of the two input points realising `longest_mm` (for equal lengths the pair
    /// met first in hull order; `(0, 0)` for a single point).
    pub longest_pair: (usize, usize),
}

fn cross(o: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

/// Indices of the convex hull vertices (counter-clockwise in a y-up frame, collinear points dropped).
fn hull_indices(points: &[[f64; 2]]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a][0]
            .total_cmp(&points[b][0])
            .then(points[a][1].total_cmp(&points[b][1]))
            .then(a.cmp(&b))
    });
    order.dedup_by(|a, b| points[*a] == points[*b]);
    if order.len() < 3 {
        return order;
    }
    let mut hull: Vec<usize> = Vec::with_capacity(2 * order.len());
    for &i in order.iter() {
        while hull.len() >= 2
            && cross(
                points[hull[hull.len() - 2]],
                points[hull[hull.len() - 1]],
                points[i],
            ) <= 0.0
        {
            hull.pop();
        }
        hull.push(i);
    }
    let lower_len = hull.len() + 1;
    for &i in order.iter().rev().skip(1) {
        while hull.len() >= lower_len
            && cross(
                points[hull[hull.len() - 2]],
                points[hull[hull.len() - 1]],
                points[i],
            ) <= 0.0
        {
            hull.pop();
        }
        hull.push(i);
    }
    hull.pop();
    hull
}

/// Max Feret diameter and perpendicular extent of `points_mm`. `None` for an empty input.
pub fn feret_diameters(points_mm: &[[f64; 2]]) -> Option<Feret> {
    if points_mm.is_empty() {
        return None;
    }
    let hull = hull_indices(points_mm);
    let mut best = (0usize, 0usize);
    let mut best_d2 = -1.0f64;
    for (k, &i) in hull.iter().enumerate() {
        for &j in hull.iter().skip(k + 1) {
            let dx = points_mm[i][0] - points_mm[j][0];
            let dy = points_mm[i][1] - points_mm[j][1];
            let d2 = dx * dx + dy * dy;
            if d2 > best_d2 {
                best_d2 = d2;
                best = (i.min(j), i.max(j));
            }
        }
    }
    if hull.len() < 2 {
        best = (hull[0], hull[0]);
        best_d2 = 0.0;
    }
    let longest_mm = best_d2.max(0.0).sqrt();
    let perpendicular_mm = if longest_mm > 0.0 {
        let (a, b) = (points_mm[best.0], points_mm[best.1]);
        let normal = [-(b[1] - a[1]) / longest_mm, (b[0] - a[0]) / longest_mm];
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for &i in &hull {
            let p = points_mm[i];
            let t = p[0] * normal[0] + p[1] * normal[1];
            lo = lo.min(t);
            hi = hi.max(t);
        }
        hi - lo
    } else {
        0.0
    };
    Some(Feret {
        longest_mm,
        perpendicular_mm,
        longest_pair: best,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_diagonal_and_perpendicular_extent() {
        // Corners of a 3 x 4 rectangle plus interior and edge points: diagonal 5, extent across it 2*12/5.
        let pts = [
            [1.0, 1.0],
            [0.0, 0.0],
            [3.0, 0.0],
            [1.5, 0.0],
            [3.0, 4.0],
            [0.0, 4.0],
            [2.0, 2.0],
        ];
        let f = feret_diameters(&pts).expect("non-empty");
        assert!((f.longest_mm - 5.0).abs() < 1e-12);
        assert!((f.perpendicular_mm - 24.0 / 5.0).abs() < 1e-12);
        assert!(f.longest_pair == (1, 4) || f.longest_pair == (2, 5));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(feret_diameters(&[]), None);
        let one = feret_diameters(&[[2.0, 3.0]]).expect("one point");
        assert_eq!(
            (one.longest_mm, one.perpendicular_mm, one.longest_pair),
            (0.0, 0.0, (0, 0))
        );
        let line =
            feret_diameters(&[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [1.0, 1.0]]).expect("line");
        assert!((line.longest_mm - 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(line.perpendicular_mm, 0.0);
        assert_eq!(line.longest_pair, (0, 2));
    }
}
