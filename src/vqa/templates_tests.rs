//! Tests of the question templates: parsing, rendering and the defaults (first), then one row per kind of
//! template or language diagnostic a manifest can get: a small edit of a valid manifest, the message it must
//! produce and where (1-based line:column, or no position). Kept apart from templates.rs to keep it small.

use std::path::Path;

use super::*;

use crate::manifest::ManifestError;
use crate::manifest::{AnswerFormat, Lang, LoadedManifest, Plane};
use crate::vqa::{Asker, Shown};

fn ar() -> Lang {
    Lang::parse("ar").expect("a language code")
}

#[test]
fn defaults_load_and_cover_english() {
    let set = TemplateSet::defaults().expect("default templates are valid");
    let kinds: BTreeSet<TaskKind> = TaskKind::ALL.into();
    for format in [
        AnswerFormat::RelativeLowerLeft,
        AnswerFormat::RelativeTopLeft,
        AnswerFormat::Qwen1000,
    ] {
        assert!(set.missing(&kinds, &Lang::EN, format).is_empty());
    }
}

#[test]
fn english_articles_agree_with_the_placeholder_value() {
    let t =
        Template::parse("This is a {plane} slice. A {label} here, an {label} there, Ana {label}.")
            .expect("parse");
    let fill = |plane: &'static str, label: &'static str| {
        t.render_english(|name| match name {
            "plane" => Some(plane.to_string()),
            "label" => Some(label.to_string()),
            _ => None,
        })
    };
    assert_eq!(
        fill("axial", "kidney"),
        "This is an axial slice. A kidney here, a kidney there, Ana kidney."
    );
    assert_eq!(
        fill("sagittal", "ovary"),
        "This is a sagittal slice. An ovary here, an ovary there, Ana ovary."
    );
    assert_eq!(
        fill("coronal", "ureter"),
        "This is a coronal slice. A ureter here, a ureter there, Ana ureter."
    );
    assert!(fill("coronal", "MRI-visible lesion").contains("An MRI-visible"));
    assert!(fill("coronal", "CT-dense lesion").contains("A CT-dense"));
    assert!(fill("coronal", "hour").contains("An hour"));
    // Other languages keep the template's text.
    let plain = t.render(|name| (name == "plane").then(|| "axial".to_string()));
    assert!(plain.starts_with("This is a axial"));
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
    let errors = TemplateSet::defaults()
        .expect("defaults")
        .with_overrides(&overrides)
        .expect_err("must fail");
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
    let err = check_question(QuestionKind::MaskSize, "{answer_format}", "k")
        .expect_err("not for mask_size");
    assert!(err.contains("unknown placeholder"));
    assert!(check_question(QuestionKind::Bbox, "{answer_format}", "k").is_ok());
}

#[test]
fn defaults_cover_arabic_and_every_choice_template() {
    let set = TemplateSet::defaults().expect("default templates are valid");
    let kinds: BTreeSet<TaskKind> = TaskKind::ALL.into();
    assert_eq!(set.language_codes(), vec!["en", "ar"]);
    for lang in set.languages() {
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
    assert!(set.missing(&kinds, &ar(), format).is_empty());
    set.choices
        .remove(&(ChoiceKind::Question(QuestionKind::Landmarks), ar()));
    set.measurement_choices
        .remove(&(MeasureKind::LineAngle, ar()));
    set.units.remove(&(Unit::Deg, ar()));
    assert_eq!(
        set.missing(&kinds, &ar(), format),
        vec![
            "measurement_choice.line_angle.ar".to_string(),
            "templates.landmarks_choice.ar".to_string(),
            "unit.deg.ar".to_string(),
        ]
    );
    assert!(set.missing(&kinds, &Lang::EN, format).is_empty());
}

#[test]
fn choice_overrides_are_checked() {
    let text = "[identify_choice]\nen = \"Which {label} is boxed?\"\n[mask_size_choice]\nar = \"{option_format}\"\n";
    let overrides: BTreeMap<String, BTreeMap<String, Spanned<String>>> =
        toml::from_str(text).expect("toml");
    let errors = TemplateSet::defaults()
        .expect("defaults")
        .with_overrides(&overrides)
        .expect_err("must fail");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors
        .iter()
        .any(|e| e.message.contains("identify_choice.en") && e.message.contains("{label}")));
    assert!(errors.iter().any(
        |e| e.message.contains("mask_size_choice.ar") && e.message.contains("{option_format}")
    ));
    let ok = "[bbox_choice]\nen = \"Box of the {label}? {option_format}\"\n";
    let overrides: BTreeMap<String, BTreeMap<String, Spanned<String>>> =
        toml::from_str(ok).expect("toml");
    let set = TemplateSet::defaults()
        .expect("defaults")
        .with_overrides(&overrides)
        .expect("valid override");
    assert!(set
        .choice(ChoiceKind::Question(QuestionKind::Bbox), &Lang::EN)
        .is_some());
}

#[test]
fn malformed_templates_are_rejected() {
    assert!(Template::parse("{unclosed").is_err());
    assert!(Template::parse("stray }").is_err());
    assert!(Template::parse("{}").is_err());
}

/// A valid bilingual-ready manifest every row edits (English only until a row adds `ar`).
const BASE: &str = r#"[dataset]
name = "T"
modality = "CT"
image_description = "a CT scan"
image_description_ar = "تصوير مقطعي"
department = "D"
license = "cc-by-4.0"

[[collection]]
name = "c"
image = "img/{case}.nii.gz"
mask = "lab/{case}.nii.gz"

[[collection]]
name = "ceph"
image = "x/{case}.bmp"
mask = "p/{case}.txt"
landmarks = { format = "ceph_txt", points = 2, pixel_spacing_mm = [0.1, 0.1] }

[labels]
1 = { name = "kidney", name_ar = "الكلية" }

[[task]]
id = "T01"
kind = "bbox"
collections = ["c"]

[[task]]
id = "L1"
kind = "landmarks"
collections = ["ceph"]
landmarks = [{ id = "P1", name = "sella", name_ar = "السرج" }, { id = "P2", name = "nasion", name_ar = "الناسيون" }]
measurements = [{ id = "d", kind = "distance", points = ["P1", "P2"], plane = "sagittal", name = "length", name_ar = "الطول" }]
"#;

/// Every diagnostic of a manifest text (template and language checks included), as `line:col: message`.
fn diagnostics(text: &str) -> Vec<String> {
    let base = TemplateSet::defaults().expect("default templates");
    match load_manifest_text(Path::new("m.toml"), text.to_string(), &base) {
        Ok(_) => Vec::new(),
        Err(ManifestError::Invalid(diags)) => diags
            .iter()
            .map(|d| match d.line_col {
                Some((l, c)) => format!("{l}:{c}: {}", d.message),
                None => d.message.clone(),
            })
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// Checks that exactly one diagnostic of `text` contains `fragment` (the start of its message), placed at `at`.
fn expect_one(row: &str, text: &str, fragment: &str, at: Option<(usize, usize)>) {
    let found = diagnostics(text);
    let hits: Vec<&String> = found.iter().filter(|d| d.contains(fragment)).collect();
    assert_eq!(hits.len(), 1, "{row}: `{fragment}` in {found:#?}");
    let expected = match at {
        Some((l, c)) => format!("{l}:{c}: "),
        None => String::new(),
    };
    let (position, message) = hits[0].split_at(hits[0].find(fragment).unwrap_or(0));
    assert_eq!(position, expected, "{row}: position of `{message}`");
}

const ARABIC: &str = "\n[output]\nlanguages = [\"en\", \"ar\"]\n";

#[test]
fn base_manifest_is_valid_in_both_languages() {
    assert_eq!(diagnostics(BASE), Vec::<String>::new());
    assert_eq!(
        diagnostics(&format!("{BASE}{ARABIC}")),
        Vec::<String>::new()
    );
}

#[test]
fn every_template_and_language_diagnostic() {
    // (row, replaced, replacement, with `ar` output, message start, position)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        bool,
        &'static str,
        Option<(usize, usize)>,
    );
    const ROWS: &[Row] = &[
        ("unsupported language", "", "\n[output]\nlanguages = [\"en\", \"de\"]\n", false,
            "output.languages: `de` is not supported (supported: [\"en\", \"ar\"])", None),
        ("arabic description", "image_description_ar = \"تصوير مقطعي\"\n", "", true,
            "dataset.image_description_ar is required when `ar` is an output language", None),
        ("arabic label", ", name_ar = \"الكلية\"", "", true,
            "label 1 (`kidney`) of collection `c` has no `name_ar`, required when `ar` is an output language", None),
        ("arabic landmark", ", name_ar = \"السرج\"", "", true,
            "task `L1`: landmark `P1` (`sella`) has no `name_ar`, required when `ar` is an output language", None),
        ("arabic measurement", ", name_ar = \"الطول\"", "", true,
            "task `L1`: measurement `d` has a `name` but no `name_ar`, required when `ar` is an output language", None),
        ("override kind", "", "\n[templates.boxes]\nen = \"x\"\n", false,
            "templates: unknown question kind `boxes` (known: [", Some((36, 6))),
        ("override language", "", "\n[templates.bbox]\nde = \"x\"\n", false,
            "templates.bbox.de: language `de` is not supported (supported: [\"en\", \"ar\"])", Some((36, 6))),
        ("override choice language", "", "\n[templates.bbox_choice]\nde = \"x\"\n", false,
            "templates.bbox_choice.de: language `de` is not supported (supported: [\"en\", \"ar\"])", Some((36, 6))),
        ("override placeholder", "", "\n[templates.mask_size]\nen = \"{answer_format}\"\n", false,
            "templates.mask_size.en: unknown placeholder(s) {answer_format} (allowed for `mask_size`: ", Some((36, 6))),
        ("override choice placeholder", "", "\n[templates.identify_choice]\nen = \"{label}\"\n", false,
            "templates.identify_choice.en: unknown placeholder(s) {label} (allowed for `identify_choice`: ", Some((36, 6))),
        ("override malformed", "", "\n[templates.bbox]\nen = \"{label\"\n", false,
            "templates.bbox.en: unclosed placeholder `{label`", Some((36, 6))),
    ];
    let mut failures = Vec::new();
    for &(row, from, to, arabic, fragment, at) in ROWS {
        let mut text = if from.is_empty() {
            format!("{BASE}{to}")
        } else {
            assert!(BASE.contains(from), "{row}: `{from}` not in the base");
            BASE.replacen(from, to, 1)
        };
        if arabic {
            text.push_str(ARABIC);
        }
        if let Err(e) = std::panic::catch_unwind(|| expect_one(row, &text, fragment, at)) {
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| row.to_string()),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// French, added purely as data: a template file with `fr` entries layered on the defaults.
const FRENCH: &str = r#"
[bbox]
fr = "Ceci est une coupe {plane} de {image_description}. Localisez {label} et donnez sa boîte englobante. {answer_format}"
[mask_size]
fr = "Ceci est une coupe {plane} de {image_description} ; un pixel mesure {pixel_width_mm} mm de large et {pixel_height_mm} mm de haut. Quelle surface {label} couvre-t-il dans cette coupe ?"
[bbox_choice]
fr = "Quelle option est la boîte englobante de {label} ? {option_format}"
[mask_size_choice]
fr = "Quelle surface {label} couvre-t-il dans cette coupe {plane} ?"
[identify_choice]
fr = "Quelle structure est marquée par la boîte rouge ?"
[answer_format.relative_lower_left]
fr = "Répondez par [x1, y1, x2, y2] entre 0 et 1, origine en bas à gauche."
[option_format.relative_lower_left]
fr = "Chaque option donne [x1, y1, x2, y2] entre 0 et 1, origine en bas à gauche."
[unit.mm2]
fr = "{value} mm²"
[plane.axial]
fr = "axiale"
[plane.coronal]
fr = "coronale"
[plane.sagittal]
fr = "sagittale"
"#;

const FRENCH_MANIFEST: &str = r#"[dataset]
name = "T"
modality = "CT"
image_description = "a CT scan"
image_description_fr = "un scanner abdominal"
department = "D"
license = "cc-by-4.0"

[[collection]]
name = "c"
image = "img/{case}.nii.gz"
mask = "lab/{case}.nii.gz"

[labels]
1 = { name = "kidney", name_fr = "le rein" }
2 = { name = "kidney tumor", name_ar = "الورم الكلوي", name_fr = "la tumeur rénale" }

[[task]]
id = "T01"
kind = "bbox"

[[task]]
id = "T01"
kind = "mask_size"

[output]
languages = ["en", "fr"]
"#;

fn french_base() -> TemplateSet {
    let french = TemplateSet::from_toml(FRENCH, "fr.toml").expect("valid French templates");
    TemplateSet::defaults().expect("defaults").layered(french)
}

fn located(result: Result<(LoadedManifest, TemplateSet), ManifestError>) -> Vec<String> {
    match result {
        Ok(_) => Vec::new(),
        Err(ManifestError::Invalid(diags)) => diags.iter().map(|d| d.to_string()).collect(),
        Err(e) => vec![e.to_string()],
    }
}

#[test]
fn a_third_language_is_data_only() {
    let base = french_base();
    assert_eq!(base.language_codes(), vec!["en", "ar", "fr"]);
    let (loaded, templates) =
        load_manifest_text(Path::new("fr.toml"), FRENCH_MANIFEST.into(), &base)
            .expect("a valid French manifest");
    let fr = Lang::parse("fr").expect("a code");
    assert_eq!(loaded.manifest.output.languages, vec![Lang::EN, fr.clone()]);
    let asker = Asker {
        templates: &templates,
        dataset: &loaded.manifest.dataset,
        answer_format: AnswerFormat::RelativeLowerLeft,
    };
    let shown = Shown {
        width_px: 100,
        height_px: 50,
        pixel_width_mm: 0.78125,
        pixel_height_mm: 2.5,
        scale_x: 1.0,
        scale_y: 1.0,
    };
    let tumor = &loaded.labels("c")[&2];
    let bbox = asker
        .bbox(&fr, tumor, Plane::Axial, &shown, [10, 5, 29, 14])
        .expect("French box question");
    assert_eq!(
        bbox.question,
        "Ceci est une coupe axiale de un scanner abdominal. Localisez la tumeur rénale et donnez sa boîte \
         englobante. Répondez par [x1, y1, x2, y2] entre 0 et 1, origine en bas à gauche."
    );
    assert_eq!(bbox.answer, "[0.100, 0.720, 0.290, 0.900]");
    let area = asker
        .mask_size(
            &fr,
            &loaded.labels("c")[&1],
            Plane::Coronal,
            &shown,
            1234.5678,
        )
        .expect("French area question");
    assert_eq!(
        area.question,
        "Ceci est une coupe coronale de un scanner abdominal ; un pixel mesure 0.781 mm de large et 2.500 mm \
         de haut. Quelle surface le rein couvre-t-il dans cette coupe ?"
    );
    assert_eq!(area.answer, "1234.57");
    let english = asker
        .bbox(&Lang::EN, tumor, Plane::Axial, &shown, [10, 5, 29, 14])
        .expect("English");
    assert!(english
        .question
        .starts_with("This is an axial slice of a CT scan. Locate the kidney tumor"));
}

#[test]
fn a_third_language_gets_the_same_diagnostics_as_arabic() {
    let base = french_base();
    let missing_name = FRENCH_MANIFEST.replace(", name_fr = \"le rein\"", "");
    assert_eq!(
        located(load_manifest_text(Path::new("fr.toml"), missing_name, &base)),
        vec!["fr.toml: label 1 (`kidney`) of collection `c` has no `name_fr`, required when `fr` is an output language"]
    );
    let missing_description =
        FRENCH_MANIFEST.replace("image_description_fr = \"un scanner abdominal\"\n", "");
    assert_eq!(
        located(load_manifest_text(
            Path::new("fr.toml"),
            missing_description,
            &base
        )),
        vec!["fr.toml: dataset.image_description_fr is required when `fr` is an output language"]
    );
    // French names without French templates: the language is unknown, at the key's value.
    let defaults = TemplateSet::defaults().expect("defaults");
    let english_only =
        FRENCH_MANIFEST.replace("languages = [\"en\", \"fr\"]", "languages = [\"en\"]");
    let found = located(load_manifest_text(
        Path::new("fr.toml"),
        english_only,
        &defaults,
    ));
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(
        found[0],
        "fr.toml:5:24: image_description_fr: language `fr` is neither an output language nor one the templates carry (templates: [\"en\", \"ar\"])"
    );
    assert!(
        found[1].starts_with("fr.toml:15:34: name_fr: language `fr`"),
        "{found:#?}"
    );
    // Listed as an output language without templates, or with incomplete ones.
    let found = located(load_manifest_text(
        Path::new("fr.toml"),
        FRENCH_MANIFEST.into(),
        &defaults,
    ));
    assert_eq!(
        found[0],
        "fr.toml: output.languages: `fr` is not supported (supported: [\"en\", \"ar\"])"
    );
    let partial = TemplateSet::from_toml(
        &FRENCH.replace("[unit.mm2]\nfr = \"{value} mm²\"\n", ""),
        "fr.toml",
    )
    .expect("valid");
    let base = defaults.layered(partial);
    assert_eq!(
        located(load_manifest_text(
            Path::new("fr.toml"),
            FRENCH_MANIFEST.into(),
            &base
        )),
        vec!["fr.toml: output.languages has `fr` but no template `unit.mm2.fr` exists"]
    );
}
