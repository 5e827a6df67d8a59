//! Checks every connected piece (box, pixel count, index in display order, count) against goldens written by
//! `scripts/pieces_golden.py` (`scipy.ndimage.label` / `find_objects` on numpy-displayed slices), through the
//! mask statistics and through the box and mask-size facts of a `single_instance = false` task.

use std::path::PathBuf;

use serde::Deserialize;

use super::boxes::{box_facts, mask_size_facts, mask_stats};
use super::golden_tests::{fortran_flipped, frame_of, goldens, plane_of, volume_of};
use crate::manifest::schema::{Connectivity, Filters};

#[derive(Deserialize)]
struct PiecesGolden {
    name: String,
    views: Vec<PiecesView>,
}

#[derive(Deserialize)]
struct PiecesView {
    frame: String,
    plane: String,
    /// `[slice, label, piece index, piece count, pixels, x_min, y_min, x_max, y_max]`, per connectivity.
    four: Vec<[u64; 9]>,
    eight: Vec<[u64; 9]>,
}

fn pieces_golden(name: &str) -> PiecesGolden {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/annotate_pieces"
    ))
    .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pieces_match_scipy_in_every_frame_plane_and_connectivity() {
    let mut multi_piece_rows = 0;
    for g in goldens() {
        let truth = pieces_golden(&g.name);
        assert_eq!(truth.name, g.name);
        let volume = volume_of(&g);
        let flipped = fortran_flipped(&volume);
        for view in &truth.views {
            let (frame, plane) = (frame_of(&view.frame), plane_of(&view.plane));
            for (connectivity, want) in [
                (Connectivity::Four, &view.four),
                (Connectivity::Eight, &view.eight),
            ] {
                multi_piece_rows += want.iter().filter(|r| r[3] > 1).count();
                for mask in [&volume, &flipped] {
                    let stats = mask_stats(mask, frame, &[plane], connectivity).expect("small");
                    let p = stats.plane(plane).expect("requested");
                    let got: Vec<[u64; 9]> = p
                        .slices
                        .iter()
                        .flat_map(|s| {
                            s.labels.iter().flat_map(move |l| {
                                let pieces = s.pieces(l);
                                let n = pieces.len() as u64;
                                pieces.into_iter().zip(1u64..).map(move |(piece, index)| {
                                    let b = piece.bbox_px.map(u64::from);
                                    [
                                        s.slice_index as u64,
                                        u64::from(piece.label),
                                        index,
                                        n,
                                        piece.pixel_count,
                                        b[0],
                                        b[1],
                                        b[2],
                                        b[3],
                                    ]
                                })
                            })
                        })
                        .collect();
                    assert_eq!(
                        &got, want,
                        "{} {frame:?} {plane:?} {connectivity:?}",
                        g.name
                    );
                    // The facts of a `single_instance = false` task: one per piece, same numbers.
                    let loose = Filters {
                        single_instance: false,
                        min_side_px: 0,
                        min_pixels: 0,
                        connectivity,
                    };
                    let labels: Vec<u16> = (1..=u16::MAX).collect();
                    let (boxes, counts) = box_facts(&stats, &labels, &loose);
                    assert_eq!(counts.considered as usize, want.len());
                    let (sizes, _) = mask_size_facts(&stats, &labels, &loose);
                    for ((b, s), w) in boxes.iter().zip(&sizes).zip(want.iter()) {
                        let row = [
                            b.slice_index as u64,
                            u64::from(b.label),
                            u64::from(b.piece_index),
                            u64::from(b.piece_count),
                            s.pixel_count,
                        ];
                        assert_eq!(row[..], w[..5], "{}", g.name);
                        assert_eq!(b.bbox_px.map(u64::from)[..], w[5..], "{}", g.name);
                        assert_eq!(s.bbox_px, b.bbox_px);
                        assert_eq!(
                            (s.piece_index, s.piece_count),
                            (b.piece_index, b.piece_count)
                        );
                    }
                    assert_eq!((boxes.len(), sizes.len()), (want.len(), want.len()));
                }
            }
        }
    }
    assert!(multi_piece_rows > 1000, "{multi_piece_rows}");
}
