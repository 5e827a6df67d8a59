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

/// The TSV `name` of the dataset's `tsv/` folder: `--tsv` when given, else the longest TSV name that the
/// prediction file's stem ends with (VLMEvalKit names its file `<model>_<data name>.xlsx`). A `_hidden`
/// copy is scored against its full TSV.
pub fn resolve_tsv(
    dataset_dir: &Path,
    flag: Option<&str>,
    predictions: &Path,
) -> Result<PathBuf, ScoreError> {
    let folder = dataset_dir.join("tsv");
    let strip = |name: &str| name.strip_suffix("_hidden").unwrap_or(name).to_string();
    if let Some(name) = flag {
        let name = strip(name.strip_suffix(".tsv").unwrap_or(name));
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
        Some(name) => Ok(folder.join(format!("{}.tsv", strip(&name)))),
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
    fn quoted_fields_split_on_tabs_and_keep_quotes() {
        assert_eq!(
            fields("\"a\tb\"\t\"say \"\"hi\"\"\"\tplain"),
            Some(vec!["a\tb".into(), "say \"hi\"".into(), "plain".into()])
        );
        assert_eq!(fields("\"open\tfield"), None);
        assert_eq!(fields(""), Some(vec![String::new()]));
    }
}
