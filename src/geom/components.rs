//! Connected-component labelling of a 2D grid: the one place that decides which pixels form an "instance"
//! (docs/measurements.md §4.1, §7.1). Run-based union-find: one pass over the rows collects horizontal runs of equal
//! non-background values, joins runs that touch runs of the row above, and numbers components in raster order
//! of their first pixel, so the result is deterministic and independent of scan details.

use crate::geom::Grid2;

/// Which neighbours join two equal-valued pixels into one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Adjacency {
    /// Edge neighbours only (left, right, up, down).
    #[default]
    Four,
    /// Edge and corner neighbours.
    Eight,
}

/// A horizontal run of equal pixels `x0_px..=x1_px` on row `y_px`, part of one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Row of the run.
    pub y_px: usize,
    /// First column of the run.
    pub x0_px: usize,
    /// Inclusive end column.
    pub x1_px: usize,
    /// Component id (index into [`Components::stats`]).
    pub component: usize,
}

/// Size and extent of one component.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComponentStats<T> {
    /// The grid value shared by every pixel of the component.
    pub value: T,
    /// Number of pixels in the component.
    pub pixel_count: u64,
    /// Inclusive bounds `[x_min, y_min, x_max, y_max]` in pixels.
    pub bbox_px: [usize; 4],
}

impl<T> ComponentStats<T> {
    /// Width of `bbox_px` in pixels (inclusive bounds).
    pub fn width_px(&self) -> usize {
        self.bbox_px[2] - self.bbox_px[0] + 1
    }

    /// Height of `bbox_px` in pixels (inclusive bounds).
    pub fn height_px(&self) -> usize {
        self.bbox_px[3] - self.bbox_px[1] + 1
    }
}

/// The components of a grid: ids `0..count()` in raster order of each component's first pixel
/// (smallest `y`, then smallest `x`).
#[derive(Debug, Clone)]
pub struct Components<T> {
    width_px: usize,
    height_px: usize,
    runs: Vec<Run>,
    stats: Vec<ComponentStats<T>>,
}

/// Scratch buffers of [`Components::label_with`], reusable across many slices.
#[derive(Debug, Default)]
pub struct LabelScratch {
    parent: Vec<u32>,
    id_of_root: Vec<u32>,
}

impl<T: Copy + PartialEq> Components<T> {
    /// Labels every pixel whose value differs from `background`; two neighbouring pixels belong to one
    /// component when their values are equal. For a binary mask pass a `Grid2<bool>` and `false`.
    pub fn label(grid: &Grid2<T>, background: T, adjacency: Adjacency) -> Self {
        Self::label_with(grid, background, adjacency, &mut LabelScratch::default())
    }

    /// [`Components::label`] reusing the union-find buffers in `scratch`.
    pub fn label_with(
        grid: &Grid2<T>,
        background: T,
        adjacency: Adjacency,
        scratch: &mut LabelScratch,
    ) -> Self {
        // Runs that may touch a run [x0, x1] of the next row: those overlapping [x0 - reach, x1 + reach].
        let reach = match adjacency {
            Adjacency::Four => 0,
            Adjacency::Eight => 1,
        };
        let (mut runs, values) = join_runs(grid, background, reach, &mut scratch.parent);
        let stats = number_components(
            &mut runs,
            &values,
            &mut scratch.parent,
            &mut scratch.id_of_root,
        );
        Components {
            width_px: grid.width_px,
            height_px: grid.height_px,
            runs,
            stats,
        }
    }

    /// Number of components.
    pub fn count(&self) -> usize {
        self.stats.len()
    }

    /// Per-component value, pixel count and box, indexed by component id.
    pub fn stats(&self) -> &[ComponentStats<T>] {
        &self.stats
    }

    /// All runs in raster order, each tagged with its component id.
    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Binary mask (same size as the labelled grid) of component `id`; `None` when there is no such id.
    pub fn component_mask(&self, id: usize) -> Option<Grid2<bool>> {
        if id >= self.stats.len() {
            return None;
        }
        let mut mask = Grid2::filled(self.width_px, self.height_px, false);
        for run in self.runs.iter().filter(|r| r.component == id) {
            let start = run.y_px * self.width_px;
            mask.data[start + run.x0_px..=start + run.x1_px].fill(true);
        }
        Some(mask)
    }

    /// Grid of component ids plus one (0 = background).
    pub fn label_grid(&self) -> Grid2<u32> {
        let mut labels = Grid2::filled(self.width_px, self.height_px, 0u32);
        for run in &self.runs {
            let start = run.y_px * self.width_px;
            labels.data[start + run.x0_px..=start + run.x1_px].fill(run.component as u32 + 1);
        }
        labels
    }
}

/// One pass over the rows: every horizontal run of equal non-background values (component ids not yet set)
/// with its value, and in `parent` the union-find forest joining runs that touch a run of the row above
/// (within `reach` columns) and share its value.
fn join_runs<T: Copy + PartialEq>(
    grid: &Grid2<T>,
    background: T,
    reach: usize,
    parent: &mut Vec<u32>,
) -> (Vec<Run>, Vec<T>) {
    let width_px = grid.width_px;
    let mut runs: Vec<Run> = Vec::new();
    let mut values: Vec<T> = Vec::new();
    parent.clear();
    let mut prev_rows = 0..0;
    for y in 0..grid.height_px {
        let row = &grid.data[y * width_px..(y + 1) * width_px];
        let row_start = runs.len();
        let mut above = prev_rows.start;
        let mut x = 0;
        while x < width_px {
            let value = row[x];
            if value == background {
                x += 1;
                continue;
            }
            let x0 = x;
            while x < width_px && row[x] == value {
                x += 1;
            }
            let x1 = x - 1;
            let me = runs.len();
            runs.push(Run {
                y_px: y,
                x0_px: x0,
                x1_px: x1,
                component: 0,
            });
            values.push(value);
            parent.push(me as u32);
            // Runs of the row above ending left of our reach touch neither this run nor later ones.
            while above < prev_rows.end && runs[above].x1_px + reach < x0 {
                above += 1;
            }
            let mut k = above;
            while k < prev_rows.end && runs[k].x0_px <= x1 + reach {
                if values[k] == value {
                    union(parent, k as u32, me as u32);
                }
                k += 1;
            }
        }
        prev_rows = row_start..runs.len();
    }
    (runs, values)
}

/// Numbers the sets of `parent` and tags every run with its component id; returns each component's stats.
fn number_components<T: Copy>(
    runs: &mut [Run],
    values: &[T],
    parent: &mut [u32],
    id_of_root: &mut Vec<u32>,
) -> Vec<ComponentStats<T>> {
    // A set's root is its smallest run index, i.e. its first run in raster order, so numbering roots as
    // they are met numbers components by their first pixel.
    id_of_root.clear();
    id_of_root.resize(runs.len(), u32::MAX);
    let mut stats: Vec<ComponentStats<T>> = Vec::new();
    for r in 0..runs.len() {
        let root = find(parent, r as u32) as usize;
        let run = runs[r];
        let id = if root == r {
            id_of_root[r] = stats.len() as u32;
            stats.push(ComponentStats {
                value: values[r],
                pixel_count: 0,
                bbox_px: [run.x0_px, run.y_px, run.x1_px, run.y_px],
            });
            stats.len() - 1
        } else {
            id_of_root[root] as usize
        };
        let s = &mut stats[id];
        s.pixel_count += (run.x1_px - run.x0_px + 1) as u64;
        s.bbox_px[0] = s.bbox_px[0].min(run.x0_px);
        s.bbox_px[2] = s.bbox_px[2].max(run.x1_px);
        s.bbox_px[3] = run.y_px;
        runs[r].component = id;
    }
    stats
}

/// Root of `x` with path halving.
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let grand = parent[parent[x as usize] as usize];
        parent[x as usize] = grand;
        x = grand;
    }
    x
}

/// Joins the sets of `a` and `b`, keeping the smaller root so each root is its set's first run.
fn union(parent: &mut [u32], a: u32, b: u32) {
    let ra = find(parent, a);
    let rb = find(parent, b);
    if ra < rb {
        parent[rb as usize] = ra;
    } else if rb < ra {
        parent[ra as usize] = rb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid_from(rows: &[&str]) -> Grid2<u8> {
        let height_px = rows.len();
        let width_px = rows[0].len();
        let mut g = Grid2::filled(width_px, height_px, 0u8);
        for (y, row) in rows.iter().enumerate() {
            for (x, c) in row.bytes().enumerate() {
                if c != b'.' {
                    g.set(x, y, c - b'0');
                }
            }
        }
        g
    }

    #[test]
    fn diagonal_touch_differs_between_four_and_eight() {
        let g = grid_from(&["1...", ".1..", "..1.", "...."]);
        let four = Components::label(&g, 0, Adjacency::Four);
        let eight = Components::label(&g, 0, Adjacency::Eight);
        assert_eq!(four.count(), 3);
        assert_eq!(eight.count(), 1);
        assert_eq!(eight.stats()[0].bbox_px, [0, 0, 2, 2]);
        assert_eq!(eight.stats()[0].pixel_count, 3);
        assert_eq!(four.stats()[1].bbox_px, [1, 1, 1, 1]);
    }

    #[test]
    fn equal_values_only_join() {
        // Two touching labels stay separate; a U shape merges late and keeps raster numbering.
        let g = grid_from(&["1.1.22", "1.1.22", "111222", "......", "2....."]);
        let c = Components::label(&g, 0, Adjacency::Eight);
        assert_eq!(c.count(), 3);
        let s = c.stats();
        assert_eq!(
            (s[0].value, s[0].pixel_count, s[0].bbox_px),
            (1, 7, [0, 0, 2, 2])
        );
        assert_eq!(
            (s[1].value, s[1].pixel_count, s[1].bbox_px),
            (2, 7, [3, 0, 5, 2])
        );
        assert_eq!(
            (s[2].value, s[2].pixel_count, s[2].bbox_px),
            (2, 1, [0, 4, 0, 4])
        );
    }

    #[test]
    fn raster_order_of_first_pixel() {
        // Component whose first pixel comes later in the row but earlier in rows is numbered first.
        let g = grid_from(&["...1", "1..1", "1111", "..1."]);
        let four = Components::label(&g, 0, Adjacency::Four);
        assert_eq!(four.count(), 1);
        let g = grid_from(&["...1", "1...", "1.11", ".1.."]);
        let four = Components::label(&g, 0, Adjacency::Four);
        let firsts: Vec<[usize; 4]> = four.stats().iter().map(|s| s.bbox_px).collect();
        assert_eq!(
            firsts,
            vec![[3, 0, 3, 0], [0, 1, 0, 2], [2, 2, 3, 2], [1, 3, 1, 3]]
        );
        let eight = Components::label(&g, 0, Adjacency::Eight);
        let firsts: Vec<[usize; 4]> = eight.stats().iter().map(|s| s.bbox_px).collect();
        assert_eq!(firsts, vec![[3, 0, 3, 0], [0, 1, 3, 3]]);
        assert_eq!(eight.stats()[1].pixel_count, 5);
    }

    #[test]
    fn masks_and_label_grid_round_trip() {
        let g = grid_from(&["11..1", ".1..1", "....1", "11..."]);
        let c = Components::label(&g, 0, Adjacency::Four);
        assert_eq!(c.count(), 3);
        let m = c.component_mask(1).expect("component 1 exists");
        let expected: Vec<bool> = "....1....1....1.....".bytes().map(|b| b == b'1').collect();
        assert_eq!(m.data, expected);
        assert!(c.component_mask(3).is_none());
        let labels = c.label_grid();
        assert_eq!(
            labels.data,
            vec![1, 1, 0, 0, 2, 0, 1, 0, 0, 2, 0, 0, 0, 0, 2, 3, 3, 0, 0, 0]
        );
    }

    #[test]
    fn empty_and_full_grids() {
        let empty = Grid2::filled(5, 3, false);
        assert_eq!(Components::label(&empty, false, Adjacency::Four).count(), 0);
        let full = Grid2::filled(5, 3, true);
        let c = Components::label(&full, false, Adjacency::Four);
        assert_eq!(c.count(), 1);
        assert_eq!(c.stats()[0].pixel_count, 15);
        assert_eq!(c.stats()[0].bbox_px, [0, 0, 4, 2]);
        let none = Grid2::filled(0, 0, false);
        assert_eq!(Components::label(&none, false, Adjacency::Eight).count(), 0);
    }
}
