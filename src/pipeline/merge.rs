//! `merge PARTS… --out DIR`: the dataset of a partitioned build. Checks that the parts belong together (same
//! builder, manifest, options, plan fingerprint and count; every partition exactly once), re-plans the build
//! from the recorded options (discovery only, no volume is read), and replays every part's recorded cases in
//! the plan's order into the same [`DatasetWriter`] a single build uses — so every output file is
//! byte-identical to the single build's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::{BuildError, PartError};
use super::part::{self, PartInfo, PartReader, RecordedOptions};
use super::partition;
use super::plan::{BuildPlan, PlanError, BUILDER_VERSION};
use super::writer::{CaseWriter, DatasetWriter};
use super::{BuildSummary, Progress};

/// Merges the part folders named by `args` (part folders, or folders holding them) into `<out_dir>/<dataset>`.
pub fn merge(
    args: &[PathBuf],
    out_dir: &Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let mut parts = Vec::new();
    for dir in find_parts(args)? {
        let info = part::read_info(&dir)?;
        parts.push((dir, info));
    }
    if parts.is_empty() {
        return Err(PartError::NotAPart(PathBuf::from("(no part folder given)")).into());
    }
    let order = check_parts(&parts)?;
    let (first_dir, first) = &parts[order[0]];
    check_working_dir(&first.options)?;
    let options = first
        .options
        .to_build_options(out_dir, &first_dir.join("part.json"))?;
    let plan = BuildPlan::new(&options)?;
    check_plan(&plan, &parts)?;
    let assignment = partition::assign(&plan, first.partition_count).map_err(PlanError::from)?;
    for (dir, info) in &parts {
        let expected: Vec<usize> = (0..plan.work.len())
            .filter(|&i| assignment[i] == info.partition_index)
            .collect();
        if info.cases != expected {
            let message = format!(
                "holds cases {:?}, but partition {} of the re-planned build has {expected:?}",
                info.cases, info.partition_index
            );
            return Err(mismatch(dir, message));
        }
    }
    let mut readers = order
        .iter()
        .map(|&k| PartReader::open(&parts[k].0, parts[k].1.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut writer = DatasetWriter::new(&plan, Some(super::thread_pool(&plan)?))?;
    if !writer.leftovers.is_empty() {
        progress(Progress::Leftovers {
            dir: &plan.dataset_dir,
            removed: &writer.leftovers,
        });
    }
    progress(Progress::Start {
        cases: plan.work.len(),
    });
    for (index, work) in plan.work.iter().enumerate() {
        let writer: &mut dyn CaseWriter = &mut writer;
        let replayed = readers[assignment[index]].replay_case(index, writer)?;
        progress(Progress::CaseDone {
            case: &work.case,
            rows: replayed.rows,
            error: replayed.error.as_deref(),
        });
    }
    for reader in readers {
        reader.finish()?;
    }
    let written = writer.finish()?;
    Ok(BuildSummary {
        dataset_dir: written.dataset_dir,
        manifest: plan.loaded.source.clone(),
        report: written.report,
        shards: written.shards,
        elapsed: started.elapsed(),
    })
}

fn mismatch(dir: &Path, message: String) -> BuildError {
    PartError::Mismatch {
        part: dir.to_path_buf(),
        message,
    }
    .into()
}

/// Each argument is a part folder (it holds `part.json`) or a folder whose subfolders are part folders (e.g.
/// `out/KiTS23.parts`); unfinished `*.partial` folders are not parts.
fn find_parts(args: &[PathBuf]) -> Result<Vec<PathBuf>, PartError> {
    let mut found = Vec::new();
    for arg in args {
        if arg.extension().is_some_and(|x| x == "partial") {
            return Err(PartError::NotAPart(arg.clone()));
        }
        if arg.join("part.json").is_file() {
            found.push(arg.clone());
            continue;
        }
        let entries = std::fs::read_dir(arg).map_err(|source| PartError::Io {
            path: arg.clone(),
            source,
        })?;
        let mut children: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_none_or(|x| x != "partial"))
            .filter(|p| p.join("part.json").is_file())
            .collect();
        if children.is_empty() {
            return Err(PartError::NotAPart(arg.clone()));
        }
        children.sort();
        found.extend(children);
    }
    Ok(found)
}

/// Every part agrees with the first (builder, dataset, manifest, fingerprint, options, count) and every
/// partition index is present once; returns the position in `parts` of partition 0, 1, ….
fn check_parts(parts: &[(PathBuf, PartInfo)]) -> Result<Vec<usize>, BuildError> {
    let (first_dir, first) = &parts[0];
    let count = first.partition_count;
    let mut order: Vec<Option<usize>> = vec![None; count];
    for (k, (dir, info)) in parts.iter().enumerate() {
        if info.builder_version != BUILDER_VERSION {
            let message = format!(
                "built by medvision-build {}; this is {BUILDER_VERSION}",
                info.builder_version
            );
            return Err(mismatch(dir, message));
        }
        let fields = [
            ("dataset", &info.dataset, &first.dataset),
            (
                "manifest sha256",
                &info.manifest_sha256,
                &first.manifest_sha256,
            ),
            (
                "plan fingerprint",
                &info.plan_fingerprint,
                &first.plan_fingerprint,
            ),
        ];
        for (name, value, expected) in fields {
            if value != expected {
                let message = format!("{name} {value}, but {} has {expected}", first_dir.display());
                return Err(mismatch(dir, message));
            }
        }
        let differences = info.options.differences(&first.options);
        if !differences.is_empty() {
            let message = format!(
                "built with other options than {}: {}",
                first_dir.display(),
                differences.join("; ")
            );
            return Err(mismatch(dir, message));
        }
        if info.partition_count != count {
            let message = format!(
                "partition {}/{}, but {} is one of {count}",
                info.partition_index,
                info.partition_count,
                first_dir.display()
            );
            return Err(mismatch(dir, message));
        }
        let slot = order.get_mut(info.partition_index).ok_or_else(|| {
            let message = format!(
                "partition index {} is not below {count}",
                info.partition_index
            );
            mismatch(dir, message)
        })?;
        if let Some(other) = slot {
            return Err(PartError::Duplicate {
                index: info.partition_index,
                first: parts[*other].0.clone(),
                second: dir.clone(),
            }
            .into());
        }
        *slot = Some(k);
    }
    order
        .iter()
        .enumerate()
        .map(|(index, k)| {
            k.ok_or_else(|| {
                let have: Vec<String> =
                    parts.iter().map(|(d, _)| d.display().to_string()).collect();
                PartError::Missing {
                    index,
                    count,
                    have: have.join(", "),
                }
                .into()
            })
        })
        .collect()
}

/// Relative recorded paths are only valid from the folder the partitions ran in.
fn check_working_dir(options: &RecordedOptions) -> Result<(), PartError> {
    if !options.needs_working_dir() {
        return Ok(());
    }
    let here = std::env::current_dir().ok();
    let recorded = Path::new(&options.working_dir);
    let same = here.as_deref() == Some(recorded)
        || match (
            here.and_then(|h| h.canonicalize().ok()),
            recorded.canonicalize(),
        ) {
            (Some(a), Ok(b)) => a == b,
            _ => false,
        };
    if same {
        return Ok(());
    }
    Err(PartError::WorkingDir {
        recorded: options.working_dir.clone(),
        manifest: options.manifest.clone(),
        data_root: options.data_root.clone(),
    })
}

/// The re-planned build is the one the parts were built from: same manifest bytes, same plan.
fn check_plan(plan: &BuildPlan, parts: &[(PathBuf, PartInfo)]) -> Result<(), BuildError> {
    let (dir, info) = &parts[0];
    if plan.loaded.sha256 != info.manifest_sha256 {
        let message = format!(
            "manifest {} has changed since the part was built (sha256 now {}, then {})",
            info.options.manifest, plan.loaded.sha256, info.manifest_sha256
        );
        return Err(mismatch(dir, message));
    }
    let fingerprint = part::plan_fingerprint(plan);
    if fingerprint != info.plan_fingerprint {
        let message = format!(
            "the build re-planned from {} finds other cases, files or splits than the partitions did \
             (plan fingerprint {fingerprint}, parts {})",
            info.options.data_root, info.plan_fingerprint
        );
        return Err(mismatch(dir, message));
    }
    Ok(())
}
