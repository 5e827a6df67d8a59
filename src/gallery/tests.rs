//! Unit tests of the gallery page: escaping, overlay coordinates worked out by hand, histogram bins.

use super::html::{escape, histogram, overlay};
use super::read::GalleryRow;

fn row(task_type: &str, bbox_px: Option<[i32; 4]>, landmarks_px: Vec<[f64; 2]>) -> GalleryRow {
    GalleryRow {
        task_type: task_type.into(),
        bbox_px,
        landmarks_px,
        image_width_px: 120,
        image_height_px: 60,
        ..GalleryRow::default()
    }
}

#[test]
fn escape_covers_markup_and_both_quotes() {
    assert_eq!(
        escape(r#"<b a="1" c='2'>x & y</b>"#),
        "&lt;b a=&quot;1&quot; c=&#39;2&#39;&gt;x &amp; y&lt;/b&gt;"
    );
    assert_eq!(escape("كلية 3.5 mm²"), "كلية 3.5 mm²");
}

#[test]
fn inclusive_box_covers_its_pixels() {
    // Pixels x 10..=19, y 5..=7: the rectangle starts at the first pixel's corner and spans 10 × 3.
    let svg = overlay(&row("bbox", Some([10, 5, 19, 7]), Vec::new()));
    assert_eq!(
        svg,
        r#"<rect class="box" x="10" y="5" width="10" height="3"/>"#
    );
}

#[test]
fn piece_boxes_replace_the_union_box() {
    let mut r = row("instances", Some([0, 0, 9, 9]), Vec::new());
    r.piece_boxes_px = vec![[0, 0, 2, 2], [7, 8, 9, 9]];
    assert_eq!(
        overlay(&r),
        concat!(
            r#"<rect class="box" x="0" y="0" width="3" height="3"/>"#,
            r#"<rect class="box" x="7" y="8" width="3" height="2"/>"#
        )
    );
}

#[test]
fn ellipse_axes_and_end_points() {
    // Major axis P1 (10, 20) – P2 (30, 20), minor P3 (20, 15) – P4 (20, 25): centre (20, 20) → (20.5, 20.5)
    // in overlay units, semi-diameters (10, 0) and (0, 5). Dots of radius 120/120 = 1.
    let svg = overlay(&row(
        "lesion_size",
        None,
        vec![[10.0, 20.0], [30.0, 20.0], [20.0, 15.0], [20.0, 25.0]],
    ));
    assert_eq!(
        svg,
        concat!(
            r#"<circle class="ell" r="1" transform="matrix(10 0 0 5 20.5 20.5)"/>"#,
            r#"<line class="major" x1="10.5" y1="20.5" x2="30.5" y2="20.5"/>"#,
            r#"<line class="minor" x1="20.5" y1="15.5" x2="20.5" y2="25.5"/>"#,
            r#"<circle class="pt" cx="10.5" cy="20.5" r="1"/>"#,
            r#"<circle class="pt" cx="30.5" cy="20.5" r="1"/>"#,
            r#"<circle class="pt" cx="20.5" cy="15.5" r="1"/>"#,
            r#"<circle class="pt" cx="20.5" cy="25.5" r="1"/>"#,
        )
    );
}

#[test]
fn tilted_ellipse_uses_conjugate_semi_diameters() {
    // A 45° ellipse: P1 (0, 0) – P2 (4, 4), P3 (3, 1) – P4 (1, 3). The unit circle's point at angle t maps to
    // centre + u cos t + v sin t, so t = 0 lands on P2 and t = 90° on P4.
    let svg = overlay(&row(
        "lesion_size",
        None,
        vec![[0.0, 0.0], [4.0, 4.0], [3.0, 1.0], [1.0, 3.0]],
    ));
    assert!(svg.starts_with(r#"<circle class="ell" r="1" transform="matrix(2 2 -1 1 2.5 2.5)"/>"#));
    // matrix(a b c d e f) maps (1, 0) to (a + e, b + f) = (4.5, 4.5), P2 in overlay units.
}

#[test]
fn feret_chord_and_landmark_angle() {
    let chord = overlay(&row("lesion_diameter", None, vec![[1.0, 2.0], [7.25, 3.0]]));
    assert!(chord.starts_with(r#"<line class="feret" x1="1.5" y1="2.5" x2="7.75" y2="3.5"/>"#));
    let angle = overlay(&row(
        "angle",
        None,
        vec![[0.0, 0.0], [5.0, 5.0], [10.0, 0.0]],
    ));
    assert!(angle.starts_with(concat!(
        r#"<line class="seg" x1="0.5" y1="0.5" x2="5.5" y2="5.5"/>"#,
        r#"<line class="seg" x1="5.5" y1="5.5" x2="10.5" y2="0.5"/>"#,
    )));
    assert_eq!(angle.matches(r#"class="pt""#).count(), 3);
}

#[test]
fn histogram_bins_and_range() {
    // 0..=19 and one more 19: twenty bins of width 0.95, one value each, the last bin holding two.
    let mut values: Vec<f64> = (0..20).map(f64::from).collect();
    values.push(19.0);
    let svg = histogram("w <mm>", &values);
    assert!(svg.contains("w &lt;mm&gt; <small>(n = 21)</small>"));
    let counts: Vec<&str> = svg
        .split("<title>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap_or(""))
        .collect();
    assert_eq!(counts.len(), 20);
    assert!(counts[..19].iter().all(|c| *c == "1"));
    assert_eq!(counts[19], "2");
    assert!(svg.contains(">0</text>") && svg.contains(">19</text>"));
}
