//! The score report as Markdown tables (the JSON is the serialised [`super::Report`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::metrics::{BoxSummary, ChoiceSummary, InstancesSummary, NumberSummary, TOLERANCES};
use super::{Grouped, Report};

fn num(v: f64) -> String {
    format!("{v:.4}")
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), num)
}

/// `(group column, group value, summary)` rows of a grouped summary: `all` first, then label, plane, split.
fn group_rows<T>(g: &Grouped<T>) -> Vec<(&'static str, &str, &T)> {
    let mut out = vec![("all", "", &g.all)];
    for (kind, map) in [
        ("label", &g.label),
        ("plane", &g.plane),
        ("split", &g.split),
    ] {
        out.extend(map.iter().map(|(k, v)| (kind, k.as_str(), v)));
    }
    out
}

fn box_line(out: &mut String, task: &str, group: &str, value: &str, s: &BoxSummary) {
    let _ = writeln!(
        out,
        "| {task} | {group} | {value} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.rows,
        s.unparsed,
        num(s.mean_iou),
        num(s.precision),
        num(s.recall),
        num(s.f1),
        num(s.mean_dice),
        opt(s.coord_mae)
    );
}

fn instances_line(out: &mut String, task: &str, group: &str, value: &str, s: &InstancesSummary) {
    let _ = writeln!(
        out,
        "| {task} | {group} | {value} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        s.rows,
        s.unparsed,
        num(s.count_accuracy),
        num(s.mean_iou),
        s.predicted_boxes,
        s.true_boxes,
        num(s.precision),
        num(s.recall),
        num(s.f1)
    );
}

fn number_line(out: &mut String, task: &str, group: &str, value: &str, s: &NumberSummary) {
    let rates: Vec<String> = s.success_rate.iter().map(|r| num(*r)).collect();
    let _ = writeln!(
        out,
        "| {task} | {group} | {value} | {} | {} | {} | {} | {} |",
        s.rows,
        s.unparsed,
        opt(s.mae),
        opt(s.mre),
        rates.join(" | ")
    );
}

fn choice_lines(out: &mut String, group: &str, map: &BTreeMap<String, ChoiceSummary>) {
    for (k, s) in map {
        let _ = writeln!(
            out,
            "| {group} | {k} | {} | {} | {} |",
            s.rows,
            s.unparsed,
            num(s.accuracy)
        );
    }
}

/// The report as Markdown: a box table, a multi-instance table, a number table, a multiple-choice table and the notes.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Scores: {}\n\nDataset `{}`.\n",
        report.predictions, report.dataset
    );
    if !report.boxes.is_empty() {
        out.push_str(
            "## Boxes (mean IoU; precision, recall, F1 of hits at IoU ≥ 0.5; mean Dice; MAE of the numbers)\n\n\
             | task | group | value | rows | unparsed | mean IoU | P@0.5 | R@0.5 | F1@0.5 | Dice | coord MAE |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (task, g) in &report.boxes {
            for (group, value, s) in group_rows(g) {
                box_line(&mut out, task, group, value, s);
            }
        }
        out.push('\n');
    }
    if !report.instances.is_empty() {
        out.push_str(
            "## Multi-instance boxes (count accuracy; mean IoU; precision, recall, F1 of all boxes at IoU ≥ 0.5)\n\n\
             | task | group | value | rows | unparsed | count acc | mean IoU | boxes pred | boxes true | P@0.5 | R@0.5 | F1@0.5 |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (task, g) in &report.instances {
            for (group, value, s) in group_rows(g) {
                instances_line(&mut out, task, group, value, s);
            }
        }
        out.push('\n');
    }
    if !report.numbers.is_empty() {
        let heads: Vec<String> = TOLERANCES
            .iter()
            .map(|t| format!("SR@{:.0}%", t * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "## Numbers (MAE in the task's unit; MRE; success rate within a relative tolerance)\n\n\
             | task | group | value | rows | unparsed | MAE | MRE | {} |\n\
             |---|---|---|---:|---:|---:|---:|{}",
            heads.join(" | "),
            "---:|".repeat(heads.len())
        );
        for (task, t) in &report.numbers {
            let name = format!("{task} ({})", t.unit);
            for (group, value, s) in group_rows(&t.groups) {
                number_line(&mut out, &name, group, value, s);
            }
        }
        out.push('\n');
    }
    if let Some(c) = &report.choice {
        let _ = writeln!(
            out,
            "## Multiple choice (`{}`; accuracy)\n\n\
             | group | value | rows | unparsed | accuracy |\n|---|---|---:|---:|---:|\n\
             | all |  | {} | {} | {} |",
            c.tsv,
            c.all.rows,
            c.all.unparsed,
            num(c.all.accuracy)
        );
        choice_lines(&mut out, "category", &c.category);
        choice_lines(&mut out, "l2-category", &c.l2_category);
        out.push('\n');
    }
    for (task, n) in &report.not_scored {
        let _ = writeln!(out, "- not scored: {n} rows of task type {task}");
    }
    if report.unmatched > 0 {
        let _ = writeln!(
            out,
            "- {} prediction(s) match no dataset row or TSV item",
            report.unmatched
        );
    }
    if report.duplicates > 0 {
        let _ = writeln!(
            out,
            "- {} duplicate prediction(s) ignored (the first counts)",
            report.duplicates
        );
    }
    for p in &report.problems {
        let _ = writeln!(out, "- unreadable: {p}");
    }
    out
}
