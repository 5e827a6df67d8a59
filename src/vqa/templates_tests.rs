//! One row per kind of template or language diagnostic a manifest can get: a small edit of a valid manifest,
//! the message it must produce and where (1-based line:column, or no position).

use std::path::Path;

use super::{load_manifest_text, TemplateSet};
use crate::manifest::ManifestError;

/// A valid bilingual-ready manifest every row edits (English only until a row adds `ar`).
const BASE: &str = r#"[dataset]
name = "T"
modality = "CT"
image_description = "a CT scan"
image_description_ar = "تصوير مقطعي"
department = "D"

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
            "templates: unknown question kind `boxes` (known: [", Some((35, 6))),
        ("override language", "", "\n[templates.bbox]\nde = \"x\"\n", false,
            "templates.bbox.de: language `de` is not supported (supported: [\"en\", \"ar\"])", Some((35, 6))),
        ("override choice language", "", "\n[templates.bbox_choice]\nde = \"x\"\n", false,
            "templates.bbox_choice.de: language `de` is not supported (supported: [\"en\", \"ar\"])", Some((35, 6))),
        ("override placeholder", "", "\n[templates.mask_size]\nen = \"{answer_format}\"\n", false,
            "templates.mask_size.en: unknown placeholder(s) {answer_format} (allowed for `mask_size`: ", Some((35, 6))),
        ("override choice placeholder", "", "\n[templates.identify_choice]\nen = \"{label}\"\n", false,
            "templates.identify_choice.en: unknown placeholder(s) {label} (allowed for `identify_choice`: ", Some((35, 6))),
        ("override malformed", "", "\n[templates.bbox]\nen = \"{label\"\n", false,
            "templates.bbox.en: unclosed placeholder `{label`", Some((35, 6))),
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
