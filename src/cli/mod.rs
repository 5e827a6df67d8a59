//! Command line: flags and subcommands (clap derive), the progress display, the summary, and exit codes
//! (0 all built, 1 finished with failed cases, 2 fatal: bad flags, bad manifest, unwritable output).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::manifest::{self, Profile};
use crate::pipeline::{self, BuildOptions, BuildSummary, Progress};

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
    pub command: Option<Command>,

    /// Manifest describing the dataset's layout, labels and tasks (e.g. manifests/kits23.toml).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Folder holding the dataset in its official layout; manifest paths are relative to it.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub data_root: PathBuf,

    /// Output folder; the dataset is written to <out>/<dataset name>/.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub out: PathBuf,

    /// Worker threads [default: number of CPUs]. Output is byte-identical for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Stop at the first case that fails instead of reporting it and going on.
    #[arg(long)]
    pub fail_fast: bool,

    /// Conventions: `default` (radiological display, corrected measurements, round-half-even rendering) or
    /// `medvision` (the MedVision benchmark's raw-array display and truncating renderer).
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,

    /// Output formats, comma-separated: `parquet` (shards + dataset card), `tsv` (GMAI-MMBench-style
    /// multiple choice for VLMEvalKit), `jsonl` (chat JSONL with PNGs for trainers).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "parquet,tsv,jsonl"
    )]
    pub formats: Vec<crate::sink::OutputFormat>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests and print every problem found (file:line:column); exit 2 if any is invalid.
    Validate {
        /// Manifest files.
        #[arg(required = true, value_name = "MANIFEST")]
        manifests: Vec<PathBuf>,
    },
    /// Write synthetic phantom data in a dataset's official layout (the committed fixtures come from here).
    Synth {
        /// Which layout to write.
        #[arg(value_enum)]
        dataset: SynthDataset,
        /// Destination folder (the data root to pass to --data-root).
        #[arg(value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SynthDataset {
    /// KiTS23: dataset/case_NNNNN/{imaging,segmentation}.nii.gz with known boxes in closed form.
    Kits23,
    /// Ceph-Biometrics-400: RawImage/<folder>/NNN.bmp + 400_senior/ and 400_junior/ landmark text files.
    #[value(name = "ceph_biometrics_400")]
    CephBiometrics400,
    /// FeTA24: feta_2.4/ T2w volumes, two-voxel measurement maps and an ITK transform file.
    Feta24,
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
        Some(Command::Synth { dataset, out }) => synth(dataset, &out),
        None => match cli.manifest.clone() {
            Some(manifest) => build(&cli, manifest),
            None => {
                eprintln!("error: --manifest is required (see --help)");
                ExitCode::from(2)
            }
        },
    }
}

fn validate(manifests: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for path in manifests {
        match manifest::load(path) {
            Ok(m) => println!(
                "{}: ok ({} collection(s), {} task(s))",
                path.display(),
                m.manifest.collections.len(),
                m.manifest.tasks.len()
            ),
            Err(e) => {
                ok = false;
                eprintln!("{e}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn synth(dataset: SynthDataset, out: &std::path::Path) -> ExitCode {
    let result = match dataset {
        SynthDataset::Kits23 => {
            crate::synth::write_kits23_fixture(&out.join("dataset")).map(|cases| cases.len())
        }
        SynthDataset::CephBiometrics400 => {
            crate::synth::write_ceph_fixture(out).map(|cases| cases.len())
        }
        SynthDataset::Feta24 => crate::synth::write_feta_fixture(out).map(|cases| cases.len()),
    };
    match result {
        Ok(n) => {
            println!("wrote {n} phantom case(s) under {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", out.display());
            ExitCode::from(2)
        }
    }
}

fn build(cli: &Cli, manifest: PathBuf) -> ExitCode {
    let threads = cli.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let options = BuildOptions {
        manifest,
        data_root: cli.data_root.clone(),
        out_dir: cli.out.clone(),
        threads,
        fail_fast: cli.fail_fast,
        profile: cli.profile,
        formats: cli.formats.clone(),
    };
    let display = ProgressDisplay::new();
    let result = pipeline::build(&options, &|event| display.update(event));
    display.finish();
    match result {
        Ok(summary) => {
            print_summary(&summary);
            if summary.has_failures() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            // A case that failed under --fail-fast is a per-case failure, not a fatal one.
            if matches!(e, pipeline::BuildError::FailFast(_)) {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
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
                        eprintln!("[{done}/{total}] {line}");
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
    println!(
        "{}: {} case(s) found, {} built, {} skipped, {} failed in {:.2} s",
        r.dataset,
        r.cases.found,
        r.cases.built,
        r.cases.skipped,
        r.cases.failed,
        summary.elapsed.as_secs_f64()
    );
    println!("rows: {} in total", r.rows_total);
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
        println!("  {task_id} ({}): {splits}", task.kind);
    }
    println!("files in {}:", summary.dataset_dir.display());
    for file in &r.files {
        println!("  {} ({} rows)", file.path, file.rows);
    }
    println!("  README.md, build-report.json");
    for s in &r.skipped {
        println!("skipped {}/{}: {}", s.collection, s.case_id, s.reason);
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    for f in &r.failed {
        println!("failed {}/{}: {}", f.collection, f.case_id, f.error);
    }
}
