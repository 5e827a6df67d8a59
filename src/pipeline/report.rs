//! `build-report.json`: what a build produced and everything it left out, with reasons, and the
//! `ReportBuilder` that gathers it as cases finish (the one place that knows the report's layout).
//!
//! The report holds no timings or thread counts, so it is byte-identical across runs and `--threads` values
//! like every other output; the elapsed time is printed in the summary instead.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::case::{self, CaseOutput};
use super::plan::{BuildPlan, BUILDER_VERSION};
use crate::annotate::lesion::LesionReject;
use crate::annotate::{FilterCounts, LesionCounts};
use crate::discover::{Case, CollectionFound, SkippedCase};
use crate::manifest::{LoadedManifest, TaskKind};
use crate::record::Row;
use crate::sink::Written;

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    /// Name of the program that wrote the report (`medvision-build`).
    pub tool: String,
    /// Builder version.
    pub builder_version: String,
    /// Dataset name from the manifest.
    pub dataset: String,
    /// SHA-256 (hex) of the manifest file's bytes.
    pub manifest_sha256: String,
    /// Profile name.
    pub profile: String,
    /// Manifest spelling of the box answer format.
    pub answer_format: String,
    /// Output language codes.
    pub languages: Vec<String>,
    /// How cases were assigned to train/test.
    pub split: String,
    /// Case counts by outcome.
    pub cases: CaseCounts,
    /// Rows written over all splits and tasks.
    pub rows_total: u64,
    /// `"<kind> <task id>"` (e.g. `bbox T01`) → its counts.
    pub tasks: BTreeMap<String, TaskReport>,
    /// Per collection: cases found, and how many were read through each of its image and mask patterns
    /// (the forms the dataset circulates in) and found more than once.
    pub discovery: Vec<CollectionFound>,
    /// Cases found but not built.
    pub skipped: Vec<SkippedEntry>,
    /// Cases that failed.
    pub failed: Vec<FailedEntry>,
    /// Non-fatal findings of discovery and of the cases.
    pub warnings: Vec<String>,
    /// Output files written.
    pub files: Vec<FileEntry>,
    /// The GMAI-style TSV's items per (split, language): how many were written, of how many, and the
    /// sample's settings (absent when no TSV was written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsv_sample: Option<TsvSampleReport>,
    /// Informational per-case lines, e.g. whether a landmark case's image was resampled onto its grid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Mask-only collections (no image): collection → what their slices were rendered from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rendering: BTreeMap<String, String>,
    /// `labels = "auto"` collections: collection → where the structures and their names came from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub auto_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize)]
/// The TSV sample (README, "Output formats").
pub struct TsvSampleReport {
    /// `[output.tsv] max_items` (or `--tsv-max-items`); 0 keeps every item.
    pub max_items: u64,
    /// Seed of the sample's hashes.
    pub seed: u64,
    /// `"<split> <lang>"` → items written and offered.
    pub items: BTreeMap<String, TsvSampleCount>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
/// Items of one (split, language) TSV.
pub struct TsvSampleCount {
    /// Items written.
    pub selected: u64,
    /// Items the rows offered.
    pub offered: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
/// Cases by outcome.
pub struct CaseCounts {
    /// Images found (with or without mask).
    pub found: u64,
    /// Cases that produced output.
    pub built: u64,
    /// Cases found but not built.
    pub skipped: u64,
    /// Cases that failed.
    pub failed: u64,
}

/// Counts for one manifest task.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskReport {
    /// Task kind, e.g. `bbox`.
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
    /// (slice, label) pairs, or lesion components, considered.
    pub considered: u64,
    /// Removed because the label has more than one component.
    pub removed_multi_instance: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Removed by the minimum box side filter; `None` when the task kind does not apply it.
    pub removed_min_side_px: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Removed by the minimum pixel count filter; `None` when the task kind does not apply it.
    pub removed_min_pixels: Option<u64>,
    /// Lesion rules and guards (docs/measurements.md §7.5) by name → fits they dropped.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub removed_by_lesion_rule: BTreeMap<String, u64>,
    /// Left after every filter.
    pub kept: u64,
}

impl FilterReport {
    /// The report of a lesion task's counts (only the multi-instance filter and the lesion rules apply).
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
/// A case found but not built.
pub struct SkippedEntry {
    /// Collection name.
    pub collection: String,
    /// Case identifier.
    pub case_id: String,
    /// Path of the file that caused the skip.
    pub path: String,
    /// Why the case was not built.
    pub reason: String,
}

impl From<SkippedCase> for SkippedEntry {
    fn from(s: SkippedCase) -> Self {
        SkippedEntry {
            collection: s.collection,
            case_id: s.case_id,
            path: s.path,
            reason: s.reason,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
/// A case that failed.
pub struct FailedEntry {
    /// Collection name.
    pub collection: String,
    /// Case identifier.
    pub case_id: String,
    /// The case's error message.
    pub error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
/// An output file written.
pub struct FileEntry {
    /// Relative to the dataset folder, `/`-separated.
    pub path: String,
    /// Output config (its folder) the file belongs to: `all`, or a task family such as `bbox`.
    pub config: String,
    /// Split the file holds.
    pub split: String,
    /// Rows in the file.
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

/// Gathers the report while a build runs: cases as they finish, rows as they are written, files at the end.
pub struct ReportBuilder<'a> {
    loaded: &'a LoadedManifest,
    report: BuildReport,
    filters: BTreeMap<String, FilterCounts>,
    lesion: BTreeMap<String, LesionCounts>,
}

impl<'a> ReportBuilder<'a> {
    /// A report with the plan's settings, one (empty) entry per task and row type, and the skipped cases.
    pub fn new(plan: &'a BuildPlan) -> ReportBuilder<'a> {
        let m = &plan.loaded.manifest;
        let mut tasks = BTreeMap::new();
        for task in &m.tasks {
            let report = TaskReport {
                kind: task.kind.as_str().into(),
                ..TaskReport::default()
            };
            if task.kind == TaskKind::Landmarks {
                // A landmark task's rows are counted per row type (`distance T01`, `angle T01`).
                for task_type in case::landmark_task_types(task) {
                    tasks.insert(format!("{task_type} {}", task.id), report.clone());
                }
            } else {
                tasks.insert(case::task_key(task), report);
            }
        }
        ReportBuilder {
            loaded: &plan.loaded,
            report: BuildReport {
                tool: "medvision-build".into(),
                builder_version: BUILDER_VERSION.into(),
                dataset: m.dataset.name.clone(),
                manifest_sha256: plan.loaded.sha256.clone(),
                profile: plan.profile.as_str().into(),
                answer_format: m.output.answer_format.as_str().into(),
                languages: m.output.languages.iter().map(|l| l.to_string()).collect(),
                split: plan.split_description.clone(),
                cases: CaseCounts {
                    found: plan.found,
                    skipped: plan.skipped.len() as u64,
                    ..CaseCounts::default()
                },
                tasks,
                skipped: plan
                    .skipped
                    .iter()
                    .cloned()
                    .map(SkippedEntry::from)
                    .collect(),
                warnings: plan.warnings.clone(),
                discovery: plan.discovery.clone(),
                rendering: m
                    .collections
                    .iter()
                    .filter_map(|c| Some((c.name.clone(), c.render_from.as_ref()?.describe())))
                    .collect(),
                auto_labels: m
                    .collections
                    .iter()
                    .filter(|c| plan.loaded.is_auto(&c.name))
                    .map(|c| (c.name.clone(), plan.loaded.describe_labels(&c.name)))
                    .collect(),
                ..BuildReport::default()
            },
            filters: BTreeMap::new(),
            lesion: BTreeMap::new(),
        }
    }

    /// Counts a built case's filters, warnings and notes (its rows are counted one by one by [`Self::row`]).
    pub fn case_built(&mut self, output: &CaseOutput) {
        self.report.cases.built += 1;
        self.report.warnings.extend(output.warnings.iter().cloned());
        self.report.notes.extend(output.notes.iter().cloned());
        for (task_key, counts) in &output.filters {
            *self.filters.entry(task_key.clone()).or_default() += *counts;
        }
        for (task_key, counts) in &output.lesion {
            *self.lesion.entry(task_key.clone()).or_default() += counts.clone();
        }
    }

    /// Records a case that failed with `error`.
    pub fn case_failed(&mut self, case: &Case, error: &str) {
        self.report.cases.failed += 1;
        self.report.failed.push(FailedEntry {
            collection: case.collection.clone(),
            case_id: case.case_id.clone(),
            error: error.to_string(),
        });
    }

    /// Counts one written row under its task, split and label.
    pub fn row(&mut self, row: &Row) {
        let task = self
            .report
            .tasks
            .entry(format!("{} {}", row.config, row.task_id))
            .or_default();
        *task.rows_by_split.entry(row.split.clone()).or_default() += 1;
        let label = label_key(self.loaded, &row.collection, row.label_id);
        *task.rows_by_label.entry(label).or_default() += 1;
        self.report.rows_total += 1;
    }

    /// Lists every written file relative to `dataset_dir`, the TSV sample (`tsv`: its `max_items` and seed,
    /// when a TSV was written) and closes the filter counts.
    pub fn finish(
        mut self,
        written: &Written,
        dataset_dir: &Path,
        tsv: Option<(u64, u64)>,
    ) -> BuildReport {
        self.report.tsv_sample = tsv.map(|(max_items, seed)| TsvSampleReport {
            max_items,
            seed,
            items: (written.tsv_samples.iter())
                .map(|s| {
                    let count = TsvSampleCount {
                        selected: s.selected,
                        offered: s.offered,
                    };
                    (format!("{} {}", s.split, s.lang), count)
                })
                .collect(),
        });
        for (task_key, counts) in std::mem::take(&mut self.filters) {
            self.report.tasks.entry(task_key).or_default().filters = counts.into();
        }
        for (task_key, counts) in std::mem::take(&mut self.lesion) {
            self.report.tasks.entry(task_key).or_default().filters =
                FilterReport::from_lesion(&counts);
        }
        let shards = written.shards.iter().map(|s| {
            let entry = (s.config.clone(), s.split.clone(), s.rows);
            (s.path.as_path(), entry)
        });
        let files = written.files.iter().map(|f| {
            let entry = (f.format.as_str().to_string(), f.split.clone(), f.rows);
            (f.path.as_path(), entry)
        });
        for (path, (config, split, rows)) in shards.chain(files) {
            self.report.files.push(FileEntry {
                path: relative_slash_path(path, dataset_dir),
                config,
                split,
                rows,
            });
        }
        self.report
    }
}

/// `path` relative to `dir` (itself when outside it), with `/` separators on every platform.
fn relative_slash_path(path: &Path, dir: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `"<id> <English name>"` of a row's label for the report (`none` for rows without a label id).
fn label_key(loaded: &LoadedManifest, collection: &str, label_id: Option<i32>) -> String {
    let Some(id) = label_id else {
        return "none".into();
    };
    let label = u16::try_from(id).ok().and_then(|id| {
        let named = loaded.labels(collection).get(&id).cloned();
        // `labels = "auto"`: an id no label table names is `label_<id>`, as in its rows.
        named.or_else(|| {
            loaded
                .is_auto(collection)
                .then(|| crate::manifest::auto_label(id))
        })
    });
    let name = label.as_ref().map_or("", |l| l.name.english().as_str());
    format!("{id} {name}")
}
