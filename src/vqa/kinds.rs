//! The kinds both the template loader and the question builders name: what a question asks
//! ([`QuestionKind`]), which multiple-choice template it uses ([`ChoiceKind`]) and the unit of its numeric
//! options ([`Unit`]). Kept apart so `templates` and `choice` depend on them, not on each other.

use crate::manifest::TaskKind;

/// What a question asks; a task kind asks one or more (a lesion task asks for the ellipse axes and for the
/// longest / perpendicular diameters). Template tables are named by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuestionKind {
    /// Bounding-box question.
    Bbox,
    /// Mask pixel-count and area question.
    MaskSize,
    /// Lesion ellipse major and minor axes question.
    LesionAxes,
    /// Lesion longest and perpendicular diameters question.
    LesionDiameters,
    /// The frame of every landmark distance/angle question (`{measurement}` is the kind's sentence).
    Landmarks,
    /// How many separate pieces of a label, and their boxes.
    Instances,
}

impl QuestionKind {
    /// Every question kind.
    pub const ALL: [QuestionKind; 6] = [
        QuestionKind::Bbox,
        QuestionKind::MaskSize,
        QuestionKind::LesionAxes,
        QuestionKind::LesionDiameters,
        QuestionKind::Landmarks,
        QuestionKind::Instances,
    ];

    /// The template table name, e.g. `mask_size`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Bbox => "bbox",
            QuestionKind::MaskSize => "mask_size",
            QuestionKind::LesionAxes => "lesion_axes",
            QuestionKind::LesionDiameters => "lesion_diameters",
            QuestionKind::Landmarks => "landmarks",
            QuestionKind::Instances => "instances",
        }
    }

    /// The kind named by a template table name.
    pub fn parse(name: &str) -> Option<QuestionKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The questions a task kind asks.
    pub fn for_task(kind: TaskKind) -> &'static [QuestionKind] {
        match kind {
            TaskKind::Bbox => &[QuestionKind::Bbox],
            TaskKind::MaskSize => &[QuestionKind::MaskSize],
            TaskKind::LesionSize => &[QuestionKind::LesionAxes, QuestionKind::LesionDiameters],
            TaskKind::Landmarks => &[QuestionKind::Landmarks],
            TaskKind::Instances => &[QuestionKind::Instances],
        }
    }

    /// Placeholders a template of this kind may use beyond the common ones.
    pub(crate) fn extra_placeholders(self) -> &'static [&'static str] {
        match self {
            QuestionKind::Bbox | QuestionKind::Instances => &["answer_format"],
            QuestionKind::Landmarks => &["measurement"],
            QuestionKind::MaskSize | QuestionKind::LesionAxes | QuestionKind::LesionDiameters => {
                &[]
            }
        }
    }
}

/// Which multiple-choice question a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChoiceKind {
    /// The task's own question with options (`[<kind>_choice]`).
    Question(QuestionKind),
    /// "Which structure is in the red box?" (`[identify_choice]`).
    Identify,
}

impl ChoiceKind {
    /// The template table name, e.g. `bbox_choice`.
    pub fn key(self) -> String {
        match self {
            ChoiceKind::Question(kind) => format!("{}_choice", kind.as_str()),
            ChoiceKind::Identify => "identify_choice".to_string(),
        }
    }

    /// The kind named by a template table name.
    pub fn parse(name: &str) -> Option<ChoiceKind> {
        if name == "identify_choice" {
            return Some(ChoiceKind::Identify);
        }
        name.strip_suffix("_choice")
            .and_then(QuestionKind::parse)
            .map(ChoiceKind::Question)
    }
}

/// Unit of a numeric option; its text per language is the `[unit.<key>]` template (`{value}` placeholder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Millimetres.
    Mm,
    /// Square millimetres.
    Mm2,
    /// Degrees.
    Deg,
}

impl Unit {
    /// Every unit.
    pub const ALL: [Unit; 3] = [Unit::Mm, Unit::Mm2, Unit::Deg];

    /// The `[unit.<key>]` template key, e.g. `mm2`.
    pub fn key(self) -> &'static str {
        match self {
            Unit::Mm => "mm",
            Unit::Mm2 => "mm2",
            Unit::Deg => "deg",
        }
    }

    /// The unit named by its template key.
    pub fn parse(name: &str) -> Option<Unit> {
        Self::ALL.into_iter().find(|u| u.key() == name)
    }

    /// Largest meaningful value (angles between lines are at most 180°).
    pub fn max_value(self) -> Option<f64> {
        match self {
            Unit::Deg => Some(180.0),
            Unit::Mm | Unit::Mm2 => None,
        }
    }
}

/// Units whose templates a task kind's options need.
pub fn units_for(kind: QuestionKind) -> &'static [Unit] {
    match kind {
        QuestionKind::Bbox | QuestionKind::Instances => &[],
        QuestionKind::MaskSize => &[Unit::Mm2],
        QuestionKind::LesionAxes | QuestionKind::LesionDiameters => &[Unit::Mm],
        QuestionKind::Landmarks => &[Unit::Mm, Unit::Deg],
    }
}
