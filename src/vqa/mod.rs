//! Questions and answers: fills the templates with a fact's label, plane, pixel size and answer format, and
//! formats the answer (through `format`, the one place numbers become text).

pub mod choice;
pub mod format;
pub mod instance_score;
pub mod instances;
pub mod kinds;
pub mod templates;

use crate::manifest::{AnswerFormat, DatasetInfo, Label, Lang, Plane};
use kinds::QuestionKind;
use templates::{Template, TemplateSet};

/// What the displayed image looks like: its size and the physical size of one displayed pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    /// Displayed image width in pixels.
    pub width_px: u32,
    /// Displayed image height in pixels.
    pub height_px: u32,
    /// Width (columns) and height (rows) of one displayed pixel in mm.
    pub pixel_width_mm: f64,
    /// Height (rows) of one displayed pixel in mm.
    pub pixel_height_mm: f64,
    /// Displayed pixels per native pixel along x and y (1 unless `render.max_side` resized the slice).
    pub scale_x: f64,
    /// Displayed pixels per native pixel along y.
    pub scale_y: f64,
}

impl Shown {
    /// An inclusive native-pixel box in displayed pixels: the box's pixel edges scaled, then the pixels they
    /// cover (identity when the slice was not resized).
    pub fn scale_box(&self, bbox_px: [u32; 4]) -> [u32; 4] {
        if self.scale_x == 1.0 && self.scale_y == 1.0 {
            return bbox_px;
        }
        let [x0, y0, x1, y1] = bbox_px.map(f64::from);
        let max_x = f64::from(self.width_px.saturating_sub(1));
        let max_y = f64::from(self.height_px.saturating_sub(1));
        let lo = |v: f64, s: f64, max: f64| (v * s).floor().clamp(0.0, max) as u32;
        let hi = |v: f64, s: f64, max: f64| (((v + 1.0) * s).ceil() - 1.0).clamp(0.0, max) as u32;
        [
            lo(x0, self.scale_x, max_x),
            lo(y0, self.scale_y, max_y),
            hi(x1, self.scale_x, max_x),
            hi(y1, self.scale_y, max_y),
        ]
    }
}

impl Shown {
    /// A native display-pixel point (pixel centres at integers) in displayed pixels.
    pub fn scale_point(&self, point_px: [f64; 2]) -> [f64; 2] {
        [
            (point_px[0] + 0.5) * self.scale_x - 0.5,
            (point_px[1] + 0.5) * self.scale_y - 0.5,
        ]
    }
}

/// A question with its answer text and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Qa {
    /// Question text.
    pub question: String,
    /// Answer text.
    pub answer: String,
    /// The numbers in the answer, in answer order.
    pub answer_values: Vec<f64>,
}

/// A text a question needs that the manifest or the templates lack, named by its key, e.g.
/// `name_ar of `kidney`` or `plane.axial` (the manifest loader rejects builds that would meet one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

/// Values of kind-specific placeholders (e.g. `{measurement}`, `{landmark_1}`), consulted before the others.
pub type ExtraPlaceholders<'a> = &'a dyn Fn(&str) -> Option<String>;

/// No kind-specific placeholders.
pub fn no_extra(_: &str) -> Option<String> {
    None
}

/// A label's name in `lang`, or what is missing (`name_<lang>` of the label with that English name).
pub fn label_name<'a>(label: &'a Label, lang: &Lang) -> Result<&'a str, Missing> {
    label
        .name
        .get(lang)
        .map(String::as_str)
        .ok_or_else(|| Missing(format!("name_{lang} of `{}`", label.name.english())))
}

/// Everything a question needs besides the fact itself.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// Question and answer templates.
    pub templates: &'a TemplateSet,
    /// The manifest's `[dataset]` table.
    pub dataset: &'a DatasetInfo,
    /// How box answers are written.
    pub answer_format: AnswerFormat,
}

impl Asker<'_> {
    /// The one template filler of every question, open or multiple-choice, in any language: `extra`'s values
    /// first, then the placeholders every question shares (`{image_description}`, `{label}`, `{plane}`, pixel
    /// and image sizes), then the build's `{answer_format}` and `{option_format}` sentences. `label` is the
    /// name `{label}` stands for, already in `lang` (or what is missing).
    pub fn fill(
        &self,
        template: &Template,
        lang: &Lang,
        label: Result<&str, Missing>,
        plane: Plane,
        shown: &Shown,
        extra: ExtraPlaceholders,
    ) -> Result<String, Missing> {
        let description = self
            .dataset
            .image_description
            .get(lang)
            .ok_or_else(|| Missing(format!("dataset.image_description_{lang}")))?;
        let label = label?;
        let plane_name = self
            .templates
            .plane(plane, lang)
            .ok_or_else(|| Missing(format!("plane.{}", plane.as_str())))?;
        let sentence = |text: Option<&str>| text.unwrap_or_default().to_string();
        let value = |name: &str| {
            extra(name).or_else(|| {
                Some(match name {
                    "image_description" => description.clone(),
                    "label" => label.to_string(),
                    "plane" => plane_name.to_string(),
                    "pixel_width_mm" => format::pixel_size(shown.pixel_width_mm),
                    "pixel_height_mm" => format::pixel_size(shown.pixel_height_mm),
                    "image_width_px" => shown.width_px.to_string(),
                    "image_height_px" => shown.height_px.to_string(),
                    "answer_format" => {
                        sentence(self.templates.answer_format(self.answer_format, lang))
                    }
                    "option_format" => {
                        sentence(self.templates.option_format(self.answer_format, lang))
                    }
                    _ => return None,
                })
            })
        };
        Ok(if *lang == Lang::EN {
            template.render_english(value)
        } else {
            template.render(value)
        })
    }

    /// An open question of `kind` about `label`; `None` when a template or name is missing.
    fn open(
        &self,
        kind: QuestionKind,
        lang: &Lang,
        label: &Label,
        plane: Plane,
        shown: &Shown,
    ) -> Option<String> {
        let template = self.templates.get(kind, lang)?;
        self.fill(
            template,
            lang,
            label_name(label, lang),
            plane,
            shown,
            &no_extra,
        )
        .ok()
    }

    /// The sentence naming piece `index` of `count` of `label` (`[piece]` template), or what is missing.
    pub fn piece_sentence(
        &self,
        lang: &Lang,
        label: &Label,
        index: u32,
        count: u32,
    ) -> Result<String, Missing> {
        let template = self
            .templates
            .piece(lang)
            .ok_or_else(|| Missing(format!("piece.{lang}")))?;
        let name = label_name(label, lang)?;
        Ok(template.render(|p| match p {
            "label" => Some(name.to_string()),
            "piece_index" => Some(index.to_string()),
            "piece_count" => Some(count.to_string()),
            _ => None,
        }))
    }

    /// Bounding-box question; `bbox_px` is the inclusive box in displayed pixels.
    /// `None` when the language lacks a template (the manifest loader rejects such builds up front).
    pub fn bbox(
        &self,
        lang: &Lang,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        bbox_px: [u32; 4],
    ) -> Option<Qa> {
        let question = self.open(QuestionKind::Bbox, lang, label, plane, shown)?;
        let (answer, answer_values) = format::bbox_answer(
            bbox_px.map(f64::from),
            f64::from(shown.width_px),
            f64::from(shown.height_px),
            self.answer_format,
        );
        Some(Qa {
            question,
            answer,
            answer_values,
        })
    }

    /// Mask-area question; the answer is the label's area in mm².
    pub fn mask_size(
        &self,
        lang: &Lang,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        area_mm2: f64,
    ) -> Option<Qa> {
        let question = self.open(QuestionKind::MaskSize, lang, label, plane, shown)?;
        let (answer, value) = format::measure(area_mm2);
        Some(Qa {
            question,
            answer,
            answer_values: vec![value],
        })
    }

    /// Two lengths in mm asked by one lesion question kind (`[major, minor]` or `[longest, perpendicular]`).
    pub fn lesion(
        &self,
        kind: QuestionKind,
        lang: &Lang,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        lengths_mm: [f64; 2],
    ) -> Option<Qa> {
        let question = self.open(kind, lang, label, plane, shown)?;
        let (answer, answer_values) = format::measure_list(&lengths_mm);
        Some(Qa {
            question,
            answer,
            answer_values,
        })
    }
}

/// What a landmark measurement question names: its kind, its landmarks' names in point order, a display name.
#[derive(Debug, Clone, Copy)]
pub struct MeasurementAsk<'a> {
    /// Distance or angle.
    pub kind: crate::manifest::MeasureKind,
    /// Display names of the measurement's landmarks, in point order.
    pub landmark_names: &'a [&'a str],
    /// Display name of the measurement.
    pub name: &'a str,
    /// Distance in mm or angle in degrees.
    pub value: f64,
}

impl MeasurementAsk<'_> {
    /// A measurement sentence template filled with this measurement's landmark names and display name.
    pub fn sentence(&self, template: &templates::Template) -> String {
        template.render(|name| match name {
            "name" => Some(self.name.to_string()),
            _ => {
                let n: usize = name.strip_prefix("landmark_")?.parse().ok()?;
                self.landmark_names
                    .get(n.checked_sub(1)?)
                    .map(|s| s.to_string())
            }
        })
    }
}

impl Asker<'_> {
    /// Landmark distance or angle question: the `[landmarks]` frame around the measurement kind's sentence.
    /// `None` when the language lacks a template or a description.
    pub fn landmark_measurement(
        &self,
        lang: &Lang,
        plane: Plane,
        shown: &Shown,
        ask: &MeasurementAsk,
    ) -> Option<Qa> {
        let sentence = ask.sentence(self.templates.measurement(ask.kind, lang)?);
        let frame = self.templates.get(QuestionKind::Landmarks, lang)?;
        let extra = |name: &str| (name == "measurement").then(|| sentence.clone());
        let question = self
            .fill(frame, lang, Ok(ask.name), plane, shown, &extra)
            .ok()?;
        let (answer, value) = format::measure(ask.value);
        Some(Qa {
            question,
            answer,
            answer_values: vec![value],
        })
    }
}

/// The KiTS23 `[dataset]` table the question tests ask about, with its Arabic description (as in
/// manifests/kits23.toml).
#[cfg(test)]
pub(crate) fn test_dataset() -> DatasetInfo {
    use crate::manifest::{Localized, Modality};
    DatasetInfo {
        name: "KiTS23".into(),
        modality: Modality::CT,
        image_description: Localized::new("an abdominal CT scan".to_string()).with(
            Lang::parse("ar").expect("a language code"),
            "تصوير مقطعي محوسب للبطن".to_string(),
        ),
        department: "Urology".into(),
        license: "cc-by-nc-sa-4.0".into(),
        homepage: None,
        citation: None,
        layout: None,
        extract: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Localized, Modality};

    fn ar() -> Lang {
        Lang::parse("ar").expect("a language code")
    }

    fn dataset() -> DatasetInfo {
        crate::vqa::test_dataset()
    }

    fn label() -> Label {
        Label {
            name: Localized::new("kidney tumor".to_string()),
            group: None,
            vqa_task: None,
            file: None,
            region: None,
        }
    }

    fn shown(scale: f64) -> Shown {
        Shown {
            width_px: 100,
            height_px: 50,
            pixel_width_mm: 0.78125,
            pixel_height_mm: 2.5,
            scale_x: scale,
            scale_y: scale,
        }
    }

    #[test]
    fn bbox_question_states_format_and_answer_matches() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let qa = asker
            .bbox(
                &Lang::EN,
                &label(),
                Plane::Axial,
                &shown(1.0),
                [10, 5, 29, 14],
            )
            .expect("en exists");
        assert!(
            qa.question.contains("axial slice of an abdominal CT scan"),
            "{}",
            qa.question
        );
        assert!(qa.question.contains("kidney tumor"));
        assert!(qa.question.contains("lower-left"));
        assert_eq!(qa.answer, "[0.100, 0.720, 0.290, 0.900]");
        assert!(asker
            .bbox(&ar(), &label(), Plane::Axial, &shown(1.0), [0, 0, 1, 1])
            .is_none());
    }

    #[test]
    fn mask_size_question_states_pixel_size_with_three_decimals() {
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = dataset();
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let qa = asker
            .mask_size(&Lang::EN, &label(), Plane::Coronal, &shown(1.0), 1234.5678)
            .expect("en");
        assert!(
            qa.question.contains("0.781 mm wide and 2.500 mm high"),
            "{}",
            qa.question
        );
        assert_eq!(qa.answer, "1234.57");
        assert_eq!(qa.answer_values, vec![1234.57]);
    }

    #[test]
    fn landmark_choice_items_cap_angles_per_kind_and_agree_across_languages() {
        use crate::manifest::{MeasureKind, TaskKind};
        let templates = TemplateSet::defaults().expect("defaults");
        let ds = DatasetInfo {
            image_description: Localized::new("an abdominal CT scan".to_string())
                .with(ar(), "صورة شعاعية سيفالومترية جانبية للرأس".to_string()),
            ..dataset()
        };
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let lexical = choice::Lexical::new(TaskKind::Landmarks, &ds, Modality::XR, &label());
        let item = |lang: &Lang, kind: MeasureKind, value: f64, names: &[&str]| {
            let ask = MeasurementAsk {
                kind,
                landmark_names: names,
                name: "x",
                value,
            };
            choice::landmark_item(
                &asker,
                lang,
                Plane::Sagittal,
                &shown(1.0),
                &ask,
                "Ceph/a/001/angle/T01/sagittal/0/m",
                lexical.clone(),
            )
            .expect("item")
        };
        let en_names = ["sella", "nasion", "subspinale", "menton"];
        let ar_names = [
            "نقطة السرج التركي",
            "نقطة الناسيون",
            "النقطة تحت الشوكية",
            "نقطة المنتون",
        ];
        for (kind, value, max) in [
            (MeasureKind::LineAngle, 84.567, 90.0),
            (MeasureKind::VertexAngle, 170.2, 180.0),
        ] {
            let (en, ar) = (
                item(&Lang::EN, kind, value, &en_names),
                item(&ar(), kind, value, &ar_names),
            );
            assert_eq!(en.options, ar.options);
            assert_eq!(en.answer_index, ar.answer_index);
            assert_eq!(en.options[en.answer_index], format!("{:.2}°", value));
            let values: Vec<f64> = en
                .options
                .iter()
                .map(|o| o.trim_end_matches('°').parse().expect("number"))
                .collect();
            assert!(values.iter().all(|v| *v <= max), "{kind:?}: {values:?}");
            // Near the cap the truth can only be the largest value (the ladder is rotated to its letter).
            let largest = values.iter().copied().fold(f64::MIN, f64::max);
            assert_eq!(values[en.answer_index], largest, "{kind:?}: {values:?}");
            assert!(ar.question.contains("لقطة سهمية") && ar.question.contains("نقطة الناسيون"));
            assert!(!en.question.contains("single number"), "{}", en.question);
        }
        let en = item(&Lang::EN, MeasureKind::Distance, 61.234, &en_names);
        let ar = item(&ar(), MeasureKind::Distance, 61.234, &ar_names);
        assert_eq!(en.options[en.answer_index], "61.23 mm");
        assert_eq!(ar.options[ar.answer_index], "61.23 مم");
        assert_eq!(en.answer_index, ar.answer_index);
        assert!(
            en.question
                .contains("What is the distance between the sella and the nasion?"),
            "{}",
            en.question
        );
        assert_eq!(
            (
                en.perceptual_granularity.as_str(),
                en.original_task.as_str()
            ),
            ("Image level", "MEAS_2D")
        );
    }

    #[test]
    fn scaled_boxes_cover_the_scaled_pixel_edges() {
        let s = Shown {
            width_px: 50,
            height_px: 25,
            ..shown(0.5)
        };
        // Native pixels 10..=29 span edges 10..30 → 5..15 → pixels 5..=14.
        assert_eq!(s.scale_box([10, 5, 29, 14]), [5, 2, 14, 7]);
        assert_eq!(shown(1.0).scale_box([1, 2, 3, 4]), [1, 2, 3, 4]);
    }
}
