//! Questions and answers: fills the templates with a fact's label, plane, pixel size and answer format, and
//! formats the answer (through `format`, the one place numbers become text).

pub mod choice;
pub mod format;
pub mod templates;

use crate::manifest::{AnswerFormat, DatasetInfo, Label, Plane};
use templates::{QuestionKind, TemplateSet};

/// What the displayed image looks like: its size and the physical size of one displayed pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shown {
    pub width_px: u32,
    pub height_px: u32,
    /// Width (columns) and height (rows) of one displayed pixel in mm.
    pub pixel_width_mm: f64,
    pub pixel_height_mm: f64,
    /// Displayed pixels per native pixel along x and y (1 unless `render.max_side` resized the slice).
    pub scale_x: f64,
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
    pub question: String,
    pub answer: String,
    pub answer_values: Vec<f64>,
}

/// The placeholders every question template shares (`templates::COMMON_PLACEHOLDERS`), resolved for one
/// language and slice; each question kind adds its own on top.
pub struct CommonValues<'a> {
    pub description: &'a str,
    pub label: &'a str,
    pub plane: &'a str,
    pub shown: &'a Shown,
}

impl CommonValues<'_> {
    /// The value of a common placeholder, `None` for any other name.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "image_description" => self.description.to_string(),
            "label" => self.label.to_string(),
            "plane" => self.plane.to_string(),
            "pixel_width_mm" => format::pixel_size(self.shown.pixel_width_mm),
            "pixel_height_mm" => format::pixel_size(self.shown.pixel_height_mm),
            "image_width_px" => self.shown.width_px.to_string(),
            "image_height_px" => self.shown.height_px.to_string(),
            _ => return None,
        })
    }
}

/// Everything a question needs besides the fact itself.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub templates: &'a TemplateSet,
    pub dataset: &'a DatasetInfo,
    pub answer_format: AnswerFormat,
}

impl Asker<'_> {
    fn fill(
        &self,
        kind: QuestionKind,
        lang: &str,
        label: &Label,
        plane: Plane,
        shown: &Shown,
    ) -> Option<String> {
        let template = self.templates.get(kind, lang)?;
        let (description, label_name) = if lang == "ar" {
            (
                self.dataset.image_description_ar.as_deref()?,
                label.name_ar.as_deref()?,
            )
        } else {
            (self.dataset.image_description.as_str(), label.name.as_str())
        };
        let plane_name = self.templates.plane(plane, lang)?;
        let answer_format = self
            .templates
            .answer_format(self.answer_format, lang)
            .unwrap_or_default();
        let common = CommonValues {
            description,
            label: label_name,
            plane: plane_name,
            shown,
        };
        Some(template.render(|name| {
            common
                .get(name)
                .or_else(|| (name == "answer_format").then(|| answer_format.to_string()))
        }))
    }

    /// Bounding-box question; `bbox_px` is the inclusive box in displayed pixels.
    /// `None` when the language lacks a template (the manifest loader rejects such builds up front).
    pub fn bbox(
        &self,
        lang: &str,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        bbox_px: [u32; 4],
    ) -> Option<Qa> {
        let question = self.fill(QuestionKind::Bbox, lang, label, plane, shown)?;
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
        lang: &str,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        area_mm2: f64,
    ) -> Option<Qa> {
        let question = self.fill(QuestionKind::MaskSize, lang, label, plane, shown)?;
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
        lang: &str,
        label: &Label,
        plane: Plane,
        shown: &Shown,
        lengths_mm: [f64; 2],
    ) -> Option<Qa> {
        let question = self.fill(kind, lang, label, plane, shown)?;
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
    pub kind: crate::manifest::MeasureKind,
    pub landmark_names: &'a [&'a str],
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
        lang: &str,
        plane: Plane,
        shown: &Shown,
        ask: &MeasurementAsk,
    ) -> Option<Qa> {
        let sentence = ask.sentence(self.templates.measurement(ask.kind, lang)?);
        let frame = self
            .templates
            .get(templates::QuestionKind::Landmarks, lang)?;
        let description = if lang == "ar" {
            self.dataset.image_description_ar.as_deref()?
        } else {
            self.dataset.image_description.as_str()
        };
        let plane_name = self.templates.plane(plane, lang)?;
        let common = CommonValues {
            description,
            label: ask.name,
            plane: plane_name,
            shown,
        };
        let question = frame.render(|name| {
            common
                .get(name)
                .or_else(|| (name == "measurement").then(|| sentence.clone()))
        });
        let (answer, value) = format::measure(ask.value);
        Some(Qa {
            question,
            answer,
            answer_values: vec![value],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Modality;

    fn dataset() -> DatasetInfo {
        DatasetInfo {
            name: "KiTS23".into(),
            modality: Modality::CT,
            image_description: "an abdominal CT scan".into(),
            image_description_ar: None,
            department: "Urology".into(),
            layout: None,
        }
    }

    fn label() -> Label {
        Label {
            name: "kidney tumor".into(),
            name_ar: None,
            group: None,
            vqa_task: None,
            file: None,
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
            .bbox("en", &label(), Plane::Axial, &shown(1.0), [10, 5, 29, 14])
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
            .bbox("ar", &label(), Plane::Axial, &shown(1.0), [0, 0, 1, 1])
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
            .mask_size("en", &label(), Plane::Coronal, &shown(1.0), 1234.5678)
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
            image_description_ar: Some("صورة شعاعية سيفالومترية جانبية للرأس".into()),
            ..dataset()
        };
        let asker = Asker {
            templates: &templates,
            dataset: &ds,
            answer_format: AnswerFormat::RelativeLowerLeft,
        };
        let lexical = choice::Lexical::new(TaskKind::Landmarks, &ds, Modality::XR, &label());
        let item = |lang: &str, kind: MeasureKind, value: f64, names: &[&str]| {
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
                item("en", kind, value, &en_names),
                item("ar", kind, value, &ar_names),
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
        let en = item("en", MeasureKind::Distance, 61.234, &en_names);
        let ar = item("ar", MeasureKind::Distance, 61.234, &ar_names);
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
