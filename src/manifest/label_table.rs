//! Label names from the files atlases and segmentation datasets ship with (manifest key `label_table`):
//! ITK-SNAP label descriptions, FreeSurfer-style colour look-up tables, nnU-Net `dataset.json` and two-column
//! CSV, so a 116- or 189-label atlas needs no hand-copied `[labels]` table. Every error names the file and,
//! for the line-based formats, the 1-based line.

use std::path::{Path, PathBuf};

pub use super::schema::LabelTableFormat;

/// One named label of a table (background id 0 is never returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLabel {
    /// Mask value (or, for an nnU-Net region, the synthetic id given to it).
    pub id: u16,
    /// The name as questions show it (surrounding white space trimmed, runs of white space one space).
    pub name: String,
    /// nnU-Net v2 region labels: the mask values whose union the label is.
    pub region: Option<Vec<u16>>,
}

/// Why a label table cannot be read; every message names the file (and line).
#[derive(Debug, thiserror::Error)]
pub enum LabelTableError {
    #[error("{path}: cannot read label table: {source}")]
    /// The file is missing or unreadable.
    Read {
        /// The table file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    /// A line of a line-based table is malformed.
    Line {
        /// The table file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what was expected.
        message: String,
    },
    #[error("{path}: {message}")]
    /// The table as a whole is wrong (no labels, a JSON problem).
    Table {
        /// The table file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Reads the table at `path` in `format`; labels ascending by id, background dropped.
pub fn read(path: &Path, format: LabelTableFormat) -> Result<Vec<TableLabel>, LabelTableError> {
    let bytes = std::fs::read(path).map_err(|source| LabelTableError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Atlas tables are often Latin-1 (e.g. umlauts in German atlases): read those bytes as Latin-1.
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => e.into_bytes().iter().map(|&b| char::from(b)).collect(),
    };
    parse(path, &text, format)
}

/// [`read`] on text already in memory; `path` only names the file in errors.
pub fn parse(
    path: &Path,
    text: &str,
    format: LabelTableFormat,
) -> Result<Vec<TableLabel>, LabelTableError> {
    let mut labels = match format {
        LabelTableFormat::Itksnap => line_table(path, text, |l, _| itksnap_line(l))?,
        LabelTableFormat::Freesurfer => line_table(path, text, |l, _| freesurfer_line(l))?,
        LabelTableFormat::Csv => csv_table(path, text)?,
        LabelTableFormat::Nnunet => super::nnunet::label_table(text)
            .map_err(|message| LabelTableError::Table {
                path: path.to_path_buf(),
                message,
            })?
            .into_iter()
            .map(|(id, name, region)| TableLabel { id, name, region })
            .collect(),
    };
    labels.retain(|l| l.id != 0);
    labels.sort_by_key(|l| l.id);
    if labels.is_empty() {
        return Err(LabelTableError::Table {
            path: path.to_path_buf(),
            message: format!(
                "names no label besides the background (id 0); is it a `{}` table?",
                format.as_str()
            ),
        });
    }
    Ok(labels)
}

/// One parsed line: `Ok(None)` for a line that holds no label (blank, comment, CSV header).
type LineResult = Result<Option<(u16, String)>, String>;

/// Runs `parse_line` over every line but blank and `#` ones (its flag: the first such line), checking ids are
/// unique (with both lines in the message).
fn line_table(
    path: &Path,
    text: &str,
    mut parse_line: impl FnMut(&str, bool) -> LineResult,
) -> Result<Vec<TableLabel>, LabelTableError> {
    let mut out: Vec<TableLabel> = Vec::new();
    let mut first_line: std::collections::BTreeMap<u16, usize> = Default::default();
    let mut seen_content = false;
    for (n, raw) in text.lines().enumerate() {
        let at = |message: String| LabelTableError::Line {
            path: path.to_path_buf(),
            line: n + 1,
            message,
        };
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = parse_line(line, !seen_content).map_err(at)?;
        seen_content = true;
        let Some((id, name)) = parsed else { continue };
        if let Some(earlier) = first_line.insert(id, n + 1) {
            return Err(at(format!(
                "label id {id} is already defined on line {earlier}"
            )));
        }
        out.push(TableLabel {
            id,
            name,
            region: None,
        });
    }
    Ok(out)
}

/// A label id field: an integer from 0 to 65535.
fn label_id(field: &str) -> Result<u16, String> {
    field
        .trim()
        .parse::<u16>()
        .map_err(|_| format!("`{field}` is not a label id (an integer from 0 to 65535)"))
}

/// A name fit for questions: white space runs become one space; empty names are errors.
fn clean_name(raw: &str) -> Result<String, String> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        Err("the label name is empty".into())
    } else {
        Ok(name)
    }
}

/// `0 0 0 0 0 0 0 "Clear Label"`: seven numbers, then the quoted name.
fn itksnap_line(line: &str) -> LineResult {
    let expected = "expected `IDX R G B A VIS MSH \"LABEL\"` (ITK-SNAP label description)";
    let Some(quote) = line.find('"') else {
        return Err(format!("no quoted label name; {expected}"));
    };
    let numbers: Vec<&str> = line[..quote].split_whitespace().collect();
    if numbers.len() != 7 {
        return Err(format!(
            "{} number(s) before the label name; {expected}",
            numbers.len()
        ));
    }
    for field in &numbers[1..] {
        if field.parse::<f64>().is_err() {
            return Err(format!("`{field}` is not a number; {expected}"));
        }
    }
    let rest = &line[quote + 1..];
    let Some(end) = rest.rfind('"') else {
        return Err(format!(
            "the label name's closing quote is missing; {expected}"
        ));
    };
    if !rest[end + 1..].trim().is_empty() {
        return Err(format!("text after the quoted label name; {expected}"));
    }
    Ok(Some((label_id(numbers[0])?, clean_name(&rest[..end])?)))
}

/// `17  Left-Hippocampus  220 216 20 0`: id, one-word name, four colour numbers (the alpha is optional in
/// some atlas LUTs).
fn freesurfer_line(line: &str) -> LineResult {
    let expected = "expected `id name R G B A` (FreeSurfer colour table)";
    let fields: Vec<&str> = line.split_whitespace().collect();
    if !(fields.len() == 5 || fields.len() == 6) {
        return Err(format!("{} field(s); {expected}", fields.len()));
    }
    for field in &fields[2..] {
        if field.parse::<f64>().is_err() {
            return Err(format!("colour `{field}` is not a number; {expected}"));
        }
    }
    Ok(Some((label_id(fields[0])?, clean_name(fields[1])?)))
}

/// Two columns, split on the first tab, comma or semicolon (whichever the first label line uses); the
/// name may be double-quoted (with `""` for a quote). A first line whose id is not a number is the header.
fn csv_table(path: &Path, text: &str) -> Result<Vec<TableLabel>, LabelTableError> {
    let separator = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .and_then(|l| l.chars().find(|c| matches!(c, '\t' | ',' | ';')))
        .unwrap_or(',');
    line_table(path, text, |line, first| {
        let Some((id, name)) = line.split_once(separator) else {
            return Err(format!(
                "no `{}` separator; expected two columns `id{}name`",
                separator.escape_default(),
                separator.escape_default()
            ));
        };
        let id = id.trim().trim_matches('"');
        if first && id.parse::<f64>().is_err() {
            return Ok(None);
        }
        let name = name.trim();
        let name = match name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\"\"", "\""),
            None if name.contains(separator) => {
                return Err(format!(
                    "more than two columns; quote a name that holds `{}`",
                    separator.escape_default()
                ))
            }
            None => name.to_string(),
        };
        Ok(Some((label_id(id)?, clean_name(&name)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str, format: LabelTableFormat) -> Vec<(u16, String)> {
        parse(Path::new("t.txt"), text, format)
            .expect("parses")
            .into_iter()
            .map(|l| (l.id, l.name))
            .collect()
    }

    fn err(text: &str, format: LabelTableFormat) -> String {
        parse(Path::new("t.txt"), text, format)
            .expect_err("fails")
            .to_string()
    }

    fn pairs(list: &[(u16, &str)]) -> Vec<(u16, String)> {
        list.iter().map(|&(i, n)| (i, n.to_string())).collect()
    }

    /// The committed examples (tests/fixtures/label_tables) of one atlas in each format give the same ids.
    #[test]
    fn committed_examples_in_every_format() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/label_tables");
        let read_pairs = |file: &str, format| -> Vec<(u16, String)> {
            read(&dir.join(file), format)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(|l| (l.id, l.name))
                .collect()
        };
        let ids = |pairs: &[(u16, String)]| pairs.iter().map(|p| p.0).collect::<Vec<_>>();
        let underscored = pairs(&[
            (2001, "Precentral_L"),
            (2002, "Precentral_R"),
            (4011, "Hippocampus_L"),
            (5001, "Calcarine_L"),
            (9001, "Cerebelum_Crus1_L"),
        ]);
        let mut itksnap = underscored.clone();
        itksnap[4].1 = "Cerebelum Crus1 L".into();
        assert_eq!(
            read_pairs("atlas_itksnap.txt", LabelTableFormat::Itksnap),
            itksnap
        );
        assert_eq!(
            read_pairs("atlas_freesurfer_lut.txt", LabelTableFormat::Freesurfer),
            underscored
        );
        let mut csv = underscored.clone();
        csv[4].1 = "Cerebelum Crus1, L".into();
        assert_eq!(read_pairs("atlas.csv", LabelTableFormat::Csv), csv);
        // nnU-Net names read as the `init` manifests read them: underscores are spaces.
        let spaced: Vec<(u16, String)> = underscored
            .iter()
            .map(|(i, n)| (*i, n.replace('_', " ")))
            .collect();
        assert_eq!(
            read_pairs("atlas_dataset_v1.json", LabelTableFormat::Nnunet),
            spaced
        );
        let v2 = read(&dir.join("atlas_dataset_v2.json"), LabelTableFormat::Nnunet).expect("v2");
        assert_eq!(
            ids(&read_pairs(
                "atlas_dataset_v2.json",
                LabelTableFormat::Nnunet
            )),
            [2001, 2002, 4011, 5001, 9001, 9002]
        );
        assert_eq!(v2[5].name, "Precentral");
        assert_eq!(v2[5].region, Some(vec![2001, 2002]));
        // The wrong format is a clear error naming the file and line.
        let e = read(&dir.join("atlas_itksnap.txt"), LabelTableFormat::Freesurfer)
            .expect_err("not a LUT")
            .to_string();
        assert!(e.contains("atlas_itksnap.txt:15: 9 field(s)"), "{e}");
    }

    #[test]
    fn itksnap_reads_quoted_names_and_skips_clear_label() {
        let text = "################################################\n\
                    # ITK-SnAP Label Description File\n\
                    \x20   0     0    0    0        0  0  0    \"Clear Label\"\n\
                    \x20   1   255    0    0        1  1  1    \"Precentral_L\"\n\
                    \x20  12     0  255    0      0.5  1  0    \"Frontal  Sup R\"\n";
        assert_eq!(
            ok(text, LabelTableFormat::Itksnap),
            pairs(&[(1, "Precentral_L"), (12, "Frontal Sup R")])
        );
    }

    #[test]
    fn itksnap_errors_name_the_line() {
        let text = "# c\n1 255 0 0 1 1 1 \"a\"\n2 255 0 0 1 1 \"b\"\n";
        let e = err(text, LabelTableFormat::Itksnap);
        assert!(e.starts_with("t.txt:3: 6 number(s)"), "{e}");
        let e = err("1 2 3 4 5 6 7 a\n", LabelTableFormat::Itksnap);
        assert!(e.contains("t.txt:1: no quoted label name"), "{e}");
        let e = err(
            "1 2 3 4 5 6 7 \"a\"\n1 2 3 4 5 6 7 \"b\"\n",
            LabelTableFormat::Itksnap,
        );
        assert!(
            e.contains("t.txt:2: label id 1 is already defined on line 1"),
            "{e}"
        );
        let e = err("70000 2 3 4 5 6 7 \"a\"\n", LabelTableFormat::Itksnap);
        assert!(e.contains("`70000` is not a label id"), "{e}");
    }

    #[test]
    fn freesurfer_reads_id_name_rgba() {
        let text = "#$Id: FreeSurferColorLUT.txt\n\n#No. Label Name: R G B A\n\
                    0   Unknown          0   0   0   0\n\
                    17  Left-Hippocampus 220 216 20  0\n\
                    4 Left-Lateral-Ventricle 120 18 134 0\n";
        assert_eq!(
            ok(text, LabelTableFormat::Freesurfer),
            pairs(&[(4, "Left-Lateral-Ventricle"), (17, "Left-Hippocampus")])
        );
        let e = err("1 a b 2 3 0\n", LabelTableFormat::Freesurfer);
        assert!(e.contains("t.txt:1: colour `b` is not a number"), "{e}");
        let e = err("\n\n1 only\n", LabelTableFormat::Freesurfer);
        assert!(e.contains("t.txt:3: 2 field(s)"), "{e}");
    }

    #[test]
    fn csv_with_and_without_header_and_quotes() {
        let with_header = "id,name\n1,Precentral gyrus\n3,\"Frontal, superior\"\n";
        assert_eq!(
            ok(with_header, LabelTableFormat::Csv),
            pairs(&[(1, "Precentral gyrus"), (3, "Frontal, superior")])
        );
        assert_eq!(
            ok("2\tarea 2\n1\tarea 1\n", LabelTableFormat::Csv),
            pairs(&[(1, "area 1"), (2, "area 2")])
        );
        let e = err("id,name\nx,b\n", LabelTableFormat::Csv);
        assert!(e.contains("t.txt:2: `x` is not a label id"), "{e}");
        let e = err("1,a,b\n", LabelTableFormat::Csv);
        assert!(e.contains("t.txt:1: more than two columns"), "{e}");
        let e = err("label,name\n0,background\n", LabelTableFormat::Csv);
        assert!(e.contains("names no label besides the background"), "{e}");
    }

    #[test]
    fn nnunet_v1_and_v2() {
        let v1 =
            r#"{"name": "x", "labels": {"0": "background", "2": "right_kidney", "1": "liver"}}"#;
        assert_eq!(
            ok(v1, LabelTableFormat::Nnunet),
            pairs(&[(1, "liver"), (2, "right kidney")])
        );
        let v2 = r#"{"labels": {"background": 0, "kidney": [1, 2], "tumor": 2}}"#;
        let table = parse(Path::new("d.json"), v2, LabelTableFormat::Nnunet).expect("v2");
        assert_eq!(
            table,
            vec![
                TableLabel {
                    id: 2,
                    name: "tumor".into(),
                    region: None
                },
                TableLabel {
                    id: 3,
                    name: "kidney".into(),
                    region: Some(vec![1, 2])
                },
            ]
        );
        let e = err(
            r#"{"labels": {"a": "b"}, "channel_names": {}}"#,
            LabelTableFormat::Nnunet,
        );
        assert!(
            e.starts_with("t.txt: labels: `a` maps to the string"),
            "{e}"
        );
        let e = err("{\n\"labels\": [1,\n", LabelTableFormat::Nnunet);
        assert!(e.starts_with("t.txt: line 2"), "{e}");
    }
}
