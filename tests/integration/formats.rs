//! End-to-end tests of the output formats: the KiTS23 fixture built bilingually as Parquet, GMAI-style TSV and
//! chat JSONL; TSV quoting, columns, options and letter balance; hidden copies; JSONL images; English and
//! Arabic agreement; `--formats` selection; byte-identical output at any thread count; bilingual validation.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{run, temp_dir, tree, ROOT};
use medvision_build::sink::tsv::{COLUMNS, HIDDEN_COLUMNS, PANDAS_NA};

/// The committed KiTS23 manifest with `languages = ["en", "ar"]`.
fn bilingual_manifest(dir: &Path) -> PathBuf {
    let text =
        fs::read_to_string(Path::new(ROOT).join("manifests/kits23.toml")).expect("read kits23");
    assert!(
        text.contains("# [output]\n# languages = [\"en\", \"ar\"]"),
        "kits23.toml documents the option"
    );
    let text = text.replace(
        "# [output]\n# languages = [\"en\", \"ar\"]",
        "[output]\nlanguages = [\"en\", \"ar\"]",
    );
    let path = dir.join("kits23-bilingual.toml");
    fs::write(&path, text).expect("write manifest");
    path
}

fn build(manifest: &Path, out: &Path, extra: &[&str]) -> Output {
    let data = format!("{ROOT}/fixtures/kits23");
    let mut args = vec![
        "--manifest",
        manifest.to_str().expect("utf-8"),
        "--data-root",
        data.as_str(),
        "--out",
        out.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A QUOTE-ALL TSV: every field must be double-quoted; returns the header and the unquoted rows.
fn parse_tsv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = fs::read_to_string(path).expect("UTF-8 TSV");
    assert!(text.ends_with('\n'), "{}: final newline", path.display());
    let mut lines = text.lines().map(|line| {
        line.split('\t')
            .map(|field| {
                assert!(
                    field.len() >= 2 && field.starts_with('"') && field.ends_with('"'),
                    "{}: unquoted field `{field}`",
                    path.display()
                );
                let inner = &field[1..field.len() - 1];
                assert!(
                    !inner.replace("\"\"", "").contains('"'),
                    "{}: lone quote in `{field}`",
                    path.display()
                );
                inner.replace("\"\"", "\"")
            })
            .collect::<Vec<String>>()
    });
    let header = lines.next().expect("header");
    (header, lines.collect())
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: {}", other as char),
        }
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, c)| acc | (value(*c) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// The PNG of every row of one TSV file: base64 in the `image` column, or — as VLMEvalKit resolves it
/// (vlmeval/dataset/image_base.py) — a field of at most 64 characters naming the `index` of a row of the same
/// file whose image is stored in full. Asserts that references point back to full images and that no image
/// is stored twice in the file.
fn resolve_images(name: &str, rows: &[Vec<String>], image_column: usize) -> Vec<Vec<u8>> {
    let mut by_index: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut stored = BTreeSet::new();
    let mut out = Vec::new();
    let mut references = 0;
    for row in rows {
        let field = &row[image_column];
        let png = if field.len() <= 64 {
            references += 1;
            by_index.get(field).cloned().unwrap_or_else(|| {
                panic!("{name}: reference `{field}` names no earlier full image")
            })
        } else {
            let png = base64_decode(field);
            assert!(stored.insert(png.clone()), "{name}: an image stored twice");
            by_index.insert(row[0].clone(), png.clone());
            png
        };
        out.push(png);
    }
    assert!(
        rows.len() < 10 || references > 0,
        "{name}: {} rows and no short reference",
        rows.len()
    );
    out
}

/// Pearson χ² of counts against a uniform distribution.
fn chi_square(counts: &[usize]) -> f64 {
    let n: usize = counts.iter().sum();
    let expected = n as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn bilingual_build_writes_every_format_consistently_and_deterministically() {
    let dir = temp_dir("formats-bilingual");
    let manifest = bilingual_manifest(&dir);
    let (out1, out2) = (dir.join("out-1"), dir.join("out-2"));
    build(
        &manifest,
        &out1,
        &["--threads", "1", "--formats", "parquet,tsv,jsonl"],
    );
    build(&manifest, &out2, &["--threads", "2"]);
    let (t1, t2) = (tree(&out1), tree(&out2));
    assert_eq!(t1.keys().collect::<Vec<_>>(), t2.keys().collect::<Vec<_>>());
    for (name, bytes) in &t1 {
        assert!(
            t2[name] == *bytes,
            "{name} differs between --threads 1 and --threads 2"
        );
    }
    assert!(!t1.keys().any(|k| k.ends_with(".partial")));
    let dataset = out1.join("KiTS23");

    // TSV: columns, quoting, options, letters, lexical tree, images.
    let tsv_dir = dataset.join("tsv");
    let mut letters_by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut five_option_letters = [0usize; 5];
    let mut granularities = BTreeSet::new();
    for split in ["train", "test"] {
        for lang in ["en", "ar"] {
            let name = format!("KiTS23_{split}_{lang}.tsv");
            assert!(!["mmbench", "ccbench", "circular", "mmcr", "openended"]
                .iter()
                .any(|w| name.to_lowercase().contains(w)));
            let (header, rows) = parse_tsv(&tsv_dir.join(&name));
            assert_eq!(header, COLUMNS.to_vec(), "{name}");
            assert!(!rows.is_empty(), "{name}");
            let mut indices = BTreeSet::new();
            let mut letters = Vec::new();
            let images = resolve_images(&name, &rows, COLUMNS.len() - 1);
            for (row, png) in rows.iter().zip(&images) {
                let field =
                    |c: &str| row[COLUMNS.iter().position(|x| *x == c).expect("column")].as_str();
                assert!(
                    indices.insert(field("index").parse::<u64>().expect("integer index")),
                    "{name}: unique index"
                );
                let options: Vec<&str> = ["A", "B", "C", "D", "E"]
                    .iter()
                    .map(|c| field(c))
                    .take_while(|o| !o.is_empty())
                    .collect();
                assert!(options.len() >= 2, "{name}: {row:?}");
                assert!(
                    ["A", "B", "C", "D", "E"][options.len()..]
                        .iter()
                        .all(|c| field(c).is_empty()),
                    "{name}: options after a gap"
                );
                for o in &options {
                    assert!(
                        !PANDAS_NA.contains(o) && o.trim().parse::<f64>().is_err(),
                        "{name}: option `{o}` would be mangled by pandas"
                    );
                }
                let letter = field("answer");
                let k = (letter.as_bytes()[0] - b'A') as usize;
                assert!(
                    letter.len() == 1 && k < options.len(),
                    "{name}: answer {letter}"
                );
                // `category`: the structure asked about (one column per structure in VLMEvalKit's
                // per-category accuracy), `l2-category`: the question family. An identification item's
                // structure is its answer, so it gets neither.
                let structures: &[&str] = if lang == "en" {
                    &["kidney", "kidney tumor", "kidney cyst"]
                } else {
                    &["الكلية", "الورم الكلوي", "الكيسة الكلوية"]
                };
                let (category, family) = (field("category"), field("l2-category"));
                if category == "structure identification" {
                    assert_eq!(family, category, "{name}");
                    assert!(structures.contains(&options[k]), "{name}: {row:?}");
                } else {
                    assert!(
                        structures.contains(&category),
                        "{name}: category {category}"
                    );
                    assert!(
                        [
                            "bounding box",
                            "mask area",
                            "lesion size",
                            "lesion diameter",
                            "instance count and boxes"
                        ]
                        .contains(&family),
                        "{name}: l2-category {family}"
                    );
                }
                assert_eq!(field("department"), "Urology");
                assert_eq!(field("modality"), "CT");
                assert!(["Organ Recognition - Abdomen", "Disease Diagnosis"]
                    .contains(&field("clinical VQA task")));
                let pair = (field("perceptual granularity"), field("original task"));
                assert!(
                    [
                        ("Box level", "DET_2D"),
                        ("Mask level", "SEG_2D"),
                        ("Contour level", "MEAS_2D")
                    ]
                    .contains(&pair),
                    "{name}: {pair:?}"
                );
                granularities.insert(pair.0.to_string());
                assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: image is a PNG");
                assert_eq!(
                    (png[24], png[25]),
                    (8, 2),
                    "{name}: 8-bit RGB (IHDR bit depth, colour type)"
                );
                if lang == "en" && options.len() == 5 {
                    five_option_letters[k] += 1;
                }
                letters.push(letter.to_string());
            }
            letters_by_file.insert(format!("{split}_{lang}"), letters);
        }
        // The hidden copy of the test split lacks the letter and keeps both categories.
        if split == "test" {
            for lang in ["en", "ar"] {
                let (header, rows) =
                    parse_tsv(&tsv_dir.join(format!("KiTS23_test_{lang}_hidden.tsv")));
                let want: Vec<&str> = COLUMNS
                    .iter()
                    .copied()
                    .filter(|c| !HIDDEN_COLUMNS.contains(c))
                    .collect();
                assert_eq!(header, want);
                assert_eq!(rows.len(), letters_by_file[&format!("test_{lang}")].len());
                let full = parse_tsv(&tsv_dir.join(format!("KiTS23_test_{lang}.tsv"))).1;
                let hidden_images = resolve_images("hidden", &rows, want.len() - 1);
                let full_images = resolve_images("full", &full, COLUMNS.len() - 1);
                assert!(
                    hidden_images == full_images,
                    "hidden copy shows other images"
                );
            }
        }
        assert_eq!(
            letters_by_file[&format!("{split}_en")],
            letters_by_file[&format!("{split}_ar")],
            "{split}: en and ar letters"
        );
    }
    assert!(!tsv_dir.join("KiTS23_train_en_hidden.tsv").exists());
    // Box, mask-size and lesion-size questions all reach the TSV.
    assert_eq!(
        granularities,
        BTreeSet::from(["Box level", "Contour level", "Mask level"].map(String::from))
    );
    let n: usize = five_option_letters.iter().sum();
    assert!(
        n >= 100,
        "too few five-option items to measure letter balance: {n}"
    );
    // χ² with 4 degrees of freedom: 18.47 is the 0.1 % critical value.
    assert!(
        chi_square(&five_option_letters) < 18.47,
        "correct letters not uniform: {five_option_letters:?}"
    );

    // JSONL: chat lines, images beside them, one answer per fact across languages.
    let jsonl_dir = dataset.join("jsonl");
    let mut answers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut langs = BTreeSet::new();
    for split in ["train", "test"] {
        let text = fs::read_to_string(jsonl_dir.join(format!("{split}.jsonl"))).expect("jsonl");
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let images = v["images"].as_array().expect("images");
            assert_eq!(images.len(), 1);
            let image = jsonl_dir.join(images[0].as_str().expect("path"));
            assert!(
                fs::read(&image)
                    .expect("image exists")
                    .starts_with(b"\x89PNG"),
                "{}",
                image.display()
            );
            let messages = v["messages"].as_array().expect("messages");
            assert_eq!(
                (messages[0]["role"].as_str(), messages[1]["role"].as_str()),
                (Some("user"), Some("assistant"))
            );
            assert!(messages[0]["content"]
                .as_str()
                .expect("text")
                .starts_with("<image>"));
            let id = v["id"].as_str().expect("id");
            let (fact, lang) = id.rsplit_once('/').expect("lang suffix");
            assert_eq!(v["lang"].as_str(), Some(lang));
            langs.insert(lang.to_string());
            answers
                .entry(fact.to_string())
                .or_default()
                .insert(messages[1]["content"].as_str().expect("answer").to_string());
        }
    }
    assert_eq!(langs, BTreeSet::from(["ar".to_string(), "en".to_string()]));
    assert!(
        answers.values().all(|a| a.len() == 1),
        "English and Arabic rows of a fact disagree"
    );

    // The report lists every file; Arabic questions are in Arabic.
    let report: serde_json::Value =
        serde_json::from_slice(&t1["KiTS23/build-report.json"]).expect("report");
    let paths: Vec<&str> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert!(
        paths.contains(&"tsv/KiTS23_test_ar.tsv") && paths.contains(&"jsonl/train.jsonl"),
        "{paths:?}"
    );
    let (_, ar_rows) = parse_tsv(&tsv_dir.join("KiTS23_train_ar.tsv"));
    assert!(
        ar_rows.iter().all(|r| r[1].contains("شريحة")),
        "Arabic questions"
    );
}

#[test]
fn formats_flag_selects_the_writers() {
    let dir = temp_dir("formats-select");
    let manifest = Path::new(ROOT).join("manifests/kits23.toml");
    let out = dir.join("tsv-only");
    build(&manifest, &out, &["--formats", "tsv", "--threads", "2"]);
    let files = tree(&out);
    assert!(files.keys().any(|k| k.starts_with("KiTS23/tsv/")));
    assert!(
        !files
            .keys()
            .any(|k| k.ends_with(".parquet") || k.ends_with(".jsonl") || k.ends_with("README.md")),
        "{:?}",
        files.keys()
    );
    // English only by default: no Arabic files.
    assert!(!files.keys().any(|k| k.contains("_ar")));

    let out = dir.join("parquet-jsonl");
    build(
        &manifest,
        &out,
        &["--formats", "parquet,jsonl", "--threads", "2"],
    );
    let files = tree(&out);
    assert!(
        files.keys().any(|k| k.ends_with(".parquet"))
            && files.keys().any(|k| k.ends_with(".jsonl"))
    );
    assert!(!files.keys().any(|k| k.contains("/tsv/")));

    assert_eq!(
        run(&["--manifest", "x.toml", "--formats", "csv"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn arabic_needs_names_and_valid_choice_templates() {
    let dir = temp_dir("formats-validate");
    let manifest = bilingual_manifest(&dir);
    let text = fs::read_to_string(&manifest).expect("read");
    let bad = dir.join("bad.toml");
    // A label without its Arabic name.
    fs::write(&bad, text.replace("name_ar = \"الكيسة الكلوية\", ", "")).expect("write");
    let o = run(&["validate", bad.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("label 3 (`kidney cyst`)")
            && stderr.contains("name_ar"),
        "{stderr}"
    );
    // Choice templates: the identification question may not name its answer; typos are caught.
    let broken = format!("{text}\n[templates.identify_choice]\nar = \"ما {{label}}؟\"\n\n[templates.mask_size_choice]\nar = \"{{lable}}\"\n");
    fs::write(&bad, &broken).expect("write");
    let o = run(&["validate", bad.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let line = broken
        .lines()
        .position(|l| l.starts_with("ar = \"ما {label}"))
        .expect("line")
        + 1;
    assert!(
        stderr.contains(&format!(
            "bad.toml:{line}:6: templates.identify_choice.ar: unknown placeholder(s) {{label}}"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("templates.mask_size_choice.ar: unknown placeholder(s) {lable}"),
        "{stderr}"
    );
}

#[test]
fn tsv_sample_is_a_stratified_subsequence_with_the_same_facts_in_every_language() {
    let dir = temp_dir("formats-sample");
    let manifest = bilingual_manifest(&dir);
    let (all, sampled) = (dir.join("all"), dir.join("sampled"));
    build(
        &manifest,
        &all,
        &["--formats", "tsv", "--tsv-max-items", "0", "--threads", "2"],
    );
    let o = build(
        &manifest,
        &sampled,
        &[
            "--formats",
            "tsv",
            "--tsv-max-items",
            "120",
            "--threads",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let report: serde_json::Value = serde_json::from_slice(
        &fs::read(sampled.join("KiTS23/build-report.json")).expect("report"),
    )
    .expect("json");
    let sample = &report["tsv_sample"];
    assert_eq!(sample["max_items"], 120);
    for split in ["train", "test"] {
        let mut facts_by_lang = Vec::new();
        for lang in ["en", "ar"] {
            let name = format!("KiTS23_{split}_{lang}.tsv");
            let (_, full) = parse_tsv(&all.join("KiTS23/tsv").join(&name));
            let (_, part) = parse_tsv(&sampled.join("KiTS23/tsv").join(&name));
            let full_images = resolve_images(&name, &full, COLUMNS.len() - 1);
            let part_images = resolve_images(&name, &part, COLUMNS.len() - 1);
            assert_eq!(part.len(), 120.min(full.len()), "{name}");
            let counts = &sample["items"][format!("{split} {lang}")];
            assert_eq!(counts["selected"], part.len() as u64, "{name}");
            assert_eq!(counts["offered"], full.len() as u64, "{name}");
            assert!(stdout.contains(&format!("{split} {lang}: {} of {}", part.len(), full.len())));
            // Every sampled item is an item of the full file (text and image), in the same order, and the
            // indices run 0, 1, 2, … in the sample.
            let mut at = 0;
            let mut positions = Vec::new();
            for (k, (row, png)) in part.iter().zip(&part_images).enumerate() {
                assert_eq!(row[0], k.to_string(), "{name}: index");
                let found = (at..full.len()).find(|&j| {
                    full[j][1..COLUMNS.len() - 1] == row[1..COLUMNS.len() - 1]
                        && full_images[j] == *png
                });
                let j = found.unwrap_or_else(|| panic!("{name}: item {k} not in stream order"));
                positions.push(j);
                at = j + 1;
            }
            // Stratified: each (granularity, question kind) group keeps at least its share when it has it.
            let mut by_stratum: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
            for (j, row) in full.iter().enumerate() {
                let key = (row[11].clone(), row[4].is_empty().to_string());
                let e = by_stratum.entry(key).or_default();
                e.0 += 1;
                e.1 += usize::from(positions.contains(&j));
            }
            if full.len() > 120 {
                for (key, (n, kept)) in &by_stratum {
                    assert!(
                        *kept > 0 && *kept < *n,
                        "{name}: stratum {key:?} kept {kept} of {n}"
                    );
                }
            }
            facts_by_lang.push(positions);
        }
        assert_eq!(
            facts_by_lang[0], facts_by_lang[1],
            "{split}: English and Arabic samples hold the same facts"
        );
    }
}
