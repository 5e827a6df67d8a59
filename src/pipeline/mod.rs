//! The build: the plan (manifest, discovery, split, conventions) → cases in parallel (in fixed-size chunks,
//! results kept in input order) → one [`CaseWriter`]: the dataset writer (sinks, dataset card, build report)
//! for a whole build, a part folder for a partition build (`--partition I/N`), which `merge` later replays
//! into the dataset writer. The only module that knows every stage.

pub mod case;
pub mod cpython_random;
mod error;
mod merge;
pub mod part;
pub mod partition;
pub mod plan;
pub mod report;
pub mod split;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::discover::Case;
use crate::record::Row;
use crate::sink::WrittenShard;
use case::{CaseContext, CaseError, CaseOutput};
pub use error::{BuildError, PartError};
pub use merge::merge;
use part::{PartSummary, PartWriter};
use partition::Partition;
pub use plan::{load_manifest, BuildOptions, BuildPlan, PlanError, BUILDER_VERSION};
use report::BuildReport;
use writer::{CaseWriter, DatasetWriter};

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
    let mut writer = DatasetWriter::new(&plan)?;
    let all: Vec<usize> = (0..plan.work.len()).collect();
    progress(Progress::Start { cases: all.len() });
    build_cases(&plan, &all, &mut writer, options.fail_fast, progress)?;
    let written = writer.finish()?;
    Ok(BuildSummary {
        dataset_dir: written.dataset_dir,
        report: written.report,
        shards: written.shards,
        elapsed: started.elapsed(),
    })
}

/// Builds partition `partition` of the cases into its part folder (`<out>/<dataset>.parts/part-I-of-N`),
/// for `merge` to turn into the dataset.
pub fn build_partition(
    options: &BuildOptions,
    partition: Partition,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<PartSummary, BuildError> {
    let plan = BuildPlan::new(options)?;
    let assignment = partition::assign(&plan, partition.count).map_err(PlanError::from)?;
    let cases: Vec<usize> = (0..plan.work.len())
        .filter(|&i| assignment[i] == partition.index)
        .collect();
    let mut writer = PartWriter::create(&plan, options, partition, cases.clone())?;
    progress(Progress::Start { cases: cases.len() });
    build_cases(&plan, &cases, &mut writer, options.fail_fast, progress)?;
    writer.finish()
}

/// Builds the plan's cases `indices` (ascending) in parallel, a few per thread in flight (bounding memory),
/// and hands each case to `writer` in that order: its rows (one batch per run of rows sharing a slice image),
/// then its totals or error.
fn build_cases(
    plan: &BuildPlan,
    indices: &[usize],
    writer: &mut dyn CaseWriter,
    fail_fast: bool,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(), BuildError> {
    let ctx = CaseContext {
        manifest: &plan.loaded,
        templates: &plan.templates,
        conventions: plan.conventions,
        builder_version: BUILDER_VERSION,
        rgb_images: plan.needs_rgb_images(),
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map_err(|e| BuildError::Threads {
            threads: plan.threads,
            reason: e.to_string(),
        })?;
    for chunk in indices.chunks(plan.threads * 2) {
        let results: Vec<Result<CaseOutput, CaseError>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|&index| case::build_case(&ctx, &plan.work[index]))
                .collect()
        });
        for (&index, result) in chunk.iter().zip(results) {
            let case = &plan.work[index].case;
            match result {
                Ok(mut output) => {
                    let rows = std::mem::take(&mut output.rows);
                    progress(Progress::CaseDone {
                        case,
                        rows: rows.len(),
                        error: None,
                    });
                    for batch in slice_batches(rows) {
                        writer.rows(index, batch)?;
                    }
                    writer.case_done(index, Ok(output))?;
                }
                Err(e) => {
                    let message = e.to_string();
                    progress(Progress::CaseDone {
                        case,
                        rows: 0,
                        error: Some(&message),
                    });
                    writer.case_done(index, Err(message.clone()))?;
                    if fail_fast {
                        // Dropping the writer (in the caller) removes every partial file.
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

/// A case's rows cut into runs that share one slice image (as the streaming writer will send them).
fn slice_batches(rows: Vec<Row>) -> Vec<Vec<Row>> {
    let mut batches: Vec<Vec<Row>> = Vec::new();
    for row in rows {
        match batches.last_mut() {
            Some(batch)
                if batch
                    .last()
                    .is_some_and(|last| Arc::ptr_eq(&last.image_png, &row.image_png)) =>
            {
                batch.push(row)
            }
            _ => batches.push(vec![row]),
        }
    }
    batches
}
