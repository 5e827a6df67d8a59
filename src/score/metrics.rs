//! MedVision's metrics, accumulated per group: box IoU with precision/recall/F1 at IoU ≥ 0.5, mean absolute
//! and mean relative error with success rates at relative tolerances, and multiple-choice accuracy.

use serde::Serialize;

use crate::manifest::AnswerFormat;
use crate::vqa::format::bbox_answer;

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

/// The rectangle four answer numbers denote, as pixel edges `[x0, y0, x1, y1]` from the image's top-left
/// corner. `relative_lower_left` numbers are inclusive pixel indices (MedVision's), so the box spans one
/// more pixel than their difference; the other formats already give edges.
pub fn box_edges_px(
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
        AnswerFormat::RelativeLowerLeft => [a * w, h - d * h, c * w + 1.0, h - b * h + 1.0],
        AnswerFormat::RelativeTopLeft => [a * w, b * h, c * w, d * h],
        AnswerFormat::Qwen1000 => [
            a * w / 1000.0,
            b * h / 1000.0,
            c * w / 1000.0,
            d * h / 1000.0,
        ],
    })
}

/// Intersection over union of two edge boxes; a box given with its corners swapped is normalised first, and
/// two empty boxes have IoU 0.
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let norm = |r: [f64; 4]| {
        [
            r[0].min(r[2]),
            r[1].min(r[3]),
            r[0].max(r[2]),
            r[1].max(r[3]),
        ]
    };
    let (a, b) = (norm(a), norm(b));
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Box questions of one group.
#[derive(Debug, Default, Clone)]
pub struct BoxStats {
    rows: usize,
    unparsed: usize,
    iou_sum: f64,
    hits: usize,
}

impl BoxStats {
    /// Adds one row: its IoU, or `None` when the prediction gave no box.
    pub fn add(&mut self, iou: Option<f64>) {
        self.rows += 1;
        match iou {
            Some(v) => {
                self.iou_sum += v;
                self.hits += usize::from(v >= IOU_THRESHOLD);
            }
            None => self.unparsed += 1,
        }
    }

    /// The group's summary.
    pub fn summary(&self) -> BoxSummary {
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let precision = ratio(self.hits, self.rows - self.unparsed);
        let recall = ratio(self.hits, self.rows);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        BoxSummary {
            rows: self.rows,
            unparsed: self.unparsed,
            mean_iou: if self.rows == 0 {
                0.0
            } else {
                self.iou_sum / self.rows as f64
            },
            precision,
            recall,
            f1,
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
    /// Mean IoU over all rows (unparsed rows count 0).
    pub mean_iou: f64,
    /// Hits (IoU ≥ 0.5) over parsed predictions.
    pub precision: f64,
    /// Hits over all rows.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
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
    /// Mean |pred − true| over every value of the parsed rows, in the task's unit; null when none parsed.
    pub mae: Option<f64>,
    /// Mean |pred − true| / |true| over the same values (a true 0 is left out); null when none parsed.
    pub mre: Option<f64>,
    /// Share of rows whose every value is within each of [`TOLERANCES`] (relative), in that order.
    pub success_rate: Vec<f64>,
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
    fn iou_of_known_boxes() {
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]), 1.0 / 7.0);
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [2.0, 0.0, 4.0, 2.0]), 0.0);
        assert_eq!(iou([2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 2.0]), 1.0);
    }

    #[test]
    fn box_edges_invert_every_format() {
        // 100 x 50 image, inclusive box x 10..=29, y 5..=14: edges [10, 5, 30, 15] in every format.
        for format in AnswerFormat::ALL {
            let (_, values) = bbox_answer([10.0, 5.0, 29.0, 14.0], 100.0, 50.0, format);
            let edges = box_edges_px(&values, 100.0, 50.0, format).expect("four values");
            for (got, want) in edges.iter().zip([10.0, 5.0, 30.0, 15.0]) {
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
        let mut boxes = BoxStats::default();
        boxes.add(Some(1.0));
        boxes.add(Some(0.25));
        boxes.add(None);
        let s = boxes.summary();
        assert_eq!((s.rows, s.unparsed), (3, 1));
        assert_eq!(s.mean_iou, 1.25 / 3.0);
        assert_eq!((s.precision, s.recall), (0.5, 1.0 / 3.0));
        assert_eq!(s.f1, 0.4);

        let mut numbers = NumberStats::default();
        numbers.add(Some((&[12.0], &[10.0])));
        numbers.add(Some((&[10.0, 30.0], &[10.0, 20.0])));
        numbers.add(None);
        let s = numbers.summary();
        assert_eq!(s.mae, Some(12.0 / 3.0));
        assert_eq!(s.mre, Some((0.2 + 0.0 + 0.5) / 3.0));
        assert_eq!(s.success_rate, vec![0.0, 1.0 / 3.0, 2.0 / 3.0]);
    }
}
