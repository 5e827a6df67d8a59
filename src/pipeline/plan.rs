//! The build plan: everything a build decides once, before any case is built — the loaded manifest, the
//! cases found and the split each goes to, the conventions of the chosen profile, and where outputs go.
//!
//! `Profile` is translated into conventions here and only here: the stages receive plain values
//! (`DisplayFrame`, `Rounding`, `LesionRules`) and never look at the profile themselves.

use std::path::{Path, PathBuf};

use super::split::{Split, SplitError, SplitPlan};
use crate::annotate::lesion::LesionRules;
use crate::annotate::DisplayFrame;
use crate::discover::{self, Case, CollectionFound, DiscoverError, SkippedCase};
use crate::manifest::schema::ParquetConfigs;
use crate::manifest::{nnunet, LoadedManifest, ManifestError, ManifestSource, Profile};
use crate::render::Rounding;
use crate::sink::jsonl::ImagePaths;
use crate::sink::tsv::TsvOptions;
use crate::sink::{OutputFormat, ParquetOptions};
use crate::vqa::templates::{self, TemplateSet};

/// The crate version written into every row and report.
pub const BUILDER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Upper bound on the uncompressed bytes of one Parquet row group (README, "Output formats"): 100 MB, the
/// size up to which the Hub copies files (outputs.md).
const ROW_GROUP_BYTES: usize = 100 * 1000 * 1000;

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Manifest to build from: a file, or a bundled manifest's name (see [`load_manifest`]).
    pub manifest: PathBuf,
    /// Folder the manifest's collection patterns are resolved against.
    pub data_root: PathBuf,
    /// Output folder; the dataset is written to `<out_dir>/<dataset name>`.
    pub out_dir: PathBuf,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Stop at the first failed case instead of recording it and going on.
    pub fail_fast: bool,
    /// Profile whose conventions the build follows.
    pub profile: Profile,
    /// Output formats to write (Parquet with its card, GMAI-style TSV, chat JSONL).
    pub formats: Vec<OutputFormat>,
    /// Overrides `[output.tsv] max_items` (CLI `--tsv-max-items`; 0 keeps every item).
    pub tsv_max_items: Option<u64>,
    /// Overrides `[output] parquet_configs` (CLI `--parquet-configs`).
    pub parquet_configs: Option<ParquetConfigs>,
    /// How JSONL lines name their images (CLI `--jsonl-image-paths`).
    pub jsonl_image_paths: ImagePaths,
}

/// Loads and validates a manifest together with its question templates (every diagnostic at once): what
/// `validate`, `list` and the build itself check. `given` is a `--manifest` value: an nnU-Net folder or its
/// `dataset.json` stands for the manifest generated from it (`manifest::nnunet`); an existing file is read;
/// otherwise a bare name (`kits23`, `kits23.toml`, `manifests/kits23.toml`) means the bundled manifest.
pub fn load_manifest(given: &Path) -> Result<(LoadedManifest, TemplateSet), ManifestError> {
    if nnunet::is_nnunet_source(given) {
        let text =
            nnunet::manifest_text(given).map_err(nnunet::NnunetError::into_manifest_error)?;
        return templates::load_manifest_with_defaults(&nnunet::dataset_json_path(given), text);
    }
    templates::load_manifest(given)
}

/// [`load_manifest`] of a source already chosen (`list` of the bundled manifests).
pub fn load_manifest_from(
    source: ManifestSource,
) -> Result<(LoadedManifest, TemplateSet), ManifestError> {
    templates::load_manifest_from(source)
}

/// Why a build could not be planned (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    /// The manifest or its templates are invalid or unreadable.
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    /// Case discovery failed.
    Discover(#[from] DiscoverError),
    #[error(transparent)]
    /// The split could not be determined.
    Split(#[from] SplitError),
}

/// How a profile displays slices, renders them, measures lesions and splits cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conventions {
    /// Orientation of displayed slices.
    pub frame: DisplayFrame,
    /// Rounding of scaled intensities to 8-bit gray levels.
    pub rounding: Rounding,
    /// Which published rule set measures lesions.
    pub lesion_rules: LesionRules,
    /// Without a split file: MedVision's seeded shuffle of case ids (true) or the stable hash split.
    pub medvision_split: bool,
}

impl Conventions {
    /// The conventions of one profile (docs/measurements.md §1 and §4).
    pub fn for_profile(profile: Profile) -> Conventions {
        match profile {
            Profile::Default => Conventions {
                frame: DisplayFrame::Radiological,
                rounding: Rounding::HalfEven,
                lesion_rules: LesionRules::Default,
                medvision_split: false,
            },
            Profile::Medvision => Conventions {
                frame: DisplayFrame::RawArray,
                rounding: Rounding::Truncate,
                lesion_rules: LesionRules::MedVision10,
                medvision_split: true,
            },
            Profile::Medvision14 => Conventions {
                frame: DisplayFrame::RawArray,
                rounding: Rounding::Truncate,
                lesion_rules: LesionRules::MedVision14,
                medvision_split: true,
            },
        }
    }
}

/// One case to build and the split its rows go to.
#[derive(Debug, Clone)]
pub struct Work {
    /// The case.
    pub case: Case,
    /// Split its rows go to.
    pub split: Split,
}

/// Everything decided before the first case is built.
pub struct BuildPlan {
    /// The validated manifest.
    pub loaded: LoadedManifest,
    /// The question templates: the built-in set with the manifest's overrides.
    pub templates: TemplateSet,
    /// Profile the build follows.
    pub profile: Profile,
    /// The profile's conventions.
    pub conventions: Conventions,
    /// How cases are assigned to splits (written into the report).
    pub split_description: String,
    /// Cases to build, in the deterministic discovery order.
    pub work: Vec<Work>,
    /// Cases found but not built: images without a mask, cases the split file does not list.
    pub skipped: Vec<SkippedCase>,
    /// Images found, with or without a mask.
    pub found: u64,
    /// Non-fatal discovery findings.
    pub warnings: Vec<String>,
    /// What discovery found per collection, and in which of its forms.
    pub discovery: Vec<CollectionFound>,
    /// `<out>/<dataset name>`.
    pub dataset_dir: PathBuf,
    /// Output formats to write.
    pub formats: Vec<OutputFormat>,
    /// Parquet writer settings.
    pub parquet: ParquetOptions,
    /// TSV sample and limits.
    pub tsv: TsvOptions,
    /// How JSONL lines name their images.
    pub jsonl_image_paths: ImagePaths,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// The data root, symlinks resolved when it exists: a header's data file must lie inside it.
    pub data_root: PathBuf,
}

impl BuildPlan {
    /// Loads the manifest, discovers the cases and assigns each to its split.
    pub fn new(options: &BuildOptions) -> Result<BuildPlan, PlanError> {
        let (loaded, templates) = load_manifest(&options.manifest)?;
        let conventions = Conventions::for_profile(options.profile);
        let discovery = discover::discover(&loaded, &options.data_root)?;
        let m = &loaded.manifest;
        let split_plan = match &loaded.split_file {
            Some(path) => SplitPlan::from_file(path)?,
            None if conventions.medvision_split => {
                SplitPlan::medvision(discovery.cases.iter().map(|c| c.case_id.as_str()))
            }
            None => SplitPlan::hash(
                &m.dataset.name,
                m.split.seed,
                m.split.test_fraction,
                m.split.group.as_ref().map(|g| g.get_ref().as_str()),
            )?,
        };
        let split_description = split_plan.describe();
        let found = (discovery.cases.len() + discovery.skipped.len()) as u64;
        let mut skipped = discovery.skipped;
        let mut work = Vec::new();
        for case in discovery.cases {
            match split_plan.assign(&case.case_id) {
                Some(split) => work.push(Work { case, split }),
                None => skipped.push(SkippedCase {
                    collection: case.collection,
                    case_id: case.case_id,
                    path: case.image_rel,
                    reason: format!("not listed by the split ({split_description})"),
                }),
            }
        }
        Ok(BuildPlan {
            dataset_dir: options.out_dir.join(&m.dataset.name),
            parquet: ParquetOptions {
                row_group_rows: m.output.row_group_rows,
                row_group_bytes: ROW_GROUP_BYTES,
                shard_bytes: m.output.shard_bytes,
                single_config: options
                    .parquet_configs
                    .unwrap_or(m.output.parquet_configs)
                    .single_config(),
            },
            tsv: TsvOptions {
                max_items: options.tsv_max_items.unwrap_or(m.output.tsv.max_items),
                seed: m.output.tsv.seed,
                ..TsvOptions::default()
            },
            jsonl_image_paths: options.jsonl_image_paths,
            loaded,
            templates,
            profile: options.profile,
            conventions,
            split_description,
            work,
            skipped,
            found,
            warnings: discovery.warnings,
            discovery: discovery.collections,
            formats: options.formats.clone(),
            threads: options.threads.max(1),
            data_root: std::fs::canonicalize(&options.data_root)
                .unwrap_or_else(|_| options.data_root.clone()),
        })
    }

    /// True when some output stores RGB copies of the slices (the GMAI-style TSV).
    pub fn needs_rgb_images(&self) -> bool {
        self.formats.contains(&OutputFormat::Tsv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_profile_maps_to_its_conventions() {
        let default = Conventions::for_profile(Profile::Default);
        assert_eq!(default.frame, DisplayFrame::Radiological);
        assert_eq!(default.rounding, Rounding::HalfEven);
        assert_eq!(default.lesion_rules, LesionRules::Default);
        assert!(!default.medvision_split);
        let v10 = Conventions::for_profile(Profile::Medvision);
        assert_eq!(v10.frame, DisplayFrame::RawArray);
        assert_eq!(v10.rounding, Rounding::Truncate);
        assert_eq!(v10.lesion_rules, LesionRules::MedVision10);
        assert!(v10.medvision_split);
        let v14 = Conventions::for_profile(Profile::Medvision14);
        assert_eq!(v14.lesion_rules, LesionRules::MedVision14);
        assert_eq!((v14.frame, v14.rounding), (v10.frame, v10.rounding));
    }
}
