//! MedVision's metrics, accumulated per group: box IoU with precision/recall/F1 at IoU ≥ 0.5, mean absolute
//! and mean relative error with success rates at relative tolerances, multiple-choice accuracy, and for
//! multi-instance answers count accuracy, mean IoU and box precision/recall/F1 at IoU ≥ 0.5.

use serde::Serialize;

use crate::manifest::AnswerFormat;
use crate::vqa::format::{bbox_answer, instances_answer};
use crate::vqa::instance_score::InstancesScore;

/// IoU at or above which a predicted box is a hit.
pub const IOU_THRESHOLD: f64 = 0.5;
/// Relative tolerances of the success rates: |pred − true| / |true| ≤ τ for every value of the answer.
pub const TOLERANCES: [f64; 3] = [0.10, 0.25, 0.50];

/// The answer format a box row was written in: the one whose encoding of `bbox_px` gives the row's
/// `answer_values` exactly (every format is computed by the same code that wrote the row).
pub fn detect_format(
    bbox_px: [f64; 4],
    width_px: f64,
    height_px: f64,
    answer_values: &[f64],
) -> Option<AnswerFormat> {
    AnswerFormat::ALL
        .into_iter()
        .find(|f| bbox_answer(bbox_px, width_px, height_px, *f).1 == answer_values)
}

/// The answer format a multi-instance row was written in: the one whose encoding of every piece box (count
/// first, then each box, as `format::instances_answer` writes it) gives the row's `answer_values` exactly.
/// Encoding all of `piece_boxes_px` checks the count and every box, and needs no rounding tolerance, unlike
/// comparing a box parsed back from the (rounded) answer text with a piece box.
pub fn detect_instances_format(
    piece_boxes_px: &[[f64; 4]],
    width_px: f64,
    height_px: f64,
    answer_values: &[f64],
) -> Option<AnswerFormat> {
    if piece_boxes_px.is_empty() {
        return None;
    }
    AnswerFormat::ALL
        .into_iter()
        .find(|f| instances_answer(piece_boxes_px, width_px, height_px, *f).1 == answer_values)
}

/// The rectangle four answer numbers denote, in pixels from the image's top-left corner, `[x0, y0, x1, y1]`.
/// An affine map of the numbers, so IoU, Dice and the overlap ratios are those of the numbers themselves
/// (MedVision's `cal_IoU` on its relative lower-left values). `relative_lower_left` numbers are MedVision's
/// pixel indices (a box one pixel wide has zero width, as in MedVision); the other formats give pixel edges.
pub fn box_px(
    values: &[f64],
    width_px: f64,
    height_px: f64,
    format: AnswerFormat,
) -> Option<[f64; 4]> {
    let [a, b, c, d] = values else {
        return None;
    };
    let (w, h) = (width_px, height_px);
    Some(match format {
        AnswerFormat::RelativeLowerLeft => [a * w, h - d * h, c * w, h - b * h],
        AnswerFormat::RelativeTopLeft => [a * w, b * h, c * w, d * h],
        AnswerFormat::Qwen1000 => [
            a * w / 1000.0,
            b * h / 1000.0,
            c * w / 1000.0,
            d * h / 1000.0,
        ],
    })
}

/// How a predicted box matches the true one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxMatch {
    /// Intersection over union.
    pub iou: f64,
    /// 2 · intersection / (predicted area + true area) (MedVision's per-box F1).
    pub dice: f64,
    /// Intersection / predicted area (MedVision's per-box precision).
    pub overlap_precision: f64,
    /// Intersection / true area (MedVision's per-box recall).
    pub overlap_recall: f64,
    /// Mean |pred − true| of the four answer numbers, in the answer format's units (MedVision's avgMAE).
    pub coord_mae: f64,
}

/// Compares two pixel boxes (corners in any order) and their answer numbers. Empty areas give 0, not NaN.
pub fn match_boxes(
    pred: [f64; 4],
    truth: [f64; 4],
    pred_values: &[f64],
    truth_values: &[f64],
) -> BoxMatch {
    let norm = |r: [f64; 4]| {
        [
            r[0].min(r[2]),
            r[1].min(r[3]),
            r[0].max(r[2]),
            r[1].max(r[3]),
        ]
    };
    let (a, b) = (norm(pred), norm(truth));
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let ratio = |n: f64, d: f64| if d > 0.0 { n / d } else { 0.0 };
    let coord_mae = pred_values
        .iter()
        .zip(truth_values)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / truth_values.len().max(1) as f64;
    BoxMatch {
        iou: ratio(inter, area(a) + area(b) - inter),
        dice: ratio(2.0 * inter, area(a) + area(b)),
        overlap_precision: ratio(inter, area(a)),
        overlap_recall: ratio(inter, area(b)),
        coord_mae,
    }
}

/// Box questions of one group.
#[derive(Debug, Default, Clone)]
pub struct BoxStats {
    rows: usize,
    unparsed: usize,
    hits: usize,
    iou_sum: f64,
    dice_sum: f64,
    overlap_precision_sum: f64,
    overlap_recall_sum: f64,
    coord_mae_sum: f64,
}

impl BoxStats {
    /// Adds one row: how its box matched, or `None` when the prediction gave no box.
    pub fn add(&mut self, matched: Option<BoxMatch>) {
        self.rows += 1;
        match matched {
            Some(m) => {
                self.hits += usize::from(m.iou >= IOU_THRESHOLD);
                self.iou_sum += m.iou;
                self.dice_sum += m.dice;
                self.overlap_precision_sum += m.overlap_precision;
                self.overlap_recall_sum += m.overlap_recall;
                self.coord_mae_sum += m.coord_mae;
            }
            None => self.unparsed += 1,
        }
    }

    /// The group's summary.
    pub fn summary(&self) -> BoxSummary {
        let ratio = |n: f64, d: usize| if d == 0 { 0.0 } else { n / d as f64 };
        let parsed = self.rows - self.unparsed;
        let precision = ratio(self.hits as f64, parsed);
        let recall = ratio(self.hits as f64, self.rows);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        BoxSummary {
            rows: self.rows,
            unparsed: self.unparsed,
            parsed_rate: ratio(parsed as f64, self.rows),
            mean_iou: ratio(self.iou_sum, self.rows),
            precision,
            recall,
            f1,
            mean_dice: ratio(self.dice_sum, self.rows),
            mean_overlap_precision: ratio(self.overlap_precision_sum, self.rows),
            mean_overlap_recall: ratio(self.overlap_recall_sum, self.rows),
            coord_mae: (parsed > 0).then(|| self.coord_mae_sum / parsed as f64),
        }
    }
}

/// Box metrics of a group (JSON field names are the report's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoxSummary {
    /// Rows with a prediction.
    pub rows: usize,
    /// Predictions that gave no four numbers (IoU 0, a miss).
    pub unparsed: usize,
    /// Parsed predictions over rows (MedVision's `SuccessRate`).
    pub parsed_rate: f64,
    /// Mean IoU over all rows, unparsed rows counting 0 (MedVision's `avgIoU`).
    pub mean_iou: f64,
    /// Hits (IoU ≥ 0.5) over parsed predictions.
    pub precision: f64,
    /// Hits over all rows (MedVision's `IoU>0.5`).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Mean Dice of the boxes over all rows, unparsed 0 (MedVision's `F1`).
    pub mean_dice: f64,
    /// Mean intersection / predicted area over all rows, unparsed 0 (MedVision's `Precision`).
    pub mean_overlap_precision: f64,
    /// Mean intersection / true area over all rows, unparsed 0 (MedVision's `Recall`).
    pub mean_overlap_recall: f64,
    /// Mean |pred − true| of the four answer numbers over parsed rows (MedVision's `avgMAE`); null when none.
    pub coord_mae: Option<f64>,
}

/// Number questions (sizes, diameters, distances, angles) of one group.
#[derive(Debug, Default, Clone)]
pub struct NumberStats {
    rows: usize,
    unparsed: usize,
    abs_sum: f64,
    abs_n: usize,
    rel_sum: f64,
    rel_n: usize,
    successes: [usize; TOLERANCES.len()],
}

impl NumberStats {
    /// Adds one row: predicted and true values (same length), or `None` when the prediction gave no numbers.
    pub fn add(&mut self, pair: Option<(&[f64], &[f64])>) {
        self.rows += 1;
        let Some((pred, truth)) = pair else {
            self.unparsed += 1;
            return;
        };
        let mut worst_rel: f64 = 0.0;
        for (p, t) in pred.iter().zip(truth) {
            let abs = (p - t).abs();
            self.abs_sum += abs;
            self.abs_n += 1;
            let rel = if *t != 0.0 {
                abs / t.abs()
            } else if abs == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            if rel.is_finite() {
                self.rel_sum += rel;
                self.rel_n += 1;
            }
            worst_rel = worst_rel.max(rel);
        }
        for (count, tol) in self.successes.iter_mut().zip(TOLERANCES) {
            *count += usize::from(worst_rel <= tol);
        }
    }

    /// The group's summary.
    pub fn summary(&self) -> NumberSummary {
        let mean = |s: f64, n: usize| (n > 0).then(|| s / n as f64);
        NumberSummary {
            rows: self.rows,
            unparsed: self.unparsed,
            parsed_rate: if self.rows == 0 {
                0.0
            } else {
                (self.rows - self.unparsed) as f64 / self.rows as f64
            },
            mae: mean(self.abs_sum, self.abs_n),
            mre: mean(self.rel_sum, self.rel_n),
            success_rate: self
                .successes
                .iter()
                .map(|s| {
                    if self.rows == 0 {
                        0.0
                    } else {
                        *s as f64 / self.rows as f64
                    }
                })
                .collect(),
        }
    }
}

/// Number metrics of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumberSummary {
    /// Rows with a prediction.
    pub rows: usize,
    /// Predictions without the answer's count of numbers (left out of MAE/MRE, failures in success rates).
    pub unparsed: usize,
    /// Parsed predictions over rows (MedVision's `SuccessRate`).
    pub parsed_rate: f64,
    /// Mean |pred − true| over every value of the parsed rows, in the task's unit; null when none parsed.
    pub mae: Option<f64>,
    /// Mean |pred − true| / |true| over the same values (a true 0 is left out); null when none parsed.
    pub mre: Option<f64>,
    /// Share of rows whose every value is within each of [`TOLERANCES`] (relative), in that order.
    pub success_rate: Vec<f64>,
}

/// Multi-instance questions (count and boxes of every piece) of one group.
#[derive(Debug, Default, Clone)]
pub struct InstanceStats {
    rows: usize,
    unparsed: usize,
    count_correct: usize,
    mean_iou_sum: f64,
    matched: usize,
    predicted_boxes: usize,
    true_boxes: usize,
}

impl InstanceStats {
    /// Adds one row: its score and the number of boxes the prediction gave (0 when unreadable).
    pub fn add(&mut self, score: &InstancesScore, predicted_boxes: usize) {
        self.rows += 1;
        self.unparsed += usize::from(!score.parsed);
        self.count_correct += usize::from(score.count_correct);
        self.mean_iou_sum += score.mean_iou;
        self.matched += score.matched;
        self.predicted_boxes += predicted_boxes;
        self.true_boxes += score.per_box_iou.len();
    }

    /// The group's summary.
    pub fn summary(&self) -> InstancesSummary {
        let ratio = |n: f64, d: usize| if d == 0 { 0.0 } else { n / d as f64 };
        let precision = ratio(self.matched as f64, self.predicted_boxes);
        let recall = ratio(self.matched as f64, self.true_boxes);
        InstancesSummary {
            rows: self.rows,
            unparsed: self.unparsed,
            parsed_rate: ratio((self.rows - self.unparsed) as f64, self.rows),
            count_accuracy: ratio(self.count_correct as f64, self.rows),
            mean_iou: ratio(self.mean_iou_sum, self.rows),
            predicted_boxes: self.predicted_boxes,
            true_boxes: self.true_boxes,
            matched: self.matched,
            precision,
            recall,
            f1: if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            },
        }
    }
}

/// Multi-instance metrics of a group (precision, recall and F1 pool the boxes of all rows: micro averages).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstancesSummary {
    /// Rows with a prediction.
    pub rows: usize,
    /// Predictions without a leading count or with a malformed box (scored as an empty answer).
    pub unparsed: usize,
    /// Parsed predictions over rows.
    pub parsed_rate: f64,
    /// Rows whose stated count equals the number of pieces, over all rows.
    pub count_accuracy: f64,
    /// Mean over rows of the row's mean IoU (matched IoUs summed over max(true, predicted) boxes).
    pub mean_iou: f64,
    /// Boxes predicted, all rows.
    pub predicted_boxes: usize,
    /// True boxes (pieces), all rows.
    pub true_boxes: usize,
    /// One-to-one matched pairs (maximum summed IoU) with IoU ≥ 0.5, all rows.
    pub matched: usize,
    /// `matched / predicted_boxes` (0 with none).
    pub precision: f64,
    /// `matched / true_boxes` (0 with none).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// Multiple-choice items of one group.
#[derive(Debug, Default, Clone)]
pub struct ChoiceStats {
    rows: usize,
    unparsed: usize,
    correct: usize,
}

impl ChoiceStats {
    /// Adds one item: the letter read from the answer (or `None`) and the correct letter.
    pub fn add(&mut self, letter: Option<char>, answer: char) {
        self.rows += 1;
        match letter {
            Some(l) => self.correct += usize::from(l == answer),
            None => self.unparsed += 1,
        }
    }

    /// The group's summary.
    pub fn summary(&self) -> ChoiceSummary {
        ChoiceSummary {
            rows: self.rows,
            unparsed: self.unparsed,
            accuracy: if self.rows == 0 {
                0.0
            } else {
                self.correct as f64 / self.rows as f64
            },
        }
    }
}

/// Multiple-choice metrics of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChoiceSummary {
    /// Items with a prediction.
    pub rows: usize,
    /// Answers naming no single option (wrong).
    pub unparsed: usize,
    /// Correct over all items.
    pub accuracy: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_of_known_boxes() {
        let iou = |a, b| match_boxes(a, b, &[], &[]).iou;
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]), 1.0 / 7.0);
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0]), 0.0);
        assert_eq!(iou([2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]), 1.0);
        // 2x2 predicted inside a 4x2 truth: IoU 0.5, Dice 2/3, precision 1, recall 0.5.
        let m = match_boxes(
            [0.0, 0.0, 2.0, 2.0],
            [0.0, 0.0, 4.0, 2.0],
            &[1.0, 2.0],
            &[1.0, 3.0],
        );
        assert_eq!(
            (
                m.iou,
                m.dice,
                m.overlap_precision,
                m.overlap_recall,
                m.coord_mae
            ),
            (0.5, 8.0 / 12.0, 1.0, 0.5, 0.5)
        );
    }

    #[test]
    fn box_px_inverts_every_format() {
        // 100 x 50 image, inclusive box x 10..=29, y 5..=14: MedVision's lower-left numbers are the pixel
        // indices (10, 5)–(29, 14); the other formats give the pixel edges (10, 5)–(30, 15).
        for format in AnswerFormat::ALL {
            let (_, values) = bbox_answer([10.0, 5.0, 29.0, 14.0], 100.0, 50.0, format);
            let edges = box_px(&values, 100.0, 50.0, format).expect("four values");
            let want = match format {
                AnswerFormat::RelativeLowerLeft => [10.0, 5.0, 29.0, 14.0],
                _ => [10.0, 5.0, 30.0, 15.0],
            };
            for (got, want) in edges.iter().zip(want) {
                assert!((got - want).abs() < 1e-9, "{format:?}: {edges:?}");
            }
            assert_eq!(
                detect_format([10.0, 5.0, 29.0, 14.0], 100.0, 50.0, &values),
                Some(format)
            );
        }
    }

    #[test]
    fn box_and_number_summaries() {
        let hit = |iou| BoxMatch {
            iou,
            dice: iou,
            overlap_precision: 1.0,
            overlap_recall: iou,
            coord_mae: 0.5,
        };
        let mut boxes = BoxStats::default();
        boxes.add(Some(hit(1.0)));
        boxes.add(Some(hit(0.25)));
        boxes.add(None);
        let s = boxes.summary();
        assert_eq!((s.rows, s.unparsed, s.parsed_rate), (3, 1, 2.0 / 3.0));
        assert_eq!(s.mean_iou, 1.25 / 3.0);
        assert_eq!((s.precision, s.recall), (0.5, 1.0 / 3.0));
        assert_eq!(s.f1, 0.4);
        assert_eq!(
            (s.mean_dice, s.mean_overlap_precision),
            (1.25 / 3.0, 2.0 / 3.0)
        );
        assert_eq!(s.coord_mae, Some(0.5));

        let mut numbers = NumberStats::default();
        numbers.add(Some((&[12.0], &[10.0])));
        numbers.add(Some((&[10.0, 30.0], &[10.0, 20.0])));
        numbers.add(None);
        let s = numbers.summary();
        assert_eq!(s.mae, Some(12.0 / 3.0));
        assert_eq!(s.mre, Some((0.2 + 0.0 + 0.5) / 3.0));
        assert_eq!(s.success_rate, vec![0.0, 1.0 / 3.0, 2.0 / 3.0]);
    }

    #[test]
    fn instances_format_and_micro_box_counts() {
        use crate::vqa::instance_score::score_instances;
        let boxes = [[10.0, 5.0, 29.0, 14.0], [50.0, 0.0, 59.0, 49.0]];
        for format in AnswerFormat::ALL {
            let values = instances_answer(&boxes, 100.0, 50.0, format).1;
            assert_eq!(
                detect_instances_format(&boxes, 100.0, 50.0, &values),
                Some(format)
            );
        }
        let format = AnswerFormat::RelativeTopLeft;
        let (truth, _) = instances_answer(&boxes, 100.0, 50.0, format);
        let (first, _) = instances_answer(&boxes[..1], 100.0, 50.0, format);
        let mut stats = InstanceStats::default();
        for (text, given) in [(first.as_str(), 1), ("no kidney", 0)] {
            let score = score_instances(text, &truth, format, 100, 50).expect("truth parses");
            stats.add(&score, given);
        }
        // Row 1 finds one of two boxes exactly (mean IoU 1/2, count 1 ≠ 2); row 2 is unreadable (0 boxes).
        let s = stats.summary();
        assert_eq!((s.rows, s.unparsed, s.parsed_rate), (2, 1, 0.5));
        assert_eq!((s.count_accuracy, s.mean_iou), (0.0, 0.25));
        assert_eq!((s.predicted_boxes, s.true_boxes, s.matched), (1, 4, 1));
        assert_eq!((s.precision, s.recall, s.f1), (1.0, 0.25, 0.4));
    }
}
