//! Lesion-size facts for a whole mask: walks the slices the one-pass mask statistics found, keeps single
//! components (counted before any size rule) — or, with `filters.single_instance = false`, every connected
//! piece, each fitted on its own — cuts each out of its slice and measures it (`lesion`).

use std::collections::BTreeMap;

use super::boxes::MaskStats;
use super::lesion::{measure_lesion, LesionMeasurement, LesionOptions};
use crate::geom::components::{Adjacency, Components};
use crate::geom::Grid2;
use crate::manifest::Plane;
use crate::volume::Volume;

/// One measured lesion on one slice.
#[derive(Debug, Clone, PartialEq)]
pub struct LesionFact {
    /// Plane the slice lies in.
    pub plane: Plane,
    /// Index of the slice along the plane's normal axis.
    pub slice_index: usize,
    /// Mask label value.
    pub label: u16,
    /// 1-based position of the piece among the label's pieces in the slice, in display order
    /// (docs/measurements.md §4.1); 1 when the label forms one component.
    pub piece_index: u32,
    /// Connected pieces of the label in the slice (1 under the single-component rule).
    pub piece_count: u32,
    /// Width of the rendered slice in pixels.
    pub image_width_px: u32,
    /// Height of the rendered slice in pixels.
    pub image_height_px: u32,
    /// Spacing between display rows in mm.
    pub row_spacing_mm: f64,
    /// Spacing between display columns in mm.
    pub col_spacing_mm: f64,
    /// Diameters, fit and extent measured on the component.
    pub measurement: LesionMeasurement,
}

/// What the lesion stage considered and why it dropped what it dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LesionCounts {
    /// (slice, label) pairs where the label is present; with `single_instance` off, connected pieces.
    pub considered: u64,
    /// Dropped because the label forms more than one component.
    pub multi_instance: u64,
    /// Dropped by a lesion rule or guard, by `LesionReject::name()`.
    pub rejected: BTreeMap<&'static str, u64>,
}

impl std::ops::AddAssign for LesionCounts {
    fn add_assign(&mut self, other: LesionCounts) {
        self.considered += other.considered;
        self.multi_instance += other.multi_instance;
        for (name, n) in other.rejected {
            *self.rejected.entry(name).or_default() += n;
        }
    }
}

/// Measures every single-component occurrence of `labels` in the planes of `stats` (which must come from
/// `mask`); with `single_instance` off, every connected piece of every occurrence (connectivity of `stats`),
/// one fit per piece. Facts are ordered like the statistics: plane, slice, label, then piece in display order.
pub fn lesion_facts(
    mask: &Volume<u16>,
    stats: &MaskStats,
    labels: &[u16],
    options: &LesionOptions,
    single_instance: bool,
) -> (Vec<LesionFact>, LesionCounts) {
    let mut facts = Vec::new();
    let mut counts = LesionCounts::default();
    let mut slice_grid = Grid2::filled(0, 0, 0u16);
    let adjacency = Adjacency::from(stats.connectivity);
    for plane_stats in &stats.planes {
        let view = &plane_stats.view;
        for slice in &plane_stats.slices {
            let wanted: Vec<_> = slice
                .labels
                .iter()
                .filter(|l| labels.contains(&l.label))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            view.extract_into(&mask.data, slice.slice_index, &mut slice_grid);
            for label_stats in wanted {
                let label_mask = Grid2 {
                    width_px: slice_grid.width_px,
                    height_px: slice_grid.height_px,
                    data: slice_grid
                        .data
                        .iter()
                        .map(|&v| v == label_stats.label)
                        .collect(),
                };
                let pieces = if label_stats.component_count == 1 {
                    counts.considered += 1;
                    vec![label_mask]
                } else if single_instance {
                    counts.considered += 1;
                    counts.multi_instance += 1;
                    continue;
                } else {
                    let pieces = pieces_in_display_order(&label_mask, adjacency);
                    counts.considered += pieces.len() as u64;
                    pieces
                };
                let piece_count = pieces.len() as u32;
                for (piece, piece_index) in pieces.iter().zip(1u32..) {
                    match measure_lesion(
                        piece,
                        view.row_spacing_mm(),
                        view.col_spacing_mm(),
                        options,
                    ) {
                        Ok(measurement) => facts.push(LesionFact {
                            plane: view.plane(),
                            slice_index: slice.slice_index,
                            label: label_stats.label,
                            piece_index,
                            piece_count,
                            image_width_px: view.width_px() as u32,
                            image_height_px: view.height_px() as u32,
                            row_spacing_mm: view.row_spacing_mm(),
                            col_spacing_mm: view.col_spacing_mm(),
                            measurement,
                        }),
                        Err(reject) => *counts.rejected.entry(reject.name()).or_default() += 1,
                    }
                }
            }
        }
    }
    (facts, counts)
}

/// The connected pieces of a display-frame label mask, each as its own mask, in the display order of
/// docs/measurements.md §4.1 (box `x_min`, then `y_min`, `x_max`, `y_max`).
fn pieces_in_display_order(label_mask: &Grid2<bool>, adjacency: Adjacency) -> Vec<Grid2<bool>> {
    let components = Components::label(label_mask, false, adjacency);
    let mut ids: Vec<usize> = (0..components.count()).collect();
    ids.sort_unstable_by_key(|&id| components.stats()[id].bbox_px);
    ids.into_iter()
        .filter_map(|id| components.component_mask(id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotate::lesion::LesionRules;
    use crate::annotate::{mask_stats, DisplayFrame};
    use crate::manifest::Connectivity;
    use crate::volume::Geometry;
    use ndarray::Array3;

    /// A 30 x 24 x 3 (mm: 0.5 x 0.5 x 2) volume: label 2 a 20 x 10 px rectangle on every axial slice, plus a
    /// second rectangle on slice 2 (two components there).
    fn volume() -> Volume<u16> {
        let mut data = Array3::<u16>::zeros((30, 24, 3));
        for k in 0..3 {
            for i in 5..25 {
                for j in 4..14 {
                    data[[i, j, k]] = 2;
                }
            }
        }
        for i in 5..10 {
            for j in 18..22 {
                data[[i, j, 2]] = 2;
            }
        }
        let spacing_mm = [0.5, 0.5, 2.0];
        let mut affine = [[0.0; 4]; 4];
        for a in 0..3 {
            affine[a][a] = spacing_mm[a];
        }
        affine[3][3] = 1.0;
        Volume {
            data,
            geometry: Geometry {
                spacing_mm,
                affine,
                source_axes: "RAS".into(),
            },
        }
    }

    #[test]
    fn single_components_are_measured_and_multiple_counted() {
        let mask = volume();
        let stats = mask_stats(
            &mask,
            DisplayFrame::Radiological,
            &[Plane::Axial],
            Connectivity::Four,
        )
        .expect("stats");
        let (facts, counts) = lesion_facts(
            &mask,
            &stats,
            &[2],
            &LesionOptions::new(LesionRules::Default),
            true,
        );
        assert_eq!(counts.considered, 3);
        assert_eq!(counts.multi_instance, 1);
        assert!(counts.rejected.is_empty());
        assert_eq!(facts.len(), 2);
        for f in &facts {
            let m = &f.measurement;
            assert_eq!(m.pixel_count, 200);
            assert!((m.area_mm2 - 50.0).abs() < 1e-12);
            // Max Feret of a rectangle between pixel centres: its diagonal, 19 x 9 pixel steps of 0.5 mm.
            let (a, b) = (19.0 * 0.5, 9.0 * 0.5);
            let d = f64::hypot(a, b);
            assert!(
                (m.feret_longest_mm - d).abs() < 1e-9,
                "{}",
                m.feret_longest_mm
            );
            // Largest extent perpendicular to that diagonal: the two other corners, 2ab/d apart.
            assert!(
                (m.feret_perpendicular_mm - 2.0 * a * b / d).abs() < 1e-9,
                "{}",
                m.feret_perpendicular_mm
            );
        }
    }

    #[test]
    fn without_the_single_instance_rule_each_piece_gets_its_own_fit() {
        let mask = volume();
        let stats = mask_stats(
            &mask,
            DisplayFrame::Radiological,
            &[Plane::Axial],
            Connectivity::Four,
        )
        .expect("stats");
        let (facts, counts) = lesion_facts(
            &mask,
            &stats,
            &[2],
            &LesionOptions::new(LesionRules::Default),
            false,
        );
        // Slices 0 and 1: one piece each; slice 2: two pieces, each a candidate.
        assert_eq!((counts.considered, counts.multi_instance), (4, 0));
        assert!(counts.rejected.is_empty(), "{:?}", counts.rejected);
        let pieces: Vec<(usize, u32, u32, u64)> = facts
            .iter()
            .map(|f| {
                let m = &f.measurement;
                (f.slice_index, f.piece_index, f.piece_count, m.pixel_count)
            })
            .collect();
        // Radiological axial, x = 29 - i: the 20 x 10 px piece spans x 5..=24, the 5 x 4 px one x 20..=24, so
        // the big piece (smaller left edge) comes first.
        assert_eq!(
            pieces,
            vec![
                (0, 1, 1, 200),
                (1, 1, 1, 200),
                (2, 1, 2, 200),
                (2, 2, 2, 20)
            ]
        );
        let small = &facts[3].measurement;
        assert_eq!(
            [
                small.bbox.x_min,
                small.bbox.y_min,
                small.bbox.x_max,
                small.bbox.y_max
            ],
            [20, 2, 24, 5]
        );
        // Max Feret of the 5 x 4 px piece between pixel centres: 4 x 3 steps of 0.5 mm = 2.5 mm; its area 5 mm².
        assert!(
            (small.feret_longest_mm - 2.5).abs() < 1e-9,
            "{}",
            small.feret_longest_mm
        );
        assert!((small.area_mm2 - 5.0).abs() < 1e-12);
        // The big piece on slice 2 measures exactly like the lone piece of slice 0.
        assert_eq!(facts[2].measurement, facts[0].measurement);
    }

    #[test]
    fn labels_not_asked_are_ignored() {
        let mask = volume();
        let stats = mask_stats(
            &mask,
            DisplayFrame::RawArray,
            &Plane::ALL,
            Connectivity::Four,
        )
        .expect("stats");
        let (facts, counts) = lesion_facts(
            &mask,
            &stats,
            &[1],
            &LesionOptions::new(LesionRules::Default),
            true,
        );
        assert!(facts.is_empty());
        assert_eq!(counts, LesionCounts::default());
    }
}
