//! Command line: flags and subcommands (clap derive), the progress display, the summary, and exit codes
//! (0 all built, 1 finished with failed cases, 2 fatal: bad flags, bad manifest, unwritable output; `score`:
//! 0 every prediction scored, 1 scored with predictions left out, 2 inputs unreadable; `gallery`: 0 written,
//! 2 dataset unreadable or page unwritable).

use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

mod signals;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::manifest::schema::ParquetConfigs;
use crate::manifest::Profile;
use crate::pipeline::part::PartSummary;
use crate::pipeline::{self, partition, BuildOptions, BuildSummary, Progress};
use crate::sink::jsonl::ImagePaths;
use crate::sink::OutputFormat;

/// `println!` that never panics: once stdout is closed (`medvision-build list | head`) the rest of the text is
/// dropped and the command finishes quietly with its own exit code (a build still writes its dataset).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(
            &mut std::io::stdout().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}

/// `eprintln!` that never panics (a closed stderr drops the message).
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(
            &mut std::io::stderr().lock(),
            format_args!("{}\n", format_args!($($arg)*)),
        );
    }};
}

/// Builds a quantitative medical VQA dataset (Parquet shards, dataset card, build report) from one public
/// segmentation dataset described by a TOML manifest.
#[derive(Debug, Parser)]
#[command(
    name = "medvision-build",
    version,
    args_conflicts_with_subcommands = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    /// Subcommand to run; `None` builds a dataset.
    pub command: Option<Command>,

    /// Manifest describing the dataset's layout, labels and tasks: a file (e.g. manifests/kits23.toml), or
    /// the name of a manifest bundled in the binary (e.g. `kits23`; `medvision-build list` shows them),
    /// used when no such file exists.
    #[arg(long, value_name = "FILE|NAME")]
    pub manifest: Option<PathBuf>,

    /// An nnU-Net / MSD raw dataset folder (dataset.json, imagesTr/, labelsTr/) to build without a manifest:
    /// the manifest `init DIR` would write is generated and built, with DIR as the data root.
    #[arg(long, value_name = "DIR", conflicts_with = "manifest")]
    pub nnunet: Option<PathBuf>,

    /// Folder holding the dataset in its official layout; manifest paths are relative to it.
    /// [default: `.`; the nnU-Net folder with --nnunet or a `dataset.json` manifest]
    #[arg(long, value_name = "DIR")]
    pub data_root: Option<PathBuf>,

    /// Output folder; the dataset is written to `<out>/<dataset name>/`.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,

    /// Threads [default: number of CPUs; at most 4 per CPU]: N cases are built at once and N threads render their slices and
    /// encode Parquet row groups, while one more thread writes the outputs. Output is byte-identical for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Stop at the first case that fails instead of reporting it and going on.
    #[arg(long)]
    pub fail_fast: bool,

    /// Conventions: `default` (radiological display, corrected measurements, round-half-even rendering) or
    /// `medvision` (the MedVision benchmark's raw-array display and truncating renderer).
    #[arg(long, value_enum, default_value_t = ProfileArg::Default)]
    pub profile: ProfileArg,

    /// Output formats, comma-separated: `parquet` (shards + dataset card), `tsv` (GMAI-MMBench-style
    /// multiple choice for VLMEvalKit), `jsonl` (chat JSONL with PNGs for trainers).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "parquet,tsv,jsonl"
    )]
    pub formats: Vec<FormatArg>,

    /// Build only partition I of N (0-based, e.g. `0/3`, `1/3`, `2/3`) into `<out>/<dataset>.parts/`, for
    /// `merge`; cases of one patient group stay together. `auto`: take I and N from the job array's
    /// environment (see --partition-count); `none`: build everything whatever the environment says.
    /// [default: a Slurm array task's partition (SLURM_ARRAY_TASK_ID relative to SLURM_ARRAY_TASK_MIN, of
    /// SLURM_ARRAY_TASK_COUNT), else the whole dataset]
    #[arg(long, value_name = "I/N|auto|none")]
    pub partition: Option<String>,

    /// Number of partitions, for engines that give only an index: Kubernetes Indexed Jobs
    /// (JOB_COMPLETION_INDEX; set it to the Job's `completions`) and AWS Batch array jobs
    /// (AWS_BATCH_JOB_ARRAY_INDEX; the array size). With Slurm it must match SLURM_ARRAY_TASK_COUNT.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partition_count: Option<u32>,

    /// Items per (split, language) in the GMAI-style TSV, a stratified, seeded sample (task, label, plane);
    /// 0 keeps every item [default: the manifest's `[output.tsv] max_items`, itself 500 by default].
    #[arg(long, value_name = "N")]
    pub tsv_max_items: Option<u64>,

    /// How the Parquet shards are grouped into Hugging Face configs: `one` (config `all`, every task family,
    /// each slice image stored once) or `per-task` (a config per task family: `bbox`, `mask_size`, …; a
    /// slice shown by several families is stored in each) [default: the manifest's `[output]
    /// parquet_configs`, itself `one` by default].
    #[arg(long, value_enum, value_name = "one|per-task")]
    pub parquet_configs: Option<ParquetConfigsArg>,

    /// How chat JSONL lines name their images: `relative` (`images/…png`, relative to the `jsonl/` folder;
    /// LLaMA-Factory with `dataset_dir` set to it) or `absolute` (this machine's absolute paths, for trainers
    /// that resolve paths against their working directory, e.g. ms-swift without `ROOT_IMAGE_DIR`).
    #[arg(long, value_enum, value_name = "relative|absolute", default_value_t = ImagePathsArg::Relative)]
    pub jsonl_image_paths: ImagePathsArg,

    /// Most voxels one image or mask (one channel) may have: a header claiming more fails its case before
    /// anything is allocated. Independently, no header may promise more voxel data than its file can hold.
    #[arg(long, value_name = "N", default_value_t = crate::volume::ReadLimits::DEFAULT_MAX_VOXELS)]
    pub max_voxels: u64,

    /// Plausible voxel spacing in mm, `MIN,MAX`: a volume with a spacing outside it fails its case (e.g.
    /// pixdim 1e-6 would make every size 0.00 mm).
    #[arg(long, value_name = "MIN,MAX", default_value = "0.001,100", value_parser = parse_spacing_range)]
    pub spacing_range_mm: SpacingRange,
}

/// `--jsonl-image-paths` values (the CLI's own enum: clap stays out of the sinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImagePathsArg {
    /// Relative to the `jsonl/` folder.
    Relative,
    /// Absolute paths of this machine.
    Absolute,
}

impl From<ImagePathsArg> for ImagePaths {
    fn from(arg: ImagePathsArg) -> ImagePaths {
        match arg {
            ImagePathsArg::Relative => ImagePaths::Relative,
            ImagePathsArg::Absolute => ImagePaths::Absolute,
        }
    }
}

/// `--parquet-configs` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParquetConfigsArg {
    /// One config, `all`.
    One,
    /// A config per task family.
    PerTask,
}

impl From<ParquetConfigsArg> for ParquetConfigs {
    fn from(arg: ParquetConfigsArg) -> ParquetConfigs {
        match arg {
            ParquetConfigsArg::One => ParquetConfigs::One,
            ParquetConfigsArg::PerTask => ParquetConfigs::PerTask,
        }
    }
}

/// `--spacing-range-mm MIN,MAX`, in mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpacingRange(pub [f64; 2]);

fn parse_spacing_range(text: &str) -> Result<SpacingRange, String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<f64>()
            .map_err(|_| format!("`{t}` is not a number"))
    };
    let (lo, hi) = text
        .split_once(',')
        .ok_or_else(|| format!("`{text}` is not MIN,MAX"))?;
    let range = crate::volume::ReadLimits {
        max_voxels: 1,
        spacing_range_mm: [parse(lo)?, parse(hi)?],
    };
    range.validate()?;
    Ok(SpacingRange(range.spacing_range_mm))
}

/// `--profile` values (the CLI's own enum: clap stays out of the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Radiological display frame, round-half-even rendering, corrected measurements, hash split.
    Default,
    /// MedVision v1.0.0 (the leaderboard release): raw RAS+ array slices as displayed, truncating renderer,
    /// MedVision's split and its v1.0 lesion rules.
    #[value(alias = "medvision-1.0")]
    Medvision,
    /// MedVision v1.4.0: as `medvision`, with the v1.4 lesion rules (mm floor and guards, no scaled-box rule).
    #[value(name = "medvision-1.4")]
    Medvision14,
}

impl From<ProfileArg> for Profile {
    fn from(arg: ProfileArg) -> Profile {
        match arg {
            ProfileArg::Default => Profile::Default,
            ProfileArg::Medvision => Profile::Medvision,
            ProfileArg::Medvision14 => Profile::Medvision14,
        }
    }
}

/// `--formats` values (the CLI's own enum: clap stays out of the sinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// `datasets`-ready Parquet shards with a dataset card.
    Parquet,
    /// GMAI-MMBench-style multiple-choice TSV for VLMEvalKit.
    Tsv,
    /// Chat JSONL with PNGs beside it for trainers.
    Jsonl,
}

impl From<FormatArg> for OutputFormat {
    fn from(arg: FormatArg) -> OutputFormat {
        match arg {
            FormatArg::Parquet => OutputFormat::Parquet,
            FormatArg::Tsv => OutputFormat::Tsv,
            FormatArg::Jsonl => OutputFormat::Jsonl,
        }
    }
}

#[derive(Debug, Subcommand)]
/// Subcommands other than building.
pub enum Command {
    /// Check manifests and print every problem found (file:line:column); exit 2 if any is invalid.
    Validate {
        /// Manifest files or bundled manifests' names.
        #[arg(required = true, value_name = "MANIFEST")]
        manifests: Vec<PathBuf>,
    },
    /// Write synthetic phantom data in a dataset's official layout (the committed fixtures come from here).
    Synth {
        /// Which layout: `kits23`, `ceph_biometrics_400`, `feta24`, `nnunet` (six nnU-Net / MSD folders; the
        /// fixtures under tests/fixtures/nnunet) (dedicated writers), or the stem of any manifest with a
        /// `[fixture]` table in the manifests folder (e.g. `amos22`; the bundled manifest when the default
        /// folder has no such file), or a manifest path.
        #[arg(value_name = "DATASET")]
        dataset: String,
        /// Destination folder (the data root to pass to --data-root).
        #[arg(value_name = "DIR")]
        out: PathBuf,
        /// Folder holding `<DATASET>.toml`.
        #[arg(long, value_name = "DIR", default_value = "manifests")]
        manifests: PathBuf,
    },
    /// Make the dataset of a partitioned build from its part folders, byte-identical to a single build (run
    /// it from the folder the partitions ran in).
    Merge {
        /// Part folders (`<out>/<dataset>.parts/part-IIIII-of-NNNNN`), or folders holding them (e.g.
        /// `<out>/<dataset>.parts`); every partition exactly once.
        #[arg(required = true, value_name = "PARTS")]
        parts: Vec<PathBuf>,
        /// Output folder; the dataset is written to `<out>/<dataset name>/`.
        #[arg(long, value_name = "DIR", default_value = "out")]
        out: PathBuf,
    },
    /// Explain what a data root holds for a manifest: what each pattern matched, near misses (another top
    /// folder, a flat extract, a folder too deep), images without masks and masks without images,
    /// image-like files no pattern takes, unextracted archives. Exit 0 when every collection found cases
    /// and nothing is unpaired, 1 when something is missing or unpaired, 2 when nothing matched.
    Doctor {
        /// Manifest file, or a bundled manifest's name.
        #[arg(long, value_name = "FILE|NAME")]
        manifest: PathBuf,
        /// Folder the dataset was downloaded and extracted into.
        #[arg(long, value_name = "DIR")]
        data_root: PathBuf,
    },
    /// Write the manifest of an nnU-Net / MSD raw dataset folder (from its dataset.json and imagesTr/) for
    /// you to refine; `--nnunet DIR` builds from the same text.
    Init {
        /// The dataset folder (holding dataset.json, imagesTr/, labelsTr/).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Manifest file to write [default: standard output].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Score a model's answers against a built dataset (README, "Scoring"): box IoU and F1 at IoU 0.5,
    /// MAE/MRE and success rates for sizes, distances and angles, multiple-choice accuracy; per task type,
    /// label, plane and split. Prints a Markdown table. Exit 0 when every prediction was scored, 1 when some
    /// were unreadable, unmatched, duplicated or of a task type not scored, 2 when the inputs cannot be read.
    Score {
        /// The built dataset folder, `<out>/<dataset name>`.
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
        /// Predictions: JSONL (`{"id", "prediction"}`, chat lines with an assistant message, or
        /// `{"index", "prediction"}` for TSV items) or VLMEvalKit's `<model>_<data name>.xlsx`.
        #[arg(long, value_name = "FILE")]
        predictions: PathBuf,
        /// TSV the multiple-choice predictions answer (`<dataset>_<split>_<lang>`) [default: from the
        /// prediction file's name].
        #[arg(long, value_name = "NAME")]
        tsv: Option<String>,
        /// Write the report as JSON here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write the Markdown tables here as well as printing them.
        #[arg(long, value_name = "FILE")]
        markdown: Option<PathBuf>,
    },
    /// Write a self-contained HTML QC page of a built dataset (README, "QC gallery"): a deterministic sample
    /// of rows per config and label with the box, ellipse, chord and landmarks drawn over the slice, filters
    /// by config, label, plane and split, and per-label histograms. Exit 0 written, 2 dataset unreadable.
    Gallery {
        /// The built dataset folder, `<out>/<dataset name>` (with Parquet shards).
        #[arg(long, value_name = "DIR")]
        dataset: PathBuf,
        /// Rows shown per config and label (those with the smallest xxh3 of their id).
        #[arg(long, value_name = "N", default_value_t = 16)]
        n: usize,
        /// The page to write [default: gallery.html in the dataset folder].
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Print every manifest in a folder with its layout, collections (image/mask patterns) and tasks.
    List {
        /// Folder of manifests [default: the manifests bundled in the binary].
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Parses the process arguments and runs; the return value is the process exit code.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Some(Command::Validate { manifests }) => validate(&manifests),
        Some(Command::Synth {
            dataset,
            out,
            manifests,
        }) => synth(&dataset, &out, &manifests),
        Some(Command::List { dir: Some(dir) }) => list(&dir),
        Some(Command::List { dir: None }) => list_bundled(),
        Some(Command::Doctor {
            manifest,
            data_root,
        }) => doctor(&manifest, &data_root),
        Some(Command::Merge { parts, out }) => merge(&parts, &out),
        Some(Command::Init { dir, out }) => init(&dir, out.as_deref()),
        Some(Command::Score {
            dataset,
            predictions,
            tsv,
            out,
            markdown,
        }) => score(
            crate::score::ScoreOptions {
                dataset_dir: dataset,
                predictions,
                tsv,
            },
            out.as_deref(),
            markdown.as_deref(),
        ),
        Some(Command::Gallery { dataset, n, out }) => gallery(crate::gallery::GalleryOptions {
            out: out.unwrap_or_else(|| dataset.join("gallery.html")),
            dataset_dir: dataset,
            per_label: n,
        }),
        None => match cli.manifest.clone().or_else(|| cli.nnunet.clone()) {
            Some(manifest) => build(&cli, manifest),
            None => {
                err!("error: --manifest or --nnunet is required (see --help)");
                ExitCode::from(2)
            }
        },
    }
}

fn validate(manifests: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for path in manifests {
        match pipeline::load_manifest(path).map(|(m, _)| m) {
            Ok(m) => out!(
                "{}: ok ({} collection(s), {} task(s))",
                m.source,
                m.manifest.collections.len(),
                m.manifest.tasks.len()
            ),
            Err(e) => {
                ok = false;
                err!("{e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn synth(dataset: &str, out: &Path, manifests: &Path) -> ExitCode {
    let result = match dataset {
        "kits23" => crate::synth::write_kits23_fixture(&out.join("dataset"))
            .map(|cases| cases.len())
            .map_err(|e| format!("{}: {e}", out.display())),
        "ceph_biometrics_400" => crate::synth::write_ceph_fixture(out)
            .map(|cases| cases.len())
            .map_err(|e| format!("{}: {e}", out.display())),
        "feta24" => crate::synth::write_feta_fixture(out)
            .map(|cases| cases.len())
            .map_err(|e| format!("{}: {e}", out.display())),
        "nnunet" => crate::synth::write_nnunet_fixtures(out)
            .map(|folders| folders.iter().map(|f| f.cases.len()).sum())
            .map_err(|e| format!("{}: {e}", out.display())),
        other => {
            let path = if other.ends_with(".toml") {
                PathBuf::from(other)
            } else {
                manifests.join(format!("{other}.toml"))
            };
            pipeline::load_manifest(&path)
                .map(|(m, _)| m)
                .map_err(|e| e.to_string())
                .and_then(|m| {
                    crate::synth::write_manifest_fixture(&m, out).map_err(|e| e.to_string())
                })
                .map(|cases| cases.len())
        }
    };
    match result {
        Ok(n) => {
            out!("wrote {n} phantom case(s) under {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `score`: the report printed as Markdown, written as JSON and Markdown where asked.
fn score(
    options: crate::score::ScoreOptions,
    json: Option<&Path>,
    markdown: Option<&Path>,
) -> ExitCode {
    let report = match crate::score::score(&options) {
        Ok(report) => report,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = crate::score::report::markdown(&report);
    out!("{text}");
    let json_text = match serde_json::to_string_pretty(&report) {
        Ok(t) => t + "\n",
        Err(e) => {
            err!("error: report as JSON: {e}");
            return ExitCode::from(2);
        }
    };
    for (path, body) in [(json, &json_text), (markdown, &text)] {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(path, body) {
                err!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `gallery`: the QC page written, or exit 2 naming the unreadable file.
fn gallery(options: crate::gallery::GalleryOptions) -> ExitCode {
    match crate::gallery::write_gallery(&options) {
        Ok(s) => {
            out!(
                "wrote {} ({} card(s) in {} config/label group(s), language {}, {} row(s) read)",
                options.out.display(),
                s.cards,
                s.groups,
                s.lang,
                s.rows_read
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `init`: the manifest generated from an nnU-Net folder, checked like any manifest, then written.
fn init(dir: &Path, out: Option<&Path>) -> ExitCode {
    use crate::manifest::nnunet;
    let text = match nnunet::manifest_text(dir) {
        Ok(text) => text,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The same loader `--nnunet DIR` builds through: the text must validate before it is handed out.
    if let Err(e) = pipeline::load_manifest(dir) {
        err!("{e}");
        return ExitCode::from(2);
    }
    let written = match out {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display())),
        // A closed pipe (`init DIR | head`) is the reader's choice, not a failure.
        None => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
            _ => Ok(()),
        },
    };
    match written {
        Ok(()) => {
            if let Some(path) = out {
                err!(
                    "wrote {} (refine it, then build with --manifest {0} --data-root {})",
                    path.display(),
                    dir.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            err!("error: cannot write manifest: {e}");
            ExitCode::from(2)
        }
    }
}

/// `doctor`: the diagnosis of a data root for a manifest, printed; exit code as `--help` says.
fn doctor(manifest: &Path, data_root: &Path) -> ExitCode {
    let loaded = match pipeline::load_manifest(manifest) {
        Ok((m, _)) => m,
        Err(e) => {
            err!("{e}");
            return ExitCode::from(2);
        }
    };
    if !data_root.is_dir() {
        err!(
            "error: data root {} is not a directory",
            data_root.display()
        );
        return ExitCode::from(2);
    }
    let diagnosis = crate::discover::diagnose::diagnose(&loaded, data_root);
    let _ = std::io::stdout()
        .lock()
        .write_all(diagnosis.to_string().as_bytes());
    if diagnosis.found_nothing() {
        ExitCode::from(2)
    } else if diagnosis.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `list`: one block per manifest (sorted by file name); an invalid manifest prints its diagnostics and
/// makes the exit code 2, the others are still listed.
fn list(dir: &Path) -> ExitCode {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            err!(
                "error: {}: cannot read manifests folder: {e}",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    paths.sort();
    let mut ok = true;
    // Collected and written once, so a closed pipe (`| head`) ends the listing instead of a panic.
    let mut text = String::new();
    for path in &paths {
        let m = match pipeline::load_manifest(path).map(|(m, _)| m) {
            Ok(m) => m,
            Err(e) => {
                ok = false;
                err!("{e}");
                continue;
            }
        };
        let stem = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        describe(&mut text, &stem, &path.display().to_string(), &m.manifest);
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `list` without a folder: the manifests bundled in the binary, each usable as `--manifest NAME` from any
/// folder; exit 2 if one is invalid (a build of the repository's manifests, which CI validates, never is).
fn list_bundled() -> ExitCode {
    let mut ok = true;
    let mut text = format!(
        "manifests bundled with medvision-build {} (use as --manifest NAME; `list DIR` lists a folder):\n",
        pipeline::BUILDER_VERSION
    );
    for bundled in crate::manifest::bundled::BUNDLED {
        match pipeline::load_manifest_from(crate::manifest::ManifestSource::Bundled(bundled)) {
            Ok((m, _)) => describe(&mut text, bundled.name(), bundled.file_name, &m.manifest),
            Err(e) => {
                ok = false;
                err!("{e}");
            }
        }
    }
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// `list`'s block for one manifest (`stem`, where it is): dataset, layout, collections (image/mask
/// patterns), tasks.
fn describe(text: &mut String, stem: &str, origin: &str, m: &crate::manifest::Manifest) {
    let d = &m.dataset;
    let _ = writeln!(
        text,
        "{stem} ({origin}): {} {}",
        d.name,
        d.modality.as_str()
    );
    let _ = writeln!(
        text,
        "  layout: {}",
        d.layout.as_deref().unwrap_or("(not given)")
    );
    for cmd in &d.extract {
        let _ = writeln!(text, "  extract (in the data root): {cmd}");
    }
    for c in &m.collections {
        let modality = c.modality.unwrap_or(d.modality).as_str();
        let channel = c
            .channel
            .map_or(String::new(), |k| format!(", channel {k}"));
        let h5 = c.h5_dataset.as_ref();
        let channel = channel + &h5.map_or(String::new(), |n| format!(", HDF5 dataset `{n}`"));
        let _ = writeln!(
            text,
            "  collection {} ({modality}{channel}): image {}  mask {}",
            c.name,
            c.image
                .as_ref()
                .map_or("none (mask-only)".to_string(), |p| p.to_string()),
            c.mask
        );
    }
    for t in &m.tasks {
        let collections = if t.collections.is_empty() {
            "all collections".to_string()
        } else {
            t.collections
                .iter()
                .map(|c| c.get_ref().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let labels = if t.labels.is_empty() {
            "all labels".to_string()
        } else {
            t.labels
                .iter()
                .map(|l| l.get_ref().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            text,
            "  task {} {}: {collections}; {labels}",
            t.id,
            t.kind.as_str()
        );
    }
}

/// `--threads` above this many per CPU is clamped: every thread is a case in flight (its memory) and a
/// render thread, so thousands only add start-up and contention (3000 threads took 39 s instead of 0.5 s).
const MAX_THREADS_PER_CPU: usize = 4;

/// The build's thread count: `--threads`, at most [`MAX_THREADS_PER_CPU`] per CPU (with a warning), or the
/// number of CPUs.
fn thread_count(requested: Option<u16>) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(requested) = requested.map(usize::from) else {
        return cpus;
    };
    let most = MAX_THREADS_PER_CPU * cpus;
    if requested > most {
        err!(
            "warning: --threads {requested} is more than {MAX_THREADS_PER_CPU} per CPU ({cpus} CPUs): \
             using {most} (output is the same for any thread count)"
        );
        return most;
    }
    requested
}

fn build(cli: &Cli, manifest: PathBuf) -> ExitCode {
    signals::install();
    let threads = thread_count(cli.threads);
    let data_root = cli.data_root.clone().unwrap_or_else(|| {
        if crate::manifest::nnunet::is_nnunet_source(&manifest) {
            crate::manifest::nnunet::data_root(&manifest)
        } else {
            PathBuf::from(".")
        }
    });
    let options = BuildOptions {
        manifest,
        data_root,
        out_dir: cli.out.clone(),
        threads,
        fail_fast: cli.fail_fast,
        profile: cli.profile.into(),
        formats: cli.formats.iter().map(|&f| f.into()).collect(),
        tsv_max_items: cli.tsv_max_items,
        parquet_configs: cli.parquet_configs.map(Into::into),
        jsonl_image_paths: cli.jsonl_image_paths.into(),
    };
    let env = |name: &str| std::env::var(name).ok();
    let partition = match partition::resolve(
        cli.partition.as_deref(),
        cli.partition_count.map(|n| n as usize),
        &env,
    ) {
        Ok(partition) => partition,
        Err(e) => {
            err!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if partition.is_none() && cli.partition.is_none() {
        warn_unused_index(&env);
    }
    let limits = crate::volume::ReadLimits {
        max_voxels: cli.max_voxels,
        spacing_range_mm: cli.spacing_range_mm.0,
    };
    if let Err(e) = crate::volume::set_read_limits(limits) {
        err!("error: --max-voxels / --spacing-range-mm: {e}");
        return ExitCode::from(2);
    }
    let display = ProgressDisplay::new();
    match partition {
        Some(resolved) => {
            err!(
                "building partition {} ({})",
                resolved.partition,
                resolved.source
            );
            let result =
                pipeline::build_partition(&options, resolved.partition, &|e| display.update(e));
            display.finish();
            finish_partition(result)
        }
        None => {
            let result = pipeline::build(&options, &|event| display.update(event));
            display.finish();
            finish_build(result)
        }
    }
}

/// An indexed job's index without `--partition-count` builds everything; say so, in case that was not meant.
fn warn_unused_index(env: &dyn Fn(&str) -> Option<String>) {
    for var in ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"] {
        if let Some(value) = env(var) {
            err!(
                "note: {var}={value} is set but --partition-count is not: building every case \
                 (pass --partition-count N to build one partition, --partition none to silence this)"
            );
        }
    }
}

fn merge(parts: &[PathBuf], out: &Path) -> ExitCode {
    signals::install();
    let display = ProgressDisplay::new();
    let result = pipeline::merge(parts, out, &|event| display.update(event));
    display.finish();
    finish_build(result)
}

fn finish_build(result: Result<BuildSummary, pipeline::BuildError>) -> ExitCode {
    match result {
        Ok(summary) => {
            print_summary(&summary);
            if summary.has_failures() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fatal(&e),
    }
}

fn fatal(e: &pipeline::BuildError) -> ExitCode {
    err!("error: {e}");
    match e {
        // A case that failed under --fail-fast is a per-case failure, not a fatal one.
        pipeline::BuildError::FailFast(_) => ExitCode::from(1),
        // The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM.
        pipeline::BuildError::Interrupted { signal } => {
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(2))
        }
        _ => ExitCode::from(2),
    }
}

fn finish_partition(result: Result<PartSummary, pipeline::BuildError>) -> ExitCode {
    match result {
        Ok(part) => {
            let i = &part.info;
            out!(
                "{}: partition {}/{}: {} case(s), {} failed, {} rows, {} bytes in {}",
                i.dataset,
                i.partition_index,
                i.partition_count,
                i.cases.len(),
                i.failed,
                i.rows,
                i.data_bytes,
                part.dir.display()
            );
            out!("manifest: {}", part.manifest);
            if i.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        // Exit 1 says a part is complete with failed cases in it (job-array scripts let the merge run on it);
        // a --fail-fast stop wrote no part, so it must fail the task.
        Err(e @ pipeline::BuildError::FailFast(_)) => {
            err!("error: {e}; --fail-fast: the partition stopped and wrote no part");
            ExitCode::from(2)
        }
        Err(e) => fatal(&e),
    }
}

/// A bar with ETA on a terminal; one plain line per case otherwise. Failed cases always get an error line.
struct ProgressDisplay {
    bar: Option<ProgressBar>,
    done: Mutex<(usize, usize)>,
}

impl ProgressDisplay {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} cases (ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            // Hidden until discovery says how many cases there are.
            ProgressBar::hidden().with_style(style)
        });
        ProgressDisplay {
            bar,
            done: Mutex::new((0, 0)),
        }
    }

    fn update(&self, event: Progress) {
        match event {
            Progress::Start { cases } => match &self.bar {
                Some(bar) => {
                    bar.set_length(cases as u64);
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                None => {
                    if let Ok(mut d) = self.done.lock() {
                        d.1 = cases;
                    }
                }
            },
            Progress::Leftovers { dir, removed } => {
                let shown: Vec<String> = removed
                    .iter()
                    .take(5)
                    .map(|p| p.strip_prefix(dir).unwrap_or(p).display().to_string())
                    .collect();
                let more = removed.len().saturating_sub(shown.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                let line = format!(
                    "note: removed {} leftover(s) of an interrupted build in {}: {}{more}",
                    removed.len(),
                    dir.display(),
                    shown.join(", ")
                );
                match &self.bar {
                    Some(bar) => bar.println(line),
                    None => err!("{line}"),
                }
            }
            Progress::CaseDone { case, rows, error } => {
                let line = match error {
                    Some(e) => format!("error: {}/{}: {e}", case.collection, case.case_id),
                    None => format!("{}/{}: {rows} rows", case.collection, case.case_id),
                };
                match &self.bar {
                    Some(bar) => {
                        if error.is_some() {
                            bar.println(line);
                        }
                        bar.set_message(case.case_id.clone());
                        bar.inc(1);
                    }
                    None => {
                        let (done, total) = match self.done.lock() {
                            Ok(mut d) => {
                                d.0 += 1;
                                *d
                            }
                            Err(_) => (0, 0),
                        };
                        err!("[{done}/{total}] {line}");
                    }
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn print_summary(summary: &BuildSummary) {
    let r = &summary.report;
    out!(
        "{}: {} case(s) found, {} built, {} skipped, {} failed in {:.2} s",
        r.dataset,
        r.cases.found,
        r.cases.built,
        r.cases.skipped,
        r.cases.failed,
        summary.elapsed.as_secs_f64()
    );
    out!("manifest: {}", summary.manifest);
    out!("rows: {} in total", r.rows_total);
    for (task_id, task) in &r.tasks {
        let splits: Vec<String> = task
            .rows_by_split
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let splits = if splits.is_empty() {
            "no rows".to_string()
        } else {
            splits.join(", ")
        };
        out!("  {task_id} ({}): {splits}", task.kind);
    }
    if let Some(sample) = &r.tsv_sample {
        let limit = match sample.max_items {
            0 => "every item".to_string(),
            n => format!("at most {n} per split and language, seed {}", sample.seed),
        };
        out!("TSV items ({limit}):");
        for (group, count) in &sample.items {
            out!("  {group}: {} of {}", count.selected, count.offered);
        }
    }
    out!("files in {}:", summary.dataset_dir.display());
    for file in &r.files {
        out!("  {} ({} rows)", file.path, file.rows);
    }
    out!("  README.md, build-report.json");
    for s in &r.skipped {
        out!("skipped {}/{}: {}", s.collection, s.case_id, s.reason);
    }
    for w in &r.warnings {
        out!("warning: {w}");
    }
    for f in &r.failed {
        out!("failed {}/{}: {}", f.collection, f.case_id, f.error);
    }
}
