//! `score` on prediction files whose scores are known in closed form: perfect answers (IoU 1, F1 1, MAE 0,
//! accuracy 1), boxes shifted by k pixels (IoU from the true box sizes), numbers scaled by 1.2 (MRE 0.2),
//! multi-instance answers missing their last box (precision 1, recall from the piece counts), garbage
//! (nothing parsed), VLMEvalKit-style `.xlsx` and TSV-index JSONL multiple choice, and bad input.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{run, temp_dir, ROOT};

/// KiTS23 and Ceph-Biometrics-400 fixtures built once into one output folder.
fn built() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = temp_dir("datasets");
        for (manifest, data) in [
            ("manifests/kits23.toml", "fixtures/kits23"),
            (
                "manifests/ceph_biometrics_400.toml",
                "fixtures/ceph_biometrics_400",
            ),
        ] {
            let result = run(&[
                "--manifest",
                &format!("{ROOT}/{manifest}"),
                "--data-root",
                &format!("{ROOT}/{data}"),
                "--out",
                out.to_str().expect("utf-8"),
                "--threads",
                "2",
            ]);
            assert!(
                result.status.code() == Some(0) || result.status.code() == Some(1),
                "{manifest}: {}",
                String::from_utf8_lossy(&result.stderr)
            );
        }
        out
    })
}

/// One chat-JSONL row: its id, task type, answer text and image size.
struct Row {
    id: String,
    task_type: String,
    answer: String,
    width_px: f64,
    height_px: f64,
}

/// Every row of a dataset's chat JSONL (train and test).
fn rows(dataset: &Path) -> Vec<Row> {
    let mut out = Vec::new();
    for split in ["train", "test"] {
        let dir = dataset.join("jsonl");
        let text = fs::read_to_string(dir.join(format!("{split}.jsonl"))).expect("jsonl");
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).expect("json line");
            let image = v["images"][0].as_str().expect("image path");
            let (w, h) = image::image_dimensions(dir.join(image)).expect("png size");
            let answer = v["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .find(|m| m["role"] == "assistant")
                .expect("assistant")["content"]
                .as_str()
                .expect("text")
                .to_string();
            out.push(Row {
                id: v["id"].as_str().expect("id").to_string(),
                task_type: v["task_type"].as_str().expect("task type").to_string(),
                answer,
                width_px: f64::from(w),
                height_px: f64::from(h),
            });
        }
    }
    out
}

/// The numbers of an answer text (`[0.450, 0.179, 0.825, 0.786]`, `288.00`, `[17.96, 15.28]`).
fn values(answer: &str) -> Vec<f64> {
    answer
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("number"))
        .collect()
}

fn write_jsonl(path: &Path, lines: impl IntoIterator<Item = (String, String)>) {
    let text: String = lines
        .into_iter()
        .map(|(id, p)| serde_json::json!({"id": id, "prediction": p}).to_string() + "\n")
        .collect();
    fs::write(path, text).expect("write predictions");
}

/// Runs `score`; returns the exit code and the JSON report.
fn score(dataset: &Path, predictions: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let json = predictions.with_extension("report.json");
    let mut args = vec![
        "score",
        "--dataset",
        dataset.to_str().expect("utf-8"),
        "--predictions",
        predictions.to_str().expect("utf-8"),
        "--out",
        json.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let result = run(&args);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.code() != Some(2),
        "score failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        stdout.contains("| group | value | rows | unparsed |"),
        "no Markdown table:\n{stdout}"
    );
    let report = serde_json::from_str(&fs::read_to_string(&json).expect("report")).expect("JSON");
    (result.status.code(), report)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

fn count(rows: &[Row], task: &str) -> usize {
    rows.iter().filter(|r| r.task_type == task).count()
}

const NUMBER_TASKS: [&str; 5] = [
    "mask_size",
    "lesion_size",
    "lesion_diameter",
    "distance",
    "angle",
];

#[test]
fn perfect_predictions_score_one() {
    let out = built();
    for name in ["KiTS23", "Ceph-Biometrics-400"] {
        let dataset = out.join(name);
        let rows = rows(&dataset);
        // The dataset's own chat JSONL is a perfect prediction file (assistant message = answer).
        let mut all = String::new();
        for split in ["train", "test"] {
            all +=
                &fs::read_to_string(dataset.join(format!("jsonl/{split}.jsonl"))).expect("jsonl");
        }
        let preds = out.join(format!("{name}-perfect.jsonl"));
        fs::write(&preds, all).expect("write");
        let (code, report) = score(&dataset, &preds, &[]);
        assert_eq!(code, Some(0), "{report}");
        for (task, t) in report["boxes"].as_object().expect("boxes") {
            assert_eq!(t["all"]["rows"], count(&rows, task));
            for group in ["label", "plane", "split"] {
                for (_, s) in t[group].as_object().expect("group") {
                    assert_eq!(s["mean_iou"], 1.0);
                    assert_eq!(s["f1"], 1.0);
                }
            }
            assert_eq!(t["all"]["precision"], 1.0);
            assert_eq!(t["all"]["recall"], 1.0);
            assert_eq!(t["all"]["mean_dice"], 1.0);
            assert_eq!(t["all"]["coord_mae"], 0.0);
        }
        for (task, t) in report["instances"].as_object().expect("instances") {
            assert_eq!(t["all"]["rows"], count(&rows, task), "{task}");
            assert_eq!(t["all"]["parsed_rate"], 1.0);
            for group in ["label", "plane", "split"] {
                for (_, s) in t[group].as_object().expect("group") {
                    assert_eq!(s["count_accuracy"], 1.0);
                    assert_eq!(s["mean_iou"], 1.0);
                    assert_eq!(s["f1"], 1.0);
                }
            }
            assert_eq!(t["all"]["predicted_boxes"], t["all"]["true_boxes"]);
            assert_eq!(t["all"]["matched"], t["all"]["true_boxes"]);
        }
        if name == "KiTS23" {
            assert!(
                count(&rows, "instances") > 0,
                "KiTS23 has multi-instance rows"
            );
        }
        for (task, t) in report["numbers"].as_object().expect("numbers") {
            assert_eq!(t["all"]["rows"], count(&rows, task), "{task}");
            assert_eq!(t["all"]["mae"], 0.0);
            assert_eq!(t["all"]["mre"], 0.0);
            assert_eq!(t["all"]["success_rate"], serde_json::json!([1.0, 1.0, 1.0]));
        }
        let scored: usize = ["bbox", "instances"]
            .iter()
            .chain(NUMBER_TASKS.iter())
            .map(|t| count(&rows, t))
            .sum();
        assert_eq!(scored, rows.len(), "every task type of {name} is scored");
        assert!(
            report["boxes"].as_object().expect("o").len()
                + report["instances"].as_object().expect("o").len()
                + report["numbers"].as_object().expect("o").len()
                >= 2
        );
    }
}

#[test]
fn shifted_boxes_and_scaled_numbers_score_in_closed_form() {
    let out = built();
    let k = 2.0;
    for name in ["KiTS23", "Ceph-Biometrics-400"] {
        let dataset = out.join(name);
        let rows = rows(&dataset);
        let mut lines = Vec::new();
        let (mut ious, mut dices, mut coord_errors) = (Vec::new(), Vec::new(), Vec::new());
        let mut numbers: BTreeMap<String, (Vec<f64>, usize, usize)> = BTreeMap::new();
        // Multi-instance rows: (pieces, stated count right) per row; the prediction drops the last box.
        let mut instances: Vec<(usize, bool)> = Vec::new();
        // The two-piece rows' predictions alone: one of two boxes found per row.
        let mut two_pieces = Vec::new();
        for r in &rows {
            let v = values(&r.answer);
            if r.task_type == "bbox" {
                // relative_lower_left (the manifests' format): x = a·w, y = h − d·h, MedVision's pixel
                // indices, an affine map of the numbers: the box is (c − a)·w wide and (d − b)·h high. Shift
                // it k pixels right and up; the intersection keeps (width − k)·(height − k).
                let (w, h) = (r.width_px, r.height_px);
                let width = (v[2] - v[0]) * w;
                let height = (v[3] - v[1]) * h;
                let inter = (width - k).max(0.0) * (height - k).max(0.0);
                ious.push(inter / (2.0 * width * height - inter));
                dices.push(inter / (width * height));
                coord_errors.push((k / w + k / h) / 2.0);
                let p = [v[0] + k / w, v[1] + k / h, v[2] + k / w, v[3] + k / h];
                lines.push((
                    r.id.clone(),
                    format!("[{}, {}, {}, {}]", p[0], p[1], p[2], p[3]),
                ));
            } else if r.task_type == "instances" {
                // `N: [[a, b, c, d], …]`: the kept boxes are the true ones, so they match with IoU 1 and the
                // dropped one is missed. Every other row states the true count, the rest N − 1.
                let n = v[0] as usize;
                assert_eq!(v.len(), 1 + 4 * n, "{}", r.answer);
                let right = instances.len().is_multiple_of(2);
                instances.push((n, right));
                let kept: Vec<String> = v[1..]
                    .chunks(4)
                    .take(n.saturating_sub(1))
                    .map(|b| format!("[{}, {}, {}, {}]", b[0], b[1], b[2], b[3]))
                    .collect();
                let stated = if right { n } else { n.saturating_sub(1) };
                let line = (r.id.clone(), format!("{stated}: [{}]", kept.join(", ")));
                if n == 2 {
                    two_pieces.push(line.clone());
                }
                lines.push(line);
            } else {
                let entry = numbers.entry(r.task_type.clone()).or_default();
                entry.0.extend(v.iter().map(|x| 0.2 * x.abs()));
                entry.1 += 1;
                entry.2 += usize::from(v.iter().all(|x| *x == 0.0));
                let scaled: Vec<String> = v.iter().map(|x| format!("{}", 1.2 * x)).collect();
                lines.push((
                    r.id.clone(),
                    format!("The answer is [{}].", scaled.join(", ")),
                ));
            }
        }
        let preds = out.join(format!("{name}-shifted.jsonl"));
        write_jsonl(&preds, lines);
        let (code, report) = score(&dataset, &preds, &[]);
        assert_eq!(code, Some(0));
        if !ious.is_empty() {
            let b = &report["boxes"]["bbox"]["all"];
            let mean = ious.iter().sum::<f64>() / ious.len() as f64;
            let hits = ious.iter().filter(|i| **i >= 0.5).count() as f64;
            assert!(
                close(b["mean_iou"].as_f64().expect("iou"), mean),
                "{b} vs {mean}"
            );
            assert!(mean < 0.99, "a {k}-pixel shift must cost IoU ({mean})");
            assert!(close(
                b["recall"].as_f64().expect("r"),
                hits / ious.len() as f64
            ));
            assert!(close(
                b["precision"].as_f64().expect("p"),
                hits / ious.len() as f64
            ));
            assert_eq!(b["unparsed"], 0);
            assert_eq!(b["parsed_rate"], 1.0);
            let mean_of = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            // Same-size boxes: Dice = overlap precision = overlap recall = intersection / area.
            for key in ["mean_dice", "mean_overlap_precision", "mean_overlap_recall"] {
                assert!(
                    close(b[key].as_f64().expect("f"), mean_of(&dices)),
                    "{key}: {b}"
                );
            }
            assert!(
                close(b["coord_mae"].as_f64().expect("f"), mean_of(&coord_errors)),
                "{b}"
            );
        }
        if name == "KiTS23" {
            assert!(!instances.is_empty());
        }
        if !instances.is_empty() {
            let t = &report["instances"]["instances"]["all"];
            let rows_n = instances.len() as f64;
            let pieces: usize = instances.iter().map(|(n, _)| n).sum();
            let found = pieces - instances.len();
            let right = instances.iter().filter(|(_, r)| *r).count();
            let mean_iou = instances
                .iter()
                .map(|(n, _)| (*n as f64 - 1.0) / *n as f64)
                .sum::<f64>()
                / rows_n;
            assert_eq!(t["rows"], instances.len(), "{t}");
            assert_eq!(t["parsed_rate"], 1.0, "{t}");
            assert_eq!(
                (t["true_boxes"].as_u64(), t["matched"].as_u64()),
                (Some(pieces as u64), Some(found as u64))
            );
            assert_eq!(t["predicted_boxes"], found);
            assert_eq!(t["precision"], if found > 0 { 1.0 } else { 0.0 });
            let recall = found as f64 / pieces as f64;
            assert!(close(t["recall"].as_f64().expect("r"), recall), "{t}");
            assert!(
                close(t["f1"].as_f64().expect("f1"), 2.0 * recall / (1.0 + recall)),
                "{t}"
            );
            assert!(
                close(
                    t["count_accuracy"].as_f64().expect("c"),
                    right as f64 / rows_n
                ),
                "{t}"
            );
            assert!(close(t["mean_iou"].as_f64().expect("iou"), mean_iou), "{t}");
        }
        if name == "KiTS23" {
            assert!(!two_pieces.is_empty(), "KiTS23 has two-piece slices");
            let preds = out.join(format!("{name}-two-pieces.jsonl"));
            let n = two_pieces.len();
            write_jsonl(&preds, two_pieces);
            let (code, report) = score(&dataset, &preds, &[]);
            assert_eq!(code, Some(0));
            let t = &report["instances"]["instances"]["all"];
            assert_eq!(
                (t["rows"].as_u64(), t["matched"].as_u64()),
                (Some(n as u64), Some(n as u64))
            );
            assert_eq!(
                (t["precision"].as_f64(), t["recall"].as_f64()),
                (Some(1.0), Some(0.5))
            );
            assert_eq!(t["mean_iou"], 0.5);
            assert!(close(t["f1"].as_f64().expect("f1"), 2.0 / 3.0), "{t}");
        }
        assert!(!numbers.is_empty());
        for (task, (abs_errors, n, zeros)) in numbers {
            let t = &report["numbers"][&task]["all"];
            let mae = abs_errors.iter().sum::<f64>() / abs_errors.len() as f64;
            assert!(close(t["mae"].as_f64().expect("mae"), mae), "{task}: {t}");
            assert!(close(t["mre"].as_f64().expect("mre"), 0.2), "{task}: {t}");
            let sr: Vec<f64> = t["success_rate"]
                .as_array()
                .expect("sr")
                .iter()
                .map(|v| v.as_f64().expect("f"))
                .collect();
            assert_eq!(sr, vec![zeros as f64 / n as f64, 1.0, 1.0], "{task}");
        }
    }
}

#[test]
fn garbage_predictions_score_zero_and_count_as_unparsed() {
    let out = built();
    let dataset = out.join("KiTS23");
    let rows = rows(&dataset);
    let preds = out.join("garbage.jsonl");
    write_jsonl(
        &preds,
        rows.iter()
            .map(|r| (r.id.clone(), "I cannot see a kidney here.".to_string())),
    );
    let (code, report) = score(&dataset, &preds, &[]);
    assert_eq!(code, Some(0));
    let b = &report["boxes"]["bbox"]["all"];
    assert_eq!(b["unparsed"], count(&rows, "bbox"));
    assert_eq!(
        (b["f1"].as_f64(), b["mean_iou"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(b["mean_dice"], 0.0);
    assert_eq!(b["parsed_rate"], 0.0);
    assert_eq!(b["coord_mae"], Value::Null);
    let t = &report["instances"]["instances"]["all"];
    assert_eq!(t["unparsed"], count(&rows, "instances"));
    assert_eq!(t["parsed_rate"], 0.0);
    assert_eq!(t["predicted_boxes"], 0);
    assert_eq!(
        (t["f1"].as_f64(), t["recall"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    assert_eq!(
        (t["count_accuracy"].as_f64(), t["mean_iou"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    for task in ["mask_size", "lesion_size", "lesion_diameter"] {
        let t = &report["numbers"][task]["all"];
        assert_eq!(t["unparsed"], count(&rows, task), "{task}");
        assert_eq!(t["mae"], Value::Null);
        assert_eq!(t["parsed_rate"], 0.0);
        assert_eq!(t["success_rate"], serde_json::json!([0.0, 0.0, 0.0]));
    }
}

/// The TSV's items: (index, answer letter, category, l2-category when the TSV has the column).
fn tsv_items(path: &Path) -> Vec<(String, String, String, Option<String>)> {
    let text = fs::read_to_string(path).expect("tsv");
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split('\t')
        .map(|f| f.trim_matches('"').to_string())
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).expect("column");
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').map(|f| f.trim_matches('"')).collect();
            (
                f[at("index")].to_string(),
                f[at("answer")].to_string(),
                f[at("category")].to_string(),
                header
                    .iter()
                    .position(|h| h == "l2-category")
                    .map(|i| f[i].to_string()),
            )
        })
        .collect()
}

#[test]
fn vlmevalkit_xlsx_and_index_jsonl_score_multiple_choice() {
    let out = built();
    let dataset = out.join("KiTS23");
    let items = tsv_items(&dataset.join("tsv/KiTS23_test_en.tsv"));
    assert!(items.len() > 10);
    // Even indices answered right ("Answer: X"), odd ones with the next letter: accuracy is known per category.
    let wrong = |l: &str| if l == "A" { "B" } else { "A" };
    let predicted = |i: usize, letter: &str| {
        if i.is_multiple_of(2) {
            format!("Answer: {letter}")
        } else {
            format!("({})", wrong(letter))
        }
    };
    // (group column, value) → (items, right answers).
    let mut expected: BTreeMap<(&str, String), (usize, usize)> = BTreeMap::new();
    for (n, (_, _, category, l2)) in items.iter().enumerate() {
        let groups = [("category", Some(category)), ("l2-category", l2.as_ref())];
        for (column, value) in groups {
            if let Some(value) = value {
                let e = expected.entry((column, value.clone())).or_default();
                e.0 += 1;
                e.1 += usize::from(n.is_multiple_of(2));
            }
        }
    }
    let right = items.len().div_ceil(2);

    // VLMEvalKit's prediction file: the TSV columns without the image, `index` as a number, plus `prediction`.
    let xlsx = out.join("MyModel_KiTS23_test_en.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["index", "question", "answer", "category", "prediction"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).expect("header");
    }
    for (n, (index, letter, category, _)) in items.iter().enumerate() {
        let r = n as u32 + 1;
        sheet
            .write_number(r, 0, index.parse::<f64>().expect("index"))
            .expect("cell");
        sheet.write_string(r, 1, "q").expect("cell");
        sheet.write_string(r, 2, letter).expect("cell");
        sheet.write_string(r, 3, category).expect("cell");
        sheet
            .write_string(r, 4, predicted(n, letter))
            .expect("cell");
    }
    book.save(&xlsx).expect("save xlsx");
    let (code, report) = score(&dataset, &xlsx, &[]);
    assert_eq!(code, Some(0), "{report}");
    let c = &report["choice"];
    assert_eq!(c["tsv"], "KiTS23_test_en");
    assert_eq!(c["all"]["rows"], items.len());
    assert!(close(
        c["all"]["accuracy"].as_f64().expect("acc"),
        right as f64 / items.len() as f64
    ));
    for ((column, value), (n, ok)) in &expected {
        let got = c[*column][value]["accuracy"]
            .as_f64()
            .expect("group accuracy");
        assert!(close(got, *ok as f64 / *n as f64), "{column} {value}");
    }
    let groups = |column: &str| c[column].as_object().map_or(0, |o| o.len());
    let want = |column: &str| expected.keys().filter(|(c, _)| *c == column).count();
    assert_eq!(groups("category"), want("category"));
    assert_eq!(groups("l2-category"), want("l2-category"));

    // The same answers as JSONL by TSV index, with garbage for the odd ones: those are unparsed.
    let jsonl = out.join("mc.jsonl");
    let text: String = items
        .iter()
        .enumerate()
        .map(|(n, (index, letter, _, _))| {
            let p = if n.is_multiple_of(2) {
                letter.clone()
            } else {
                "no idea".into()
            };
            serde_json::json!({"index": index.parse::<u64>().expect("i"), "prediction": p})
                .to_string()
                + "\n"
        })
        .collect();
    fs::write(&jsonl, text).expect("write");
    let (code, report) = score(&dataset, &jsonl, &["--tsv", "KiTS23_test_en_hidden"]);
    assert_eq!(code, Some(0));
    let all = &report["choice"]["all"];
    assert_eq!(all["unparsed"], items.len() / 2);
    assert!(close(
        all["accuracy"].as_f64().expect("acc"),
        items.len().div_ceil(2) as f64 / items.len() as f64
    ));
}

#[test]
fn unknown_ids_and_bad_lines_give_exit_code_one_and_unreadable_files_two() {
    let out = built();
    let dataset = out.join("KiTS23");
    let preds = out.join("bad.jsonl");
    let row = &rows(&dataset)[0];
    let good = serde_json::json!({"id": row.id, "prediction": row.answer}).to_string();
    fs::write(
        &preds,
        format!("{good}\n{{\"id\": \"no/such/row\", \"prediction\": \"1\"}}\nnot json\n{good}\n"),
    )
    .expect("write");
    let (code, report) = score(&dataset, &preds, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(report["unmatched"], 1);
    assert_eq!(report["duplicates"], 1);
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1);
    assert!(problems[0]
        .as_str()
        .expect("s")
        .contains("bad.jsonl:3: not JSON"));

    let missing = run(&[
        "score",
        "--dataset",
        out.join("NoSuchDataset").to_str().expect("utf-8"),
        "--predictions",
        preds.to_str().expect("utf-8"),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("NoSuchDataset"));
}
