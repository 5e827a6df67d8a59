//! Model predictions for `score`: JSONL (by row `id`, chat-shaped or by TSV `index`) and VLMEvalKit's
//! prediction `.xlsx`; the only place that imports `calamine`.

use std::io::{BufRead, BufReader};
use std::path::Path;

use calamine::{open_workbook_auto, Data, Reader};
use serde_json::Value;

use super::error::ScoreError;

/// One model answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    /// An answer to a dataset row's open question (`id` of the Parquet row / chat JSONL line).
    Open {
        /// Row id.
        id: String,
        /// The model's text.
        text: String,
    },
    /// An answer to an item of the multiple-choice TSV (its `index`).
    Choice {
        /// TSV `index`, as text (`12`).
        index: String,
        /// The model's text.
        text: String,
    },
}

/// Predictions read from one file, with the lines that could not be used.
#[derive(Debug, Default)]
pub struct Predictions {
    /// Usable predictions in file order.
    pub items: Vec<Prediction>,
    /// `file:line: reason` for every line left out.
    pub problems: Vec<String>,
}

/// Reads `.xlsx`/`.xls`/`.ods` (VLMEvalKit) or anything else as JSONL.
pub fn read_predictions(path: &Path) -> Result<Predictions, ScoreError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "xlsx" | "xlsm" | "xls" | "ods" => read_sheet(path),
        _ => read_jsonl(path),
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> ScoreError {
    ScoreError::Predictions {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A cell as text; whole floats lose their `.0` (pandas writes `index` as a number).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

fn read_sheet(path: &Path) -> Result<Predictions, ScoreError> {
    let mut book = open_workbook_auto(path).map_err(|e| bad(path, e.to_string()))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| bad(path, "the workbook has no sheet"))?
        .map_err(|e| bad(path, e.to_string()))?;
    let mut rows = range.rows();
    let header: Vec<String> = rows
        .next()
        .ok_or_else(|| bad(path, "the first sheet is empty"))?
        .iter()
        .map(cell_text)
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            bad(
                path,
                format!("no `{name}` column in the first sheet's header"),
            )
        })
    };
    let (index, prediction) = (col("index")?, col("prediction")?);
    let mut out = Predictions::default();
    for (n, row) in rows.enumerate() {
        let get = |i: usize| row.get(i).map(cell_text).unwrap_or_default();
        let idx = get(index);
        if idx.is_empty() {
            out.problems.push(format!(
                "{}: sheet row {}: empty `index`",
                path.display(),
                n + 2
            ));
            continue;
        }
        out.items.push(Prediction::Choice {
            index: idx,
            text: get(prediction),
        });
    }
    Ok(out)
}

/// The text of a chat message's `content`: a string, or the `text` parts of a list.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// One JSONL object as a prediction, or why not.
fn line_prediction(value: &Value) -> Result<Prediction, String> {
    let text = match value.get("prediction") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let text = match text {
        Some(t) => t,
        None => value
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|m| {
                m.iter()
                    .rev()
                    .find(|msg| msg.get("role").and_then(Value::as_str) == Some("assistant"))
            })
            .and_then(|msg| msg.get("content").and_then(content_text))
            .ok_or("neither a `prediction` string nor an assistant message")?,
    };
    if let Some(id) = value.get("id").and_then(Value::as_str) {
        return Ok(Prediction::Open {
            id: id.to_string(),
            text,
        });
    }
    match value.get("index") {
        Some(Value::Number(n)) => Ok(Prediction::Choice {
            index: n.to_string(),
            text,
        }),
        Some(Value::String(s)) => Ok(Prediction::Choice {
            index: s.trim().to_string(),
            text,
        }),
        _ => Err("neither an `id` string (a dataset row) nor an `index` (a TSV item)".into()),
    }
}

fn read_jsonl(path: &Path) -> Result<Predictions, ScoreError> {
    let file = std::fs::File::open(path).map_err(|source| ScoreError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Predictions::default();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| ScoreError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("not JSON ({e})"))
            .and_then(|v| line_prediction(&v));
        match parsed {
            Ok(p) => out.items.push(p),
            Err(reason) => out
                .problems
                .push(format!("{}:{}: {reason}", path.display(), n + 1)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_shapes() {
        let v = |s: &str| line_prediction(&serde_json::from_str(s).expect("json"));
        assert_eq!(
            v(r#"{"id": "a/b", "prediction": "[1, 2]"}"#),
            Ok(Prediction::Open {
                id: "a/b".into(),
                text: "[1, 2]".into()
            })
        );
        assert_eq!(
            v(
                r#"{"id": "r", "messages": [{"role": "user", "content": "q"},
                {"role": "assistant", "content": [{"type": "text", "text": "12.5"}]}]}"#
            ),
            Ok(Prediction::Open {
                id: "r".into(),
                text: "12.5".into()
            })
        );
        assert_eq!(
            v(r#"{"index": 7, "prediction": "B"}"#),
            Ok(Prediction::Choice {
                index: "7".into(),
                text: "B".into()
            })
        );
        assert!(v(r#"{"prediction": "B"}"#).is_err());
        assert!(v(r#"{"id": "x"}"#).is_err());
    }
}
