//! Scoring of multi-instance answers ("how many separate regions of the kidney, and their boxes?",
//! docs/measurements.md §5.5), for the `score` command: reads an answer text back into a count and
//! boxes, matches predicted to true boxes one-to-one maximising the summed IoU (Hungarian algorithm, exact for
//! any number of boxes) and reports per-box IoU, whether the count is right, and precision / recall at
//! IoU ≥ 0.5.
//!
//! Boxes are compared as areas of the image: each answer box is turned back into pixel-edge coordinates with
//! the build's answer format and the image size, so a `relative_lower_left` box (inclusive `x`, MedVision's
//! convention) covers the same pixels as its `relative_top_left` twin.

use crate::manifest::AnswerFormat;

/// IoU at which a matched box counts as found (precision and recall).
pub const MATCH_IOU: f64 = 0.5;

/// A multi-instance answer read back: the stated count and the boxes in the order written.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancesAnswer {
    /// The number before the colon.
    pub count: usize,
    /// Every `[x1, y1, x2, y2]` group, in the answer's format, in order.
    pub boxes: Vec<[f64; 4]>,
}

/// Why an answer text could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The text does not start with a whole number (the count).
    #[error("the answer does not start with a count (a whole number): `{text}`")]
    NoCount {
        /// The text read.
        text: String,
    },
    /// A bracketed group does not hold exactly four finite numbers.
    #[error("box `[{group}]` is not four numbers")]
    BadBox {
        /// The group's text between its brackets.
        group: String,
    },
    /// A bracket is not closed.
    #[error("unclosed `[` in the answer")]
    Unclosed,
}

/// Reads `N: [[x1, y1, x2, y2], …]` (the brackets around the list and the colon are optional; any innermost
/// non-empty `[…]` group is a box, so `0: []` is a count with no boxes). Surrounding whitespace is ignored.
pub fn parse_instances(text: &str) -> Result<InstancesAnswer, ParseError> {
    let trimmed = text.trim();
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    let count = trimmed[..digits]
        .parse::<usize>()
        .map_err(|_| ParseError::NoCount {
            text: text.to_string(),
        })?;
    let mut boxes = Vec::new();
    let rest = &trimmed[digits..];
    // `open` is the start of the innermost group still open; `depth` counts brackets not yet closed.
    let mut open: Option<usize> = None;
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '[' => {
                open = Some(i + 1);
                depth += 1;
            }
            ']' => {
                depth = depth.saturating_sub(1);
                // An empty group is an empty list (`0: []`), not a box.
                if let Some(start) = open.take().filter(|s| !rest[*s..i].trim().is_empty()) {
                    boxes.push(parse_box(&rest[start..i])?);
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(ParseError::Unclosed);
    }
    Ok(InstancesAnswer { count, boxes })
}

fn parse_box(group: &str) -> Result<[f64; 4], ParseError> {
    let bad = || ParseError::BadBox {
        group: group.to_string(),
    };
    let values: Vec<f64> = group
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    match values[..] {
        [a, b, c, d] if values.iter().all(|v| v.is_finite()) => Ok([a, b, c, d]),
        _ => Err(bad()),
    }
}

/// An answer box as pixel edges `[left, top, right, bottom]` of a `width_px × height_px` image (the inverse
/// of `format::bbox_answer`, docs/measurements.md §5.3); corners given in either order are sorted.
pub fn box_edges_px(
    bbox: [f64; 4],
    width_px: f64,
    height_px: f64,
    format: AnswerFormat,
) -> [f64; 4] {
    let [a, b, c, d] = bbox;
    let (w, h) = (width_px, height_px);
    let [x0, y0, x1, y1] = match format {
        AnswerFormat::RelativeTopLeft => [a * w, b * h, c * w, d * h],
        AnswerFormat::Qwen1000 => [
            a * w / 1000.0,
            b * h / 1000.0,
            c * w / 1000.0,
            d * h / 1000.0,
        ],
        // x1 = x_min / W, x2 = x_max / W (inclusive pixels); y1 = (H − y_max) / H, y2 = (H − y_min) / H.
        AnswerFormat::RelativeLowerLeft => {
            let (xa, xb) = (a.min(c), a.max(c));
            let (ya, yb) = (b.min(d), b.max(d));
            [xa * w, h - yb * h, xb * w + 1.0, h - ya * h + 1.0]
        }
    };
    [x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)]
}

/// IoU of two pixel-edge boxes `[left, top, right, bottom]`; two empty boxes at the same place count as 1.
pub fn iou_edges(a: [f64; 4], b: [f64; 4]) -> f64 {
    let area = |r: [f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else if a == b {
        1.0
    } else {
        0.0
    }
}

/// One-to-one assignment maximising the summed `weight[i][j]` over a rectangular matrix (rows may outnumber
/// columns or not): `result[i]` is the column of row `i`, `None` for rows left over. Hungarian algorithm with
/// potentials (Kuhn–Munkres, O(n²m)), exact.
pub fn max_weight_matching(weight: &[Vec<f64>]) -> Vec<Option<usize>> {
    let n_rows = weight.len();
    let n_cols = weight.first().map_or(0, Vec::len);
    if n_rows == 0 || n_cols == 0 {
        return vec![None; n_rows];
    }
    // The algorithm wants rows ≤ columns; transpose otherwise.
    if n_rows > n_cols {
        let transposed: Vec<Vec<f64>> = (0..n_cols)
            .map(|j| (0..n_rows).map(|i| weight[i][j]).collect())
            .collect();
        let by_col = max_weight_matching(&transposed);
        let mut result = vec![None; n_rows];
        for (j, i) in by_col.into_iter().enumerate() {
            if let Some(i) = i {
                result[i] = Some(j);
            }
        }
        return result;
    }
    let (n, m) = (n_rows, n_cols);
    let cost = |i: usize, j: usize| -weight[i - 1][j - 1];
    // 1-based arrays; column 0 is the virtual start.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut row_of = vec![0usize; m + 1];
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        let mut min_v = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = row_of[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0;
            for j in 1..=m {
                if !used[j] {
                    let cur = cost(i0, j) - u[i0] - v[j];
                    if cur < min_v[j] {
                        min_v[j] = cur;
                        way[j] = j0;
                    }
                    if min_v[j] < delta {
                        delta = min_v[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    min_v[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut result = vec![None; n];
    for j in 1..=m {
        if row_of[j] > 0 {
            result[row_of[j] - 1] = Some(j - 1);
        }
    }
    result
}

/// How well a predicted multi-instance answer matches the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancesScore {
    /// The prediction could be read (otherwise every number below is that of an empty answer).
    pub parsed: bool,
    /// Number of true pieces.
    pub true_count: usize,
    /// The count the prediction states (`None` when unreadable).
    pub predicted_count: Option<usize>,
    /// The stated count equals the true count.
    pub count_correct: bool,
    /// Per true box, in the truth's order: IoU with the predicted box matched to it (0 when none is).
    pub per_box_iou: Vec<f64>,
    /// Summed matched IoU over `max(true boxes, predicted boxes)`: extra or missing boxes count as 0.
    pub mean_iou: f64,
    /// Matched pairs with IoU ≥ [`MATCH_IOU`].
    pub matched: usize,
    /// `matched / predicted boxes` (0 with no predicted box).
    pub precision: f64,
    /// `matched / true boxes` (0 with no true box).
    pub recall: f64,
}

/// Scores `predicted` against `truth` (both answer texts of a `width_px × height_px` image in `format`).
/// An unreadable prediction scores as an empty answer with `parsed = false`; an unreadable truth is an error.
pub fn score_instances(
    predicted: &str,
    truth: &str,
    format: AnswerFormat,
    width_px: u32,
    height_px: u32,
) -> Result<InstancesScore, ParseError> {
    let truth = parse_instances(truth)?;
    let parsed = parse_instances(predicted);
    let (w, h) = (f64::from(width_px), f64::from(height_px));
    let edges = |boxes: &[[f64; 4]]| -> Vec<[f64; 4]> {
        boxes
            .iter()
            .map(|b| box_edges_px(*b, w, h, format))
            .collect()
    };
    let true_boxes = edges(&truth.boxes);
    let (predicted_count, predicted_boxes) = match &parsed {
        Ok(answer) => (Some(answer.count), edges(&answer.boxes)),
        Err(_) => (None, Vec::new()),
    };
    let weight: Vec<Vec<f64>> = true_boxes
        .iter()
        .map(|t| predicted_boxes.iter().map(|p| iou_edges(*t, *p)).collect())
        .collect();
    let matching = max_weight_matching(&weight);
    let per_box_iou: Vec<f64> = matching
        .iter()
        .enumerate()
        .map(|(i, j)| j.map_or(0.0, |j| weight[i][j]))
        .collect();
    let matched = per_box_iou.iter().filter(|v| **v >= MATCH_IOU).count();
    let denominator = true_boxes.len().max(predicted_boxes.len());
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(InstancesScore {
        parsed: parsed.is_ok(),
        true_count: truth.count,
        predicted_count,
        count_correct: predicted_count == Some(truth.count),
        mean_iou: if denominator == 0 {
            0.0
        } else {
            per_box_iou.iter().sum::<f64>() / denominator as f64
        },
        per_box_iou,
        matched,
        precision: ratio(matched, predicted_boxes.len()),
        recall: ratio(matched, true_boxes.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vqa::choice::SplitMix64;
    use crate::vqa::format::instances_answer;

    /// Two 20 × 10 px pieces of a 100 × 50 image, left to right.
    const TRUTH_PX: [[f64; 4]; 2] = [[10.0, 5.0, 29.0, 14.0], [60.0, 30.0, 79.0, 39.0]];

    fn answer(boxes: &[[f64; 4]], format: AnswerFormat) -> String {
        instances_answer(boxes, 100.0, 50.0, format).0
    }

    const FORMATS: [AnswerFormat; 3] = [
        AnswerFormat::RelativeLowerLeft,
        AnswerFormat::RelativeTopLeft,
        AnswerFormat::Qwen1000,
    ];

    #[test]
    fn answer_text_reads_back_to_pixel_edges_in_every_format() {
        for format in FORMATS {
            let parsed = parse_instances(&answer(&TRUTH_PX, format)).expect("own answer");
            assert_eq!(parsed.count, 2);
            let edges: Vec<[f64; 4]> = (parsed.boxes.iter())
                .map(|b| box_edges_px(*b, 100.0, 50.0, format))
                .collect();
            for (got, want) in edges.iter().zip(TRUTH_PX) {
                let want = [want[0], want[1], want[2] + 1.0, want[3] + 1.0];
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() < 1e-9, "{format:?}: {got:?} vs {want:?}");
                }
            }
        }
    }

    #[test]
    fn an_empty_list_has_no_boxes() {
        for text in ["0: []", "1: [ ]", "2: [[]]"] {
            let parsed = parse_instances(text).expect("reads");
            assert!(parsed.boxes.is_empty(), "{text}");
        }
        assert_eq!(parse_instances("1: [ ]").map(|a| a.count), Ok(1));
        assert!(matches!(
            parse_instances("1: [[0.1, 0.2]]"),
            Err(ParseError::BadBox { .. })
        ));
    }

    #[test]
    fn perfect_answer_scores_one_whatever_the_order() {
        for format in FORMATS {
            let truth = answer(&TRUTH_PX, format);
            let swapped = answer(&[TRUTH_PX[1], TRUTH_PX[0]], format);
            for predicted in [&truth, &swapped] {
                let s = score_instances(predicted, &truth, format, 100, 50).expect("truth reads");
                assert!(s.parsed && s.count_correct);
                assert_eq!(s.per_box_iou, vec![1.0, 1.0]);
                assert_eq!(
                    (s.matched, s.precision, s.recall, s.mean_iou),
                    (2, 1.0, 1.0, 1.0)
                );
            }
        }
    }

    #[test]
    fn a_known_shift_gives_the_closed_form_iou() {
        // Shift both 20 × 10 boxes right by 5 px: overlap 15 × 10 = 150, union 200 + 200 − 150 = 250.
        // Shift by 12 px: overlap 8 × 10 = 80, union 320 → IoU 0.25 (below 0.5: not found).
        let format = AnswerFormat::RelativeTopLeft;
        let truth = answer(&TRUTH_PX, format);
        let shifted = |dx: f64| {
            let boxes: Vec<[f64; 4]> = TRUTH_PX
                .iter()
                .map(|b| [b[0] + dx, b[1], b[2] + dx, b[3]])
                .collect();
            answer(&boxes, format)
        };
        let s = score_instances(&shifted(5.0), &truth, format, 100, 50).expect("reads");
        for v in &s.per_box_iou {
            assert!((v - 0.6).abs() < 1e-12, "{v}");
        }
        assert_eq!((s.matched, s.precision, s.recall), (2, 1.0, 1.0));
        let s = score_instances(&shifted(12.0), &truth, format, 100, 50).expect("reads");
        for v in &s.per_box_iou {
            assert!((v - 0.25).abs() < 1e-12, "{v}");
        }
        assert_eq!((s.matched, s.precision, s.recall), (0, 0.0, 0.0));
        assert!(s.count_correct);
    }

    #[test]
    fn wrong_counts_and_extra_boxes() {
        let format = AnswerFormat::Qwen1000;
        let truth = answer(&TRUTH_PX, format);
        // One box only, the right one: found, the left one missed.
        let one = answer(&TRUTH_PX[1..], format);
        let s = score_instances(&one, &truth, format, 100, 50).expect("reads");
        assert!(!s.count_correct);
        assert_eq!(s.predicted_count, Some(1));
        assert_eq!(s.per_box_iou, vec![0.0, 1.0]);
        assert_eq!(
            (s.matched, s.precision, s.recall, s.mean_iou),
            (1, 1.0, 0.5, 0.5)
        );
        // The union box MedVision's `single_instance = false` rows used to give: 1 box of 70 × 35 px covering
        // both; IoU with each 200 px piece is 200 / 2450.
        let union = answer(&[[10.0, 5.0, 79.0, 39.0]], format);
        let s = score_instances(&union, &truth, format, 100, 50).expect("reads");
        let best = s.per_box_iou.iter().copied().fold(0.0, f64::max);
        assert!((best - 200.0 / 2450.0).abs() < 1e-12, "{best}");
        assert_eq!(s.matched, 0);
        // Three boxes, two right: precision 2/3, recall 1; the stated count 3 is wrong.
        let three = answer(&[TRUTH_PX[0], TRUTH_PX[1], [0.0, 40.0, 9.0, 49.0]], format);
        let s = score_instances(&three, &truth, format, 100, 50).expect("reads");
        assert_eq!((s.matched, s.recall), (2, 1.0));
        assert!((s.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.mean_iou - 2.0 / 3.0).abs() < 1e-12);
        assert!(!s.count_correct);
    }

    #[test]
    fn garbage_scores_zero_and_a_bad_truth_is_an_error() {
        let format = AnswerFormat::RelativeLowerLeft;
        let truth = answer(&TRUTH_PX, format);
        for garbage in [
            "",
            "two kidneys",
            "2: [[0.1, 0.2, 0.3]]",
            "2: [[0.1, 0.2, x, 0.4]]",
            "2: [[0.1",
        ] {
            let s = score_instances(garbage, &truth, format, 100, 50).expect("truth reads");
            assert!(!s.parsed, "{garbage}");
            assert_eq!(s.per_box_iou, vec![0.0, 0.0]);
            assert_eq!(
                (s.matched, s.precision, s.recall, s.count_correct),
                (0, 0.0, 0.0, false)
            );
        }
        assert!(matches!(
            parse_instances("x: [[1, 2, 3, 4]]"),
            Err(ParseError::NoCount { .. })
        ));
        assert!(matches!(
            parse_instances("1: [[1, 2, 3, 4]"),
            Err(ParseError::Unclosed)
        ));
        assert!(score_instances("1: [[0, 0, 1, 1]]", "garbage", format, 10, 10).is_err());
        // Loose but readable: no colon, no outer brackets, extra spaces.
        let loose =
            parse_instances("  2 [0.1, 0.2, 0.3, 0.4] , [ 0.5,0.6,0.7,0.8 ] ").expect("reads");
        assert_eq!(loose.count, 2);
        assert_eq!(
            loose.boxes,
            vec![[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]]
        );
    }

    /// Best total by trying every assignment of rows to distinct columns (the independent truth).
    fn exhaustive(weight: &[Vec<f64>], row: usize, used: &mut Vec<bool>) -> f64 {
        if row == weight.len() {
            return 0.0;
        }
        // Leaving a row unmatched is allowed only when there are more rows than columns.
        let mut best = if weight.len() > used.len() {
            exhaustive(weight, row + 1, used)
        } else {
            f64::NEG_INFINITY
        };
        for j in 0..used.len() {
            if !used[j] {
                used[j] = true;
                best = best.max(weight[row][j] + exhaustive(weight, row + 1, used));
                used[j] = false;
            }
        }
        best
    }

    #[test]
    fn hungarian_matches_exhaustive_search() {
        let mut rng = SplitMix64::from_key("hungarian");
        for trial in 0..300 {
            let n = 1 + rng.below(5);
            let m = 1 + rng.below(5);
            let weight: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    (0..m)
                        .map(|_| (rng.below(5) as f64) * 0.25 * rng.unit())
                        .collect()
                })
                .collect();
            let matching = max_weight_matching(&weight);
            let mut cols: Vec<usize> = matching.iter().flatten().copied().collect();
            assert_eq!(cols.len(), n.min(m), "trial {trial}");
            cols.sort_unstable();
            cols.dedup();
            assert_eq!(cols.len(), n.min(m), "trial {trial}: a column used twice");
            let total: f64 = (matching.iter().enumerate())
                .filter_map(|(i, j)| j.map(|j| weight[i][j]))
                .sum();
            let best = exhaustive(&weight, 0, &mut vec![false; m]);
            assert!(
                (total - best).abs() < 1e-12,
                "trial {trial}: {total} vs {best}"
            );
        }
        assert!(max_weight_matching(&[]).is_empty());
        assert_eq!(max_weight_matching(&[vec![], vec![]]), vec![None, None]);
    }
}
