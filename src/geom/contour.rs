//! Outer border of a binary component by Suzuki–Abe border following, point-for-point equal to OpenCV's
//! `findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE)` (docs/measurements.md §7.2): the ellipse fit and the Feret
//! diameters are computed on exactly the points OpenCV would hand to `fitEllipse`.
//!
//! Conventions reproduced from OpenCV:
//! - pixels outside the grid count as background (OpenCV pads the image with a zero frame), so components
//!   touching the grid edge are traced along the edge;
//! - the start point is the first foreground pixel in raster order (row by row, left to right);
//! - tracing uses 8-connectivity and runs counter-clockwise on screen (down the left side first, with `y`
//!   pointing down); every visited boundary pixel is emitted, so one-pixel-wide parts appear twice
//!   (once on the way out and once on the way back);
//! - a single isolated pixel gives a one-point contour.

use super::Grid2;

/// Chain-code steps, OpenCV order: 0 = +x, 1 = (+x,-y), 2 = -y, 3 = (-x,-y), 4 = -x, 5 = (-x,+y), 6 = +y,
/// 7 = (+x,+y) (screen axes, `y` down).
const STEP: [[i64; 2]; 8] = [
    [1, 0],
    [1, -1],
    [0, -1],
    [-1, -1],
    [-1, 0],
    [-1, 1],
    [0, 1],
    [1, 1],
];

/// Outer contour (pixel coordinates `[x, y]`) of the first component OpenCV's raster scan meets.
///
/// For a mask with one 8-connected component this is OpenCV's single `RETR_EXTERNAL` contour. With several
/// components, this returns the border of the component holding the first foreground pixel in raster
/// order, i.e. the border OpenCV *finds* first; note that OpenCV's returned list is in reverse discovery
/// order, so that contour is the **last** element of `findContours`' output. Holes are ignored (external
/// border only). An empty mask gives an empty vector.
pub fn outer_contour(mask: &Grid2<bool>) -> Vec<[i32; 2]> {
    let width = mask.width_px;
    let height = mask.height_px;
    if width == 0 || height == 0 || mask.data.len() != width * height {
        return Vec::new();
    }
    let Some(first) = mask.data.iter().position(|&v| v) else {
        return Vec::new();
    };
    let start = [(first % width) as i64, (first / width) as i64];
    let inside = |p: [i64; 2]| -> bool {
        p[0] >= 0
            && p[1] >= 0
            && (p[0] as usize) < width
            && (p[1] as usize) < height
            && mask.data[p[1] as usize * width + p[0] as usize]
    };
    let add = |p: [i64; 2], s: usize| [p[0] + STEP[s][0], p[1] + STEP[s][1]];
    let to_out = |p: [i64; 2]| [p[0] as i32, p[1] as i32];

    // Look clockwise on screen from the west neighbour (which is background) for the first foreground
    // neighbour; it becomes the pixel the trace must return through.
    let s_end = 4usize;
    let mut s = s_end;
    let mut i1;
    loop {
        s = (s + 7) & 7;
        i1 = add(start, s);
        if inside(i1) || s == s_end {
            break;
        }
    }
    if s == s_end && !inside(i1) {
        return vec![to_out(start)];
    }

    let mut out = Vec::new();
    let mut i3 = start;
    // Upper bound on steps: every boundary pixel is left at most 4 times (once per neighbouring background
    // side), so 4 * pixel count + 8 steps always suffices; it protects against any logic error looping forever.
    let max_steps = 4 * mask.data.len() + 8;
    for _ in 0..max_steps {
        let s_prev = s;
        let mut i4 = i3;
        let mut k = s_prev;
        // Counter-clockwise search starting just after the direction we came from.
        for _ in 0..8 {
            k += 1;
            i4 = add(i3, k & 7);
            if inside(i4) {
                break;
            }
        }
        s = k & 7;
        out.push(to_out(i3));
        if i4 == start && i3 == i1 {
            break;
        }
        i3 = i4;
        s = (s + 4) & 7;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&str]) -> Grid2<bool> {
        let h = rows.len();
        let w = rows[0].len();
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| b == b'#'))
            .collect();
        Grid2 {
            width_px: w,
            height_px: h,
            data,
        }
    }

    #[test]
    fn square_is_traced_down_the_left_side_first() {
        // OpenCV: [[0,0],[0,1],[0,2],[1,2],[2,2],[2,1],[2,0],[1,0]] for a 3x3 block at the origin.
        let g = grid(&["###.", "###.", "###.", "...."]);
        assert_eq!(
            outer_contour(&g),
            vec![
                [0, 0],
                [0, 1],
                [0, 2],
                [1, 2],
                [2, 2],
                [2, 1],
                [2, 0],
                [1, 0]
            ]
        );
    }

    #[test]
    fn single_pixel_and_empty() {
        let g = grid(&["...", ".#.", "..."]);
        assert_eq!(outer_contour(&g), vec![[1, 1]]);
        let e = grid(&["...", "..."]);
        assert!(outer_contour(&e).is_empty());
    }

    #[test]
    fn one_pixel_line_repeats_points_on_the_way_back() {
        let g = grid(&["####"]);
        assert_eq!(
            outer_contour(&g),
            vec![[0, 0], [1, 0], [2, 0], [3, 0], [2, 0], [1, 0]]
        );
    }
}
