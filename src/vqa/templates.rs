//! Question templates as data: the repo's `templates/default.toml`, overridable per manifest, parsed once and
//! checked for unknown placeholders so a typo is a validation error, never a question with `{lable}` in it.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::choice::{self, ChoiceKind, Unit};
use crate::manifest::{AnswerFormat, MeasureKind, Plane, TaskKind};

/// Languages a template set may carry.
pub const LANGUAGES: [&str; 2] = ["en", "ar"];

/// The repo's default templates, compiled in so the binary needs no files beside it.
const DEFAULT_TEMPLATES: &str = include_str!("../../templates/default.toml");

/// Placeholders every question template may use.
const COMMON_PLACEHOLDERS: [&str; 7] = [
    "image_description",
    "label",
    "plane",
    "pixel_width_mm",
    "pixel_height_mm",
    "image_width_px",
    "image_height_px",
];

/// What a question asks; a task kind asks one or more (a lesion task asks for the ellipse axes and for the
/// longest / perpendicular diameters). Template tables are named by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuestionKind {
    Bbox,
    MaskSize,
    LesionAxes,
    LesionDiameters,
    /// The frame of every landmark distance/angle question (`{measurement}` is the kind's sentence).
    Landmarks,
}

impl QuestionKind {
    pub const ALL: [QuestionKind; 5] = [
        QuestionKind::Bbox,
        QuestionKind::MaskSize,
        QuestionKind::LesionAxes,
        QuestionKind::LesionDiameters,
        QuestionKind::Landmarks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuestionKind::Bbox => "bbox",
            QuestionKind::MaskSize => "mask_size",
            QuestionKind::LesionAxes => "lesion_axes",
            QuestionKind::LesionDiameters => "lesion_diameters",
            QuestionKind::Landmarks => "landmarks",
        }
    }

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
        }
    }

    /// Placeholders a template of this kind may use beyond the common ones.
    fn extra_placeholders(self) -> &'static [&'static str] {
        match self {
            QuestionKind::Bbox => &["answer_format"],
            QuestionKind::Landmarks => &["measurement"],
            QuestionKind::MaskSize | QuestionKind::LesionAxes | QuestionKind::LesionDiameters => {
                &[]
            }
        }
    }
}

/// A template problem; `span` is a byte range in the manifest when the template came from one.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub span: Option<Range<usize>>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Text(String),
    Placeholder(String),
}

/// A parsed template: literal text and named placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `{name}` placeholders; `{{` and `}}` stand for literal braces.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) if ch.is_ascii_alphanumeric() || ch == '_' => name.push(ch),
                            Some(ch) => {
                                return Err(format!(
                                    "invalid character `{ch}` in placeholder `{{{name}`"
                                ))
                            }
                            None => return Err(format!("unclosed placeholder `{{{name}`")),
                        }
                    }
                    if name.is_empty() {
                        return Err("empty placeholder `{}`".into());
                    }
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Placeholder(name));
                }
                '}' => return Err("unmatched `}` (write `}}` for a literal brace)".into()),
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        Ok(Template { segments })
    }

    /// Placeholder names in order of appearance.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(name) => Some(name.as_str()),
            Segment::Text(_) => None,
        })
    }

    /// Fills the placeholders from `value`; templates are validated at load time, so every name is known.
    pub fn render(&self, value: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Placeholder(name) => match value(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                },
            }
        }
        out
    }
}

#[derive(Deserialize)]
struct TemplateFile {
    answer_format: BTreeMap<String, BTreeMap<String, String>>,
    plane: BTreeMap<String, BTreeMap<String, String>>,
    /// Landmark measurement sentences, `[measurement.<distance|line_angle|vertex_angle>]`.
    #[serde(default)]
    measurement: BTreeMap<String, BTreeMap<String, String>>,
    /// The same sentences for the multiple-choice form (no answer instruction), `[measurement_choice.<kind>]`.
    #[serde(default)]
    measurement_choice: BTreeMap<String, BTreeMap<String, String>>,
    /// Multiple-choice box questions: how the options are written, per answer format.
    #[serde(default)]
    option_format: BTreeMap<String, BTreeMap<String, String>>,
    /// Numeric option text per unit, with a `{value}` placeholder.
    #[serde(default)]
    unit: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(flatten)]
    kinds: BTreeMap<String, BTreeMap<String, String>>,
}

/// Every question template, answer-format sentence and plane name, per language.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSet {
    questions: BTreeMap<(QuestionKind, String), Template>,
    answer_formats: BTreeMap<(AnswerFormat, String), String>,
    planes: BTreeMap<(Plane, String), String>,
    measurements: BTreeMap<(MeasureKind, String), Template>,
    /// Landmark measurement sentences of the multiple-choice form.
    measurement_choices: BTreeMap<(MeasureKind, String), Template>,
    /// Multiple-choice question templates (`[<question kind>_choice]`, `[identify_choice]`).
    choices: BTreeMap<(ChoiceKind, String), Template>,
    option_formats: BTreeMap<(AnswerFormat, String), String>,
    units: BTreeMap<(Unit, String), Template>,
}

impl TemplateSet {
    /// The repo's default templates.
    pub fn defaults() -> Result<TemplateSet, Vec<TemplateError>> {
        Self::from_toml(DEFAULT_TEMPLATES)
    }

    fn from_toml(text: &str) -> Result<TemplateSet, Vec<TemplateError>> {
        let file: TemplateFile = toml::from_str(text).map_err(|e| {
            vec![TemplateError {
                span: None,
                message: format!("templates/default.toml: {}", e.message()),
            }]
        })?;
        let mut errors = Vec::new();
        let mut set = TemplateSet {
            questions: BTreeMap::new(),
            answer_formats: BTreeMap::new(),
            planes: BTreeMap::new(),
            measurements: BTreeMap::new(),
            measurement_choices: BTreeMap::new(),
            choices: BTreeMap::new(),
            option_formats: BTreeMap::new(),
            units: BTreeMap::new(),
        };
        for (kind_name, langs) in &file.kinds {
            if let Some(choice_kind) = ChoiceKind::parse(kind_name) {
                for (lang, text) in langs {
                    let key = format!("templates/default.toml: {kind_name}.{lang}");
                    match check_choice(choice_kind, lang, text, &key) {
                        Ok(t) => {
                            set.choices.insert((choice_kind, lang.clone()), t);
                        }
                        Err(message) => errors.push(TemplateError {
                            span: None,
                            message,
                        }),
                    }
                }
                continue;
            }
            let Some(kind) = QuestionKind::parse(kind_name) else {
                errors.push(TemplateError {
                    span: None,
                    message: format!("templates/default.toml: unknown question kind `{kind_name}`"),
                });
                continue;
            };
            for (lang, text) in langs {
                let key = format!("templates/default.toml: {kind_name}.{lang}");
                match check_question(kind, lang, text, &key) {
                    Ok(t) => {
                        set.questions.insert((kind, lang.clone()), t);
                    }
                    Err(message) => errors.push(TemplateError {
                        span: None,
                        message,
                    }),
                }
            }
        }
        for (format_name, langs) in &file.answer_format {
            match AnswerFormat::parse(format_name) {
                Some(format) => {
                    for (lang, text) in langs {
                        set.answer_formats
                            .insert((format, lang.clone()), text.clone());
                    }
                }
                None => errors.push(TemplateError {
                    span: None,
                    message: format!(
                        "templates/default.toml: unknown answer format `{format_name}`"
                    ),
                }),
            }
        }
        for (format_name, langs) in &file.option_format {
            match AnswerFormat::parse(format_name) {
                Some(format) => {
                    for (lang, text) in langs {
                        set.option_formats.insert((format, lang.clone()), text.clone());
                    }
                }
                None => errors.push(TemplateError {
                    span: None,
                    message: format!("templates/default.toml: unknown answer format `option_format.{format_name}`"),
                }),
            }
        }
        for (unit_name, langs) in &file.unit {
            let Some(unit) = Unit::parse(unit_name) else {
                errors.push(TemplateError {
                    span: None,
                    message: format!("templates/default.toml: unknown unit `unit.{unit_name}`"),
                });
                continue;
            };
            for (lang, text) in langs {
                let key = format!("templates/default.toml: unit.{unit_name}.{lang}");
                match check_placeholders(lang, text, &key, &["value"], "units") {
                    Ok(t) => {
                        set.units.insert((unit, lang.clone()), t);
                    }
                    Err(message) => errors.push(TemplateError {
                        span: None,
                        message,
                    }),
                }
            }
        }
        for (plane_name, langs) in &file.plane {
            match Plane::ALL.into_iter().find(|p| p.as_str() == plane_name) {
                Some(plane) => {
                    for (lang, text) in langs {
                        set.planes.insert((plane, lang.clone()), text.clone());
                    }
                }
                None => errors.push(TemplateError {
                    span: None,
                    message: format!("templates/default.toml: unknown plane `{plane_name}`"),
                }),
            }
        }
        set.measurements = load_measurements("measurement", &file.measurement, &mut errors);
        set.measurement_choices =
            load_measurements("measurement_choice", &file.measurement_choice, &mut errors);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// The defaults with a manifest's `[templates.<kind>]` entries applied on top.
    pub fn with_overrides(
        overrides: &BTreeMap<String, BTreeMap<String, Spanned<String>>>,
    ) -> Result<TemplateSet, Vec<TemplateError>> {
        let mut set = Self::defaults()?;
        let mut errors = Vec::new();
        for (kind_name, langs) in overrides {
            if let Some(choice_kind) = ChoiceKind::parse(kind_name) {
                for (lang, text) in langs {
                    let key = format!("templates.{kind_name}.{lang}");
                    match check_choice(choice_kind, lang, text.get_ref(), &key) {
                        Ok(t) => {
                            set.choices.insert((choice_kind, lang.clone()), t);
                        }
                        Err(message) => errors.push(TemplateError {
                            span: Some(text.span()),
                            message,
                        }),
                    }
                }
                continue;
            }
            let Some(kind) = QuestionKind::parse(kind_name) else {
                let span = langs.values().next().map(|t| t.span());
                let known: Vec<String> = QuestionKind::ALL
                    .iter()
                    .map(|k| k.as_str().to_string())
                    .chain(
                        QuestionKind::ALL
                            .iter()
                            .map(|k| ChoiceKind::Question(*k).key()),
                    )
                    .chain([ChoiceKind::Identify.key()])
                    .collect();
                errors.push(TemplateError {
                    span,
                    message: format!(
                        "templates: unknown question kind `{kind_name}` (known: {known:?})"
                    ),
                });
                continue;
            };
            for (lang, text) in langs {
                let key = format!("templates.{kind_name}.{lang}");
                if !LANGUAGES.contains(&lang.as_str()) {
                    errors.push(TemplateError {
                        span: Some(text.span()),
                        message: format!(
                            "{key}: language `{lang}` is not supported (supported: {LANGUAGES:?})"
                        ),
                    });
                    continue;
                }
                match check_question(kind, lang, text.get_ref(), &key) {
                    Ok(t) => {
                        set.questions.insert((kind, lang.clone()), t);
                    }
                    Err(message) => errors.push(TemplateError {
                        span: Some(text.span()),
                        message,
                    }),
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// The question template for a question kind and language.
    pub fn get(&self, kind: QuestionKind, lang: &str) -> Option<&Template> {
        self.questions.get(&(kind, lang.to_string()))
    }

    /// The sentence describing a box answer format.
    pub fn answer_format(&self, format: AnswerFormat, lang: &str) -> Option<&str> {
        self.answer_formats
            .get(&(format, lang.to_string()))
            .map(String::as_str)
    }

    /// A plane's name in a language.
    pub fn plane(&self, plane: Plane, lang: &str) -> Option<&str> {
        self.planes
            .get(&(plane, lang.to_string()))
            .map(String::as_str)
    }

    /// What a build in `lang` with these task kinds and answer format still lacks (empty when complete).
    pub fn missing(
        &self,
        kinds: &BTreeSet<TaskKind>,
        lang: &str,
        format: AnswerFormat,
    ) -> Vec<String> {
        let mut missing = Vec::new();
        for question in kinds.iter().flat_map(|&k| QuestionKind::for_task(k)) {
            if self.get(*question, lang).is_none() {
                missing.push(format!("templates.{}.{lang}", question.as_str()));
            }
        }
        if kinds.contains(&TaskKind::Bbox) && self.answer_format(format, lang).is_none() {
            missing.push(format!("answer_format.{}.{lang}", format.as_str()));
        }
        for plane in Plane::ALL {
            if !kinds.is_empty() && self.plane(plane, lang).is_none() {
                missing.push(format!("plane.{}.{lang}", plane.as_str()));
            }
        }
        if kinds.contains(&TaskKind::Landmarks) {
            missing.extend(self.missing_measurements(lang));
        }
        missing.extend(self.missing_choices(kinds, lang, format));
        missing
    }

    /// A multiple-choice question template.
    pub fn choice(&self, kind: ChoiceKind, lang: &str) -> Option<&Template> {
        self.choices.get(&(kind, lang.to_string()))
    }

    /// The sentence describing how box options are written.
    pub fn option_format(&self, format: AnswerFormat, lang: &str) -> Option<&str> {
        self.option_formats
            .get(&(format, lang.to_string()))
            .map(String::as_str)
    }

    /// A numeric option's text template (`{value}` and the unit).
    pub fn unit(&self, unit: Unit, lang: &str) -> Option<&Template> {
        self.units.get(&(unit, lang.to_string()))
    }

    /// What the multiple-choice questions of a build in `lang` still lack.
    fn missing_choices(
        &self,
        kinds: &BTreeSet<TaskKind>,
        lang: &str,
        format: AnswerFormat,
    ) -> Vec<String> {
        let mut missing = Vec::new();
        for &question in kinds.iter().flat_map(|&k| QuestionKind::for_task(k)) {
            let kind = ChoiceKind::Question(question);
            if self.choice(kind, lang).is_none() {
                missing.push(format!("templates.{}.{lang}", kind.key()));
            }
            for &unit in choice::units_for(question) {
                if self.unit(unit, lang).is_none() {
                    missing.push(format!("unit.{}.{lang}", unit.key()));
                }
            }
        }
        if kinds.contains(&TaskKind::Landmarks) {
            missing.extend(
                MeasureKind::ALL
                    .into_iter()
                    .filter(|k| self.measurement_choice(*k, lang).is_none())
                    .map(|k| format!("measurement_choice.{}.{lang}", k.as_str())),
            );
        }
        if kinds.contains(&TaskKind::Bbox) {
            if self.choice(ChoiceKind::Identify, lang).is_none() {
                missing.push(format!("templates.{}.{lang}", ChoiceKind::Identify.key()));
            }
            if self.option_format(format, lang).is_none() {
                missing.push(format!("option_format.{}.{lang}", format.as_str()));
            }
        }
        missing.sort();
        missing.dedup();
        missing
    }
}

/// Placeholders a multiple-choice template of `kind` may use: the question's own, except that box options
/// are described by `{option_format}` (not `{answer_format}`), and an identification question may not name
/// the label it asks for.
fn choice_placeholders(kind: ChoiceKind) -> Vec<&'static str> {
    match kind {
        ChoiceKind::Question(question) => COMMON_PLACEHOLDERS
            .iter()
            .chain(question.extra_placeholders())
            .copied()
            .filter(|p| *p != "answer_format")
            .chain((question == QuestionKind::Bbox).then_some("option_format"))
            .collect(),
        ChoiceKind::Identify => COMMON_PLACEHOLDERS
            .iter()
            .copied()
            .filter(|p| *p != "label")
            .collect(),
    }
}

fn check_choice(kind: ChoiceKind, lang: &str, text: &str, key: &str) -> Result<Template, String> {
    check_placeholders(
        lang,
        text,
        key,
        &choice_placeholders(kind),
        &format!("`{}`", kind.key()),
    )
}

fn check_placeholders(
    lang: &str,
    text: &str,
    key: &str,
    allowed: &[&str],
    what: &str,
) -> Result<Template, String> {
    if !LANGUAGES.contains(&lang) {
        return Err(format!(
            "{key}: language `{lang}` is not supported (supported: {LANGUAGES:?})"
        ));
    }
    let template = Template::parse(text).map_err(|e| format!("{key}: {e}"))?;
    let unknown: Vec<&str> = template
        .placeholders()
        .filter(|p| !allowed.contains(p))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "{key}: unknown placeholder(s) {} (allowed for {what}: {})",
            unknown
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", "),
            allowed
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(template)
}

fn check_question(
    kind: QuestionKind,
    lang: &str,
    text: &str,
    key: &str,
) -> Result<Template, String> {
    if !LANGUAGES.contains(&lang) {
        return Err(format!(
            "{key}: language `{lang}` is not supported (supported: {LANGUAGES:?})"
        ));
    }
    let template = Template::parse(text).map_err(|e| format!("{key}: {e}"))?;
    let allowed: Vec<&str> = COMMON_PLACEHOLDERS
        .iter()
        .chain(kind.extra_placeholders())
        .copied()
        .collect();
    let unknown: Vec<&str> = template
        .placeholders()
        .filter(|p| !allowed.contains(p))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "{key}: unknown placeholder(s) {} (allowed for `{}`: {})",
            unknown
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", "),
            kind.as_str(),
            allowed
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(template)
}

/// Placeholders a landmark measurement sentence may use.
const MEASUREMENT_PLACEHOLDERS: [&str; 5] = [
    "landmark_1",
    "landmark_2",
    "landmark_3",
    "landmark_4",
    "name",
];

/// Parses one family of measurement sentences (`table` is `measurement` or `measurement_choice`).
fn load_measurements(
    table: &str,
    tables: &BTreeMap<String, BTreeMap<String, String>>,
    errors: &mut Vec<TemplateError>,
) -> BTreeMap<(MeasureKind, String), Template> {
    let mut loaded = BTreeMap::new();
    for (kind_name, langs) in tables {
        let Some(kind) = MeasureKind::parse(kind_name) else {
            errors.push(TemplateError {
                span: None,
                message: format!(
                    "templates/default.toml: unknown measurement kind `{table}.{kind_name}`"
                ),
            });
            continue;
        };
        for (lang, text) in langs {
            if !LANGUAGES.contains(&lang.as_str()) {
                errors.push(TemplateError {
                    span: None,
                    message: format!(
                        "templates/default.toml: {table}.{kind_name}.{lang}: language `{lang}` is not supported (supported: {LANGUAGES:?})"
                    ),
                });
                continue;
            }
            let key = format!("templates/default.toml: {table}.{kind_name}.{lang}");
            let allowed = &MEASUREMENT_PLACEHOLDERS[..kind.point_count()];
            let checked = Template::parse(text)
                .map_err(|e| format!("{key}: {e}"))
                .and_then(|t| {
                    let unknown: Vec<&str> = t
                        .placeholders()
                        .filter(|p| !allowed.contains(p) && *p != "name")
                        .collect();
                    if unknown.is_empty() {
                        Ok(t)
                    } else {
                        Err(format!("{key}: unknown placeholder(s) {unknown:?}"))
                    }
                });
            match checked {
                Ok(t) => {
                    loaded.insert((kind, lang.clone()), t);
                }
                Err(message) => errors.push(TemplateError {
                    span: None,
                    message,
                }),
            }
        }
    }
    loaded
}

impl TemplateSet {
    /// The sentence asking for one landmark measurement kind.
    pub fn measurement(&self, kind: MeasureKind, lang: &str) -> Option<&Template> {
        self.measurements.get(&(kind, lang.to_string()))
    }

    /// The multiple-choice sentence asking for one landmark measurement kind (no answer instruction).
    pub fn measurement_choice(&self, kind: MeasureKind, lang: &str) -> Option<&Template> {
        self.measurement_choices.get(&(kind, lang.to_string()))
    }

    fn missing_measurements(&self, lang: &str) -> Vec<String> {
        MeasureKind::ALL
            .into_iter()
            .filter(|k| self.measurement(*k, lang).is_none())
            .map(|k| format!("measurement.{}.{lang}", k.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_cover_english() {
        let set = TemplateSet::defaults().expect("default templates are valid");
        let kinds: BTreeSet<TaskKind> = TaskKind::ALL.into();
        for format in [
            AnswerFormat::RelativeLowerLeft,
            AnswerFormat::RelativeTopLeft,
            AnswerFormat::Qwen1000,
        ] {
            assert!(set.missing(&kinds, "en", format).is_empty());
        }
    }

    #[test]
    fn render_fills_placeholders_and_keeps_literal_braces() {
        let t = Template::parse("a {label} b {{x}} c").expect("valid");
        let text = t.render(|name| (name == "label").then(|| "kidney".to_string()));
        assert_eq!(text, "a kidney b {x} c");
    }

    #[test]
    fn unknown_placeholder_is_an_error_with_span() {
        let text = "[bbox]\nen = \"Where is the {lable}?\"\n";
        let overrides: BTreeMap<String, BTreeMap<String, Spanned<String>>> =
            toml::from_str(text).expect("toml");
        let errors = TemplateSet::with_overrides(&overrides).expect_err("must fail");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("{lable}"),
            "{}",
            errors[0].message
        );
        assert_eq!(errors[0].span.as_ref().map(|s| s.start), Some(12));
    }

    #[test]
    fn placeholder_only_allowed_for_its_kind() {
        let err = check_question(QuestionKind::MaskSize, "en", "{answer_format}", "k")
            .expect_err("not for mask_size");
        assert!(err.contains("unknown placeholder"));
        assert!(check_question(QuestionKind::Bbox, "en", "{answer_format}", "k").is_ok());
    }

    #[test]
    fn defaults_cover_arabic_and_every_choice_template() {
        let set = TemplateSet::defaults().expect("default templates are valid");
        let kinds: BTreeSet<TaskKind> = TaskKind::ALL.into();
        for lang in LANGUAGES {
            for format in AnswerFormat::ALL {
                let missing = set.missing(&kinds, lang, format);
                assert!(missing.is_empty(), "{lang} {format:?}: {missing:?}");
            }
        }
    }

    #[test]
    fn landmark_builds_need_their_choice_templates() {
        let mut set = TemplateSet::defaults().expect("default templates are valid");
        let kinds: BTreeSet<TaskKind> = [TaskKind::Landmarks].into();
        let format = AnswerFormat::RelativeLowerLeft;
        assert!(set.missing(&kinds, "ar", format).is_empty());
        set.choices
            .remove(&(ChoiceKind::Question(QuestionKind::Landmarks), "ar".into()));
        set.measurement_choices
            .remove(&(MeasureKind::LineAngle, "ar".into()));
        set.units.remove(&(Unit::Deg, "ar".into()));
        assert_eq!(
            set.missing(&kinds, "ar", format),
            vec![
                "measurement_choice.line_angle.ar".to_string(),
                "templates.landmarks_choice.ar".to_string(),
                "unit.deg.ar".to_string(),
            ]
        );
        assert!(set.missing(&kinds, "en", format).is_empty());
    }

    #[test]
    fn choice_overrides_are_checked() {
        let text = "[identify_choice]\nen = \"Which {label} is boxed?\"\n[mask_size_choice]\nar = \"{option_format}\"\n";
        let overrides: BTreeMap<String, BTreeMap<String, Spanned<String>>> =
            toml::from_str(text).expect("toml");
        let errors = TemplateSet::with_overrides(&overrides).expect_err("must fail");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors
            .iter()
            .any(|e| e.message.contains("identify_choice.en") && e.message.contains("{label}")));
        assert!(errors
            .iter()
            .any(|e| e.message.contains("mask_size_choice.ar")
                && e.message.contains("{option_format}")));
        let ok = "[bbox_choice]\nen = \"Box of the {label}? {option_format}\"\n";
        let overrides: BTreeMap<String, BTreeMap<String, Spanned<String>>> =
            toml::from_str(ok).expect("toml");
        let set = TemplateSet::with_overrides(&overrides).expect("valid override");
        assert!(set
            .choice(ChoiceKind::Question(QuestionKind::Bbox), "en")
            .is_some());
    }

    #[test]
    fn malformed_templates_are_rejected() {
        assert!(Template::parse("{unclosed").is_err());
        assert!(Template::parse("stray }").is_err());
        assert!(Template::parse("{}").is_err());
    }
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod table_tests;
