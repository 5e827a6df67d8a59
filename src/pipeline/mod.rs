//! The build: the plan (manifest, discovery, split, conventions) → cases in parallel (in fixed-size chunks,
//! results kept in input order) → one owner writing the sinks, the dataset card and the build report. The
//! only module that knows every stage.

pub mod case;
pub mod cpython_random;
pub mod plan;
pub mod report;
pub mod split;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::discover::Case;
use crate::sink::{self, CardConfig, CardInfo, Sinks, WrittenShard};
use case::{CaseContext, CaseError, CaseOutput};
pub use plan::{load_manifest, BuildOptions, BuildPlan, PlanError, BUILDER_VERSION};
use report::{BuildReport, ReportBuilder};

/// Progress notifications for the CLI's bar or log lines.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Discovery finished: this many cases will be built.
    Start {
        /// Number of cases to build.
        cases: usize,
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

/// A build that could not run or could not write its outputs (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    /// The build could not be planned.
    Plan(#[from] PlanError),
    #[error(transparent)]
    /// An output sink failed.
    Sink(#[from] sink::SinkError),
    #[error("{path}: cannot write: {source}")]
    /// An output file could not be written.
    Write {
        /// File being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error("cannot start {threads} worker threads: {reason}")]
    /// The worker thread pool could not be started.
    Threads {
        /// Number of worker threads requested.
        threads: usize,
        /// Why the pool failed.
        reason: String,
    },
    #[error("stopped at the first failed case (--fail-fast): {0}")]
    /// A case failed under `--fail-fast`; holds its error message.
    FailFast(String),
}

/// What a finished build reports to the user.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// Folder the dataset was written to.
    pub dataset_dir: PathBuf,
    /// The build report.
    pub report: BuildReport,
    /// Shard files written.
    pub shards: Vec<WrittenShard>,
    /// Wall time of the build.
    pub elapsed: Duration,
}

impl BuildSummary {
    /// True when some case failed (exit code 1).
    pub fn has_failures(&self) -> bool {
        !self.report.failed.is_empty()
    }
}

/// Runs a whole build.
pub fn build(
    options: &BuildOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let plan = BuildPlan::new(options)?;
    let mut report = ReportBuilder::new(&plan);
    let dataset_dir = &plan.dataset_dir;
    std::fs::create_dir_all(dataset_dir).map_err(|source| BuildError::Write {
        path: dataset_dir.clone(),
        source,
    })?;
    let m = &plan.loaded.manifest;
    let mut sinks = Sinks::new(
        dataset_dir,
        &m.dataset.name,
        &plan.formats,
        plan.parquet,
        plan.tsv.clone(),
    )?;
    let ctx = CaseContext {
        manifest: &plan.loaded,
        templates: &plan.templates,
        conventions: plan.conventions,
        builder_version: BUILDER_VERSION,
        rgb_images: plan.needs_rgb_images(),
        tsv_gate: sinks.tsv_gate(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map_err(|e| BuildError::Threads {
            threads: plan.threads,
            reason: e.to_string(),
        })?;

    progress(Progress::Start {
        cases: plan.work.len(),
    });
    build_cases(
        &plan,
        &ctx,
        &pool,
        &mut sinks,
        &mut report,
        options.fail_fast,
        progress,
    )?;
    let writes_card = sinks.writes_parquet();
    let written = sinks.finish()?;
    let tsv_sample = (plan.formats.contains(&sink::OutputFormat::Tsv))
        .then_some((plan.tsv.max_items, plan.tsv.seed));
    let report = report.finish(&written, dataset_dir, tsv_sample);
    if writes_card {
        write_card(&plan, &written.shards)?;
    }
    let report_path = dataset_dir.join("build-report.json");
    sink::write_atomic(&report_path, &report.to_json()).map_err(|source| BuildError::Write {
        path: report_path,
        source,
    })?;
    Ok(BuildSummary {
        dataset_dir: plan.dataset_dir.clone(),
        report,
        shards: written.shards,
        elapsed: started.elapsed(),
    })
}

/// Builds the plan's cases in parallel, a few per thread in flight (bounding memory), and hands each case's
/// rows to the report and the sinks in input order.
fn build_cases(
    plan: &BuildPlan,
    ctx: &CaseContext,
    pool: &rayon::ThreadPool,
    sinks: &mut Sinks,
    report: &mut ReportBuilder,
    fail_fast: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), BuildError> {
    for chunk in plan.work.chunks(plan.threads * 2) {
        let results: Vec<Result<CaseOutput, CaseError>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|work| case::build_case(ctx, work))
                .collect()
        });
        for (work, result) in chunk.iter().zip(results) {
            let case = &work.case;
            match result {
                Ok(output) => {
                    let rows = output.rows.len();
                    progress(Progress::CaseDone {
                        case,
                        rows,
                        error: None,
                    });
                    report.case_built(&output);
                    for row in output.rows {
                        report.row(&row);
                        sinks.push(row)?;
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    progress(Progress::CaseDone {
                        case,
                        rows: 0,
                        error: Some(&message),
                    });
                    report.case_failed(case, &message);
                    if fail_fast {
                        // Dropping the sinks (in `build`) removes every partial file.
                        return Err(BuildError::FailFast(format!(
                            "{}/{}: {message}",
                            case.collection, case.case_id
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

fn write_card(plan: &BuildPlan, shards: &[WrittenShard]) -> Result<(), BuildError> {
    let m = &plan.loaded.manifest;
    let card = CardInfo {
        pretty_name: format!("{} quantitative VQA", m.dataset.name),
        description: format!(
            "Quantitative visual question answering built by medvision-build from {} ({}).",
            m.dataset.name,
            m.dataset.image_description.english()
        ),
        license: None,
        languages: m.output.languages.iter().map(|l| l.to_string()).collect(),
        task_categories: vec!["visual-question-answering".into()],
        tags: vec!["medical".into(), m.dataset.modality.as_str().to_lowercase()],
        configs: CardConfig::from_shards(shards, &plan.dataset_dir)?,
        builder_version: BUILDER_VERSION.into(),
        manifest_sha256: plan.loaded.sha256.clone(),
    };
    sink::write_card(&plan.dataset_dir, &card)?;
    Ok(())
}
