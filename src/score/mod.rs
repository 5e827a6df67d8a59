//! `score`: closes the loop from a built dataset to a model's answers. Reads the ground truth back from the
//! dataset folder (Parquet rows for open questions, the TSV for multiple choice), parses each prediction and
//! reports MedVision's metrics per task type, label, plane and split (README, "Scoring").

pub mod choice;
mod error;
pub mod metrics;
pub mod parse;
pub mod predictions;
pub mod report;
pub mod truth;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

pub use error::ScoreError;
use metrics::{
    BoxStats, BoxSummary, ChoiceStats, ChoiceSummary, InstanceStats, InstancesSummary, NumberStats,
    NumberSummary,
};
use predictions::Prediction;
use truth::TruthRow;

use crate::vqa::instance_score;

/// What to score.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// The built dataset folder `<out>/<dataset name>`.
    pub dataset_dir: PathBuf,
    /// JSONL or VLMEvalKit `.xlsx` predictions.
    pub predictions: PathBuf,
    /// TSV name (`<dataset>_<split>_<lang>`) the multiple-choice predictions answer; default from the file name.
    pub tsv: Option<String>,
}

/// Task types scored as one box per row.
const BOX_TASKS: [&str; 1] = ["bbox"];

/// Task types scored as a count and several boxes per row (multi-instance questions, docs/measurements.md
/// §5.5), matched one-to-one by `vqa::instance_score`.
const INSTANCE_TASKS: [&str; 1] = ["instances"];

/// Task types scored as numbers, with the unit of their values.
const NUMBER_TASKS: [(&str, &str); 5] = [
    ("mask_size", "mm²"),
    ("lesion_size", "mm"),
    ("lesion_diameter", "mm"),
    ("distance", "mm"),
    ("angle", "deg"),
];

/// A summary for all rows of a task type and for each label, plane and split.
#[derive(Debug, Clone, Serialize)]
pub struct Grouped<T> {
    /// Every row.
    pub all: T,
    /// By `label_name`.
    pub label: BTreeMap<String, T>,
    /// By `plane`.
    pub plane: BTreeMap<String, T>,
    /// By `split`.
    pub split: BTreeMap<String, T>,
}

/// Number metrics of one task type with its unit.
#[derive(Debug, Clone, Serialize)]
pub struct NumberTask {
    /// Unit of the values and of MAE (`mm`, `mm²`, `deg`).
    pub unit: String,
    /// The metrics.
    #[serde(flatten)]
    pub groups: Grouped<NumberSummary>,
}

/// Multiple-choice metrics.
#[derive(Debug, Clone, Serialize)]
pub struct ChoiceReport {
    /// The TSV scored against.
    pub tsv: String,
    /// Every item.
    pub all: ChoiceSummary,
    /// By `category`.
    pub category: BTreeMap<String, ChoiceSummary>,
    /// By `l2-category` (empty when the TSV has no such column).
    #[serde(rename = "l2-category")]
    pub l2_category: BTreeMap<String, ChoiceSummary>,
}

/// The whole report (the `--out` JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Dataset folder.
    pub dataset: String,
    /// Prediction file.
    pub predictions: String,
    /// IoU threshold of box precision/recall/F1.
    pub iou_threshold: f64,
    /// Relative tolerances of the success rates, in `success_rate` order.
    pub tolerances: Vec<f64>,
    /// Box metrics by task type.
    pub boxes: BTreeMap<String, Grouped<BoxSummary>>,
    /// Multi-instance metrics (count and boxes) by task type.
    pub instances: BTreeMap<String, Grouped<InstancesSummary>>,
    /// Number metrics by task type.
    pub numbers: BTreeMap<String, NumberTask>,
    /// Multiple-choice metrics, when the predictions answer TSV items.
    pub choice: Option<ChoiceReport>,
    /// Predicted rows of task types this command does not score, by task type.
    pub not_scored: BTreeMap<String, usize>,
    /// Predictions whose `id`/`index` matches no dataset row or TSV item.
    pub unmatched: usize,
    /// Predictions for a row or item already predicted (the first one counts).
    pub duplicates: usize,
    /// Lines or cells of the prediction file that could not be read, `file:line: reason`.
    pub problems: Vec<String>,
}

impl Report {
    /// True when every prediction was read, matched and used (exit code 0).
    pub fn clean(&self) -> bool {
        self.unmatched == 0
            && self.duplicates == 0
            && self.problems.is_empty()
            && self.not_scored.is_empty()
    }
}

/// Accumulates one metric over the groups of a task type.
#[derive(Debug, Default)]
struct Groups<S> {
    all: S,
    label: BTreeMap<String, S>,
    plane: BTreeMap<String, S>,
    split: BTreeMap<String, S>,
}

impl<S: Default> Groups<S> {
    fn add(&mut self, row: &TruthRow, mut f: impl FnMut(&mut S)) {
        f(&mut self.all);
        f(self.label.entry(row.label_name.clone()).or_default());
        f(self.plane.entry(row.plane.clone()).or_default());
        f(self.split.entry(row.split.clone()).or_default());
    }

    fn summary<T>(&self, s: impl Fn(&S) -> T) -> Grouped<T> {
        let map = |m: &BTreeMap<String, S>| m.iter().map(|(k, v)| (k.clone(), s(v))).collect();
        Grouped {
            all: s(&self.all),
            label: map(&self.label),
            plane: map(&self.plane),
            split: map(&self.split),
        }
    }
}

/// Open-question accumulators.
#[derive(Default)]
struct OpenScores {
    boxes: BTreeMap<String, Groups<BoxStats>>,
    instances: BTreeMap<String, Groups<InstanceStats>>,
    numbers: BTreeMap<String, Groups<NumberStats>>,
    not_scored: BTreeMap<String, usize>,
}

impl OpenScores {
    fn add(&mut self, row: &TruthRow, text: &str) {
        let task = row.task_type.as_str();
        if BOX_TASKS.contains(&task) {
            let format = row.bbox_px.and_then(|b| {
                metrics::detect_format(
                    b,
                    row.image_width_px,
                    row.image_height_px,
                    &row.answer_values,
                )
            });
            let (w, h) = (row.image_width_px, row.image_height_px);
            let truth = format.and_then(|f| metrics::box_px(&row.answer_values, w, h, f));
            let (Some(format), Some(truth)) = (format, truth) else {
                *self
                    .not_scored
                    .entry(format!("{task} (answer format not recognised)"))
                    .or_default() += 1;
                return;
            };
            let matched = parse::answer_numbers(text, 4).and_then(|v| {
                let pred = metrics::box_px(&v, w, h, format)?;
                Some(metrics::match_boxes(pred, truth, &v, &row.answer_values))
            });
            self.boxes
                .entry(task.to_string())
                .or_default()
                .add(row, |s| s.add(matched));
        } else if INSTANCE_TASKS.contains(&task) {
            self.add_instances(row, text);
        } else if NUMBER_TASKS.iter().any(|(t, _)| *t == task) && !row.answer_values.is_empty() {
            let truth = &row.answer_values;
            let pred = parse::answer_numbers(text, truth.len());
            self.numbers
                .entry(task.to_string())
                .or_default()
                .add(row, |s| {
                    s.add(pred.as_deref().map(|p| (p, truth.as_slice())))
                });
        } else {
            *self.not_scored.entry(task.to_string()).or_default() += 1;
        }
    }
}

impl OpenScores {
    /// A multi-instance row: the truth's format from its piece boxes, then the one-to-one box matching.
    fn add_instances(&mut self, row: &TruthRow, text: &str) {
        let task = row.task_type.as_str();
        let (w, h) = (row.image_width_px, row.image_height_px);
        let format =
            metrics::detect_instances_format(&row.piece_boxes_px, w, h, &row.answer_values);
        // Image sizes come from int32 columns, so the casts are exact.
        let scored = format.and_then(|f| {
            instance_score::score_instances(text, &row.answer, f, w as u32, h as u32).ok()
        });
        let Some(scored) = scored else {
            *self
                .not_scored
                .entry(format!("{task} (answer format not recognised)"))
                .or_default() += 1;
            return;
        };
        let predicted_boxes = instance_score::parse_instances(text).map_or(0, |a| a.boxes.len());
        self.instances
            .entry(task.to_string())
            .or_default()
            .add(row, |s| s.add(&scored, predicted_boxes));
    }
}

/// Scores the predictions; `Err` only when the inputs cannot be read at all.
pub fn score(options: &ScoreOptions) -> Result<Report, ScoreError> {
    let read = predictions::read_predictions(&options.predictions)?;
    let has_open = read
        .items
        .iter()
        .any(|p| matches!(p, Prediction::Open { .. }));
    let has_choice = read
        .items
        .iter()
        .any(|p| matches!(p, Prediction::Choice { .. }));
    let rows: HashMap<String, TruthRow> = if has_open {
        truth::read_truth(&options.dataset_dir)?
    } else {
        HashMap::new()
    };
    let (tsv_path, items) = if has_choice {
        let path = choice::resolve_tsv(
            &options.dataset_dir,
            options.tsv.as_deref(),
            &options.predictions,
        )?;
        let mut items = HashMap::new();
        for file in choice::truth_files(&path)? {
            items.extend(choice::read_choices(&file)?);
        }
        (Some(path), items)
    } else {
        (None, HashMap::new())
    };

    let mut open = OpenScores::default();
    let mut all_choice = ChoiceStats::default();
    let mut by_category: BTreeMap<String, ChoiceStats> = BTreeMap::new();
    let mut by_l2: BTreeMap<String, ChoiceStats> = BTreeMap::new();
    let (mut unmatched, mut duplicates) = (0, 0);
    let mut seen: HashSet<(bool, String)> = HashSet::new();
    for prediction in &read.items {
        let (key, text) = match prediction {
            Prediction::Open { id, text } => ((true, id.clone()), text),
            Prediction::Choice { index, text } => ((false, index.clone()), text),
        };
        if !seen.insert(key.clone()) {
            duplicates += 1;
            continue;
        }
        match prediction {
            Prediction::Open { id, .. } => match rows.get(id) {
                Some(row) => open.add(row, text),
                None => unmatched += 1,
            },
            Prediction::Choice { index, .. } => match items.get(index) {
                Some(item) => {
                    let letter = parse::choice_letter(text, &item.options);
                    all_choice.add(letter, item.answer);
                    by_category
                        .entry(item.category.clone())
                        .or_default()
                        .add(letter, item.answer);
                    if let Some(l2) = &item.l2_category {
                        by_l2
                            .entry(l2.clone())
                            .or_default()
                            .add(letter, item.answer);
                    }
                }
                None => unmatched += 1,
            },
        }
    }
    let summaries = |m: &BTreeMap<String, ChoiceStats>| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.summary()))
            .collect::<BTreeMap<_, _>>()
    };
    let choice = tsv_path.map(|path| ChoiceReport {
        tsv: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        all: all_choice.summary(),
        category: summaries(&by_category),
        l2_category: summaries(&by_l2),
    });
    Ok(Report {
        dataset: options.dataset_dir.display().to_string(),
        predictions: options.predictions.display().to_string(),
        iou_threshold: metrics::IOU_THRESHOLD,
        tolerances: metrics::TOLERANCES.to_vec(),
        boxes: open
            .boxes
            .iter()
            .map(|(k, g)| (k.clone(), g.summary(BoxStats::summary)))
            .collect(),
        instances: open
            .instances
            .iter()
            .map(|(k, g)| (k.clone(), g.summary(InstanceStats::summary)))
            .collect(),
        numbers: open
            .numbers
            .iter()
            .map(|(k, g)| {
                let unit = NUMBER_TASKS
                    .iter()
                    .find(|(t, _)| t == k)
                    .map_or("", |(_, u)| u);
                let task = NumberTask {
                    unit: unit.to_string(),
                    groups: g.summary(NumberStats::summary),
                };
                (k.clone(), task)
            })
            .collect(),
        choice,
        not_scored: open.not_scored,
        unmatched,
        duplicates,
        problems: read.problems,
    })
}
