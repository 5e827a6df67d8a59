//! The build: manifest → discovery → cases in parallel (in fixed-size chunks, results kept in input order) →
//! one owner writing the sinks, the dataset card and the build report. The only module that knows every stage.

pub mod cpython_random;
pub mod landmark_worker;
pub mod report;
pub mod split;
pub mod worker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::annotate::lesion::LesionRules;
use crate::annotate::{DisplayFrame, FilterCounts, LesionCounts};
use crate::discover::{self, Case};
use crate::manifest::{self, LoadedManifest, Profile};
use crate::render::Rounding;
use crate::sink::{self, CardConfig, CardInfo, OutputFormat, ParquetOptions, Sinks, WrittenShard};
use report::{
    BuildReport, CaseCounts, FailedEntry, FileEntry, FilterReport, SkippedEntry, TaskReport,
};
use split::SplitPlan;
use worker::{BuildContext, CaseOutput};

/// The crate version written into every row and report.
pub const BUILDER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Upper bound on the uncompressed bytes of one Parquet row group (outputs.md §1).
const ROW_GROUP_BYTES: usize = 100 * 1024 * 1024;

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub manifest: PathBuf,
    pub data_root: PathBuf,
    pub out_dir: PathBuf,
    /// Worker threads (at least 1).
    pub threads: usize,
    pub fail_fast: bool,
    pub profile: Profile,
    /// Output formats to write (Parquet with its card, GMAI-style TSV, chat JSONL).
    pub formats: Vec<OutputFormat>,
}

/// Progress notifications for the CLI's bar or log lines.
#[derive(Debug, Clone)]
pub enum Progress<'a> {
    /// Discovery finished: this many cases will be built.
    Start { cases: usize },
    /// One case finished (successfully or not).
    CaseDone {
        case: &'a Case,
        rows: usize,
        error: Option<&'a str>,
    },
}

/// A build that could not run or could not write its outputs (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
    #[error(transparent)]
    Discover(#[from] discover::DiscoverError),
    #[error(transparent)]
    Split(#[from] split::SplitError),
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {threads} worker threads: {reason}")]
    Threads { threads: usize, reason: String },
    #[error("stopped at the first failed case (--fail-fast): {0}")]
    FailFast(String),
}

/// What a finished build reports to the user.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    pub dataset_dir: PathBuf,
    pub report: BuildReport,
    pub shards: Vec<WrittenShard>,
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
    let (loaded, templates) = crate::vqa::templates::load_manifest(&options.manifest)?;
    let m = &loaded.manifest;
    let discovery = discover::discover(&loaded, &options.data_root)?;
    let plan = match &loaded.split_file {
        Some(path) => SplitPlan::from_file(path)?,
        None if options.profile.is_medvision() => {
            SplitPlan::medvision(discovery.cases.iter().map(|c| c.case_id.as_str()))
        }
        None => SplitPlan::hash(
            &m.dataset.name,
            m.split.seed,
            m.split.test_fraction,
            m.split.group.as_ref().map(|g| g.get_ref().as_str()),
        )?,
    };

    let mut report = BuildReport {
        tool: "medvision-build".into(),
        builder_version: BUILDER_VERSION.into(),
        dataset: m.dataset.name.clone(),
        manifest_sha256: loaded.sha256.clone(),
        profile: options.profile.as_str().into(),
        answer_format: m.output.answer_format.as_str().into(),
        languages: m.output.languages.iter().map(|l| l.to_string()).collect(),
        split: plan.describe(),
        warnings: discovery.warnings.clone(),
        ..BuildReport::default()
    };
    for task in &m.tasks {
        report.tasks.insert(
            worker::task_key(task),
            TaskReport {
                kind: task.kind.as_str().into(),
                ..TaskReport::default()
            },
        );
    }
    landmark_worker::report_task_keys(&m.tasks, &mut report);
    for s in &discovery.skipped {
        report.skipped.push(SkippedEntry {
            collection: s.collection.clone(),
            case_id: s.case_id.clone(),
            path: s.path.clone(),
            reason: s.reason.clone(),
        });
    }
    let mut work: Vec<(&Case, &'static str)> = Vec::new();
    for case in &discovery.cases {
        match plan.assign(&case.case_id) {
            Some(split) => work.push((case, split.as_str())),
            None => report.skipped.push(SkippedEntry {
                collection: case.collection.clone(),
                case_id: case.case_id.clone(),
                path: case.image_rel.clone(),
                reason: format!("not listed by the split ({})", plan.describe()),
            }),
        }
    }
    report.cases = CaseCounts {
        found: (discovery.cases.len() + discovery.skipped.len()) as u64,
        skipped: report.skipped.len() as u64,
        ..CaseCounts::default()
    };

    let dataset_dir = options.out_dir.join(&m.dataset.name);
    std::fs::create_dir_all(&dataset_dir).map_err(|source| BuildError::Write {
        path: dataset_dir.clone(),
        source,
    })?;
    let mut sink = Sinks::new(
        &dataset_dir,
        &m.dataset.name,
        &options.formats,
        ParquetOptions {
            row_group_rows: m.output.row_group_rows,
            row_group_bytes: ROW_GROUP_BYTES,
            shard_bytes: m.output.shard_bytes,
        },
    )?;
    let ctx = BuildContext {
        manifest: &loaded,
        templates: &templates,
        frame: DisplayFrame::for_profile(options.profile),
        rounding: Rounding::for_profile(options.profile),
        lesion_rules: LesionRules::for_profile(options.profile),
        builder_version: BUILDER_VERSION,
    };
    let threads = options.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| BuildError::Threads {
            threads,
            reason: e.to_string(),
        })?;

    progress(Progress::Start { cases: work.len() });
    let mut filters: BTreeMap<String, FilterCounts> = BTreeMap::new();
    let mut lesion: BTreeMap<String, LesionCounts> = BTreeMap::new();
    // A few cases per thread in flight bounds memory; results come back in input order.
    for chunk in work.chunks(threads * 2) {
        let results: Vec<Result<CaseOutput, worker::CaseError>> = pool.install(|| {
            chunk
                .par_iter()
                .map(|(case, split)| worker::build_case(&ctx, case, split))
                .collect()
        });
        for ((case, _), result) in chunk.iter().zip(results) {
            match result {
                Ok(output) => {
                    progress(Progress::CaseDone {
                        case,
                        rows: output.rows.len(),
                        error: None,
                    });
                    report.cases.built += 1;
                    report.warnings.extend(output.warnings);
                    report.notes.extend(output.notes);
                    for (task_id, counts) in output.filters {
                        *filters.entry(task_id).or_default() += counts;
                    }
                    for (task_id, counts) in output.lesion {
                        *lesion.entry(task_id).or_default() += counts;
                    }
                    pool.install(|| sink.prepare(&output.rows));
                    for row in output.rows {
                        let task = report
                            .tasks
                            .entry(format!("{} {}", row.config, row.task_id))
                            .or_default();
                        *task.rows_by_split.entry(row.split.clone()).or_default() += 1;
                        let label = label_key(&loaded, &row.collection, row.label_id);
                        *task.rows_by_label.entry(label).or_default() += 1;
                        report.rows_total += 1;
                        sink.push(row)?;
                    }
                }
                Err(e) => {
                    progress(Progress::CaseDone {
                        case,
                        rows: 0,
                        error: Some(&e.message),
                    });
                    report.cases.failed += 1;
                    report.failed.push(FailedEntry {
                        collection: case.collection.clone(),
                        case_id: case.case_id.clone(),
                        error: e.message.clone(),
                    });
                    if options.fail_fast {
                        // Dropping the sink removes every partial file.
                        return Err(BuildError::FailFast(format!(
                            "{}/{}: {}",
                            case.collection, case.case_id, e.message
                        )));
                    }
                }
            }
        }
    }
    for (task_id, counts) in filters {
        report.tasks.entry(task_id).or_default().filters = counts.into();
    }
    for (task_id, counts) in lesion {
        report.tasks.entry(task_id).or_default().filters = FilterReport::from_lesion(&counts);
    }
    let writes_card = sink.writes_parquet();
    let written = sink.finish()?;
    let shards = written.shards;
    for shard in &shards {
        let rel = shard.path.strip_prefix(&dataset_dir).unwrap_or(&shard.path);
        report.files.push(FileEntry {
            path: rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            config: shard.config.clone(),
            split: shard.split.clone(),
            rows: shard.rows,
        });
    }
    for file in &written.files {
        let rel = file.path.strip_prefix(&dataset_dir).unwrap_or(&file.path);
        report.files.push(FileEntry {
            path: rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            config: file.format.as_str().to_string(),
            split: file.split.clone(),
            rows: file.rows,
        });
    }
    if writes_card {
        write_card(&loaded, &dataset_dir, &shards)?;
    }
    let report_path = dataset_dir.join("build-report.json");
    sink::write_atomic(&report_path, &report.to_json()).map_err(|source| BuildError::Write {
        path: report_path,
        source,
    })?;
    Ok(BuildSummary {
        dataset_dir,
        report,
        shards,
        elapsed: started.elapsed(),
    })
}

/// `"<id> <English name>"` of a row's label for the report.
fn label_key(loaded: &LoadedManifest, collection: &str, label_id: Option<i32>) -> String {
    let Some(id) = label_id else {
        return "none".into();
    };
    let name = u16::try_from(id)
        .ok()
        .and_then(|id| loaded.labels(collection).get(&id))
        .map_or("", |l| l.name.english().as_str());
    format!("{id} {name}")
}

fn write_card(
    loaded: &LoadedManifest,
    dataset_dir: &Path,
    shards: &[WrittenShard],
) -> Result<(), BuildError> {
    let m = &loaded.manifest;
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
        configs: CardConfig::from_shards(shards, dataset_dir)?,
        builder_version: BUILDER_VERSION.into(),
        manifest_sha256: loaded.sha256.clone(),
    };
    sink::write_card(dataset_dir, &card)?;
    Ok(())
}
