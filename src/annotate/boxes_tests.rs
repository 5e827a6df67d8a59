//! Tests of the mask statistics and the box, mask-size and instance facts against closed-form phantoms; kept
//! apart from boxes.rs to keep that file small.

use super::*;
use crate::volume::Geometry;
use ndarray::Array3;

pub(crate) fn volume(data: Array3<u16>, spacing_mm: [f64; 3]) -> Volume<u16> {
    Volume {
        data,
        geometry: Geometry {
            spacing_mm,
            affine: [
                [spacing_mm[0], 0.0, 0.0, 0.0],
                [0.0, spacing_mm[1], 0.0, 0.0],
                [0.0, 0.0, spacing_mm[2], 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            source_axes: "RAS".to_string(),
        },
    }
}

const SHAPE: (usize, usize, usize) = (12, 10, 8);
const SPACING_MM: [f64; 3] = [0.5, 0.8, 3.0];

/// Label 1: cuboid i 2..=6, j 3..=8, k 1..=4. Label 2: two 2x2x2 cubes at i 0..=1 and i 9..=10,
/// both at j 0..=1, k 6..=7 (two components in axial and coronal slices, one in sagittal ones).
fn phantom() -> Volume<u16> {
    let data = Array3::from_shape_fn(SHAPE, |(i, j, k)| {
        if (2..=6).contains(&i) && (3..=8).contains(&j) && (1..=4).contains(&k) {
            1
        } else if (i <= 1 || (9..=10).contains(&i)) && j <= 1 && k >= 6 {
            2
        } else {
            0
        }
    });
    volume(data, SPACING_MM)
}

fn only(stats: &MaskStats, plane: Plane) -> Vec<(usize, LabelStats)> {
    let p = stats.plane(plane).expect("plane requested");
    p.slices
        .iter()
        .flat_map(|s| s.labels.iter().map(move |l| (s.slice_index, *l)))
        .collect()
}

#[test]
fn cuboid_boxes_in_every_plane_and_frame() {
    let (ni, nj, nk) = (12u32, 10u32, 8u32);
    let mask = phantom();
    let rad = mask_stats(
        &mask,
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("small volume");
    let raw = mask_stats(
        &mask,
        DisplayFrame::RawArray,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("small volume");
    // Analytic boxes of label 1 (x from columns, y from rows, per the frame table).
    // Radiological axial: x = ni-1-i over i 2..=6, y = nj-1-j over j 3..=8.
    let expected = [
        (
            Plane::Axial,
            1..=4usize,
            [ni - 7, nj - 9, ni - 3, nj - 4],
            [3, 2, 8, 6],
            30u64,
        ),
        // Coronal: x = ni-1-i, y = nk-1-k over k 1..=4 | raw y = i, x = k.
        (
            Plane::Coronal,
            3..=8,
            [ni - 7, nk - 5, ni - 3, nk - 2],
            [1, 2, 4, 6],
            20,
        ),
        // Sagittal: x = nj-1-j, y = nk-1-k | raw y = j, x = k.
        (
            Plane::Sagittal,
            2..=6,
            [nj - 9, nk - 5, nj - 4, nk - 2],
            [1, 3, 4, 8],
            24,
        ),
    ];
    for (plane, slices, rad_box, raw_box, pixels) in expected {
        for (stats, bbox) in [(&rad, rad_box), (&raw, raw_box)] {
            let got: Vec<(usize, LabelStats)> = only(stats, plane)
                .into_iter()
                .filter(|(_, l)| l.label == 1)
                .collect();
            let want: Vec<(usize, LabelStats)> = slices
                .clone()
                .map(|s| {
                    (
                        s,
                        LabelStats {
                            label: 1,
                            component_count: 1,
                            pixel_count: pixels,
                            bbox_px: bbox,
                        },
                    )
                })
                .collect();
            assert_eq!(got, want, "{plane:?} {:?}", stats.frame);
        }
    }
    // Label 2 in radiological axial slices 6, 7: two components, union box over i 0..=10, j 0..=1.
    let axial = rad.plane(Plane::Axial).expect("axial");
    assert_eq!(
        axial.slice(6).and_then(|s| s.label(2)),
        Some(&LabelStats {
            label: 2,
            component_count: 2,
            pixel_count: 8,
            bbox_px: [ni - 11, nj - 2, ni - 1, nj - 1],
        })
    );
    assert!(axial.slice(5).is_none());
    let sagittal = raw.plane(Plane::Sagittal).expect("sagittal");
    let slices: Vec<usize> = sagittal.slices.iter().map(|s| s.slice_index).collect();
    assert_eq!(slices, vec![0, 1, 2, 3, 4, 5, 6, 9, 10]);
    assert_eq!(
        sagittal
            .slice(9)
            .and_then(|s| s.label(2))
            .map(|l| l.component_count),
        Some(1)
    );
}

#[test]
fn box_and_mask_size_filters_count_what_they_remove() {
    let stats = mask_stats(
        &phantom(),
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("small volume");
    let filters = Filters {
        min_side_px: 3,
        min_pixels: 25,
        ..Filters::default()
    };
    let (boxes, counts) = box_facts(&stats, &[1, 2], &filters);
    // Candidates: axial 4 (label 1) + 2 (label 2), coronal 6 + 2, sagittal 5 + 4.
    assert_eq!(
        counts,
        FilterCounts {
            considered: 23,
            multi_instance: 4,
            too_small_side: 4,
            too_few_pixels: 0,
        }
    );
    assert_eq!(boxes.len(), 15);
    assert_eq!(counts.kept(), 15);
    let order: Vec<(Plane, usize)> = boxes.iter().map(|b| (b.plane, b.slice_index)).collect();
    let mut sorted = order.clone();
    let rank = |p: Plane| Plane::ALL.iter().position(|&q| q == p);
    sorted.sort_by_key(|&(p, s)| (rank(p), s));
    assert_eq!(order, sorted);
    let first = &boxes[0];
    assert_eq!(
        (first.plane, first.slice_index, first.label, first.bbox_px),
        (Plane::Sagittal, 2, 1, [1, 3, 6, 6])
    );
    assert_eq!((first.width_px, first.height_px), (6, 4));
    assert_eq!((first.image_width_px, first.image_height_px), (10, 8));
    assert_eq!((first.col_spacing_mm, first.row_spacing_mm), (0.8, 3.0));
    assert!((first.box_width_mm - 4.8).abs() < 1e-12);
    assert!((first.box_height_mm - 12.0).abs() < 1e-12);

    let (sizes, counts) = mask_size_facts(&stats, &[1, 2], &filters);
    // Only label 1's axial slices (30 px) reach 25 px; coronal 20 px and sagittal 24 px do not.
    assert_eq!(
        counts,
        FilterCounts {
            considered: 23,
            multi_instance: 4,
            too_small_side: 0,
            too_few_pixels: 15,
        }
    );
    assert_eq!(sizes.len(), 4);
    assert!(sizes
        .iter()
        .all(|f| f.plane == Plane::Axial && f.pixel_count == 30));
    assert!((sizes[0].area_mm2 - 30.0 * 0.5 * 0.8).abs() < 1e-12);
    assert_eq!(
        (sizes[0].image_width_px, sizes[0].image_height_px),
        (12, 10)
    );

    // Without the single-instance rule every piece is a candidate: label 2's cubes are two pieces in axial
    // slices 6, 7 and coronal slices 0, 1, one piece in sagittal slices 0, 1, 9, 10 — 12 pieces, 12 boxes.
    let loose = Filters {
        single_instance: false,
        min_side_px: 2,
        ..Filters::default()
    };
    let (boxes, counts) = box_facts(&stats, &[2], &loose);
    assert_eq!(counts.considered, 12);
    assert_eq!(counts.multi_instance, 0);
    assert_eq!(boxes.len(), 12);
    let pieces: Vec<(Plane, usize, u32, u32, [u32; 4])> = boxes
        .iter()
        .map(|b| {
            (
                b.plane,
                b.slice_index,
                b.piece_index,
                b.piece_count,
                b.bbox_px,
            )
        })
        .collect();
    // Radiological coronal: x = 11 - i (cube i 9..=10 → x 1..=2 comes first, left to right), y = 7 - k.
    // Axial: x = 11 - i, y = 9 - j (j 0..=1 → y 8..=9).
    assert_eq!(
        pieces[4..],
        [
            (Plane::Coronal, 0, 1, 2, [1, 0, 2, 1]),
            (Plane::Coronal, 0, 2, 2, [10, 0, 11, 1]),
            (Plane::Coronal, 1, 1, 2, [1, 0, 2, 1]),
            (Plane::Coronal, 1, 2, 2, [10, 0, 11, 1]),
            (Plane::Axial, 6, 1, 2, [1, 8, 2, 9]),
            (Plane::Axial, 6, 2, 2, [10, 8, 11, 9]),
            (Plane::Axial, 7, 1, 2, [1, 8, 2, 9]),
            (Plane::Axial, 7, 2, 2, [10, 8, 11, 9]),
        ]
    );
    assert!(pieces[..4]
        .iter()
        .all(|p| p.0 == Plane::Sagittal && (p.2, p.3) == (1, 1)));
    let (sizes, counts) = mask_size_facts(
        &stats,
        &[2],
        &Filters {
            min_pixels: 4,
            ..loose
        },
    );
    assert_eq!((counts.considered, sizes.len()), (12, 12));
    // Every piece is a 2 x 2 px face of one cube (a sagittal slice, fixed i, cuts one cube only).
    assert!(sizes.iter().all(|s| s.pixel_count == 4));
    let (none, counts) = box_facts(&stats, &[7], &loose);
    assert!(none.is_empty());
    assert_eq!(counts, FilterCounts::default());
}

#[test]
fn filter_counts_add_up() {
    let a = FilterCounts {
        considered: 10,
        multi_instance: 2,
        too_small_side: 3,
        too_few_pixels: 0,
    };
    let b = FilterCounts {
        considered: 5,
        multi_instance: 1,
        too_small_side: 0,
        too_few_pixels: 4,
    };
    let mut sum = a;
    sum += b;
    assert_eq!(sum, a + b);
    assert_eq!(
        sum,
        FilterCounts {
            considered: 15,
            multi_instance: 3,
            too_small_side: 3,
            too_few_pixels: 4,
        }
    );
    assert_eq!(sum.kept(), 5);
}

#[test]
fn memory_layout_does_not_change_stats() {
    let mask = phantom();
    let planes = [Plane::Axial, Plane::Sagittal, Plane::Coronal];
    let reference = mask_stats(
        &mask,
        DisplayFrame::Radiological,
        &planes,
        Connectivity::Eight,
    )
    .expect("small volume");
    let data = &mask.data;
    let fortran = data
        .view()
        .reversed_axes()
        .as_standard_layout()
        .into_owned()
        .reversed_axes();
    let mut inverted = data
        .slice(s![..;-1, .., ..;-1])
        .as_standard_layout()
        .into_owned();
    inverted.invert_axis(Axis(0));
    inverted.invert_axis(Axis(2));
    let permuted = data
        .view()
        .permuted_axes([2, 0, 1])
        .as_standard_layout()
        .into_owned()
        .permuted_axes([1, 2, 0]);
    let mut permuted_inverted = permuted
        .slice(s![.., ..;-1, ..])
        .as_standard_layout()
        .into_owned();
    permuted_inverted.invert_axis(Axis(1));
    for other in [fortran, inverted, permuted, permuted_inverted] {
        assert_eq!(&other, data);
        assert!(!other.is_standard_layout());
        let stats = mask_stats(
            &volume(other, SPACING_MM),
            DisplayFrame::Radiological,
            &planes,
            Connectivity::Eight,
        )
        .expect("small volume");
        assert_eq!(stats, reference);
    }
    assert_eq!(reference.planes[0].view.plane(), Plane::Axial);
    assert_eq!(reference.planes[2].view.plane(), Plane::Coronal);
}

#[test]
fn unrequested_planes_are_absent_and_empty_masks_give_nothing() {
    let stats = mask_stats(
        &phantom(),
        DisplayFrame::RawArray,
        &[Plane::Coronal],
        Connectivity::Four,
    )
    .expect("small volume");
    assert_eq!(stats.planes.len(), 1);
    assert!(stats.plane(Plane::Axial).is_none());
    let empty = volume(Array3::zeros((4, 0, 3)), [1.0; 3]);
    let stats = mask_stats(
        &empty,
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("empty volume");
    assert!(stats.planes.iter().all(|p| p.slices.is_empty()));
    let blank = volume(Array3::zeros((4, 5, 3)), [1.0; 3]);
    let stats = mask_stats(
        &blank,
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("blank volume");
    assert!(stats.planes.iter().all(|p| p.slices.is_empty()));
}

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), so the benchmark
/// means something on a busy machine.
fn thread_cpu_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// Benchmark, not a check: `cargo test --release --lib mask_stats_speed -- --ignored --nocapture`.
/// Prints the time of `mask_stats` (all three planes) on a 512x512x200 mask with four organ-like labels,
/// in C order and in the Fortran order a NIfTI reader produces.
#[test]
#[ignore]
fn mask_stats_speed_512x512x200() {
    let shape = (512, 512, 200);
    let ellipsoids: [(u16, [f64; 3], [f64; 3]); 5] = [
        (1, [330.0, 260.0, 110.0], [110.0, 90.0, 60.0]),
        (2, [150.0, 200.0, 80.0], [30.0, 35.0, 45.0]),
        (2, [370.0, 200.0, 80.0], [30.0, 35.0, 45.0]),
        (3, [180.0, 300.0, 120.0], [60.0, 40.0, 50.0]),
        (4, [300.0, 280.0, 100.0], [15.0, 15.0, 15.0]),
    ];
    let data = Array3::from_shape_fn(shape, |(i, j, k)| {
        let p = [i as f64, j as f64, k as f64];
        let mut label = 0;
        for (l, c, r) in &ellipsoids {
            let d: f64 = (0..3).map(|a| ((p[a] - c[a]) / r[a]).powi(2)).sum();
            if d <= 1.0 {
                label = *l;
            }
        }
        label
    });
    let fortran = data
        .view()
        .reversed_axes()
        .as_standard_layout()
        .into_owned()
        .reversed_axes();
    let filled = data.iter().filter(|&&v| v != 0).count();
    for (name, array) in [("C order", data), ("Fortran order", fortran)] {
        let mask = volume(array, [0.8, 0.8, 2.5]);
        for connectivity in [Connectivity::Four, Connectivity::Eight] {
            let mut best_s = f64::INFINITY;
            let mut best_cpu_s = f64::INFINITY;
            let mut slices = 0;
            for _ in 0..5 {
                let cpu_start = thread_cpu_s();
                let start = std::time::Instant::now();
                let stats =
                    mask_stats(&mask, DisplayFrame::Radiological, &Plane::ALL, connectivity)
                        .expect("fits");
                best_s = best_s.min(start.elapsed().as_secs_f64());
                if let (Some(a), Some(b)) = (cpu_start, thread_cpu_s()) {
                    best_cpu_s = best_cpu_s.min(b - a);
                }
                slices = stats.planes.iter().map(|p| p.slices.len()).sum();
            }
            println!(
                "mask_stats 512x512x200 ({name}, {connectivity:?}, {:.1}% labelled, {slices} \
                 non-empty slices): best of 5 = {:.1} ms wall, {:.1} ms thread CPU",
                100.0 * filled as f64 / (512.0 * 512.0 * 200.0),
                best_s * 1e3,
                best_cpu_s * 1e3
            );
        }
    }
}
