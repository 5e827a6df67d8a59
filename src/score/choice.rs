//! Multiple-choice ground truth for `score`: the dataset's GMAI-style TSV (`tsv/<name>.tsv`) read by column
//! name, and which TSV a VLMEvalKit prediction file (`<model>_<name>.xlsx`) belongs to.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::error::ScoreError;

/// One multiple-choice item of the TSV.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceTruth {
    /// The correct option's letter.
    pub answer: char,
    /// Non-empty options by letter.
    pub options: BTreeMap<char, String>,
    /// The `category` column.
    pub category: String,
    /// The `l2-category` column, when the TSV has one.
    pub l2_category: Option<String>,
}

/// The full TSV's name for a TSV name: a `_hidden` copy's (`<stem>_hidden`, or `<stem>_hidden_part_<k>` when
/// the copy was cut into parts) is `<stem>` (`<stem>_part_<k>`); any other name is its own.
fn full_name(name: &str) -> String {
    match part_of(name) {
        Some((head, k)) => {
            let head = head.strip_suffix("_hidden").unwrap_or(head);
            format!("{head}_part_{k}")
        }
        None => name.strip_suffix("_hidden").unwrap_or(name).to_string(),
    }
}

/// `(stem, k)` when `name` is part `k` of a TSV cut into parts (`<stem>_part_<k>`, the sink's naming).
fn part_of(name: &str) -> Option<(&str, &str)> {
    let (stem, k) = name.rsplit_once("_part_")?;
    (!k.is_empty() && k.bytes().all(|b| b.is_ascii_digit())).then_some((stem, k))
}

/// The files that hold the truth of the TSV at `path`: the file itself, or — for one part of a TSV cut
/// into parts (`<stem>_part_<k>.tsv`) — every part of it, since a hidden copy's parts need not end where the
/// full TSV's do (items are found by `index`, which runs on across parts).
pub fn truth_files(path: &Path) -> Result<Vec<PathBuf>, ScoreError> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((stem, _)) = part_of(&name) else {
        return Ok(vec![path.to_path_buf()]);
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let entries = std::fs::read_dir(folder).map_err(|source| ScoreError::Read {
        path: folder.to_path_buf(),
        source,
    })?;
    let mut parts: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let file = entry.file_name().to_string_lossy().into_owned();
            let number = file
                .strip_prefix(&format!("{stem}_part_"))?
                .strip_suffix(".tsv")?;
            Some((number.parse().ok()?, entry.path()))
        })
        .collect();
    if parts.is_empty() {
        // Not there at all: reading the named file reports it.
        return Ok(vec![path.to_path_buf()]);
    }
    parts.sort();
    Ok(parts.into_iter().map(|(_, p)| p).collect())
}

/// The TSV `name` of the dataset's `tsv/` folder: `--tsv` when given, else the longest TSV name that the
/// prediction file's stem ends with (VLMEvalKit names its file `<model>_<data name>.xlsx`). A `_hidden`
/// copy (or a part of one) is scored against its full TSV.
pub fn resolve_tsv(
    dataset_dir: &Path,
    flag: Option<&str>,
    predictions: &Path,
) -> Result<PathBuf, ScoreError> {
    let folder = dataset_dir.join("tsv");
    if let Some(name) = flag {
        let name = full_name(name.strip_suffix(".tsv").unwrap_or(name));
        return Ok(folder.join(format!("{name}.tsv")));
    }
    let stem = predictions
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries = std::fs::read_dir(&folder).map_err(|source| ScoreError::Read {
        path: folder.clone(),
        source,
    })?;
    let mut best: Option<String> = None;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "tsv") {
            continue;
        }
        let Some(name) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let fits = stem == name || stem.ends_with(&format!("_{name}"));
        if fits && best.as_ref().is_none_or(|b| name.len() > b.len()) {
            best = Some(name);
        }
    }
    match best {
        Some(name) => Ok(folder.join(format!("{}.tsv", full_name(&name)))),
        None => Err(ScoreError::Predictions {
            path: predictions.to_path_buf(),
            reason: format!(
                "its name names none of the TSV files in {} (VLMEvalKit writes `<model>_<data name>.xlsx`); \
                 pass --tsv <name>",
                folder.display()
            ),
        }),
    }
}

/// Splits one TSV record into fields: tab-separated, each optionally double-quoted with `""` for a quote.
/// Returns `None` while a quoted field is still open (the record continues on the next line).
fn fields(record: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = record.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            }
            '\t' if !quoted => {
                out.push(std::mem::take(&mut field));
                at_start = true;
            }
            _ => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return None;
    }
    out.push(field);
    Some(out)
}

/// Every item of the TSV at `path` by `index`.
pub fn read_choices(path: &Path) -> Result<HashMap<String, ChoiceTruth>, ScoreError> {
    let bad = |reason: String| ScoreError::Dataset {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| ScoreError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut records = Vec::new();
    let mut pending = String::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| ScoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if !pending.is_empty() {
            pending.push('\n');
        }
        pending.push_str(line.trim_end_matches('\r'));
        if let Some(row) = fields(&pending) {
            records.push(row);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        return Err(bad("unterminated quoted field at the end".into()));
    }
    let mut rows = records.into_iter();
    let header = rows.next().ok_or_else(|| bad("empty file".into()))?;
    let col = |name: &str| header.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| {
            bad(format!(
                "no `{name}` column{}",
                if name == "answer" {
                    " (a `_hidden` TSV cannot be scored; its full TSV is needed)"
                } else {
                    ""
                }
            ))
        })
    };
    let (index, answer, category) = (need("index")?, need("answer")?, need("category")?);
    let l2 = col("l2-category");
    let letters: Vec<(char, usize)> = ('A'..='E')
        .filter_map(|l| Some((l, col(&l.to_string())?)))
        .collect();
    let mut out = HashMap::new();
    for (n, row) in rows.enumerate() {
        if row.len() != header.len() {
            return Err(bad(format!(
                "record {} has {} fields, the header {}",
                n + 2,
                row.len(),
                header.len()
            )));
        }
        let letter = row[answer]
            .trim()
            .chars()
            .next()
            .filter(|c| c.is_ascii_uppercase());
        let Some(letter) = letter else {
            return Err(bad(format!(
                "record {} has no answer letter ({:?})",
                n + 2,
                row[answer]
            )));
        };
        let options = letters
            .iter()
            .filter(|(_, i)| !row[*i].is_empty())
            .map(|(l, i)| (*l, row[*i].clone()))
            .collect();
        out.insert(
            row[index].trim().to_string(),
            ChoiceTruth {
                answer: letter,
                options,
                category: row[category].clone(),
                l2_category: l2.map(|i| row[i].clone()),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_copy_and_its_parts_name_the_full_tsv() {
        assert_eq!(full_name("KiTS23_test_en_hidden"), "KiTS23_test_en");
        assert_eq!(
            full_name("KiTS23_test_en_hidden_part_2"),
            "KiTS23_test_en_part_2"
        );
        assert_eq!(
            full_name("KiTS23_test_en_part_12"),
            "KiTS23_test_en_part_12"
        );
        assert_eq!(full_name("KiTS23_train_en"), "KiTS23_train_en");
        // Not a part number: the name is kept as it is.
        assert_eq!(full_name("a_part_b_hidden"), "a_part_b");
    }

    #[test]
    fn a_part_of_a_hidden_copy_is_scored_against_every_part_of_the_full_tsv() {
        let dir = std::env::temp_dir().join(format!("mvb-score-parts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tsv")).expect("temp dir");
        let header = "index\tquestion\tA\tB\tanswer\tcategory\n";
        let item = |i: usize, answer: &str| format!("{i}\tq{i}\tyes\tno\t{answer}\tbbox\n");
        // The full TSV cut after item 1, its hidden copy (no answers) after item 0: parts need not align.
        let files = [
            (
                "X_part_1",
                format!("{header}{}{}", item(0, "A"), item(1, "B")),
            ),
            ("X_part_2", format!("{header}{}", item(2, "A"))),
            (
                "X_hidden_part_1",
                "index\tquestion\tA\tB\tcategory\n0\tq0\tyes\tno\tbbox\n".into(),
            ),
            (
                "X_hidden_part_2",
                "index\tquestion\tA\tB\tcategory\n1\tq1\tyes\tno\tbbox\n".into(),
            ),
        ];
        for (name, text) in &files {
            std::fs::write(dir.join(format!("tsv/{name}.tsv")), text).expect("write");
        }
        let predictions = dir.join("model_X_hidden_part_2.xlsx");
        for flag in [None, Some("X_hidden_part_2")] {
            let path = resolve_tsv(&dir, flag, &predictions).expect("resolved");
            assert_eq!(path, dir.join("tsv/X_part_2.tsv"), "{flag:?}");
            let files = truth_files(&path).expect("parts");
            assert_eq!(
                files,
                [dir.join("tsv/X_part_1.tsv"), dir.join("tsv/X_part_2.tsv")]
            );
            let mut truth = HashMap::new();
            for file in &files {
                truth.extend(read_choices(file).expect("truth"));
            }
            // Item 1 is in the hidden copy's part 2 but in the full TSV's part 1.
            assert_eq!(truth["1"].answer, 'B');
            assert_eq!(truth.len(), 3);
        }
        // A TSV that is not cut into parts is its own truth.
        let whole = dir.join("tsv/Y.tsv");
        assert_eq!(truth_files(&whole).expect("one"), vec![whole]);
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn quoted_fields_split_on_tabs_and_keep_quotes() {
        assert_eq!(
            fields("\"a\tb\"\t\"say \"\"hi\"\"\"\tplain"),
            Some(vec!["a\tb".into(), "say \"hi\"".into(), "plain".into()])
        );
        assert_eq!(fields("\"open\tfield"), None);
        assert_eq!(fields(""), Some(vec![String::new()]));
    }
}
