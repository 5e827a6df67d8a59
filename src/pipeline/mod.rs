//! The build: the plan (manifest, discovery, split, conventions) → cases on worker threads, their rows
//! streamed in work order (`stream.rs`) → one [`CaseWriter`]: the dataset writer (sinks, dataset card, build report)
//! for a whole build, a part folder for a partition build (`--partition I/N`), which `merge` later replays
//! into the dataset writer. The only module that knows every stage.

pub mod case;
pub mod cpython_random;
mod error;
pub mod interrupt;
mod merge;
pub mod part;
pub mod partition;
pub mod plan;
pub mod report;
pub mod split;
mod stream;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::manifest::ManifestSource;
use crate::sink::{Background, WrittenShard};
use case::CaseContext;
pub use error::{BuildError, PartError};
pub use merge::merge;
use part::{PartSummary, PartWriter};
use partition::Partition;
pub use plan::{
    load_manifest, load_manifest_from, BuildOptions, BuildPlan, PlanError, BUILDER_VERSION,
};
use report::BuildReport;
pub use writer::Progress;
use writer::{CaseWriter, DatasetWriter, Reporting};

/// What a finished build reports to the user.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// Folder the dataset was written to.
    pub dataset_dir: PathBuf,
    /// The manifest built from (a file or a bundled one).
    pub manifest: ManifestSource,
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
    if let Some(signal) = interrupt::requested() {
        return Err(BuildError::Interrupted { signal });
    }
    let pool = thread_pool(&plan)?;
    let mut writer = DatasetWriter::new(&plan, Some(pool.clone()))?;
    if !writer.leftovers.is_empty() {
        progress(Progress::Leftovers {
            dir: &plan.dataset_dir,
            removed: &writer.leftovers,
        });
    }
    let all: Vec<usize> = (0..plan.work.len()).collect();
    progress(Progress::Start { cases: all.len() });
    build_cases(&plan, &all, &pool, &mut writer, options.fail_fast, progress)?;
    let written = writer.finish()?;
    Ok(BuildSummary {
        dataset_dir: written.dataset_dir,
        manifest: plan.loaded.source.clone(),
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
    let pool = thread_pool(&plan)?;
    build_cases(
        &plan,
        &cases,
        &pool,
        &mut writer,
        options.fail_fast,
        progress,
    )?;
    writer.finish()
}

/// The build's thread pool (`--threads`): slices of big cases are rendered on it and the sinks' background
/// work (Parquet row groups) runs on it.
fn thread_pool(plan: &BuildPlan) -> Result<Arc<rayon::ThreadPool>, BuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map(Arc::new)
        .map_err(|e| BuildError::Threads {
            threads: plan.threads,
            reason: e.to_string(),
        })
}

/// Sink jobs never block (each sends its one result into a channel with room for it), so they can share the
/// pool with the slice rendering.
impl Background for rayon::ThreadPool {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>) {
        rayon::ThreadPool::spawn(self, job);
    }

    fn threads(&self) -> usize {
        self.current_num_threads()
    }
}

/// Builds the plan's cases `indices` (ascending) on the build's threads and streams each to `writer` in that
/// order (`stream.rs`): its rows batch by batch, then its totals or error.
fn build_cases(
    plan: &BuildPlan,
    indices: &[usize],
    pool: &rayon::ThreadPool,
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
        // With at least two cases per thread every core has a case of its own; slices in parallel as well
        // would only add pool wake-ups (measured: ~25 % more CPU on 16 cases at 2 threads).
        pool: (plan.threads > 1 && indices.len() < 2 * plan.threads).then_some(pool),
        tsv_gate: writer.tsv_gate(),
        final_case: indices.last().map(|&i| &plan.work[i].case),
        data_root: &plan.data_root,
    };
    let build_case =
        |index: usize, rows: &mut case::RowSink| case::build_case(&ctx, &plan.work[index], rows);
    let mut reporting = Reporting::new(writer, plan, fail_fast, progress);
    stream::run(&build_case, indices, plan.threads, &mut reporting)
}
