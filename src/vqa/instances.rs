//! Multi-instance questions (`instances` tasks, docs/measurements.md §5.5): "How many separate regions of the
//! kidney are in this slice, and what are their boxes?", answered with the count and the boxes in display order
//! (left to right by left edge, ties top to bottom), open-ended and as multiple choice.
//!
//! Wrong options are the mistakes a model makes on such slices, each built deterministically from the fact id
//! (like every option in `choice`): one box around all pieces (what MedVision's union box would say), a piece
//! missed, a piece invented, every piece moved elsewhere, the largest piece split in two. Each differs from
//! the truth in its count or has a box overlapping no true box with IoU ≥ 0.5, so exactly one option is right
//! under IoU-matched scoring (`instance_score`).

use super::choice::{self, box_options, iou, ChoiceError, ChoiceKind, Lexical, SplitMix64};
use super::format;
use super::kinds::QuestionKind;
use super::{no_extra, Asker, Qa, Shown};
use crate::manifest::{Label, Lang, Plane};
use crate::record::Choice;

/// Option sets (each a list of boxes in display order) and the index of the true one.
pub type OptionSets = (Vec<Vec<[u32; 4]>>, usize);

/// Largest number of options (the truth included).
const MAX_OPTIONS: usize = 5;

impl Asker<'_> {
    /// The open multi-instance question; `boxes_px` are the pieces' inclusive boxes in displayed pixels, in
    /// display order. `None` when the language lacks the template.
    pub fn instances(
        &self,
        lang: &Lang,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        boxes_px: &[[u32; 4]],
    ) -> Option<Qa> {
        let question = self.open(QuestionKind::Instances, lang, label, plane, shown)?;
        let (answer, answer_values) = answer(boxes_px, shown, self);
        Some(Qa {
            question,
            answer,
            answer_values,
        })
    }
}

fn answer(boxes_px: &[[u32; 4]], shown: &Shown, asker: &Asker) -> (String, Vec<f64>) {
    let boxes: Vec<[f64; 4]> = boxes_px.iter().map(|b| b.map(f64::from)).collect();
    format::instances_answer(
        &boxes,
        f64::from(shown.width_px),
        f64::from(shown.height_px),
        asker.answer_format,
    )
}

/// Boxes in display order: left edge, then top edge, then right and bottom edges.
fn in_display_order(mut boxes: Vec<[u32; 4]>) -> Vec<[u32; 4]> {
    boxes.sort_unstable();
    boxes
}

/// A box inside the image overlapping every box of `avoid` with IoU < 0.5, drawn from the distractors of
/// `near` (seeded by `key`).
fn free_box(key: &str, near: [u32; 4], avoid: &[[u32; 4]], w: u32, h: u32) -> Option<[u32; 4]> {
    let (boxes, k) = box_options(key, near, w, h).ok()?;
    boxes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != k)
        .map(|(_, b)| b)
        .find(|b| avoid.iter().all(|a| iou(*a, *b) < choice::MAX_BOX_IOU))
}

/// Option sets of a multi-instance question: the true boxes (display order) at a uniformly drawn position
/// among up to four wrong sets (see the module docs), each in display order. Deterministic in `seed_key`.
pub fn instance_options(
    seed_key: &str,
    truth: &[[u32; 4]],
    width_px: u32,
    height_px: u32,
) -> Result<OptionSets, ChoiceError> {
    let no_room = ChoiceError::NoRoom {
        width_px,
        height_px,
    };
    if truth.is_empty() {
        return Err(no_room);
    }
    let mut rng = SplitMix64::from_key(seed_key);
    let n = truth.len();
    let mut wrong: Vec<Vec<[u32; 4]>> = Vec::new();
    if n >= 2 {
        // One box around every piece.
        let union = truth.iter().fold(truth[0], |u, b| {
            [
                u[0].min(b[0]),
                u[1].min(b[1]),
                u[2].max(b[2]),
                u[3].max(b[3]),
            ]
        });
        wrong.push(vec![union]);
        // A piece missed.
        let missed = rng.below(n);
        wrong.push(
            (truth.iter().enumerate())
                .filter(|(i, _)| *i != missed)
                .map(|(_, b)| *b)
                .collect(),
        );
    }
    // A piece invented where there is none.
    let first = truth[0];
    if let Some(extra) = free_box(
        &format!("{seed_key}/extra"),
        first,
        truth,
        width_px,
        height_px,
    ) {
        let mut set = truth.to_vec();
        set.push(extra);
        wrong.push(in_display_order(set));
    }
    // Every piece moved away from every true piece.
    let mut moved: Vec<[u32; 4]> = Vec::with_capacity(n);
    for (i, b) in truth.iter().enumerate() {
        let avoid: Vec<[u32; 4]> = truth.iter().chain(&moved).copied().collect();
        match free_box(
            &format!("{seed_key}/move/{i}"),
            *b,
            &avoid,
            width_px,
            height_px,
        ) {
            Some(m) => moved.push(m),
            None => break,
        }
    }
    if moved.len() == n {
        wrong.push(in_display_order(moved));
    }
    // The largest piece split into a left and a right half.
    let area = |b: &[u32; 4]| u64::from(b[2] - b[0] + 1) * u64::from(b[3] - b[1] + 1);
    let largest = (0..n).rev().max_by_key(|&i| area(&truth[i])).unwrap_or(0);
    let b = truth[largest];
    if b[2] > b[0] {
        let width = b[2] - b[0] + 1;
        let mid = b[0] + width / 2;
        let mut set: Vec<[u32; 4]> = (truth.iter().enumerate())
            .filter(|(i, _)| *i != largest)
            .map(|(_, b)| *b)
            .collect();
        set.push([b[0], b[1], mid - 1, b[3]]);
        set.push([mid, b[1], b[2], b[3]]);
        wrong.push(in_display_order(set));
    }
    let mut unique: Vec<Vec<[u32; 4]>> = Vec::with_capacity(wrong.len());
    for set in wrong {
        if !unique.contains(&set) && set != truth {
            unique.push(set);
        }
    }
    let mut wrong = unique;
    if wrong.is_empty() {
        return Err(no_room);
    }
    // Fisher–Yates, keep at most four, then the truth at a uniformly drawn position.
    for i in (1..wrong.len()).rev() {
        wrong.swap(i, rng.below(i + 1));
    }
    wrong.truncate(MAX_OPTIONS - 1);
    let k = rng.below(wrong.len() + 1);
    wrong.insert(k, truth.to_vec());
    Ok((wrong, k))
}

/// The multiple-choice form of a multi-instance question: options written like the open answer.
#[allow(clippy::too_many_arguments)]
pub fn instances_item(
    asker: &Asker,
    lang: &Lang,
    label: &Label,
    plane: Plane,
    shown: &Shown,
    boxes_px: &[[u32; 4]],
    seed_key: &str,
    lexical: Lexical,
) -> Result<Choice, ChoiceError> {
    let kind = ChoiceKind::Question(QuestionKind::Instances);
    let question = choice::question(asker, kind, lang, label, plane, shown, &no_extra)?;
    let (sets, k) = instance_options(seed_key, boxes_px, shown.width_px, shown.height_px)?;
    let options = sets.iter().map(|set| answer(set, shown, asker).0).collect();
    choice::item(question, options, k, lexical, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{AnswerFormat, DatasetInfo, Localized, Modality, TaskKind};
    use crate::vqa::instance_score::score_instances;
    use crate::vqa::templates::TemplateSet;

    fn ar() -> Lang {
        Lang::parse("ar").expect("code")
    }

    fn kidney() -> Label {
        Label {
            name: Localized::new("kidney".to_string()).with(ar(), "الكلية".to_string()),
            group: None,
            vqa_task: None,
            file: None,
            region: None,
        }
    }

    fn dataset() -> DatasetInfo {
        crate::vqa::test_dataset()
    }

    fn shown() -> Shown {
        Shown {
            width_px: 100,
            height_px: 50,
            pixel_width_mm: 0.8,
            pixel_height_mm: 0.8,
            scale_x: 1.0,
            scale_y: 1.0,
        }
    }

    /// Two kidneys of a 100 × 50 slice, left to right.
    const KIDNEYS: [[u32; 4]; 2] = [[10, 5, 29, 24], [60, 20, 79, 39]];

    #[test]
    fn open_question_states_order_and_answer_lists_boxes() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeTopLeft,
        };
        let qa = asker
            .instances(&Lang::EN, &kidney(), Plane::Axial, &shown(), &KIDNEYS)
            .expect("en");
        assert!(qa
            .question
            .contains("How many separate regions of the kidney"));
        assert!(qa.question.contains("left to right"));
        assert!(qa.question.contains("top-left corner"), "{}", qa.question);
        assert_eq!(
            qa.answer,
            "2: [[0.100, 0.100, 0.300, 0.500], [0.600, 0.400, 0.800, 0.800]]"
        );
        assert_eq!(qa.answer_values[0], 2.0);
        let ar_qa = asker
            .instances(&ar(), &kidney(), Plane::Axial, &shown(), &KIDNEYS)
            .expect("ar");
        assert_eq!(ar_qa.answer, qa.answer);
        assert!(ar_qa.question.contains("الكلية") && ar_qa.question.contains("محورية"));
    }

    #[test]
    fn exactly_one_option_scores_perfectly_and_letters_are_uniform() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let format = AnswerFormat::RelativeLowerLeft;
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: format,
        };
        let lexical = Lexical::new(TaskKind::Instances, &ds, Modality::CT, &kidney());
        let truths: [&[[u32; 4]]; 3] = [&KIDNEYS, &KIDNEYS[..1], &[[40, 10, 49, 19]]];
        let mut letters = [0usize; MAX_OPTIONS];
        for i in 0..300 {
            let truth = truths[i % 3];
            let key = format!("KiTS23/default/case_{i}/instances/T09/axial/{i}/1");
            let item = |lang: &Lang| {
                instances_item(
                    &asker,
                    lang,
                    &kidney(),
                    Plane::Axial,
                    &shown(),
                    truth,
                    &key,
                    lexical.clone(),
                )
                .expect("item")
            };
            let (en, ar_item) = (item(&Lang::EN), item(&ar()));
            assert_eq!(en.options, ar_item.options);
            assert_eq!(en.answer_index, ar_item.answer_index);
            assert!(en.options.len() >= 3, "{:?}", en.options);
            letters[en.answer_index] += 1;
            let truth_text = answer(truth, &shown(), &asker).0;
            assert_eq!(en.options[en.answer_index], truth_text);
            // Only the correct option has the right count and every box found at IoU ≥ 0.5.
            let perfect: Vec<bool> = (en.options.iter())
                .map(|o| {
                    let s = score_instances(o, &truth_text, format, 100, 50).expect("reads");
                    s.count_correct && s.recall == 1.0 && s.precision == 1.0
                })
                .collect();
            assert_eq!(
                perfect.iter().filter(|p| **p).count(),
                1,
                "{:?}",
                en.options
            );
            assert!(perfect[en.answer_index]);
        }
        // Two-piece slices have five options, one-piece slices four: every letter A–D is used often.
        assert!(letters[..4].iter().all(|&c| c > 30), "{letters:?}");
        assert!(letters[4] > 10, "{letters:?}");
    }

    #[test]
    fn piece_sentence_names_index_and_count_in_both_languages() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let en = asker
            .piece_sentence(&Lang::EN, &kidney(), 2, 3)
            .expect("en");
        assert_eq!(
            en,
            "The kidney forms 3 separate regions in this slice, numbered from left to right by their \
             left edge (ties from top to bottom); answer for region 2."
        );
        let ar_text = asker.piece_sentence(&ar(), &kidney(), 2, 3).expect("ar");
        assert!(ar_text.contains("الكلية في هذه الشريحة 3") && ar_text.ends_with("رقم 2."));
    }

    #[test]
    fn option_sets_are_in_display_order_and_deterministic() {
        let (a, ka) = instance_options("k", &KIDNEYS, 100, 50).expect("room");
        let (b, kb) = instance_options("k", &KIDNEYS, 100, 50).expect("room");
        assert_eq!((a.clone(), ka), (b, kb));
        for set in &a {
            let mut sorted = set.clone();
            sorted.sort_unstable();
            assert_eq!(&sorted, set);
        }
        // The union of the two kidneys is among the wrong options.
        assert!(a.contains(&vec![[10, 5, 79, 39]]));
        assert!(instance_options("k", &[], 100, 50).is_err());
    }
}
