//! Checks mask statistics, slice extraction and component labelling against goldens written by
//! `scripts/annotate_golden.py` (numpy frame transforms + `scipy.ndimage.label` / `find_objects`).

use std::path::PathBuf;

use ndarray::{s, Array3, Axis};
use serde::Deserialize;

use crate::annotate::boxes::{mask_stats, LabelStats};
use crate::annotate::frame::{DisplayFrame, PlaneView};
use crate::geom::components::{Adjacency, Components};
use crate::manifest::schema::{Connectivity, Plane};
use crate::volume::{Geometry, Volume};

#[derive(Deserialize)]
pub(super) struct Golden {
    pub(super) name: String,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    /// Voxels in C order (`k` fastest).
    data: Vec<u16>,
    views: Vec<GoldenView>,
}

#[derive(Deserialize)]
struct GoldenView {
    frame: String,
    plane: String,
    slice_count: usize,
    width_px: usize,
    height_px: usize,
    row_spacing_mm: f64,
    col_spacing_mm: f64,
    /// `[slice, label, components, pixels, x_min, y_min, x_max, y_max]`, per connectivity.
    four: Vec<[u64; 8]>,
    eight: Vec<[u64; 8]>,
}

pub(super) fn goldens() -> Vec<Golden> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/annotate"
    ));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 3,
        "expected golden files in {}",
        dir.display()
    );
    paths
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

pub(super) fn frame_of(name: &str) -> DisplayFrame {
    match name {
        "radiological" => DisplayFrame::Radiological,
        "raw_array" => DisplayFrame::RawArray,
        other => panic!("unknown frame {other}"),
    }
}

pub(super) fn plane_of(name: &str) -> Plane {
    match name {
        "sagittal" => Plane::Sagittal,
        "coronal" => Plane::Coronal,
        "axial" => Plane::Axial,
        other => panic!("unknown plane {other}"),
    }
}

pub(super) fn volume_of(g: &Golden) -> Volume<u16> {
    let data = Array3::from_shape_vec((g.shape[0], g.shape[1], g.shape[2]), g.data.clone())
        .expect("data length matches shape");
    Volume {
        data,
        geometry: Geometry {
            spacing_mm: g.spacing_mm,
            affine: [
                [g.spacing_mm[0], 0.0, 0.0, 0.0],
                [0.0, g.spacing_mm[1], 0.0, 0.0],
                [0.0, 0.0, g.spacing_mm[2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            source_axes: "RAS".to_string(),
        },
    }
}

fn rows_of(slice: usize, labels: &[LabelStats]) -> Vec<[u64; 8]> {
    labels
        .iter()
        .map(|l| {
            let b = l.bbox_px.map(u64::from);
            [
                slice as u64,
                u64::from(l.label),
                u64::from(l.component_count),
                l.pixel_count,
                b[0],
                b[1],
                b[2],
                b[3],
            ]
        })
        .collect()
}

/// The same volume in Fortran order with axis 1 stored reversed: a layout a NIfTI reader may produce.
pub(super) fn fortran_flipped(volume: &Volume<u16>) -> Volume<u16> {
    let f = volume
        .data
        .slice(s![.., ..;-1, ..])
        .reversed_axes()
        .as_standard_layout()
        .into_owned()
        .reversed_axes();
    let mut data = f;
    data.invert_axis(Axis(1));
    assert_eq!(data, volume.data);
    assert!(data.strides()[1] < 0 && data.strides()[0].abs() < data.strides()[2].abs());
    Volume {
        data,
        geometry: volume.geometry.clone(),
    }
}

#[test]
fn mask_stats_match_scipy_goldens() {
    for g in goldens() {
        let volume = volume_of(&g);
        let reordered = fortran_flipped(&volume);
        for frame_name in ["radiological", "raw_array"] {
            let frame = frame_of(frame_name);
            let views: Vec<&GoldenView> =
                g.views.iter().filter(|v| v.frame == frame_name).collect();
            let planes: Vec<Plane> = views.iter().map(|v| plane_of(&v.plane)).collect();
            assert_eq!(planes.len(), 3, "{}: three planes per frame", g.name);
            for (connectivity, four) in [(Connectivity::Four, true), (Connectivity::Eight, false)] {
                let stats =
                    mask_stats(&volume, frame, &planes, connectivity).expect("small volume");
                let again =
                    mask_stats(&reordered, frame, &planes, connectivity).expect("small volume");
                assert_eq!(stats, again, "{}: layout changed the stats", g.name);
                for (p, v) in stats.planes.iter().zip(&views) {
                    let what = format!("{} {frame_name} {} {connectivity:?}", g.name, v.plane);
                    assert_eq!(p.view.slice_count(), v.slice_count, "{what}");
                    assert_eq!(p.view.width_px(), v.width_px, "{what}");
                    assert_eq!(p.view.height_px(), v.height_px, "{what}");
                    assert_eq!(p.view.row_spacing_mm(), v.row_spacing_mm, "{what}");
                    assert_eq!(p.view.col_spacing_mm(), v.col_spacing_mm, "{what}");
                    let got: Vec<[u64; 8]> = p
                        .slices
                        .iter()
                        .flat_map(|s| rows_of(s.slice_index, &s.labels))
                        .collect();
                    let want = if four { &v.four } else { &v.eight };
                    assert_eq!(&got, want, "{what}");
                }
            }
        }
    }
}

#[test]
fn extracted_slices_label_like_scipy() {
    // Independent of mask_stats: extract each displayed slice, label each label's binary mask, compare.
    for g in goldens() {
        let volume = volume_of(&g);
        for v in &g.views {
            let view = PlaneView::new(
                plane_of(&v.plane),
                frame_of(&v.frame),
                g.shape,
                g.spacing_mm,
            );
            let mut rows_four = Vec::new();
            let mut rows_eight = Vec::new();
            for slice in 0..view.slice_count() {
                let grid = view.extract(&volume.data, slice);
                let mut labels: Vec<u16> = grid.data.iter().copied().filter(|&l| l != 0).collect();
                labels.sort_unstable();
                labels.dedup();
                for label in labels {
                    let binary = crate::geom::Grid2 {
                        width_px: grid.width_px,
                        height_px: grid.height_px,
                        data: grid.data.iter().map(|&l| l == label).collect(),
                    };
                    for (adjacency, rows) in [
                        (Adjacency::Four, &mut rows_four),
                        (Adjacency::Eight, &mut rows_eight),
                    ] {
                        let c = Components::label(&binary, false, adjacency);
                        let s = c.stats();
                        let pixels: u64 = s.iter().map(|c| c.pixel_count).sum();
                        let bbox = s.iter().fold([usize::MAX, usize::MAX, 0, 0], |b, c| {
                            [
                                b[0].min(c.bbox_px[0]),
                                b[1].min(c.bbox_px[1]),
                                b[2].max(c.bbox_px[2]),
                                b[3].max(c.bbox_px[3]),
                            ]
                        });
                        rows.push([
                            slice as u64,
                            u64::from(label),
                            c.count() as u64,
                            pixels,
                            bbox[0] as u64,
                            bbox[1] as u64,
                            bbox[2] as u64,
                            bbox[3] as u64,
                        ]);
                    }
                }
            }
            let what = format!("{} {} {}", g.name, v.frame, v.plane);
            assert_eq!(rows_four, v.four, "{what} 4-connectivity");
            assert_eq!(rows_eight, v.eight, "{what} 8-connectivity");
        }
    }
}
