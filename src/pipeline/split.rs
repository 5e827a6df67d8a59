//! Train/test assignment (docs/measurements.md §10): a stable hash of the patient group, or an explicit split file.
//!
//! The hash is xxh3-64 (a published, fixed algorithm) seeded with the manifest's `split.seed` over
//! `dataset + "\0" + group_key`; a case goes to `test` when `hash / 2^64 < test_fraction`. A case's split
//! depends only on its own id, so adding cases never moves existing ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;

/// Why a split file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("{path}: cannot read split file: {source}")]
    /// A split file could not be read.
    Read {
        /// Split file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    /// A line of a split file is malformed.
    Parse {
        /// Split file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    #[error("{path}: {message}")]
    /// A JSON split file is malformed.
    Json {
        /// Split file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    #[error("split.group regex is invalid: {0}")]
    /// The `split.group` regex does not compile; holds the regex error.
    Group(String),
}

/// `train` or `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Training split.
    Train,
    /// Test split.
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// How cases are assigned to splits for one build.
#[derive(Debug, Clone)]
pub enum SplitPlan {
    /// Stable hash split of patient groups.
    Hash {
        /// Dataset name, hashed with the group.
        dataset: String,
        /// Hash seed.
        seed: u64,
        /// Fraction of patient groups sent to `test`.
        test_fraction: f64,
        /// Reduces a case id to its patient group; `None` uses the whole case id.
        group: Option<Regex>,
    },
    /// Case id → split, from a split file or the MedVision shuffle; unlisted cases are not built.
    Listed {
        /// Where the lists came from, for the report.
        source: String,
        /// Case id → split.
        cases: BTreeMap<String, Split>,
    },
}

impl SplitPlan {
    /// The hash plan of a dataset.
    pub fn hash(
        dataset: &str,
        seed: u64,
        test_fraction: f64,
        group: Option<&str>,
    ) -> Result<SplitPlan, SplitError> {
        let group = group
            .map(Regex::new)
            .transpose()
            .map_err(|e| SplitError::Group(e.to_string()))?;
        Ok(SplitPlan::Hash {
            dataset: dataset.to_string(),
            seed,
            test_fraction,
            group,
        })
    }

    /// Reads an explicit split file: MedVision plan JSON (`train_cases` / `test_cases`) when it parses as JSON,
    /// else text with `[train]` / `[test]` section lines followed by one case id per line (`#` comments).
    pub fn from_file(path: &Path) -> Result<SplitPlan, SplitError> {
        let text = std::fs::read_to_string(path).map_err(|source| SplitError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cases = if text.trim_start().starts_with('{') {
            parse_json(path, &text)?
        } else {
            parse_text(path, &text)?
        };
        Ok(SplitPlan::Listed {
            source: format!("split_file {}", path.display()),
            cases,
        })
    }

    /// The MedVision profile's split (docs/measurements.md §10): the sorted, de-duplicated case ids shuffled by
    /// CPython's `random.seed(1024); random.shuffle`, the first `int(0.7 * n)` train. MedVision shuffled its
    /// (unsorted) file list, so only its published lists (`split_file`) reproduce its splits exactly.
    pub fn medvision<'a>(case_ids: impl IntoIterator<Item = &'a str>) -> SplitPlan {
        let ids: std::collections::BTreeSet<&str> = case_ids.into_iter().collect();
        let ids: Vec<String> = ids.into_iter().map(str::to_string).collect();
        let (train, test) = super::cpython_random::medvision_split(&ids);
        let cases = train
            .into_iter()
            .map(|id| (id, Split::Train))
            .chain(test.into_iter().map(|id| (id, Split::Test)));
        SplitPlan::Listed {
            source: "MedVision shuffle (CPython random.seed(1024), first 70 % train)".into(),
            cases: cases.collect(),
        }
    }

    /// One line saying how cases are split, for the report.
    pub fn describe(&self) -> String {
        match self {
            SplitPlan::Hash {
                seed,
                test_fraction,
                group,
                ..
            } => format!(
                "xxh3-64 hash, seed {seed}, test_fraction {test_fraction}, group {}",
                group
                    .as_ref()
                    .map_or("none".to_string(), |g| format!("`{}`", g.as_str()))
            ),
            SplitPlan::Listed { source, .. } => source.clone(),
        }
    }

    /// The split of a case, or `None` when a split file does not list it.
    pub fn assign(&self, case_id: &str) -> Option<Split> {
        match self {
            SplitPlan::Hash {
                dataset,
                seed,
                test_fraction,
                group,
            } => {
                let key = group_key(group.as_ref(), case_id);
                let fraction = hash_fraction(*seed, dataset, key);
                Some(if fraction < *test_fraction {
                    Split::Test
                } else {
                    Split::Train
                })
            }
            SplitPlan::Listed { cases, .. } => cases.get(case_id).copied(),
        }
    }
}

/// The patient group of a case: the regex's first capture group, else its whole match, else the case id.
pub fn group_key<'a>(group: Option<&Regex>, case_id: &'a str) -> &'a str {
    let Some(re) = group else { return case_id };
    match re.captures(case_id) {
        Some(caps) => caps
            .get(1)
            .or_else(|| caps.get(0))
            .map_or(case_id, |m| m.as_str()),
        None => case_id,
    }
}

/// `xxh3_64_with_seed(seed, dataset + "\0" + key) / 2^64`, in `[0, 1)`.
pub fn hash_fraction(seed: u64, dataset: &str, key: &str) -> f64 {
    let mut bytes = Vec::with_capacity(dataset.len() + 1 + key.len());
    bytes.extend_from_slice(dataset.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(&bytes, seed);
    // Top 53 bits → an exactly representable fraction.
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// `case_00001.nii.gz` or `Images/case_00001.nii.gz` → `case_00001`.
fn strip_case(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.strip_suffix(".nii.gz")
        .or_else(|| base.strip_suffix(".nii"))
        .unwrap_or(base)
}

fn insert(
    cases: &mut BTreeMap<String, Split>,
    path: &Path,
    line: usize,
    id: &str,
    split: Split,
) -> Result<(), SplitError> {
    match cases.insert(strip_case(id).to_string(), split) {
        Some(previous) if previous != split => Err(SplitError::Parse {
            path: path.to_path_buf(),
            line,
            message: format!("case `{id}` is listed in both train and test"),
        }),
        _ => Ok(()),
    }
}

fn parse_text(path: &Path, text: &str) -> Result<BTreeMap<String, Split>, SplitError> {
    let mut cases = BTreeMap::new();
    let mut section = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match line {
            "[train]" => section = Some(Split::Train),
            "[test]" => section = Some(Split::Test),
            id => {
                let Some(split) = section else {
                    return Err(SplitError::Parse {
                        path: path.to_path_buf(),
                        line: i + 1,
                        message: format!(
                            "case `{id}` before any `[train]` or `[test]` section line"
                        ),
                    });
                };
                insert(&mut cases, path, i + 1, id, split)?;
            }
        }
    }
    Ok(cases)
}

fn parse_json(path: &Path, text: &str) -> Result<BTreeMap<String, Split>, SplitError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| SplitError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut cases = BTreeMap::new();
    let mut any = false;
    for (key, split) in [("train_cases", Split::Train), ("test_cases", Split::Test)] {
        let Some(list) = value.get(key) else { continue };
        any = true;
        let list = list.as_array().ok_or_else(|| SplitError::Json {
            path: path.to_path_buf(),
            message: format!("`{key}` must be a list of case ids"),
        })?;
        for item in list {
            let id = item.as_str().ok_or_else(|| SplitError::Json {
                path: path.to_path_buf(),
                message: format!("`{key}` holds a non-string entry {item}"),
            })?;
            insert(&mut cases, path, 0, id, split)?;
        }
    }
    if !any {
        return Err(SplitError::Json {
            path: path.to_path_buf(),
            message: "expected `train_cases` and/or `test_cases` lists".into(),
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_the_documented_xxh3() {
        // Independent values from the reference `xxhash` Python package (xxh3_64_intdigest).
        let h = xxhash_rust::xxh3::xxh3_64_with_seed(b"KiTS23\0case_00000", 0);
        assert_eq!(h, 13710668030876620209);
        assert_eq!(hash_fraction(0, "KiTS23", "case_00000"), 0.7432568032651992);
        assert_eq!(
            hash_fraction(42, "KiTS23", "case_00001"),
            0.46213287735960273
        );
    }

    #[test]
    fn fraction_of_test_cases_is_close_to_requested() {
        let plan = SplitPlan::hash("D", 0, 0.3, None).expect("plan");
        let test = (0..10_000)
            .filter(|i| plan.assign(&format!("case_{i:05}")) == Some(Split::Test))
            .count();
        assert!((2800..3200).contains(&test), "{test}");
    }

    #[test]
    fn group_regex_keeps_timepoints_together() {
        let plan = SplitPlan::hash("HNTSMRG24", 3, 0.5, Some(r"^(\d+)_")).expect("plan");
        for p in 0..200 {
            assert_eq!(
                plan.assign(&format!("{p}_preRT")),
                plan.assign(&format!("{p}_midRT"))
            );
        }
        let re = Regex::new(r"^\d+").expect("re");
        assert_eq!(
            group_key(Some(&re), "12_midRT"),
            "12",
            "whole match when no group"
        );
        assert_eq!(group_key(Some(&re), "abc"), "abc", "no match keeps the id");
    }

    #[test]
    fn split_files_parse_text_and_json() {
        let dir = std::env::temp_dir().join(format!("mvb-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let txt = dir.join("split.txt");
        std::fs::write(
            &txt,
            "# comment\n[train]\ncase_1\ncase_2.nii.gz\n[test]\nImages/case_3.nii.gz\n",
        )
        .expect("w");
        let plan = SplitPlan::from_file(&txt).expect("text");
        assert_eq!(plan.assign("case_2"), Some(Split::Train));
        assert_eq!(plan.assign("case_3"), Some(Split::Test));
        assert_eq!(plan.assign("case_4"), None);

        let json = dir.join("plan.json");
        std::fs::write(
            &json,
            r#"{"train_cases": ["a.nii.gz"], "test_cases": ["b"]}"#,
        )
        .expect("w");
        let plan = SplitPlan::from_file(&json).expect("json");
        assert_eq!(plan.assign("a"), Some(Split::Train));
        assert_eq!(plan.assign("b"), Some(Split::Test));

        std::fs::write(&txt, "case_1\n").expect("w");
        let err = SplitPlan::from_file(&txt).expect_err("no section");
        assert!(err.to_string().contains("split.txt:1"), "{err}");
        std::fs::write(&txt, "[train]\nx\n[test]\nx\n").expect("w");
        assert!(SplitPlan::from_file(&txt).is_err(), "listed twice");
        std::fs::remove_dir_all(&dir).ok();
    }
}
