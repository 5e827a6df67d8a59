//! Multiple-choice versions of the questions (GMAI-MMBench-style TSV, `mc_*` Parquet columns): numeric options
//! at least 15 % apart, box options that overlap neither the true box nor each other, and "which structure is
//! boxed" questions whose options are the dataset's other labels.
//!
//! Everything is deterministic: the only randomness is [`SplitMix64`] seeded with `xxh3_64` of a key derived from
//! the row id without its language, so the English and Arabic rows of one fact get the same options in the same
//! order and the same correct letter. The correct position is drawn uniformly, so over a dataset each letter is
//! correct equally often (with fewer than five options, uniformly over the letters present).
//!
//! A new measurement kind plugs in with a `[<kind>_choice]` template entry and one call to [`numeric_item`]
//! (with [`Unit::Mm`] for diameters and distances, [`Unit::Deg`] for angles). Landmark distances and angles go
//! through [`landmark_item`], which caps angle options per measurement kind ([`measure_max`]).

use std::collections::BTreeMap;

use super::format;
use super::kinds::QuestionKind;
pub use super::kinds::{units_for, ChoiceKind, Unit};
use super::{label_name, no_extra, Asker, ExtraPlaceholders, MeasurementAsk, Missing, Shown};
use crate::manifest::{
    AnswerFormat, DatasetInfo, Label, Lang, Localized, MeasureKind, Modality, Plane, TaskKind,
};
use crate::record::Choice;

/// Option letters in order.
pub const LETTERS: [char; 5] = ['A', 'B', 'C', 'D', 'E'];
/// Options of a numeric or box question (the correct one included).
pub const OPTION_COUNT: usize = 5;
/// Any two numeric options differ by at least this fraction of the larger one.
pub const MIN_RELATIVE_GAP: f64 = 0.15;
/// Box options overlap the true box and each other with IoU strictly below this.
pub const MAX_BOX_IOU: f64 = 0.5;
/// Geometric ratios between neighbouring numeric options are drawn from `[LOW, HIGH)`: 1.25 keeps neighbours
/// 20 % apart, so rounding to two decimals cannot bring them under 15 % except for values below ~0.1.
const RATIO_LOW: f64 = 1.25;
const RATIO_HIGH: f64 = 1.5;
/// Random placements tried before a box question is given up (tiny images or boxes covering most of one).
const BOX_ATTEMPTS: usize = 4000;

/// SplitMix64 (Steele, Lea & Flood 2014; the seeding generator of `java.util.SplittableRandom` and of the
/// xoshiro family): a 64-bit counter advanced by the golden-ratio constant and passed through a fixed
/// avalanche mix. Written out here so the options never change with a dependency's version.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `xxh3_64` of `key`.
    pub fn from_key(key: &str) -> SplitMix64 {
        SplitMix64 {
            state: xxhash_rust::xxh3::xxh3_64(key.as_bytes()),
        }
    }

    /// Next pseudo-random 64-bit value of the SplitMix64 sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in `0..n` (multiply-high reduction; the bias is below `n / 2^64`). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform float in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Unit of a landmark measurement's options: millimetres for distances, degrees for angles.
pub fn measure_unit(kind: MeasureKind) -> Unit {
    match kind {
        MeasureKind::Distance => Unit::Mm,
        MeasureKind::LineAngle | MeasureKind::VertexAngle => Unit::Deg,
    }
}

/// Largest value a landmark measurement can take: the acute angle between two lines is at most 90°, the
/// angle at a vertex at most 180°; distances are unbounded.
pub fn measure_max(kind: MeasureKind) -> Option<f64> {
    match kind {
        MeasureKind::Distance => None,
        MeasureKind::LineAngle => Some(90.0),
        MeasureKind::VertexAngle => Some(180.0),
    }
}

/// GMAI `perceptual granularity` of a task kind (README, "Output formats", lexical tree).
pub fn granularity(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Bbox | TaskKind::Instances => "Box level",
        TaskKind::MaskSize => "Mask level",
        TaskKind::LesionSize => "Contour level",
        TaskKind::Landmarks => "Image level",
    }
}

/// GMAI `original task` of a task kind: boxes are detection, areas segmentation, lengths and angles measurement.
pub fn original_task(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Bbox | TaskKind::Instances => "DET_2D",
        TaskKind::MaskSize => "SEG_2D",
        TaskKind::LesionSize | TaskKind::Landmarks => "MEAS_2D",
    }
}

/// GMAI clinical VQA task used for a label the manifest gives no `vqa_task`: a measurement is an attribute.
pub const DEFAULT_VQA_TASK: &str = "Attribute Recognition";

/// The lexical-tree columns of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Lexical {
    /// GMAI clinical VQA task, e.g. `Organ Recognition - Abdomen`.
    pub clinical_vqa_task: String,
    /// GMAI department.
    pub department: String,
    /// `Image level`, `Box level`, `Mask level` or `Contour level`.
    pub perceptual_granularity: String,
    /// Modality, e.g. `CT`.
    pub modality: String,
    /// `DET_2D`, `SEG_2D` or `MEAS_2D`.
    pub original_task: String,
}

impl Lexical {
    /// Columns of a question of `kind` about `label` (department and modality from the manifest).
    pub fn new(
        kind: TaskKind,
        dataset: &DatasetInfo,
        modality: Modality,
        label: &Label,
    ) -> Lexical {
        Lexical {
            clinical_vqa_task: label
                .vqa_task
                .clone()
                .unwrap_or_else(|| DEFAULT_VQA_TASK.to_string()),
            department: dataset.department.clone(),
            perceptual_granularity: granularity(kind).to_string(),
            modality: modality.as_str().to_string(),
            original_task: original_task(kind).to_string(),
        }
    }
}

/// Why no multiple-choice item could be built for a fact.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChoiceError {
    #[error("value {value} is not a positive finite number")]
    /// The value is zero, negative or not finite.
    NotPositive {
        /// The value.
        value: f64,
    },
    #[error(
        "value {value} is too small for options {MIN_RELATIVE_GAP} apart at {decimals} decimals"
    )]
    /// The value is too small for distinct options at this precision.
    TooSmall {
        /// The value.
        value: f64,
        /// Decimals the options are written with.
        decimals: u32,
    },
    #[error("no room for {OPTION_COUNT} boxes with IoU < {MAX_BOX_IOU} in a {width_px}×{height_px} image")]
    /// The image is too small for enough barely-overlapping boxes.
    NoRoom {
        /// Image width in pixels.
        width_px: u32,
        /// Image height in pixels.
        height_px: u32,
    },
    #[error("label {label} has no other label to choose from")]
    /// No other label exists to serve as a wrong option.
    TooFewLabels {
        /// The correct label.
        label: u16,
    },
    #[error("two options read the same: `{text}`")]
    /// Two options have the same text.
    Duplicate {
        /// The repeated text.
        text: String,
    },
    #[error("no `{key}` template for language `{lang}`")]
    /// A template the item needs is missing.
    MissingTemplate {
        /// Template table name, e.g. `bbox_choice`.
        key: String,
        /// Language code.
        lang: String,
    },
}

/// Option values of a numeric question: a geometric ladder around the (rounded) truth with a random ratio in
/// `[1.25, 1.5)`, the truth at a uniformly drawn position, ascending. With a `max` (angles), when that
/// position's ladder would exceed it, a ladder that fits is rotated to put the truth at the drawn position.
pub fn numeric_values(
    seed_key: &str,
    truth: f64,
    decimals: u32,
    max: Option<f64>,
) -> Result<(Vec<f64>, usize), ChoiceError> {
    let (tuples, k) = numeric_tuples(seed_key, &[truth], decimals, max)?;
    Ok((tuples.into_iter().map(|t| t[0]).collect(), k))
}

/// [`numeric_values`] for answers of several numbers (e.g. major and minor axis): every number of an option
/// is the truth's scaled by the same ladder step, so options differ by at least 15 % in every positive
/// number. The first number must be positive.
pub fn numeric_tuples(
    seed_key: &str,
    truths: &[f64],
    decimals: u32,
    max: Option<f64>,
) -> Result<(Vec<Vec<f64>>, usize), ChoiceError> {
    let truths: Vec<f64> = truths
        .iter()
        .map(|t| format::round_to(*t, decimals))
        .collect();
    if let Some(bad) = truths.iter().find(|t| !t.is_finite() || **t < 0.0) {
        return Err(ChoiceError::NotPositive { value: *bad });
    }
    if truths.first().is_none_or(|t| *t <= 0.0) {
        return Err(ChoiceError::NotPositive {
            value: truths.first().copied().unwrap_or(0.0),
        });
    }
    let mut rng = SplitMix64::from_key(seed_key);
    let ratio = RATIO_LOW + (RATIO_HIGH - RATIO_LOW) * rng.unit();
    let ladder = |k: usize| -> Vec<Vec<f64>> {
        (0..OPTION_COUNT)
            .map(|i| {
                truths
                    .iter()
                    .map(|&t| {
                        if i == k {
                            t
                        } else {
                            format::round_to(t * ratio.powi(i as i32 - k as i32), decimals)
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let fits = |options: &[Vec<f64>]| {
        (0..truths.len()).filter(|&j| truths[j] > 0.0).all(|j| {
            options
                .windows(2)
                .all(|w| w[0][j] > 0.0 && (w[1][j] - w[0][j]) >= MIN_RELATIVE_GAP * w[1][j])
                && max.is_none_or(|m| options[OPTION_COUNT - 1][j] <= m)
        })
    };
    let first = rng.below(OPTION_COUNT);
    if fits(&ladder(first)) {
        return Ok((ladder(first), first));
    }
    // Near a maximum (e.g. an 85° line angle) the truth can only sit low in the ladder. The options are then
    // rotated so the truth still lands on the uniformly drawn letter: the list stays a cyclic rotation of
    // the ascending ladder, and the correct letter stays uniform over a dataset.
    let feasible: Vec<usize> = (0..OPTION_COUNT).filter(|&k| fits(&ladder(k))).collect();
    let Some(&k) = feasible.get(rng.below(feasible.len().max(1))) else {
        return Err(ChoiceError::TooSmall {
            value: truths[0],
            decimals,
        });
    };
    let ascending = ladder(k);
    let rotated = (0..OPTION_COUNT)
        .map(|i| ascending[(i + OPTION_COUNT + k - first) % OPTION_COUNT].clone())
        .collect();
    Ok((rotated, first))
}

/// Intersection over union of two inclusive pixel boxes `[x_min, y_min, x_max, y_max]`.
pub fn iou(a: [u32; 4], b: [u32; 4]) -> f64 {
    let area = |r: [u32; 4]| f64::from(r[2] - r[0] + 1) * f64::from(r[3] - r[1] + 1);
    let (x0, y0) = (a[0].max(b[0]), a[1].max(b[1]));
    let (x1, y1) = (a[2].min(b[2]), a[3].min(b[3]));
    let inter = if x0 <= x1 && y0 <= y1 {
        f64::from(x1 - x0 + 1) * f64::from(y1 - y0 + 1)
    } else {
        0.0
    };
    inter / (area(a) + area(b) - inter)
}

/// Box options: the true box at a uniformly drawn position and four random boxes inside the
/// `width_px × height_px` image, each with IoU < 0.5 to the true box and to each other. Distractor sides are
/// 0.6–1.6 times the true ones (then 0.25–1.0 when the image has no room for those).
pub fn box_options(
    seed_key: &str,
    truth: [u32; 4],
    width_px: u32,
    height_px: u32,
) -> Result<(Vec<[u32; 4]>, usize), ChoiceError> {
    let no_room = ChoiceError::NoRoom {
        width_px,
        height_px,
    };
    if width_px == 0
        || height_px == 0
        || truth[2] >= width_px
        || truth[3] >= height_px
        || truth[0] > truth[2]
        || truth[1] > truth[3]
    {
        return Err(no_room);
    }
    let mut rng = SplitMix64::from_key(seed_key);
    let (tw, th) = (
        f64::from(truth[2] - truth[0] + 1),
        f64::from(truth[3] - truth[1] + 1),
    );
    let mut distractors: Vec<[u32; 4]> = Vec::with_capacity(OPTION_COUNT - 1);
    for attempt in 0..BOX_ATTEMPTS {
        if distractors.len() == OPTION_COUNT - 1 {
            break;
        }
        let (lo, hi) = if attempt < BOX_ATTEMPTS / 2 {
            (0.6, 1.6)
        } else {
            (0.25, 1.0)
        };
        let side = |rng: &mut SplitMix64, t: f64, max: u32| -> u32 {
            ((t * (lo + (hi - lo) * rng.unit())).round() as u32).clamp(1, max)
        };
        let w = side(&mut rng, tw, width_px);
        let h = side(&mut rng, th, height_px);
        let x0 = rng.below((width_px - w + 1) as usize) as u32;
        let y0 = rng.below((height_px - h + 1) as usize) as u32;
        let candidate = [x0, y0, x0 + w - 1, y0 + h - 1];
        if iou(candidate, truth) < MAX_BOX_IOU
            && distractors.iter().all(|d| iou(candidate, *d) < MAX_BOX_IOU)
        {
            distractors.push(candidate);
        }
    }
    if distractors.len() < OPTION_COUNT - 1 {
        return Err(no_room);
    }
    let k = rng.below(OPTION_COUNT);
    distractors.insert(k, truth);
    Ok((distractors, k))
}

/// Label options of an identification question: the true label at a uniformly drawn position among up to
/// four other labels of the dataset, drawn in random order.
pub fn label_options(
    seed_key: &str,
    truth: u16,
    labels: &[u16],
) -> Result<(Vec<u16>, usize), ChoiceError> {
    let mut others: Vec<u16> = labels.iter().copied().filter(|&l| l != truth).collect();
    others.sort_unstable();
    others.dedup();
    if others.is_empty() {
        return Err(ChoiceError::TooFewLabels { label: truth });
    }
    let mut rng = SplitMix64::from_key(seed_key);
    // Fisher–Yates, then keep the first four.
    for i in (1..others.len()).rev() {
        others.swap(i, rng.below(i + 1));
    }
    others.truncate(OPTION_COUNT - 1);
    let k = rng.below(others.len() + 1);
    others.insert(k, truth);
    Ok((others, k))
}

/// Fills a choice template through the one filler ([`Asker::fill`]); an error names the missing template,
/// plane name or name in `lang`.
pub(super) fn question(
    asker: &Asker,
    kind: ChoiceKind,
    lang: &Lang,
    label: &Label,
    plane: Plane,
    shown: &Shown,
    extra: ExtraPlaceholders,
) -> Result<String, ChoiceError> {
    let missing = |key: String| ChoiceError::MissingTemplate {
        key,
        lang: lang.to_string(),
    };
    let template = asker
        .templates
        .choice(kind, lang)
        .ok_or_else(|| missing(kind.key()))?;
    asker
        .fill(template, lang, label_name(label, lang), plane, shown, extra)
        .map_err(|Missing(key)| missing(key))
}

/// A choice item with its lexical columns; refuses two options that read the same.
pub(super) fn item(
    question: String,
    options: Vec<String>,
    answer_index: usize,
    lexical: Lexical,
    box_drawn: bool,
) -> Result<Choice, ChoiceError> {
    for (i, a) in options.iter().enumerate() {
        if options[..i].contains(a) {
            return Err(ChoiceError::Duplicate { text: a.clone() });
        }
    }
    Ok(Choice {
        question,
        options,
        answer_index,
        clinical_vqa_task: lexical.clinical_vqa_task,
        department: lexical.department,
        perceptual_granularity: lexical.perceptual_granularity,
        modality: lexical.modality,
        original_task: lexical.original_task,
        box_drawn,
        rgb_png: None,
    })
}

/// The multiple-choice form of a box question: options in the build's answer format.
#[allow(clippy::too_many_arguments)]
pub fn bbox_item(
    asker: &Asker,
    lang: &Lang,
    label: &Label,
    plane: Plane,
    shown: &Shown,
    bbox_px: [u32; 4],
    seed_key: &str,
    lexical: Lexical,
) -> Result<Choice, ChoiceError> {
    let question = question(
        asker,
        ChoiceKind::Question(QuestionKind::Bbox),
        lang,
        label,
        plane,
        shown,
        &no_extra,
    )?;
    let (boxes, k) = box_options(seed_key, bbox_px, shown.width_px, shown.height_px)?;
    let options = boxes
        .iter()
        .map(|b| box_text(*b, shown, asker.answer_format))
        .collect();
    item(question, options, k, lexical, false)
}

fn box_text(bbox_px: [u32; 4], shown: &Shown, answer_format: AnswerFormat) -> String {
    format::bbox_answer(
        bbox_px.map(f64::from),
        f64::from(shown.width_px),
        f64::from(shown.height_px),
        answer_format,
    )
    .0
}

/// The multiple-choice form of a numeric question of `kind` (area, diameters, distance, angle): five options
/// of the answer's numbers with their unit, two decimals like the open answer, several numbers joined by
/// `", "` in the answer's order (e.g. `23.46 mm, 11.20 mm` for major and minor axis).
#[allow(clippy::too_many_arguments)]
pub fn numeric_item(
    asker: &Asker,
    kind: QuestionKind,
    lang: &Lang,
    label: &Label,
    plane: Plane,
    shown: &Shown,
    values: &[f64],
    unit: Unit,
    seed_key: &str,
    lexical: Lexical,
) -> Result<Choice, ChoiceError> {
    numeric_item_with(
        asker, kind, lang, label, plane, shown, values, unit, seed_key, lexical, &no_extra,
    )
}

/// [`numeric_item`] for templates with kind-specific placeholders (landmark names), filled by `extra`.
#[allow(clippy::too_many_arguments)]
pub fn numeric_item_with(
    asker: &Asker,
    kind: QuestionKind,
    lang: &Lang,
    label: &Label,
    plane: Plane,
    shown: &Shown,
    values: &[f64],
    unit: Unit,
    seed_key: &str,
    lexical: Lexical,
    extra: ExtraPlaceholders,
) -> Result<Choice, ChoiceError> {
    numeric_item_bounded(
        asker,
        kind,
        lang,
        label,
        plane,
        shown,
        values,
        unit,
        unit.max_value(),
        seed_key,
        lexical,
        extra,
    )
}

/// [`numeric_item_with`] with an explicit largest option value (`None`: unbounded).
#[allow(clippy::too_many_arguments)]
fn numeric_item_bounded(
    asker: &Asker,
    kind: QuestionKind,
    lang: &Lang,
    label: &Label,
    plane: Plane,
    shown: &Shown,
    values: &[f64],
    unit: Unit,
    max: Option<f64>,
    seed_key: &str,
    lexical: Lexical,
    extra: ExtraPlaceholders,
) -> Result<Choice, ChoiceError> {
    let question = question(
        asker,
        ChoiceKind::Question(kind),
        lang,
        label,
        plane,
        shown,
        extra,
    )?;
    let unit_template =
        asker
            .templates
            .unit(unit, lang)
            .ok_or_else(|| ChoiceError::MissingTemplate {
                key: format!("unit.{}", unit.key()),
                lang: lang.to_string(),
            })?;
    let (tuples, k) = numeric_tuples(seed_key, values, format::MEASURE_DECIMALS, max)?;
    let options = tuples
        .iter()
        .map(|tuple| {
            tuple
                .iter()
                .map(|v| {
                    unit_template.render(|name| {
                        (name == "value").then(|| format::fixed(*v, format::MEASURE_DECIMALS))
                    })
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    item(question, options, k, lexical, false)
}

/// The multiple-choice form of a landmark distance or angle: the `[landmarks_choice]` frame around the
/// kind's `[measurement_choice.<kind>]` sentence, options in mm (distances) or degrees (angles, at most 90° for
/// line angles and 180° for vertex angles). `ask` carries the names in `lang`; `{label}` is its display name.
pub fn landmark_item(
    asker: &Asker,
    lang: &Lang,
    plane: Plane,
    shown: &Shown,
    ask: &MeasurementAsk,
    seed_key: &str,
    lexical: Lexical,
) -> Result<Choice, ChoiceError> {
    let sentence = asker
        .templates
        .measurement_choice(ask.kind, lang)
        .map(|t| ask.sentence(t))
        .ok_or_else(|| ChoiceError::MissingTemplate {
            key: format!("measurement_choice.{}", ask.kind.as_str()),
            lang: lang.to_string(),
        })?;
    // The display name is already in `lang`, so it serves as the label's name in `lang`.
    let label = Label {
        name: Localized::new(ask.name.to_string()).with(lang.clone(), ask.name.to_string()),
        group: None,
        vqa_task: None,
        file: None,
        region: None,
    };
    let extra = |name: &str| (name == "measurement").then(|| sentence.clone());
    numeric_item_bounded(
        asker,
        QuestionKind::Landmarks,
        lang,
        &label,
        plane,
        shown,
        &[ask.value],
        measure_unit(ask.kind),
        measure_max(ask.kind),
        seed_key,
        lexical,
        &extra,
    )
}

/// "Which structure is in the red box?": the row's box is drawn on the image; the options are the names (in
/// `lang`) of the true label and up to four other labels of the collection.
#[allow(clippy::too_many_arguments)]
pub fn identify_item(
    asker: &Asker,
    lang: &Lang,
    label_id: u16,
    labels: &BTreeMap<u16, Label>,
    plane: Plane,
    shown: &Shown,
    seed_key: &str,
    lexical: Lexical,
) -> Result<Choice, ChoiceError> {
    let label = labels
        .get(&label_id)
        .ok_or(ChoiceError::TooFewLabels { label: label_id })?;
    let question = question(
        asker,
        ChoiceKind::Identify,
        lang,
        label,
        plane,
        shown,
        &no_extra,
    )?;
    let ids: Vec<u16> = labels.keys().copied().collect();
    let (chosen, k) = label_options(seed_key, label_id, &ids)?;
    let mut options = Vec::with_capacity(chosen.len());
    for id in chosen {
        let name = label_name(&labels[&id], lang).map_err(|Missing(key)| {
            ChoiceError::MissingTemplate {
                key,
                lang: lang.to_string(),
            }
        })?;
        options.push(name.to_string());
    }
    item(question, options, k, lexical, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vqa::templates::TemplateSet;

    fn ar() -> Lang {
        Lang::parse("ar").expect("a language code")
    }

    /// Pearson χ² of letter counts against a uniform distribution.
    fn chi_square(counts: &[usize]) -> f64 {
        let n: usize = counts.iter().sum();
        let expected = n as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut rng = SplitMix64 { state: 1234567 };
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
        assert_eq!(rng.next_u64(), 9817491932198370423);
    }

    #[test]
    fn numeric_options_are_15_percent_apart_and_letters_uniform() {
        let mut counts = [0usize; 5];
        for i in 0..5000 {
            let truth = 1.0 + (i as f64) * 3.7;
            let (values, k) = numeric_values(
                &format!("ds/case_{i}/mask_size/T01/axial/3/2"),
                truth,
                2,
                None,
            )
            .expect("options");
            assert_eq!(values[k], format::round_to(truth, 2));
            for a in 0..5 {
                for b in 0..5 {
                    if a != b {
                        let (x, y) = (values[a], values[b]);
                        assert!((x - y).abs() >= 0.15 * x.max(y), "{values:?}");
                    }
                }
            }
            assert!(values.windows(2).all(|w| w[0] < w[1]));
            counts[k] += 1;
        }
        // χ² with 4 degrees of freedom: 18.47 is the 0.1 % critical value.
        assert!(chi_square(&counts) < 18.47, "{counts:?}");
    }

    #[test]
    fn numeric_options_are_deterministic_and_respect_a_maximum() {
        let a = numeric_values("k", 150.0, 2, Some(180.0)).expect("fits");
        assert_eq!(a, numeric_values("k", 150.0, 2, Some(180.0)).expect("fits"));
        assert!(a.0.iter().all(|v| *v <= 180.0), "{a:?}");
        // 150° can only be the largest or second largest value below 180°: the ascending ladder is rotated
        // so the truth keeps its drawn letter.
        let mut sorted = a.0.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(sorted[3..].contains(&150.0), "{a:?}");
        assert_eq!(a.0[a.1], 150.0);
        let rank = sorted
            .iter()
            .position(|v| *v == 150.0)
            .expect("truth present");
        for i in 0..5 {
            assert_eq!(
                a.0[(a.1 + i) % 5],
                sorted[(rank + i) % 5],
                "cyclic rotation of the ladder: {a:?}"
            );
        }
        assert!(matches!(
            numeric_values("k", 0.0, 2, None),
            Err(ChoiceError::NotPositive { .. })
        ));
        assert!(matches!(
            numeric_values("k", 0.02, 2, None),
            Err(ChoiceError::TooSmall { .. })
        ));
        let (options, k) = numeric_values("k", 179.9, 2, Some(180.0)).expect("fits");
        assert_eq!(options[k], 179.9);
        assert!(options.iter().all(|v| *v <= 180.0));
        // Near the cap the correct letter is still uniform over a dataset.
        let mut counts = [0usize; 5];
        for i in 0..2000 {
            counts[numeric_values(&format!("angle-{i}"), 85.0, 2, Some(90.0))
                .expect("fits")
                .1] += 1;
        }
        assert!(chi_square(&counts) < 13.28, "{counts:?}");
    }

    #[test]
    fn box_options_overlap_below_half_and_stay_inside() {
        let mut counts = [0usize; 5];
        for i in 0..2000u32 {
            let (w, h) = (64 + i % 200, 48 + (i * 7) % 300);
            let truth = [i % 20, i % 13, i % 20 + 5 + i % 30, i % 13 + 4 + i % 25];
            let (boxes, k) = box_options(&format!("id/{i}"), truth, w, h).expect("room");
            assert_eq!(boxes[k], truth);
            for (a, ba) in boxes.iter().enumerate() {
                assert!(
                    ba[2] < w && ba[3] < h && ba[0] <= ba[2] && ba[1] <= ba[3],
                    "{ba:?} in {w}x{h}"
                );
                for bb in &boxes[..a] {
                    assert!(iou(*ba, *bb) < MAX_BOX_IOU, "{ba:?} {bb:?}");
                }
            }
            counts[k] += 1;
        }
        assert!(chi_square(&counts) < 18.47, "{counts:?}");
        // A box covering the whole image still gets smaller distractors; a box outside the image gets none.
        let (boxes, _) = box_options("x", [0, 0, 9, 9], 10, 10).expect("smaller boxes fit");
        assert!(boxes
            .iter()
            .filter(|b| **b != [0, 0, 9, 9])
            .all(|b| iou(*b, [0, 0, 9, 9]) < MAX_BOX_IOU));
        assert!(matches!(
            box_options("x", [0, 0, 10, 10], 10, 10),
            Err(ChoiceError::NoRoom { .. })
        ));
        assert!(matches!(
            box_options("x", [0, 0, 0, 0], 1, 1),
            Err(ChoiceError::NoRoom { .. })
        ));
    }

    #[test]
    fn iou_of_inclusive_boxes() {
        assert_eq!(iou([0, 0, 9, 9], [0, 0, 9, 9]), 1.0);
        // 10x10 boxes overlapping in a 5x10 strip: 50 / 150.
        assert!((iou([0, 0, 9, 9], [5, 0, 14, 9]) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(iou([0, 0, 1, 1], [2, 2, 3, 3]), 0.0);
    }

    #[test]
    fn label_options_hold_every_other_label_and_are_uniform() {
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            let (ids, k) = label_options(&format!("r{i}"), 2, &[1, 2, 3]).expect("options");
            assert_eq!(ids[k], 2);
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![1, 2, 3]);
            counts[k] += 1;
        }
        // χ² with 2 degrees of freedom: 13.82 is the 0.1 % critical value.
        assert!(chi_square(&counts) < 13.82, "{counts:?}");
        let many: Vec<u16> = (1..=9).collect();
        assert_eq!(label_options("x", 4, &many).expect("options").0.len(), 5);
        assert!(matches!(
            label_options("x", 1, &[1]),
            Err(ChoiceError::TooFewLabels { .. })
        ));
    }

    fn dataset() -> DatasetInfo {
        crate::vqa::test_dataset()
    }

    fn labels() -> BTreeMap<u16, Label> {
        let l = |name: &str, ar: &str, task: &str| Label {
            name: Localized::new(name.to_string()).with(self::ar(), ar.to_string()),
            group: None,
            vqa_task: Some(task.into()),
            file: None,
            region: None,
        };
        BTreeMap::from([
            (1, l("kidney", "الكلية", "Organ Recognition - Abdomen")),
            (2, l("kidney tumor", "الورم الكلوي", "Disease Diagnosis")),
            (3, l("kidney cyst", "الكيسة الكلوية", "Disease Diagnosis")),
        ])
    }

    fn shown() -> Shown {
        Shown {
            width_px: 128,
            height_px: 96,
            pixel_width_mm: 0.8,
            pixel_height_mm: 0.8,
            scale_x: 1.0,
            scale_y: 1.0,
        }
    }

    #[test]
    fn english_and_arabic_items_share_letter_and_numbers() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let labels = labels();
        let label = &labels[&2];
        let lex = || Lexical::new(TaskKind::MaskSize, &ds, Modality::CT, label);
        let en = numeric_item(
            &asker,
            QuestionKind::MaskSize,
            &Lang::EN,
            label,
            Plane::Axial,
            &shown(),
            &[812.345],
            Unit::Mm2,
            "k/1",
            lex(),
        )
        .expect("en");
        let ar = numeric_item(
            &asker,
            QuestionKind::MaskSize,
            &ar(),
            label,
            Plane::Axial,
            &shown(),
            &[812.345],
            Unit::Mm2,
            "k/1",
            lex(),
        )
        .expect("ar");
        assert_eq!(en.answer_index, ar.answer_index);
        assert_eq!(en.options[en.answer_index], "812.35 mm²");
        assert_eq!(ar.options[ar.answer_index], "812.35 مم²");
        assert!(
            en.question.contains("kidney tumor") && !en.question.contains("single number"),
            "{}",
            en.question
        );
        assert!(
            ar.question.contains("الورم الكلوي") && ar.question.contains("0.800"),
            "{}",
            ar.question
        );
        assert_eq!(
            (
                en.perceptual_granularity.as_str(),
                en.original_task.as_str()
            ),
            ("Mask level", "SEG_2D")
        );
        assert_eq!(
            (
                en.clinical_vqa_task.as_str(),
                en.department.as_str(),
                en.modality.as_str()
            ),
            ("Disease Diagnosis", "Urology", "CT")
        );

        let box_en = bbox_item(
            &asker,
            &Lang::EN,
            label,
            Plane::Axial,
            &shown(),
            [10, 20, 40, 50],
            "k/2",
            lex(),
        )
        .expect("box");
        let box_ar = bbox_item(
            &asker,
            &self::ar(),
            label,
            Plane::Axial,
            &shown(),
            [10, 20, 40, 50],
            "k/2",
            lex(),
        )
        .expect("box");
        assert_eq!(box_en.options, box_ar.options);
        assert_eq!(
            box_en.options[box_en.answer_index],
            "[0.078, 0.479, 0.312, 0.792]"
        );
        assert!(
            box_en.question.contains("lower-left"),
            "{}",
            box_en.question
        );

        let id_en = identify_item(
            &asker,
            &Lang::EN,
            3,
            &labels,
            Plane::Coronal,
            &shown(),
            "k/3",
            lex(),
        )
        .expect("identify");
        let id_ar = identify_item(
            &asker,
            &self::ar(),
            3,
            &labels,
            Plane::Coronal,
            &shown(),
            "k/3",
            lex(),
        )
        .expect("identify");
        assert_eq!(id_en.answer_index, id_ar.answer_index);
        assert_eq!(id_en.options[id_en.answer_index], "kidney cyst");
        assert_eq!(id_ar.options[id_ar.answer_index], "الكيسة الكلوية");
        assert!(
            id_en.box_drawn && !id_en.question.contains("kidney"),
            "{}",
            id_en.question
        );
    }

    #[test]
    fn lesion_pairs_and_angles_get_ladders_in_every_number() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let labels = labels();
        let lex = || Lexical::new(TaskKind::LesionSize, &ds, Modality::CT, &labels[&2]);
        let item = |lang: &Lang| {
            numeric_item(
                &asker,
                QuestionKind::LesionDiameters,
                lang,
                &labels[&2],
                Plane::Axial,
                &shown(),
                &[23.456, 11.2],
                Unit::Mm,
                "k/lesion",
                lex(),
            )
            .expect("lesion item")
        };
        let (en, ar) = (item(&Lang::EN), item(&ar()));
        assert_eq!(en.options[en.answer_index], "23.46 mm, 11.20 mm");
        assert_eq!(ar.options[ar.answer_index], "23.46 مم, 11.20 مم");
        assert_eq!(en.answer_index, ar.answer_index);
        assert_eq!(en.perceptual_granularity, "Contour level");
        let (tuples, _) = numeric_tuples("k/lesion", &[23.456, 11.2], 2, None).expect("tuples");
        for j in 0..2 {
            assert!(
                tuples
                    .windows(2)
                    .all(|w| w[1][j] - w[0][j] >= 0.15 * w[1][j]),
                "{tuples:?}"
            );
        }
        // A new kind's template with its own placeholder values, and angles bounded by 180°.
        let text = "[lesion_axes_choice]\nen = \"Which angle does the {label} make on this {plane} slice?\"\n";
        let overrides: BTreeMap<String, BTreeMap<String, toml::Spanned<String>>> =
            toml::from_str(text).expect("toml");
        let templates = TemplateSet::defaults()
            .expect("defaults")
            .with_overrides(&overrides)
            .expect("valid");
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let extra = |name: &str| (name == "label").then(|| "femoral axis".to_string());
        let lexical = Lexical::new(TaskKind::Landmarks, &ds, Modality::CT, &labels[&1]);
        let angle = numeric_item_with(
            &asker,
            QuestionKind::LesionAxes,
            &Lang::EN,
            &labels[&1],
            Plane::Coronal,
            &shown(),
            &[150.0],
            Unit::Deg,
            "k/angle",
            lexical,
            &extra,
        )
        .expect("angle item");
        assert!(
            angle
                .question
                .contains("femoral axis make on this coronal slice"),
            "{}",
            angle.question
        );
        assert_eq!(angle.options[angle.answer_index], "150.00°");
        assert!(angle.options.iter().all(|o| o
            .trim_end_matches('°')
            .parse::<f64>()
            .is_ok_and(|v| v <= 180.0)));
        assert_eq!(
            (
                angle.perceptual_granularity.as_str(),
                angle.original_task.as_str()
            ),
            ("Image level", "MEAS_2D")
        );
        assert!(matches!(
            numeric_tuples("k", &[0.0, 3.0], 2, None),
            Err(ChoiceError::NotPositive { .. })
        ));
    }

    #[test]
    fn choice_kind_names_round_trip() {
        for kind in QuestionKind::ALL
            .map(ChoiceKind::Question)
            .into_iter()
            .chain([ChoiceKind::Identify])
        {
            assert_eq!(ChoiceKind::parse(&kind.key()), Some(kind));
        }
        assert_eq!(ChoiceKind::parse("bbox"), None);
        assert_eq!(ChoiceKind::parse("nothing_choice"), None);
    }
}
