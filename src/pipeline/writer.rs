//! Where built cases go: the [`CaseWriter`] interface the build loop feeds in the plan's work order, and the
//! [`DatasetWriter`] behind it for a whole build or a merge (build report + output sinks + dataset card).
//! A partition build feeds a `PartWriter` (`part.rs`) instead; `merge` replays the parts into a
//! `DatasetWriter`, so a merged dataset is written by the same code from the same stream as a single build.
//! [`Reporting`] wraps either for a build: progress, `--fail-fast`, and the rule that a case whose rows were
//! written cannot fail any more.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::case::CaseOutput;
use super::error::BuildError;
use super::plan::{BuildPlan, BUILDER_VERSION};
use super::report::{BuildReport, ReportBuilder};
use crate::discover::Case;
use crate::record::Row;
use crate::sink::tsv::SampleGate;
use crate::sink::{
    self, Background, CardConfig, CardInfo, CardRows, CardSource, DatasetLock, OutputFormat, Sinks,
    WrittenShard,
};

/// Receives a build's cases in the plan's work order (`index` = position in `BuildPlan::work`).
pub trait CaseWriter {
    /// Rows of case `index`, in output order; a big case sends several batches (one per slice group).
    fn rows(&mut self, index: usize, rows: Vec<Row>) -> Result<(), BuildError>;
    /// Case `index` is complete: its totals (`CaseOutput` without rows: filters, lesion, warnings, notes) or
    /// its error message.
    fn case_done(
        &mut self,
        index: usize,
        result: Result<CaseOutput, String>,
    ) -> Result<(), BuildError>;
    /// The TSV sample's gate, when this writer samples a TSV: case workers make an item's RGB image only when
    /// the sample may still select it.
    fn tsv_gate(&self) -> Option<SampleGate> {
        None
    }
}

/// Progress notifications for the CLI's bar or log lines.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Discovery finished: this many cases will be built.
    Start {
        /// Number of cases to build.
        cases: usize,
    },
    /// Before writing, files a killed build left in the dataset folder were removed.
    Leftovers {
        /// The dataset folder.
        dir: &'a Path,
        /// What was removed (`.partial` files and shard staging folders).
        removed: &'a [PathBuf],
    },
    /// One case finished (successfully or not).
    CaseDone {
        /// The case.
        case: &'a Case,
        /// Rows it produced.
        rows: usize,
        /// Its error message, or `None` when it succeeded.
        error: Option<&'a str>,
    },
}

/// A build's writer with what the build adds around it: a progress line per finished case, `--fail-fast`,
/// and a refusal of a case that fails after some of its rows were written (they cannot be taken back).
pub struct Reporting<'a> {
    inner: &'a mut dyn CaseWriter,
    plan: &'a BuildPlan,
    fail_fast: bool,
    progress: &'a (dyn Fn(Progress) + Sync),
    /// Rows written of the case in progress.
    case_rows: usize,
}

impl<'a> Reporting<'a> {
    /// Wraps `inner` for a build of `plan`.
    pub fn new(
        inner: &'a mut dyn CaseWriter,
        plan: &'a BuildPlan,
        fail_fast: bool,
        progress: &'a (dyn Fn(Progress) + Sync),
    ) -> Reporting<'a> {
        Reporting {
            inner,
            plan,
            fail_fast,
            progress,
            case_rows: 0,
        }
    }
}

impl CaseWriter for Reporting<'_> {
    fn tsv_gate(&self) -> Option<SampleGate> {
        self.inner.tsv_gate()
    }

    fn rows(&mut self, index: usize, rows: Vec<Row>) -> Result<(), BuildError> {
        self.case_rows += rows.len();
        self.inner.rows(index, rows)
    }

    fn case_done(
        &mut self,
        index: usize,
        result: Result<CaseOutput, String>,
    ) -> Result<(), BuildError> {
        let case = &self
            .plan
            .work
            .get(index)
            .ok_or(BuildError::UnknownCase {
                index,
                cases: self.plan.work.len(),
            })?
            .case;
        let rows = std::mem::take(&mut self.case_rows);
        let error = result.as_ref().err().cloned();
        (self.progress)(Progress::CaseDone {
            case,
            rows: if error.is_some() { 0 } else { rows },
            error: error.as_deref(),
        });
        let Some(message) = error else {
            return self.inner.case_done(index, result);
        };
        let name = format!("{}/{}", case.collection, case.case_id);
        if rows > 0 {
            // Workers meet every input error before a case's first rows leave them, so this is a defect; the
            // rows are already in the outputs, so the build cannot go on.
            return Err(BuildError::FailedAfterRows {
                case: name,
                rows,
                message,
            });
        }
        self.inner.case_done(index, result)?;
        if self.fail_fast {
            // Dropping the writer (in the caller) removes every partial file.
            return Err(BuildError::FailFast(format!("{name}: {message}")));
        }
        Ok(())
    }
}

/// The dataset of a whole build: rows to the sinks and the report, then the card and `build-report.json`.
pub struct DatasetWriter<'p> {
    plan: &'p BuildPlan,
    report: ReportBuilder<'p>,
    sinks: Sinks,
    /// The card's structure table and samples, collected from the rows (with Parquet).
    card_rows: Option<CardRows>,
    /// What a killed build had left in the dataset folder and was removed before writing.
    pub leftovers: Vec<PathBuf>,
    /// Held until the writer is finished or dropped (after the sinks, which remove their partial files).
    _lock: DatasetLock,
}

/// What a [`DatasetWriter`] wrote.
pub struct DatasetWritten {
    /// `<out>/<dataset>`.
    pub dataset_dir: PathBuf,
    /// The build report as written.
    pub report: BuildReport,
    /// Parquet shards written.
    pub shards: Vec<WrittenShard>,
}

impl<'p> DatasetWriter<'p> {
    /// Creates the dataset folder, locks it (another build writing it is an error naming that build's pid),
    /// removes what a killed build left there, and opens a writer per selected format (their background work
    /// on `background`, the build's threads).
    pub fn new(
        plan: &'p BuildPlan,
        background: Option<Arc<dyn Background>>,
    ) -> Result<DatasetWriter<'p>, BuildError> {
        let dataset_dir = &plan.dataset_dir;
        sink::refuse_links(dataset_dir)?;
        std::fs::create_dir_all(dataset_dir).map_err(|source| BuildError::Write {
            path: dataset_dir.clone(),
            source,
        })?;
        let lock = DatasetLock::acquire(dataset_dir)?;
        let leftovers = sink::remove_leftovers(dataset_dir)?;
        let m = &plan.loaded.manifest;
        let sinks = Sinks::new(
            dataset_dir,
            &m.dataset.name,
            &plan.formats,
            (plan.parquet, plan.tsv.clone(), plan.jsonl_image_paths),
            background,
        )?;
        let languages = m.output.languages.iter().map(|l| l.to_string()).collect();
        Ok(DatasetWriter {
            plan,
            report: ReportBuilder::new(plan),
            card_rows: sinks.writes_parquet().then(|| CardRows::new(languages)),
            sinks,
            leftovers,
            _lock: lock,
        })
    }

    /// Closes the sinks, then writes the dataset card (with Parquet shards written) and `build-report.json`.
    pub fn finish(self) -> Result<DatasetWritten, BuildError> {
        let plan = self.plan;
        let dataset_dir = &plan.dataset_dir;
        let written = self.sinks.finish()?;
        let tsv_sample = (plan.formats.contains(&OutputFormat::Tsv))
            .then_some((plan.tsv.max_items, plan.tsv.seed));
        let report = self.report.finish(&written, dataset_dir, tsv_sample);
        // A build that wrote no shard (every case failed, or none had rows) leaves the earlier dataset whole:
        // the Parquet sink keeps its shards, so its card and sample images stay with them.
        if let Some(card_rows) = self.card_rows.filter(|_| !written.shards.is_empty()) {
            write_card(plan, &written.shards, card_rows)?;
        }
        let report_path = dataset_dir.join("build-report.json");
        sink::write_atomic(&report_path, &report.to_json()).map_err(|source| {
            BuildError::Write {
                path: report_path,
                source,
            }
        })?;
        Ok(DatasetWritten {
            dataset_dir: dataset_dir.clone(),
            report,
            shards: written.shards,
        })
    }
}

impl CaseWriter for DatasetWriter<'_> {
    fn tsv_gate(&self) -> Option<SampleGate> {
        self.sinks.tsv_gate()
    }

    fn rows(&mut self, _index: usize, rows: Vec<Row>) -> Result<(), BuildError> {
        for row in rows {
            self.report.row(&row);
            if let Some(card_rows) = self.card_rows.as_mut() {
                card_rows.row(&row);
            }
            self.sinks.push(row)?;
        }
        Ok(())
    }

    fn case_done(
        &mut self,
        index: usize,
        result: Result<CaseOutput, String>,
    ) -> Result<(), BuildError> {
        match result {
            Ok(output) => self.report.case_built(&output),
            Err(message) => {
                let work = self.plan.work.get(index).ok_or(BuildError::UnknownCase {
                    index,
                    cases: self.plan.work.len(),
                })?;
                self.report.case_failed(&work.case, &message);
            }
        }
        Ok(())
    }
}

fn write_card(
    plan: &BuildPlan,
    shards: &[WrittenShard],
    card_rows: CardRows,
) -> Result<(), BuildError> {
    let m = &plan.loaded.manifest;
    let mut description = format!(
        "Quantitative visual question answering built by medvision-build from {} ({}).",
        m.dataset.name,
        m.dataset.image_description.english()
    );
    // Mask-only collections and `labels = "auto"` say how their images and structures were made (other
    // builds' cards are unchanged).
    for c in &m.collections {
        if let Some(from) = &c.render_from {
            description.push_str(&format!(
                " Collection `{}` has no intensity image: its slices are rendered from the {}.",
                c.name,
                from.describe()
            ));
        }
        if plan.loaded.is_auto(&c.name) {
            description.push_str(&format!(
                " Collection `{}` labels: {}.",
                c.name,
                plan.loaded.describe_labels(&c.name)
            ));
        }
    }
    let (structures, samples) = card_rows.finish();
    let card = CardInfo {
        pretty_name: format!("{} quantitative VQA", m.dataset.name),
        description,
        license: m.dataset.license.clone(),
        source: CardSource {
            name: m.dataset.name.clone(),
            homepage: m.dataset.homepage.clone(),
            citation: m.dataset.citation.clone(),
        },
        languages: m.output.languages.iter().map(|l| l.to_string()).collect(),
        task_categories: vec!["visual-question-answering".into()],
        tags: vec!["medical".into(), m.dataset.modality.as_str().to_lowercase()],
        configs: CardConfig::from_shards(shards, &plan.dataset_dir)?,
        structures,
        samples,
        builder_version: BUILDER_VERSION.into(),
        manifest_sha256: plan.loaded.sha256.clone(),
    };
    sink::write_card(&plan.dataset_dir, &card)?;
    Ok(())
}
