//! Question templates as data: the repo's `templates/default.toml` (plus any further template files layered on
//! it), overridable per manifest, parsed once and checked for unknown placeholders so a typo is a validation
//! error, never a question with `{lable}` in it. The languages a build may use are the languages these files
//! carry: a new language is a new template section and the manifest's `name_<code>` keys, no code.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

pub use super::kinds::QuestionKind;
use super::kinds::{units_for, ChoiceKind, Unit};
use crate::manifest::{
    AnswerFormat, Diagnostic, Lang, LoadedManifest, Localized, ManifestError, ManifestSource,
    MeasureKind, Plane, TaskKind,
};

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

/// A template problem; `span` is a byte range in the manifest when the template came from one.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    /// Byte range in the manifest; `None` when the problem has no position there.
    pub span: Option<Range<usize>>,
    /// What is wrong.
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
        self.fill(value, false)
    }

    /// [`Template::render`] for English text: an indefinite article right before a placeholder agrees with
    /// the value put there (`a {plane}` gives "an axial", "a sagittal"; `an {label}` before "kidney" gives
    /// "a kidney"). Only articles written in the template before a placeholder change.
    pub fn render_english(&self, value: impl Fn(&str) -> Option<String>) -> String {
        self.fill(value, true)
    }

    fn fill(&self, value: impl Fn(&str) -> Option<String>, english: bool) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Placeholder(name) => match value(name) {
                    Some(v) => {
                        if english {
                            agree_article(&mut out, &v);
                        }
                        out.push_str(&v);
                    }
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

/// Whether an English word takes "an": by its first letter, with the common exceptions by sound ("a unit",
/// "a ureter", "a one-", "a European"; "an hour", "an honest", "an MRI" — letters spoken as a vowel sound).
fn takes_an(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| lower.starts_with(p));
    let acronym = word.len() > 1 && word.chars().take(2).all(|c| c.is_ascii_uppercase());
    if acronym {
        // Initialisms are read letter by letter: "an MRI", "an X-ray", "a CT".
        return word
            .chars()
            .next()
            .is_some_and(|c| "AEFHILMNORSX".contains(c));
    }
    if starts(&["uni", "use", "usu", "ur", "ut", "eu", "ewe", "one", "once"]) {
        return false;
    }
    if starts(&["hour", "honest", "honou", "heir"]) {
        return true;
    }
    lower.starts_with(['a', 'e', 'i', 'o', 'u'])
}

/// Makes an indefinite article that ends `out` (`a ` / `an `, any case, as a whole word) agree with `next`.
fn agree_article(out: &mut String, next: &str) {
    let Some(word) = next.split(|c: char| c.is_whitespace() || c == '-').next() else {
        return;
    };
    if word.is_empty() {
        return;
    }
    for article in ["a ", "an ", "A ", "An "] {
        let Some(before) = out.strip_suffix(article) else {
            continue;
        };
        if before.chars().last().is_some_and(char::is_alphanumeric) {
            return;
        }
        let capital = article.starts_with('A');
        let wanted = match (takes_an(word), capital) {
            (true, true) => "An ",
            (true, false) => "an ",
            (false, true) => "A ",
            (false, false) => "a ",
        };
        let keep = before.len();
        out.truncate(keep);
        out.push_str(wanted);
        return;
    }
}

/// Per-name, per-language texts of one template table, e.g. `[plane.axial] en = "axial"`.
type Tables = BTreeMap<String, BTreeMap<String, String>>;

#[derive(Deserialize)]
struct TemplateFile {
    #[serde(default)]
    answer_format: Tables,
    #[serde(default)]
    plane: Tables,
    /// Landmark measurement sentences, `[measurement.<distance|line_angle|vertex_angle>]`.
    #[serde(default)]
    measurement: Tables,
    /// The same sentences for the multiple-choice form (no answer instruction), `[measurement_choice.<kind>]`.
    #[serde(default)]
    measurement_choice: Tables,
    /// Multiple-choice box questions: how the options are written, per answer format.
    #[serde(default)]
    option_format: Tables,
    /// Numeric option text per unit, with a `{value}` placeholder.
    #[serde(default)]
    unit: Tables,
    /// The sentence added to a question about one of several pieces, `[piece] <lang> = "..."`.
    #[serde(default)]
    piece: BTreeMap<String, String>,
    #[serde(flatten)]
    kinds: Tables,
}

/// Every question template, answer-format sentence and plane name, per language.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateSet {
    /// Languages the template files carry: English first, then by code.
    languages: Vec<Lang>,
    questions: BTreeMap<(QuestionKind, Lang), Template>,
    answer_formats: BTreeMap<(AnswerFormat, Lang), String>,
    planes: BTreeMap<(Plane, Lang), String>,
    measurements: BTreeMap<(MeasureKind, Lang), Template>,
    /// Landmark measurement sentences of the multiple-choice form.
    measurement_choices: BTreeMap<(MeasureKind, Lang), Template>,
    /// Multiple-choice question templates (`[<question kind>_choice]`, `[identify_choice]`).
    choices: BTreeMap<(ChoiceKind, Lang), Template>,
    option_formats: BTreeMap<(AnswerFormat, Lang), String>,
    units: BTreeMap<(Unit, Lang), Template>,
    /// "Answer for region {piece_index} of {piece_count}" sentences (docs/measurements.md §5.2).
    pieces: BTreeMap<Lang, Template>,
}

/// Collects the errors of one template file, each prefixed with the file's name.
struct FileErrors<'a> {
    origin: &'a str,
    errors: Vec<TemplateError>,
}

impl FileErrors<'_> {
    fn push(&mut self, message: String) {
        self.errors.push(TemplateError {
            span: None,
            message,
        });
    }

    /// The language of a template file entry `<table>.<lang>`: any language code.
    fn lang(&mut self, table: &str, lang: &str) -> Option<Lang> {
        let parsed = Lang::parse(lang);
        if parsed.is_none() {
            self.push(format!(
                "{}: {table}.{lang}: `{lang}` is not a language code (2 to 8 lowercase letters)",
                self.origin
            ));
        }
        parsed
    }
}

impl TemplateSet {
    /// The repo's default templates.
    pub fn defaults() -> Result<TemplateSet, Vec<TemplateError>> {
        Self::from_toml(DEFAULT_TEMPLATES, "templates/default.toml")
    }

    /// A template file's contents; `origin` names it in errors. Its languages are those its entries use.
    pub fn from_toml(text: &str, origin: &str) -> Result<TemplateSet, Vec<TemplateError>> {
        let file: TemplateFile = toml::from_str(text).map_err(|e| {
            vec![TemplateError {
                span: None,
                message: format!("{origin}: {}", e.message()),
            }]
        })?;
        let mut errors = FileErrors {
            origin,
            errors: Vec::new(),
        };
        let mut set = TemplateSet::default();
        set.load_kinds(&file.kinds, &mut errors);
        set.load_sentences(&file, &mut errors);
        set.load_units(&file.unit, &mut errors);
        set.load_pieces(&file.piece, &mut errors);
        set.measurements = load_measurements("measurement", &file.measurement, &mut errors);
        set.measurement_choices =
            load_measurements("measurement_choice", &file.measurement_choice, &mut errors);
        set.collect_languages();
        if errors.errors.is_empty() {
            Ok(set)
        } else {
            Err(errors.errors)
        }
    }

    /// This set with every entry of `other` added on top (e.g. a template file for one more language).
    pub fn layered(mut self, other: TemplateSet) -> TemplateSet {
        self.questions.extend(other.questions);
        self.answer_formats.extend(other.answer_formats);
        self.planes.extend(other.planes);
        self.measurements.extend(other.measurements);
        self.measurement_choices.extend(other.measurement_choices);
        self.choices.extend(other.choices);
        self.option_formats.extend(other.option_formats);
        self.units.extend(other.units);
        self.pieces.extend(other.pieces);
        self.collect_languages();
        self
    }

    /// Languages of these templates: English first, then by code.
    pub fn languages(&self) -> &[Lang] {
        &self.languages
    }

    fn collect_languages(&mut self) {
        let mut langs: BTreeSet<&Lang> = BTreeSet::new();
        langs.extend(self.questions.keys().map(|(_, l)| l));
        langs.extend(self.answer_formats.keys().map(|(_, l)| l));
        langs.extend(self.planes.keys().map(|(_, l)| l));
        langs.extend(self.measurements.keys().map(|(_, l)| l));
        langs.extend(self.measurement_choices.keys().map(|(_, l)| l));
        langs.extend(self.choices.keys().map(|(_, l)| l));
        langs.extend(self.option_formats.keys().map(|(_, l)| l));
        langs.extend(self.units.keys().map(|(_, l)| l));
        langs.extend(self.pieces.keys());
        let english = langs.remove(&Lang::EN);
        self.languages = english
            .then_some(Lang::EN)
            .into_iter()
            .chain(langs.into_iter().cloned())
            .collect();
    }

    /// The `[piece]` table: placeholders `{label}`, `{piece_index}`, `{piece_count}`.
    fn load_pieces(&mut self, pieces: &BTreeMap<String, String>, errors: &mut FileErrors) {
        let origin = errors.origin;
        for (lang, text) in pieces {
            let Some(code) = errors.lang("piece", lang) else {
                continue;
            };
            let key = format!("{origin}: piece.{lang}");
            match check_placeholders(
                text,
                &key,
                &["label", "piece_index", "piece_count"],
                "`piece`",
            ) {
                Ok(t) => {
                    self.pieces.insert(code, t);
                }
                Err(message) => errors.push(message),
            }
        }
    }

    /// `[<question kind>]` and `[<question kind>_choice]` tables.
    fn load_kinds(&mut self, kinds: &Tables, errors: &mut FileErrors) {
        let origin = errors.origin;
        for (kind_name, langs) in kinds {
            let choice_kind = ChoiceKind::parse(kind_name);
            let kind = QuestionKind::parse(kind_name);
            if choice_kind.is_none() && kind.is_none() {
                errors.push(format!("{origin}: unknown question kind `{kind_name}`"));
                continue;
            }
            for (lang, text) in langs {
                let Some(code) = errors.lang(kind_name, lang) else {
                    continue;
                };
                let key = format!("{origin}: {kind_name}.{lang}");
                let checked = match (choice_kind, kind) {
                    (Some(c), _) => check_choice(c, text, &key).map(|t| {
                        self.choices.insert((c, code), t);
                    }),
                    (None, Some(k)) => check_question(k, text, &key).map(|t| {
                        self.questions.insert((k, code), t);
                    }),
                    (None, None) => Ok(()),
                };
                if let Err(message) = checked {
                    errors.push(message);
                }
            }
        }
    }

    /// Plain sentences: `[answer_format.<format>]`, `[option_format.<format>]`, `[plane.<plane>]`.
    fn load_sentences(&mut self, file: &TemplateFile, errors: &mut FileErrors) {
        let origin = errors.origin;
        for (format_name, langs) in &file.answer_format {
            let Some(format) = AnswerFormat::parse(format_name) else {
                errors.push(format!("{origin}: unknown answer format `{format_name}`"));
                continue;
            };
            for (lang, text) in langs {
                if let Some(code) = errors.lang(&format!("answer_format.{format_name}"), lang) {
                    self.answer_formats.insert((format, code), text.clone());
                }
            }
        }
        for (format_name, langs) in &file.option_format {
            let Some(format) = AnswerFormat::parse(format_name) else {
                errors.push(format!(
                    "{origin}: unknown answer format `option_format.{format_name}`"
                ));
                continue;
            };
            for (lang, text) in langs {
                if let Some(code) = errors.lang(&format!("option_format.{format_name}"), lang) {
                    self.option_formats.insert((format, code), text.clone());
                }
            }
        }
        for (plane_name, langs) in &file.plane {
            let Some(plane) = Plane::ALL.into_iter().find(|p| p.as_str() == plane_name) else {
                errors.push(format!("{origin}: unknown plane `{plane_name}`"));
                continue;
            };
            for (lang, text) in langs {
                if let Some(code) = errors.lang(&format!("plane.{plane_name}"), lang) {
                    self.planes.insert((plane, code), text.clone());
                }
            }
        }
    }

    /// `[unit.<unit>]` option texts with their `{value}`.
    fn load_units(&mut self, units: &Tables, errors: &mut FileErrors) {
        let origin = errors.origin;
        for (unit_name, langs) in units {
            let Some(unit) = Unit::parse(unit_name) else {
                errors.push(format!("{origin}: unknown unit `unit.{unit_name}`"));
                continue;
            };
            for (lang, text) in langs {
                let Some(code) = errors.lang(&format!("unit.{unit_name}"), lang) else {
                    continue;
                };
                let key = format!("{origin}: unit.{unit_name}.{lang}");
                match check_placeholders(text, &key, &["value"], "units") {
                    Ok(t) => {
                        self.units.insert((unit, code), t);
                    }
                    Err(message) => errors.push(message),
                }
            }
        }
    }

    /// This set with a manifest's `[templates.<kind>]` entries applied on top; their languages must be
    /// languages of this set.
    pub fn with_overrides(
        &self,
        overrides: &BTreeMap<String, BTreeMap<String, Spanned<String>>>,
    ) -> Result<TemplateSet, Vec<TemplateError>> {
        let mut set = self.clone();
        let mut errors = Vec::new();
        for (kind_name, langs) in overrides {
            let choice_kind = ChoiceKind::parse(kind_name);
            let kind = QuestionKind::parse(kind_name);
            if choice_kind.is_none() && kind.is_none() {
                let span = langs.values().next().map(|t| t.span());
                errors.push(TemplateError {
                    span,
                    message: format!(
                        "templates: unknown question kind `{kind_name}` (known: {:?})",
                        known_kinds()
                    ),
                });
                continue;
            }
            for (lang, text) in langs {
                let key = format!("templates.{kind_name}.{lang}");
                let checked =
                    self.supported(lang, &key)
                        .and_then(|code| match (choice_kind, kind) {
                            (Some(c), _) => check_choice(c, text.get_ref(), &key)
                                .map(|t| drop(set.choices.insert((c, code), t))),
                            (None, Some(k)) => check_question(k, text.get_ref(), &key)
                                .map(|t| drop(set.questions.insert((k, code), t))),
                            (None, None) => Ok(()),
                        });
                if let Err(message) = checked {
                    errors.push(TemplateError {
                        span: Some(text.span()),
                        message,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// `lang` when these templates carry it; otherwise the `{key}: language … is not supported` message.
    pub fn supported(&self, lang: &str, key: &str) -> Result<Lang, String> {
        match self.languages.iter().find(|l| l.as_str() == lang) {
            Some(l) => Ok(l.clone()),
            None => Err(format!(
                "{key}: language `{lang}` is not supported (supported: {:?})",
                self.language_codes()
            )),
        }
    }

    /// The language codes, for messages (`["en", "ar"]`).
    pub fn language_codes(&self) -> Vec<&str> {
        self.languages.iter().map(Lang::as_str).collect()
    }

    /// The question template for a question kind and language.
    pub fn get(&self, kind: QuestionKind, lang: &Lang) -> Option<&Template> {
        self.questions.get(&(kind, lang.clone()))
    }

    /// The sentence that says which of several pieces a question is about.
    pub fn piece(&self, lang: &Lang) -> Option<&Template> {
        self.pieces.get(lang)
    }

    /// The sentence describing a box answer format.
    pub fn answer_format(&self, format: AnswerFormat, lang: &Lang) -> Option<&str> {
        self.answer_formats
            .get(&(format, lang.clone()))
            .map(String::as_str)
    }

    /// A plane's name in a language.
    pub fn plane(&self, plane: Plane, lang: &Lang) -> Option<&str> {
        self.planes.get(&(plane, lang.clone())).map(String::as_str)
    }

    /// A multiple-choice question template.
    pub fn choice(&self, kind: ChoiceKind, lang: &Lang) -> Option<&Template> {
        self.choices.get(&(kind, lang.clone()))
    }

    /// The sentence describing how box options are written.
    pub fn option_format(&self, format: AnswerFormat, lang: &Lang) -> Option<&str> {
        self.option_formats
            .get(&(format, lang.clone()))
            .map(String::as_str)
    }

    /// A numeric option's text template (`{value}` and the unit).
    pub fn unit(&self, unit: Unit, lang: &Lang) -> Option<&Template> {
        self.units.get(&(unit, lang.clone()))
    }

    /// The sentence asking for one landmark measurement kind.
    pub fn measurement(&self, kind: MeasureKind, lang: &Lang) -> Option<&Template> {
        self.measurements.get(&(kind, lang.clone()))
    }

    /// The multiple-choice sentence asking for one landmark measurement kind (no answer instruction).
    pub fn measurement_choice(&self, kind: MeasureKind, lang: &Lang) -> Option<&Template> {
        self.measurement_choices.get(&(kind, lang.clone()))
    }

    /// What a build in `lang` with these task kinds and answer format still lacks (empty when complete).
    pub fn missing(
        &self,
        kinds: &BTreeSet<TaskKind>,
        lang: &Lang,
        format: AnswerFormat,
    ) -> Vec<String> {
        let mut missing = Vec::new();
        for question in kinds.iter().flat_map(|&k| QuestionKind::for_task(k)) {
            if self.get(*question, lang).is_none() {
                missing.push(format!("templates.{}.{lang}", question.as_str()));
            }
        }
        let boxes = kinds.contains(&TaskKind::Bbox) || kinds.contains(&TaskKind::Instances);
        if boxes && self.answer_format(format, lang).is_none() {
            missing.push(format!("answer_format.{}.{lang}", format.as_str()));
        }
        for plane in Plane::ALL {
            if !kinds.is_empty() && self.plane(plane, lang).is_none() {
                missing.push(format!("plane.{}.{lang}", plane.as_str()));
            }
        }
        if kinds.contains(&TaskKind::Landmarks) {
            missing.extend(
                MeasureKind::ALL
                    .into_iter()
                    .filter(|k| self.measurement(*k, lang).is_none())
                    .map(|k| format!("measurement.{}.{lang}", k.as_str())),
            );
        }
        missing.extend(self.missing_choices(kinds, lang, format));
        missing
    }

    /// What the multiple-choice questions of a build in `lang` still lack.
    fn missing_choices(
        &self,
        kinds: &BTreeSet<TaskKind>,
        lang: &Lang,
        format: AnswerFormat,
    ) -> Vec<String> {
        let mut missing = Vec::new();
        for &question in kinds.iter().flat_map(|&k| QuestionKind::for_task(k)) {
            let kind = ChoiceKind::Question(question);
            if self.choice(kind, lang).is_none() {
                missing.push(format!("templates.{}.{lang}", kind.key()));
            }
            for &unit in units_for(question) {
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
        if kinds.contains(&TaskKind::Bbox) && self.choice(ChoiceKind::Identify, lang).is_none() {
            missing.push(format!("templates.{}.{lang}", ChoiceKind::Identify.key()));
        }
        let boxes = kinds.contains(&TaskKind::Bbox) || kinds.contains(&TaskKind::Instances);
        if boxes && self.option_format(format, lang).is_none() {
            missing.push(format!("option_format.{}.{lang}", format.as_str()));
        }
        missing.sort();
        missing.dedup();
        missing
    }
}

/// Every table name a manifest's `[templates.<name>]` may override.
fn known_kinds() -> Vec<String> {
    QuestionKind::ALL
        .iter()
        .map(|k| k.as_str().to_string())
        .chain(
            QuestionKind::ALL
                .iter()
                .map(|k| ChoiceKind::Question(*k).key()),
        )
        .chain([ChoiceKind::Identify.key()])
        .collect()
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
            .chain(
                matches!(question, QuestionKind::Bbox | QuestionKind::Instances)
                    .then_some("option_format"),
            )
            .collect(),
        ChoiceKind::Identify => COMMON_PLACEHOLDERS
            .iter()
            .copied()
            .filter(|p| *p != "label")
            .collect(),
    }
}

fn check_choice(kind: ChoiceKind, text: &str, key: &str) -> Result<Template, String> {
    check_placeholders(
        text,
        key,
        &choice_placeholders(kind),
        &format!("`{}`", kind.key()),
    )
}

fn check_question(kind: QuestionKind, text: &str, key: &str) -> Result<Template, String> {
    let allowed: Vec<&str> = COMMON_PLACEHOLDERS
        .iter()
        .chain(kind.extra_placeholders())
        .copied()
        .collect();
    check_placeholders(text, key, &allowed, &format!("`{}`", kind.as_str()))
}

/// Parses a template and rejects placeholders outside `allowed` (`what` names the template's kind).
fn check_placeholders(
    text: &str,
    key: &str,
    allowed: &[&str],
    what: &str,
) -> Result<Template, String> {
    let template = Template::parse(text).map_err(|e| format!("{key}: {e}"))?;
    let unknown: Vec<&str> = template
        .placeholders()
        .filter(|p| !allowed.contains(p))
        .collect();
    if !unknown.is_empty() {
        let braced = |names: &[&str]| {
            names
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(format!(
            "{key}: unknown placeholder(s) {} (allowed for {what}: {})",
            braced(&unknown),
            braced(allowed)
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
    tables: &Tables,
    errors: &mut FileErrors,
) -> BTreeMap<(MeasureKind, Lang), Template> {
    let origin = errors.origin;
    let mut loaded = BTreeMap::new();
    for (kind_name, langs) in tables {
        let Some(kind) = MeasureKind::parse(kind_name) else {
            errors.push(format!(
                "{origin}: unknown measurement kind `{table}.{kind_name}`"
            ));
            continue;
        };
        for (lang, text) in langs {
            let Some(code) = errors.lang(&format!("{table}.{kind_name}"), lang) else {
                continue;
            };
            let key = format!("{origin}: {table}.{kind_name}.{lang}");
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
                    loaded.insert((kind, code), t);
                }
                Err(message) => errors.push(message),
            }
        }
    }
    loaded
}

/// A manifest's templates: `base` with the manifest's `[templates]` overrides, checked against its output
/// languages and its translated names. `Err` holds the located diagnostics (`file:line:col: message`).
pub fn check_manifest(
    manifest: &LoadedManifest,
    base: &TemplateSet,
) -> Result<TemplateSet, Vec<Diagnostic>> {
    let templates = base
        .with_overrides(&manifest.manifest.templates)
        .map_err(|errors| {
            errors
                .into_iter()
                .map(|TemplateError { span, message }| manifest.diag(span, message))
                .collect::<Vec<_>>()
        })?;
    let mut diags = Vec::new();
    for lang in &manifest.manifest.output.languages {
        check_output_language(manifest, &templates, lang, &mut diags);
    }
    check_translation_keys(manifest, &templates, &mut diags);
    if diags.is_empty() {
        Ok(templates)
    } else {
        Err(diags)
    }
}

/// The repo's default templates with a manifest's overrides; diagnostics as `manifest::load` reports them.
pub fn load_for(manifest: &LoadedManifest) -> Result<TemplateSet, ManifestError> {
    load_for_with(manifest, &defaults_or_diagnostics(manifest)?)
}

/// [`load_for`] on top of a given template set (e.g. the defaults layered with another language's file).
pub fn load_for_with(
    manifest: &LoadedManifest,
    base: &TemplateSet,
) -> Result<TemplateSet, ManifestError> {
    check_manifest(manifest, base).map_err(ManifestError::Invalid)
}

fn defaults_or_diagnostics(manifest: &LoadedManifest) -> Result<TemplateSet, ManifestError> {
    TemplateSet::defaults().map_err(|errors| {
        ManifestError::Invalid(
            errors
                .into_iter()
                .map(|e| manifest.diag(e.span, e.message))
                .collect(),
        )
    })
}

/// Loads and validates a manifest with its templates (the repo defaults): every structural, template and
/// language diagnostic is reported together, in the order `medvision-build validate` prints them. `given` is
/// a `--manifest` value: a file, else a bundled manifest's name (`manifest::bundled::resolve`).
pub fn load_manifest(given: &Path) -> Result<(LoadedManifest, TemplateSet), ManifestError> {
    load_manifest_from(crate::manifest::bundled::resolve(given)?)
}

/// [`load_manifest`] of a manifest already resolved to a file or a bundled manifest.
pub fn load_manifest_from(
    source: ManifestSource,
) -> Result<(LoadedManifest, TemplateSet), ManifestError> {
    let text = crate::manifest::read_text(&source)?;
    let (mut loaded, templates) = load_manifest_with_defaults(source.path(), text)?;
    loaded.source = source;
    Ok((loaded, templates))
}

/// [`load_manifest`] of manifest text made elsewhere (an nnU-Net folder's generated manifest); `path` names
/// it in diagnostics.
pub fn load_manifest_with_defaults(
    path: &Path,
    text: String,
) -> Result<(LoadedManifest, TemplateSet), ManifestError> {
    let base = TemplateSet::defaults().map_err(|errors| {
        ManifestError::Invalid(
            errors
                .into_iter()
                .map(|e| Diagnostic {
                    path: path.to_path_buf(),
                    line_col: None,
                    message: e.message,
                })
                .collect(),
        )
    })?;
    load_manifest_text(path, text, &base)
}

/// [`load_manifest`] of a manifest already read, on top of `base` templates.
pub fn load_manifest_text(
    path: &Path,
    text: String,
    base: &TemplateSet,
) -> Result<(LoadedManifest, TemplateSet), ManifestError> {
    let extra = |m: &LoadedManifest| check_manifest(m, base).err().unwrap_or_default();
    let loaded = crate::manifest::load_text(path, text, &extra)?;
    let templates = load_for_with(&loaded, base)?;
    Ok((loaded, templates))
}

/// One output language: the templates carry it completely, and every name a question uses is translated.
fn check_output_language(
    manifest: &LoadedManifest,
    templates: &TemplateSet,
    lang: &Lang,
    diags: &mut Vec<Diagnostic>,
) {
    let m = &manifest.manifest;
    if templates.supported(lang, "").is_err() {
        diags.push(manifest.diag(
            None,
            format!(
                "output.languages: `{lang}` is not supported (supported: {:?})",
                templates.language_codes()
            ),
        ));
        return;
    }
    let kinds: BTreeSet<TaskKind> = m.tasks.iter().map(|t| t.kind).collect();
    let mut missing = templates.missing(&kinds, lang, m.output.answer_format);
    // Rows about one of several pieces (single_instance = false) say which one.
    let per_piece = m.tasks.iter().any(|t| {
        !t.filters.single_instance
            && matches!(
                t.kind,
                TaskKind::Bbox | TaskKind::MaskSize | TaskKind::LesionSize
            )
    });
    if per_piece && templates.piece(lang).is_none() {
        missing.push(format!("piece.{lang}"));
    }
    for key in missing {
        diags.push(manifest.diag(
            None,
            format!("output.languages has `{lang}` but no template `{key}` exists"),
        ));
    }
    if *lang == Lang::EN {
        return;
    }
    let required = |what: String| format!("{what}, required when `{lang}` is an output language");
    if m.dataset.image_description.get(lang).is_none() {
        diags.push(manifest.diag(
            None,
            format!(
                "dataset.image_description_{lang} is required when `{lang}` is an output language"
            ),
        ));
    }
    for (collection, map) in &manifest.label_maps {
        for (id, label) in map.iter().filter(|(_, l)| l.name.get(lang).is_none()) {
            let what = format!(
                "label {id} (`{}`) of collection `{collection}` has no `name_{lang}`",
                label.name.english()
            );
            diags.push(manifest.diag(None, required(what)));
        }
    }
    for t in m.tasks.iter().filter(|t| t.kind == TaskKind::Landmarks) {
        for l in t.landmarks.iter().filter(|l| l.name.get(lang).is_none()) {
            let what = format!(
                "task `{}`: landmark `{}` (`{}`) has no `name_{lang}`",
                t.id,
                l.id,
                l.name.english()
            );
            diags.push(manifest.diag(None, required(what)));
        }
        for ms in &t.measurements {
            if ms.name.as_ref().is_some_and(|n| n.get(lang).is_none()) {
                let what = format!(
                    "task `{}`: measurement `{}` has a `name` but no `name_{lang}`",
                    t.id, ms.id
                );
                diags.push(manifest.diag(None, required(what)));
            }
        }
    }
}

/// Every `<key>_<code>` translation must be in an output language or a language of the templates.
fn check_translation_keys(
    manifest: &LoadedManifest,
    templates: &TemplateSet,
    diags: &mut Vec<Diagnostic>,
) {
    let m = &manifest.manifest;
    let mut localized: Vec<(&str, &Localized<String>)> =
        vec![("image_description", &m.dataset.image_description)];
    let labels = m.labels.values().chain(
        m.collections
            .iter()
            .flat_map(|c| c.labels.iter().flat_map(|l| l.values())),
    );
    localized.extend(labels.map(|l| ("name", &l.name)));
    for t in &m.tasks {
        localized.extend(t.landmarks.iter().map(|l| ("name", &l.name)));
        localized.extend(
            t.measurements
                .iter()
                .filter_map(|ms| ms.name.as_ref().map(|n| ("name", n))),
        );
    }
    for (key, value) in localized {
        for (lang, span) in value.translations() {
            let known = templates.languages().contains(lang) || m.output.languages.contains(lang);
            if !known {
                let message = format!(
                    "{key}_{lang}: language `{lang}` is neither an output language nor one the templates carry (templates: {:?})",
                    templates.language_codes()
                );
                diags.push(manifest.diag(Some(span), message));
            }
        }
    }
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;
