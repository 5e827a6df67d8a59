//! The build: the plan (manifest, discovery, split, conventions) → cases on worker threads, their rows
//! streamed in work order ([`stream`]) → one owner writing the sinks, the dataset card and the build report
//! ([`writer`]). The only module that knows every stage.

pub mod case;
pub mod cpython_random;
mod error;
pub mod plan;
pub mod report;
pub mod split;
mod stream;
pub mod writer;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::sink::{self, CardConfig, CardInfo, Sinks, WrittenShard};
use case::CaseContext;
pub use error::BuildError;
pub use plan::{load_manifest, BuildOptions, BuildPlan, PlanError, BUILDER_VERSION};
use report::{BuildReport, ReportBuilder};
use writer::DatasetWriter;
pub use writer::Progress;

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
    let report = ReportBuilder::new(&plan);
    let dataset_dir = &plan.dataset_dir;
    std::fs::create_dir_all(dataset_dir).map_err(|source| BuildError::Write {
        path: dataset_dir.clone(),
        source,
    })?;
    let m = &plan.loaded.manifest;
    let sinks = Sinks::new(dataset_dir, &m.dataset.name, &plan.formats, plan.parquet)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(plan.threads)
        .build()
        .map_err(|e| BuildError::Threads {
            threads: plan.threads,
            reason: e.to_string(),
        })?;
    let ctx = CaseContext {
        manifest: &plan.loaded,
        templates: &plan.templates,
        conventions: plan.conventions,
        builder_version: BUILDER_VERSION,
        rgb_images: plan.needs_rgb_images(),
        pool: &pool,
    };

    progress(Progress::Start {
        cases: plan.work.len(),
    });
    let mut writer = DatasetWriter::new(&plan.work, report, sinks, options.fail_fast, progress);
    let order: Vec<usize> = (0..plan.work.len()).collect();
    let build_case =
        |index: usize, rows: &mut case::RowSink| case::build_case(&ctx, &plan.work[index], rows);
    stream::run(&build_case, &order, plan.threads, &mut writer)?;
    let DatasetWriter { report, sinks, .. } = writer;
    let writes_card = sinks.writes_parquet();
    let written = sinks.finish()?;
    let report = report.finish(&written, dataset_dir);
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
