//! `build-report.json`: what a build produced and everything it left out, with reasons.
//!
//! The report holds no timings or thread counts, so it is byte-identical across runs and `--threads` values
//! like every other output; the elapsed time is printed in the summary instead.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::annotate::lesion::LesionReject;
use crate::annotate::{FilterCounts, LesionCounts};

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    pub tool: String,
    pub builder_version: String,
    pub dataset: String,
    pub manifest_sha256: String,
    pub profile: String,
    pub answer_format: String,
    pub languages: Vec<String>,
    /// How cases were assigned to train/test.
    pub split: String,
    pub cases: CaseCounts,
    pub rows_total: u64,
    /// `"<kind> <task id>"` (e.g. `bbox T01`) → its counts.
    pub tasks: BTreeMap<String, TaskReport>,
    pub skipped: Vec<SkippedEntry>,
    pub failed: Vec<FailedEntry>,
    pub warnings: Vec<String>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CaseCounts {
    /// Images found (with or without mask).
    pub found: u64,
    pub built: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// Counts for one manifest task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskReport {
    pub kind: String,
    /// Split → rows.
    pub rows_by_split: BTreeMap<String, u64>,
    /// `"<id> <name>"` → rows.
    pub rows_by_label: BTreeMap<String, u64>,
    /// (slice, label) pairs considered and what each filter removed.
    pub filters: FilterReport,
}

/// Removals are listed only for the filters a task kind applies.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FilterReport {
    pub considered: u64,
    pub removed_multi_instance: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_min_side_px: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_min_pixels: Option<u64>,
    /// Lesion rules and guards (annotations.md §4.5) by name → fits they dropped.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub removed_by_lesion_rule: BTreeMap<String, u64>,
    pub kept: u64,
}

impl FilterReport {
    pub fn from_lesion(c: &LesionCounts) -> Self {
        let rejected: u64 = c.rejected.values().sum();
        FilterReport {
            considered: c.considered,
            removed_multi_instance: c.multi_instance,
            removed_by_lesion_rule: LesionReject::ALL
                .iter()
                .map(|r| {
                    (
                        r.name().to_string(),
                        c.rejected.get(r.name()).copied().unwrap_or(0),
                    )
                })
                .collect(),
            kept: c.considered - c.multi_instance - rejected,
            ..FilterReport::default()
        }
    }
}

impl From<FilterCounts> for FilterReport {
    fn from(c: FilterCounts) -> Self {
        FilterReport {
            considered: c.considered,
            removed_multi_instance: c.multi_instance,
            removed_min_side_px: Some(c.too_small_side),
            removed_min_pixels: Some(c.too_few_pixels),
            removed_by_lesion_rule: BTreeMap::new(),
            kept: c.considered - c.multi_instance - c.too_small_side - c.too_few_pixels,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SkippedEntry {
    pub collection: String,
    pub case_id: String,
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedEntry {
    pub collection: String,
    pub case_id: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the dataset folder, `/`-separated.
    pub path: String,
    pub config: String,
    pub split: String,
    pub rows: u64,
}

impl BuildReport {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
