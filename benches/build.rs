//! `cargo bench --bench build`: what a build costs at real sizes. Writes real-sized phantoms with the crate's
//! own generator, times the library's annotation path against plain decompression, then runs the release
//! CLI binary as a black box (per format, per case, 1 vs 2 threads with a free-core control, a memory-bound
//! control and two 1-thread builds at once, the 1-thread build also confined to one CPU; CPU seconds of the
//! build and of its main thread), polls its peak RSS (also against the number of cases), counts the bytes it
//! writes, times TotalSegmentator's own layout (117 class files per CT) beside the same case as one label map,
//! and projects KiTS23 and TotalSegmentator builds. Prints one markdown table
//! per topic and writes them to `target/bench-results.md`. `MVB_BENCH_ROUNDS` (default 3) sets the paired
//! rounds per case, `MVB_BENCH_THREAD_ROUNDS` (default 5) those of the thread pairs; `MVB_BENCH_KEEP=1` keeps
//! `target/bench-data`.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use medvision_build::annotate::lesion::{LesionOptions, LesionRules};
use medvision_build::annotate::{self, DisplayFrame};
use medvision_build::manifest::{self, Connectivity, Plane, TaskKind};
use medvision_build::{synth, volume};

const MB: f64 = 1e6;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn secs(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// Plain decompression, the floor any reader pays: the whole file inflated (flate2's multi-member decoder over
/// a 256 KiB buffered file, as the reader uses) into one buffer sized from the gzip trailer (ISIZE).
fn gunzip(path: &Path) -> usize {
    let mut file = std::fs::File::open(path).expect("open");
    file.seek(SeekFrom::End(-4)).expect("seek");
    let mut trailer = [0u8; 4];
    file.read_exact(&mut trailer).expect("trailer");
    file.seek(SeekFrom::Start(0)).expect("rewind");
    let mut bytes = vec![0u8; u32::from_le_bytes(trailer) as usize];
    let buffered = std::io::BufReader::with_capacity(256 * 1024, file);
    flate2::bufread::MultiGzDecoder::new(buffered)
        .read_exact(&mut bytes)
        .expect("gunzip");
    bytes.len()
}

/// The floor, C zlib: Python's `zlib` module (CPython links the system zlib) inflating both files,
/// already read into memory, into buffers sized from their gzip trailers (so no regrowth is timed), timed
/// inside the interpreter. `None` without `python3`.
fn gunzip_c_zlib(image: &Path, mask: &Path) -> Option<f64> {
    const SCRIPT: &str = "import sys, time, zlib\n\
        data = [open(p, 'rb').read() for p in sys.argv[1:]]\n\
        sizes = [int.from_bytes(d[-4:], 'little') for d in data]\n\
        t = time.perf_counter()\n\
        for d, n in zip(data, sizes):\n    zlib.decompress(d, 31, n)\n\
        print(time.perf_counter() - t)\n";
    let out = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(image)
        .arg(mask)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The free-core control: a fixed CPU-bound loop (xorshift, no memory traffic).
fn spin() -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..150_000_000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// The memory-bound control: sums a 256 MB buffer (allocated and touched first, not timed) six times, a
/// stream through memory like the build's volume passes.
fn stream_memory(buffer: &[u64]) -> u64 {
    let mut sum = 0u64;
    for _ in 0..6 {
        for chunk in buffer.chunks(8) {
            sum = sum.wrapping_add(chunk.iter().sum::<u64>());
        }
    }
    sum
}

/// `2·t1/t2` of [`stream_memory`]: what two free cores give work bound by memory bandwidth (the shared part
/// of two cores), the ceiling of a 2-thread speedup for the build's memory-heavy steps.
fn memory_cores() -> f64 {
    let buffers: Vec<Vec<u64>> = (0..2).map(|_| vec![1u64; 32 << 20]).collect();
    let t1 = secs(|| {
        std::hint::black_box(stream_memory(&buffers[0]));
    });
    let t2 = secs(|| {
        std::thread::scope(|scope| {
            for buffer in &buffers {
                scope.spawn(move || std::hint::black_box(stream_memory(buffer)));
            }
        });
    });
    2.0 * t1 / t2
}

/// `2·t1/t2`: one spin alone, then two at once on two threads; ≈ 2 when two cores are free, ≈ 1 when one is.
fn free_cores() -> f64 {
    let t1 = secs(|| {
        std::hint::black_box(spin());
    });
    let t2 = secs(|| {
        let a = std::thread::spawn(|| std::hint::black_box(spin()));
        let b = std::thread::spawn(|| std::hint::black_box(spin()));
        a.join().expect("spin");
        b.join().expect("spin");
    });
    2.0 * t1 / t2
}

/// The CLI under test, and what its `--help` says it accepts.
struct Cli {
    path: PathBuf,
    tsv_max_items: bool,
}

impl Cli {
    fn new() -> Cli {
        let path = PathBuf::from(env!("CARGO_BIN_EXE_medvision-build"));
        assert!(
            path.is_file(),
            "{}: the release binary is missing",
            path.display()
        );
        let help = Command::new(&path)
            .arg("--help")
            .output()
            .expect("medvision-build --help");
        let help = String::from_utf8_lossy(&help.stdout);
        Cli {
            path,
            tsv_max_items: help.contains("--tsv-max-items"),
        }
    }
}

/// One dataset on disk the CLI can build.
struct Input {
    name: &'static str,
    manifest: PathBuf,
    data_root: PathBuf,
    /// Output folder name under `<out>/` (the manifest's dataset name).
    dataset: &'static str,
    /// `(image, mask)` of every case.
    cases: Vec<(PathBuf, PathBuf)>,
    /// In-memory bytes of the largest image volume at its stored type (int16) and as f32.
    largest_stored_bytes: f64,
}

/// One timed CLI build: wall seconds, CPU seconds, peak RSS (VmHWM) and what it wrote.
#[derive(Clone, Default)]
struct Run {
    secs: f64,
    /// User + system CPU seconds of every thread of the build.
    cpu_secs: f64,
    /// User + system CPU seconds of the build's main thread: the writer (and discovery, the sinks' finish).
    main_cpu_secs: f64,
    peak_rss_mb: f64,
    bytes: Bytes,
}

/// Output bytes by format; `distinct_png` is the content-named `jsonl/images/` folder.
#[derive(Clone, Copy, Default)]
struct Bytes {
    parquet: u64,
    tsv: u64,
    jsonl: u64,
    distinct_png: u64,
    /// The Parquet splits once `datasets` has loaded them (the card's `dataset_size`, summed over configs).
    loaded: u64,
    rows: u64,
}

/// Every file under `dir` (recursively) with its size in bytes; none when `dir` does not exist.
fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push((path, meta.len()));
        }
    }
    files
}

fn dir_bytes(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> u64 {
    files_under(dir)
        .iter()
        .filter(|(path, _)| keep(path))
        .map(|(_, bytes)| bytes)
        .sum()
}

/// The card's `dataset_size` lines summed (0 without a card).
fn card_dataset_size(out: &Path) -> u64 {
    std::fs::read_to_string(out.join("README.md"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix("  dataset_size: "))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

fn measure_bytes(out: &Path) -> Bytes {
    let rows = std::fs::read_to_string(out.join("build-report.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["rows_total"].as_u64())
        .unwrap_or(0);
    Bytes {
        parquet: dir_bytes(out, &|p| p.extension().is_some_and(|e| e == "parquet")),
        tsv: dir_bytes(&out.join("tsv"), &|_| true),
        jsonl: dir_bytes(&out.join("jsonl"), &|_| true),
        distinct_png: dir_bytes(&out.join("jsonl/images"), &|_| true),
        loaded: card_dataset_size(out),
        rows,
    }
}

/// `VmHWM` of a live process in kB (0 once it is gone).
fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `(state, user + system seconds)` from a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line.
/// A process that has exited but is not reaped yet (state `Z`) still shows the totals of all its threads.
fn proc_stat(path: &str) -> Option<(char, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // Fields after the command: state (0), …, utime (11), stime (12), in USER_HZ = 100 ticks per second.
    Some((
        fields.first()?.chars().next()?,
        (ticks(11)? + ticks(12)?) / 100.0,
    ))
}

/// The first CPU this process may run on (`Cpus_allowed_list`), for a build confined to one CPU.
fn first_allowed_cpu() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    list.trim().split([',', '-']).next()?.trim().parse().ok()
}

/// `taskset -c <cpu>` when util-linux's `taskset` runs here: a build confined to one CPU.
fn one_cpu_prefix() -> Option<Vec<String>> {
    let cpu = first_allowed_cpu()?.to_string();
    let works = Command::new("taskset")
        .args(["-c", &cpu, "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    works.then(|| vec!["taskset".to_string(), "-c".to_string(), cpu])
}

/// Runs one build of `input` into a fresh `out` folder, polling the child's VmHWM every 20 ms.
fn build(
    cli: &Cli,
    input: &Input,
    out: &Path,
    threads: usize,
    formats: &str,
    extra: &[&str],
) -> Run {
    build_with(None, cli, input, out, threads, formats, extra)
}

/// [`build`], the CLI started through `prefix` (a command and its arguments, e.g. `taskset -c 0`) when given.
fn build_with(
    prefix: Option<&[String]>,
    cli: &Cli,
    input: &Input,
    out: &Path,
    threads: usize,
    formats: &str,
    extra: &[&str],
) -> Run {
    let _ = std::fs::remove_dir_all(out);
    let start = Instant::now();
    let mut command = match prefix {
        Some([program, args @ ..]) => {
            let mut c = Command::new(program);
            c.args(args).arg(&cli.path);
            c
        }
        _ => Command::new(&cli.path),
    };
    let mut child = command
        .arg("--manifest")
        .arg(&input.manifest)
        .arg("--data-root")
        .arg(&input.data_root)
        .arg("--out")
        .arg(out)
        .args([
            "--threads",
            &threads.to_string(),
            "--formats",
            formats,
            "--fail-fast",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn medvision-build");
    let pid = child.id();
    let mut peak_kb = 0;
    let (mut cpu_secs, mut main_cpu_secs) = (0.0, 0.0);
    // The child is reaped only once it is a zombie (or its stat cannot be read): its final CPU times are
    // read from the zombie's stat first.
    loop {
        peak_kb = peak_kb.max(vm_hwm_kb(pid));
        let stat = proc_stat(&format!("/proc/{pid}/stat"));
        if let Some((_, cpu)) = stat {
            cpu_secs = cpu;
        }
        if let Some((_, cpu)) = proc_stat(&format!("/proc/{pid}/task/{pid}/stat")) {
            main_cpu_secs = cpu;
        }
        if stat.is_none_or(|(state, _)| state == 'Z') {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("wait");
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        let mut err = String::new();
        let _ = child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err);
        panic!(
            "{} {formats} --threads {threads} failed ({status}): {err}",
            input.name
        );
    }
    Run {
        secs,
        cpu_secs,
        main_cpu_secs,
        peak_rss_mb: peak_kb as f64 * 1024.0 / MB,
        bytes: measure_bytes(&out.join(input.dataset)),
    }
}

/// Reads both volumes, checks them and computes every box and mask-size fact of all three planes (the
/// annotation-only path, in-process). Returns the kept facts.
fn annotate_only(manifest_path: &Path, image: &Path, mask: &Path) -> usize {
    let loaded = manifest::load(manifest_path).expect("manifest");
    let collection = &loaded.manifest.collections[0].name;
    let known: Vec<u16> = loaded.labels(collection).keys().copied().collect();
    let mask_volume = volume::read_label_map(mask, &known).expect("mask");
    let image_file = volume::open_image(image, None).expect("image header");
    let (shape, geometry) = (image_file.shape(), image_file.geometry().clone());
    volume::check_grid_agreement(image, shape, &geometry, mask, &mask_volume).expect("agreement");
    // Decoded in its stored type (i16), as a build does when some row shows the image.
    let image_volume = image_file.read().expect("image");
    assert_eq!(image_volume.shape(), shape);
    let stats = annotate::mask_stats(
        &mask_volume,
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("stats");
    let mut kept = 0;
    for task in &loaded.manifest.tasks {
        kept += match task.kind {
            TaskKind::Bbox => annotate::box_facts(&stats, &known, &task.filters).0.len(),
            TaskKind::MaskSize => annotate::mask_size_facts(&stats, &known, &task.filters)
                .0
                .len(),
            TaskKind::Instances => annotate::instances_facts(&stats, &known, &task.filters)
                .0
                .len(),
            TaskKind::LesionSize | TaskKind::Landmarks => 0,
        };
    }
    kept
}

/// A variant of the per-case table.
#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Inflate,
    InflateCZlib,
    Annotate,
    Cli(&'static str, &'static str, bool), // (label, --formats, with --tsv-max-items 0)
}

impl Variant {
    fn label(&self) -> String {
        match self {
            Variant::Inflate => "inflate image + mask (flate2, in-process)".into(),
            Variant::InflateCZlib => "inflate image + mask (C zlib, python3 `zlib`)".into(),
            Variant::Annotate => "annotation only (library, in-process)".into(),
            Variant::Cli(label, _, false) => format!("`{label}`"),
            Variant::Cli(label, _, true) => format!("`{label}` + `--tsv-max-items 0`"),
        }
    }
}

/// Per-case results: seconds of every round per variant, and the last CLI run per variant.
struct CaseResult {
    input_name: &'static str,
    largest: f64,
    secs: Vec<(Variant, Vec<f64>)>,
    runs: Vec<(Variant, Vec<Run>)>,
    skipped: Vec<(Variant, String)>,
}

impl CaseResult {
    fn median(&self, v: Variant) -> Option<f64> {
        self.secs
            .iter()
            .find(|(w, _)| *w == v)
            .map(|(_, s)| median(s.clone()))
    }
    /// Median over rounds of `v`'s seconds over `base`'s in the same round (a variant run once pairs with the
    /// first round).
    fn paired_ratio(&self, v: Variant, base: Variant) -> Option<f64> {
        let of = |w: Variant| self.secs.iter().find(|(x, _)| *x == w).map(|(_, s)| s);
        let (a, b) = (of(v)?, of(base)?);
        let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
        (!ratios.is_empty()).then(|| median(ratios))
    }
    fn last(&self, v: Variant) -> Option<&Run> {
        self.runs
            .iter()
            .find(|(w, _)| *w == v)
            .and_then(|(_, r)| r.last())
    }
    fn peak(&self, v: Variant) -> Option<f64> {
        self.runs
            .iter()
            .find(|(w, r)| *w == v && !r.is_empty())
            .map(|(_, r)| r.iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max))
    }
}

const PARQUET: Variant = Variant::Cli("--formats parquet", "parquet", false);
const TSV: Variant = Variant::Cli("--formats tsv", "tsv", false);
const JSONL: Variant = Variant::Cli("--formats jsonl", "jsonl", false);
const ALL: Variant = Variant::Cli("all formats", "parquet,tsv,jsonl", false);
const ALL_UNSAMPLED: Variant = Variant::Cli("all formats", "parquet,tsv,jsonl", true);

/// Paired rounds over every variant of one single-case input, `--threads 1`: A B C … A B C …. Without TSV
/// sampling, TSV on the larger inputs writes GBs per run: then TSV alone is not run and all formats runs once
/// (`tsv_once`), in the first round.
fn per_case(cli: &Cli, input: &Input, out: &Path, rounds: usize, tsv_once: bool) -> CaseResult {
    let (image, mask) = input.cases[0].clone();
    let mut variants = vec![Variant::Inflate, Variant::Annotate, PARQUET, JSONL];
    let mut skipped = Vec::new();
    if gunzip_c_zlib(&image, &mask).is_some() {
        variants.insert(1, Variant::InflateCZlib);
    } else {
        skipped.push((Variant::InflateCZlib, "not run: no python3".into()));
    }
    let once = tsv_once && !cli.tsv_max_items;
    if once {
        variants.push(ALL);
        let why = "not run: no TSV sampling in this binary (GBs per run); see all formats";
        skipped.push((TSV, why.to_string()));
    } else {
        variants.extend([TSV, ALL]);
    }
    if cli.tsv_max_items && !tsv_once {
        variants.push(ALL_UNSAMPLED);
    } else if !cli.tsv_max_items {
        skipped.push((
            ALL_UNSAMPLED,
            "not available: binary has no `--tsv-max-items`".into(),
        ));
    } else {
        skipped.push((
            ALL_UNSAMPLED,
            "not run: unsampled TSV is GBs per run here".into(),
        ));
    }
    let mut secs_of: Vec<(Variant, Vec<f64>)> = variants.iter().map(|v| (*v, Vec::new())).collect();
    let mut runs: Vec<(Variant, Vec<Run>)> = variants.iter().map(|v| (*v, Vec::new())).collect();
    for round in 0..rounds {
        for (k, v) in variants.iter().enumerate() {
            if once && *v == ALL && round > 0 {
                continue;
            }
            let s = match v {
                Variant::Inflate => secs(|| {
                    gunzip(&image);
                    gunzip(&mask);
                }),
                Variant::InflateCZlib => gunzip_c_zlib(&image, &mask).unwrap_or(f64::NAN),
                Variant::Annotate => secs(|| {
                    std::hint::black_box(annotate_only(&input.manifest, &image, &mask));
                }),
                Variant::Cli(_, formats, unsampled) => {
                    let extra: &[&str] = if *unsampled {
                        &["--tsv-max-items", "0"]
                    } else {
                        &[]
                    };
                    let run = build(cli, input, out, 1, formats, extra);
                    let s = run.secs;
                    runs[k].1.push(run);
                    s
                }
            };
            secs_of[k].1.push(s);
            eprintln!("  {} round {round}: {} {:.2} s", input.name, v.label(), s);
        }
    }
    CaseResult {
        input_name: input.name,
        largest: input.largest_stored_bytes,
        secs: secs_of,
        runs,
        skipped,
    }
}

/// Thread speedup of one format on one input: paired rounds of (control, 1 thread, 2 threads).
struct Speedup {
    input_name: &'static str,
    formats_label: String,
    t1: Vec<f64>,
    t2: Vec<f64>,
    free: Vec<f64>,
    /// The memory-bound control of each round ([`memory_cores`]).
    memory: Vec<f64>,
    peak_t1: f64,
    peak_t2: f64,
    largest: f64,
    /// Each round's 1-thread build confined to one CPU (`taskset`; empty when it cannot run here).
    t1_one_cpu: Vec<f64>,
    /// Each round's wall seconds of two 1-thread builds of the input started together (separate outputs).
    pair: Vec<f64>,
    /// Each round's `(1 thread, 2 threads)` runs, for their CPU seconds.
    runs: Vec<(Run, Run)>,
}

fn speedup(cli: &Cli, input: &Input, out: &Path, rounds: usize, v: Variant) -> Speedup {
    let Variant::Cli(_, formats, _) = v else {
        unreachable!("CLI variants only")
    };
    let mut s = Speedup {
        input_name: input.name,
        formats_label: v.label(),
        t1: Vec::new(),
        t2: Vec::new(),
        free: Vec::new(),
        memory: Vec::new(),
        peak_t1: 0.0,
        peak_t2: 0.0,
        largest: input.largest_stored_bytes,
        t1_one_cpu: Vec::new(),
        pair: Vec::new(),
        runs: Vec::new(),
    };
    let one_cpu = one_cpu_prefix();
    for round in 0..rounds {
        s.free.push(free_cores());
        s.memory.push(memory_cores());
        let a = build(cli, input, out, 1, formats, &[]);
        if let Some(prefix) = &one_cpu {
            let pinned = build_with(Some(prefix), cli, input, out, 1, formats, &[]);
            s.t1_one_cpu.push(pinned.secs);
        }
        let b = build(cli, input, out, 2, formats, &[]);
        // The same work as two independent processes: what two cores give this build with nothing shared.
        let pair_out = |k: &str| out.with_file_name(format!("out-pair-{k}"));
        let start = Instant::now();
        std::thread::scope(|scope| {
            let other = scope.spawn(|| build(cli, input, &pair_out("a"), 1, formats, &[]));
            build(cli, input, &pair_out("b"), 1, formats, &[]);
            other.join().expect("pair build");
        });
        s.pair.push(start.elapsed().as_secs_f64());
        for k in ["a", "b"] {
            let _ = std::fs::remove_dir_all(pair_out(k));
        }
        eprintln!(
            "  {} {formats} round {round}: free {:.2}, 1 thread {:.2} s, 2 threads {:.2} s",
            input.name,
            s.free.last().copied().unwrap_or(0.0),
            a.secs,
            b.secs
        );
        s.peak_t1 = s.peak_t1.max(a.peak_rss_mb);
        s.peak_t2 = s.peak_t2.max(b.peak_rss_mb);
        s.t1.push(a.secs);
        s.t2.push(b.secs);
        s.runs.push((a, b));
    }
    s
}

impl Speedup {
    /// Median of the per-round ratios t1/t2 (each pair measured back to back).
    fn ratio(&self) -> f64 {
        median(self.t1.iter().zip(&self.t2).map(|(a, b)| a / b).collect())
    }
}

/// Writes the benchmark inputs under `root` and returns them (with the generation time).
fn write_inputs(root: &Path) -> (Vec<Input>, Input, f64) {
    let start = Instant::now();
    let kits = kits_manifest();
    let ct = |name: &'static str, shape: [usize; 3]| {
        let data_root = root.join(name);
        let dir = data_root.join("dataset/case_00000");
        let pair = synth::write_benchmark_case(&dir, shape).expect("write benchmark case");
        Input {
            name,
            manifest: kits.clone(),
            data_root,
            dataset: "KiTS23",
            cases: vec![pair],
            largest_stored_bytes: (shape[0] * shape[1] * shape[2] * 2) as f64,
        }
    };
    let ct200 = ct("CT 512×512×200 (KiTS23 manifest)", [512, 512, 200]);
    let ct600 = ct("CT 512×512×600 (KiTS23 manifest)", [512, 512, 600]);
    let many = many_label_input(root);
    // 16 cases of 256×256×100 (1/8 of the CT each): the first written, the others copies under new ids.
    let set_root = root.join("set16");
    let first = set_root.join("dataset/case_00000");
    let case = synth::write_benchmark_case(&first, [256, 256, 100]).expect("write set case");
    let set16 = case_set(
        "16 cases of 256×256×100 (KiTS23 manifest)",
        &set_root,
        &case,
        16,
    );
    (
        vec![ct200, ct600, many],
        set16,
        start.elapsed().as_secs_f64(),
    )
}

fn kits_manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/kits23.toml")
}

/// `n` cases under `data_root` in KiTS23's layout (`dataset/case_NNNNN/{imaging,segmentation}.nii.gz`):
/// `case` itself (when it already lies there) and copies of it under new ids, hard links where the file
/// system allows (the build reads them as any other file).
fn case_set(name: &'static str, data_root: &Path, case: &(PathBuf, PathBuf), n: usize) -> Input {
    let (img, msk) = case;
    let link_or_copy = |from: &Path, to: &Path| {
        if to != from && std::fs::hard_link(from, to).is_err() {
            std::fs::copy(from, to).expect("copy case file");
        }
    };
    let cases = (0..n)
        .map(|k| {
            let dir = data_root.join(format!("dataset/case_{k:05}"));
            std::fs::create_dir_all(&dir).expect("case dir");
            let pair = (dir.join("imaging.nii.gz"), dir.join("segmentation.nii.gz"));
            link_or_copy(img, &pair.0);
            link_or_copy(msk, &pair.1);
            pair
        })
        .collect();
    Input {
        name,
        manifest: kits_manifest(),
        data_root: data_root.to_path_buf(),
        dataset: "KiTS23",
        cases,
        largest_stored_bytes: (256 * 256 * 100 * 2) as f64,
    }
}

/// The builds of the peak-RSS-by-case-count table, all at `--threads 2`: (cases, the CT's case instead of the
/// 16-case set's, formats, Parquet `shard_bytes` when not the default).
const RSS_BY_CASES: [(usize, bool, Variant, Option<u64>); 10] = [
    (8, false, PARQUET, None),
    (32, false, PARQUET, None),
    (128, false, PARQUET, None),
    (512, false, PARQUET, None),
    (512, false, PARQUET, Some(100_000_000)),
    (8, false, ALL, None),
    (128, false, ALL, None),
    (8, true, PARQUET, None),
    (32, true, PARQUET, None),
    (128, true, PARQUET, None),
];

/// Peak RSS of 2-thread builds of 8 to 512 copies of the 16-case set's case and of 8 to 128 copies of the
/// 200-slice CT (one build each: peak RSS does not vary between runs the way time does), with what the Parquet
/// writer keeps per open shard.
/// Issue #11's peak-RSS bound in MB: threads × 3 × the largest volume (`volume_bytes`) + 200 MB.
fn rss_bound_mb(threads: usize, volume_bytes: f64) -> f64 {
    threads as f64 * 3.0 * volume_bytes / MB + 200.0
}

fn rss_by_cases_table(cli: &Cli, set16: &Input, ct: &Input, root: &Path, out: &Path) -> String {
    let mut t = String::from(
        "### Peak RSS against the number of cases (`--threads 2`, one build each)\n\n\
         Copies of the 16-case set's 256×256×100 case and of the 512×512×200 CT under new ids (hard links). \
         Bound = 2 × 3 × largest volume + 200 MB. What grows: an open Parquet shard keeps the metadata of each \
         of its row groups (column chunk metadata, column and offset index; 16–31 KB per 100-row row group in \
         memory, heaptrack) until the shard is closed at `shard_bytes` (default 500 MiB, Hugging Face's \
         recommended shard size), and glibc keeps memory freed by the build's threads in its arenas as a cache \
         of pages, each arena at the high-water mark it has met (below a few hundred cases most of the growth; \
         settings that hand it back cost 2–3 s of page faults per 6 s build, docs/measurements.md §14). The \
         growth per case falls as cases are added and shards close; smaller shards keep less (the \
         `shard_bytes` = 100 MB row). Nothing else is kept per case (the TSV sample's candidates are spilled \
         to disk).\n\n\
         | case | cases | formats | `shard_bytes` | peak RSS MB | bound MB | within | vs 8 cases | Parquet MB | Parquet shards |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut first_peak = std::collections::BTreeMap::new();
    for (n, is_ct, variant, shard_bytes) in RSS_BY_CASES {
        let source = if is_ct { ct } else { set16 };
        let case_name = if is_ct {
            "512×512×200"
        } else {
            "256×256×100"
        };
        let bound = rss_bound_mb(2, source.largest_stored_bytes);
        let data_root = root.join(format!("set{n}-{case_name}"));
        let name = if is_ct {
            "copies of the CT 512×512×200"
        } else {
            "copies of the 16-case set's case"
        };
        let mut input = case_set(name, &data_root, &source.cases[0], n);
        input.largest_stored_bytes = source.largest_stored_bytes;
        if let Some(bytes) = shard_bytes {
            input.manifest = manifest_with_shard_bytes(&input.manifest, root, bytes);
        }
        eprintln!("  {n} {name}: {} at 2 threads", variant.label());
        let run = match variant {
            Variant::Cli(_, formats, _) => build(cli, &input, out, 2, formats, &[]),
            _ => unreachable!("the table's builds are CLI builds"),
        };
        let shards = files_under(&out.join(input.dataset))
            .iter()
            .filter(|(path, _)| path.extension().is_some_and(|e| e == "parquet"))
            .count();
        let base = *first_peak
            .entry((is_ct, variant.label()))
            .or_insert(run.peak_rss_mb);
        writeln!(
            t,
            "| {case_name} | {n} | {} | {} | {:.0} | {bound:.0} | {} | {:+.0} MB ({:+.0} %) | {:.0} | {shards} |",
            variant.label(),
            shard_bytes.map_or("500 MiB (default)".to_string(), |b| format!(
                "{} MB",
                b / 1_000_000
            )),
            run.peak_rss_mb,
            if run.peak_rss_mb <= bound {
                "yes"
            } else {
                "**no**"
            },
            run.peak_rss_mb - base,
            100.0 * (run.peak_rss_mb / base - 1.0),
            run.bytes.parquet as f64 / MB,
        )
        .expect("w");
        let _ = std::fs::remove_dir_all(&data_root);
    }
    let _ = std::fs::remove_dir_all(out);
    t
}

/// A copy of `manifest` (which has no `[output]` table) under `root` with `[output] shard_bytes = bytes`.
fn manifest_with_shard_bytes(manifest: &Path, root: &Path, bytes: u64) -> PathBuf {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("[output")),
        "{} has an [output] table: extend it instead of appending one",
        manifest.display()
    );
    let path = root.join(format!("kits23-shard-{bytes}.toml"));
    std::fs::write(&path, format!("{text}\n[output]\nshard_bytes = {bytes}\n"))
        .expect("write manifest");
    path
}

/// The many-label stand-in (512×512×300, 104 labels) with a bench manifest in KiTS23's layout naming every
/// label (box and mask-size tasks, as TotalSegmentator's manifest asks for its CTs).
fn many_label_input(root: &Path) -> Input {
    let shape = [512, 512, 300];
    let data_root = root.join("many");
    let dir = data_root.join("dataset/case_00000");
    let (image, mask, labels) =
        synth::write_many_label_case(&dir, shape, 104).expect("many-label case");
    let mut toml = String::from(
        "# Bench manifest for the many-label stand-in written by benches/build.rs (104 labels).\n\
         [dataset]\nname = \"ManyLabels\"\nmodality = \"CT\"\nimage_description = \"a whole-body CT scan\"\n\
         department = \"Orthopedic Surgery\"\nlicense = \"cc-by-4.0\"\nlayout = \"dataset/case_NNNNN/{imaging,segmentation}.nii.gz\"\n\n\
         [[collection]]\nname = \"default\"\nimage = \"dataset/{case}/imaging.nii.gz\"\n\
         mask = \"dataset/{case}/segmentation.nii.gz\"\n\n[labels]\n",
    );
    for l in &labels {
        let task = if l.group == manifest::WindowGroup::Bone {
            "Bone"
        } else {
            "Organ Recognition - Abdomen"
        };
        writeln!(
            toml,
            "{} = {{ name = \"{}\", group = \"{}\", vqa_task = \"{task}\" }}",
            l.id,
            l.name,
            l.group.as_str()
        )
        .expect("write");
    }
    toml.push_str(
        "\n[[task]]\nid = \"T01\"\nkind = \"bbox\"\n\n[[task]]\nid = \"T01\"\nkind = \"mask_size\"\n\n\
         [split]\ntest_fraction = 0.3\nseed = 4\n",
    );
    let manifest = root.join("many_labels.toml");
    std::fs::write(&manifest, toml).expect("write bench manifest");
    Input {
        name: "many-label 512×512×300, 104 labels (bench manifest)",
        manifest,
        data_root,
        dataset: "ManyLabels",
        cases: vec![(image, mask)],
        largest_stored_bytes: (shape[0] * shape[1] * shape[2] * 2) as f64,
    }
}

/// TotalSegmentator as it is downloaded: the many-label stand-in's CT beside its label map split into the 117
/// class files of `manifests/totalsegmentator.toml` (stand-in label k → class k's file; classes 105–117 are
/// empty, as the classes of body regions a CT does not cover are), built with that manifest (`mask_files`,
/// overlap `first`); and the same case with the stand-in's label map as its mask, built with that manifest
/// reading one label map instead (its CT collection's `mask` lines replaced): the same rows but for the mask
/// path they name, so the two differ only by the class files' reading and merging. Returns `(class files, one label map)`.
fn structure_files_inputs(root: &Path, many: &Input) -> (Input, Input) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/totalsegmentator.toml");
    let loaded = manifest::load(&manifest).expect("TotalSegmentator manifest");
    let data_root = root.join("totalsegmentator");
    let case = data_root.join("Totalsegmentator_dataset_v201/s0000");
    let folder = case.join("segmentations");
    std::fs::create_dir_all(&folder).expect("class file folder");
    let (stand_in_image, stand_in_mask) = &many.cases[0];
    let image = case.join("ct.nii.gz");
    if std::fs::hard_link(stand_in_image, &image).is_err() {
        std::fs::copy(stand_in_image, &image).expect("copy the stand-in's CT");
    }
    let ids: Vec<u16> = (1..=255).collect();
    let map = volume::read_label_map(stand_in_mask, &ids).expect("stand-in label map");
    let opts = synth::WriteOptions {
        compression_level: 1,
        ..synth::WriteOptions::default()
    };
    for (&id, label) in loaded.labels("CT") {
        let class = map.data.mapv(|v| u8::from(v == id));
        let path = folder.join(format!("{}.nii.gz", label.file_stem()));
        synth::write_nifti(&path, &class, map.geometry.spacing_mm, "LPS", &opts)
            .expect("write class file");
    }
    let one_map = case.join("segmentation.nii.gz");
    if std::fs::hard_link(stand_in_mask, &one_map).is_err() {
        std::fs::copy(stand_in_mask, &one_map).expect("copy the stand-in's label map");
    }
    let text = std::fs::read_to_string(&manifest).expect("read the TotalSegmentator manifest");
    let class_lines = "mask = [\"Totalsegmentator_dataset_v201/{case}/segmentations\", \"{case}/segmentations\"]\n\
                       mask_files = { suffix = \".nii.gz\", overlap = \"first\", absent = \"empty\" }\n";
    assert!(
        text.contains(class_lines),
        "{}: the CT collection's mask lines changed",
        manifest.display()
    );
    let one_map_manifest = root.join("totalsegmentator_one_map.toml");
    let one_map_text = text.replacen(
        class_lines,
        "mask = \"Totalsegmentator_dataset_v201/{case}/segmentation.nii.gz\"\n",
        1,
    );
    std::fs::write(&one_map_manifest, one_map_text).expect("write the one-map manifest");
    let input = |name, manifest, mask| Input {
        name,
        manifest,
        data_root: data_root.clone(),
        dataset: "TotalSegmentator",
        cases: vec![(image.clone(), mask)],
        largest_stored_bytes: many.largest_stored_bytes,
    };
    (
        input(
            "TotalSegmentator layout: many-label CT + 117 class files",
            manifest,
            folder,
        ),
        input(
            "same case, its label map as one file",
            one_map_manifest,
            one_map,
        ),
    )
}

/// Paired rounds of the TotalSegmentator case as one label map (`one_map`) and as its 117 class files (`ts`),
/// Parquet only, at 1 and 2 threads: A B C D A B C D …. Returns the table and the class files' 1-thread
/// result (for the projection).
fn structure_files_table(
    cli: &Cli,
    one_map: &Input,
    ts: &Input,
    out: &Path,
    rounds: usize,
    gen_secs: f64,
) -> (String, CaseResult) {
    let plan = [(one_map, 1), (ts, 1), (one_map, 2), (ts, 2)];
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); plan.len()];
    for round in 0..rounds {
        for (k, &(input, threads)) in plan.iter().enumerate() {
            let run = build(cli, input, out, threads, "parquet", &[]);
            eprintln!(
                "  {} round {round}: --threads {threads} {:.2} s",
                input.name, run.secs
            );
            runs[k].push(run);
        }
    }
    let secs = |k: usize| runs[k].iter().map(|r| r.secs).collect::<Vec<f64>>();
    let paired =
        |a: usize, b: usize| median(secs(a).iter().zip(secs(b)).map(|(x, y)| x / y).collect());
    let mut t = format!(
        "### TotalSegmentator's own layout: 117 class files per CT (`--formats parquet`; paired rounds, medians of {rounds})\n\n\
         The many-label stand-in's label map split into the 117 class files of \
         `manifests/totalsegmentator.toml`, one binary mask per class as the release ships them (written in \
         {gen_secs:.0} s; stand-in label k → class k, classes 105–117 empty) and merged by the build \
         (`mask_files`, lower id first), against the same case with the label map as its one mask file (the \
         manifest's CT collection reading it instead): the same rows but for the mask path they name (6 bytes \
         longer per row), so the difference is the class files' 117 inflates and their merge.\n\n\
         | input | threads | s | × one label map (paired) | 2 vs 1 thread (paired) | peak RSS MB | bound (int16) MB | Parquet bytes |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for (k, &(input, threads)) in plan.iter().enumerate() {
        let vs_map = if k % 2 == 1 {
            format!("{:.2}×", paired(k, k - 1))
        } else {
            "1".to_string()
        };
        let speedup = if threads == 2 {
            format!("{:.2}×", paired(k - 2, k))
        } else {
            String::new()
        };
        let peak = runs[k].iter().map(|r| r.peak_rss_mb).fold(0.0, f64::max);
        let bound = rss_bound_mb(threads, input.largest_stored_bytes);
        writeln!(
            t,
            "| {} | {threads} | {:.2} | {vs_map} | {speedup} | {peak:.0} | {bound:.0} | {} |",
            input.name,
            median(secs(k)),
            runs[k].last().map_or(0, |r| r.bytes.parquet)
        )
        .expect("w");
    }
    let result = CaseResult {
        input_name: ts.name,
        largest: ts.largest_stored_bytes,
        secs: vec![(PARQUET, secs(1))],
        runs: vec![(PARQUET, runs[1].clone())],
        skipped: Vec::new(),
    };
    (t, result)
}

/// The library table kept from the first benchmark: CT 512×512×200 annotation and lesion paths vs inflate.
fn library_table(input: &Input, rounds: usize) -> String {
    let (image, mask) = &input.cases[0];
    let loaded = manifest::load(&input.manifest).expect("manifest");
    let known: Vec<u16> = loaded.labels("default").keys().copied().collect();
    let (mut d, mut a, mut l) = (Vec::new(), Vec::new(), Vec::new());
    let mask_volume = volume::read_label_map(mask, &known).expect("mask");
    let stats = annotate::mask_stats(
        &mask_volume,
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("stats");
    let (mut kept, mut lesions) = (0, 0);
    for _ in 0..rounds {
        d.push(secs(|| {
            gunzip(image);
            gunzip(mask);
        }));
        a.push(secs(|| kept = annotate_only(&input.manifest, image, mask)));
        l.push(secs(|| {
            let options = LesionOptions::new(LesionRules::Default);
            lesions = annotate::lesion_facts(&mask_volume, &stats, &[2], &options, true)
                .0
                .len();
        }));
    }
    let (d, a, l) = (median(d), median(a), median(l));
    let mut t = format!(
        "### Library paths, {} (in-process, median of {rounds} paired rounds)\n\n\
         {kept} kept box/size facts, {lesions} measured tumour slices.\n\n\
         | path | seconds | × inflate |\n|---|---|---|\n",
        input.name
    );
    writeln!(
        t,
        "| inflate image + mask (flate2, zlib-rs) | {d:.3} | 1.00 |"
    )
    .expect("w");
    writeln!(
        t,
        "| annotation only (read, reorient, check, boxes + areas, 3 planes) | {a:.3} | {:.2} |",
        a / d
    )
    .expect("w");
    writeln!(
        t,
        "| lesion size only (tumour outline, ellipse fit, Feret; 3 planes; after the statistics) | {l:.4} | {:.3} |",
        l / d
    )
    .expect("w");
    t
}

fn fmt_mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MB)
}

/// Seconds and × inflate per variant and case.
fn format_table(results: &[CaseResult], rounds: usize) -> String {
    let mut t = format!(
        "### Seconds per case by format (`--threads 1`, median of {rounds} paired rounds A B C … A B C …)\n\n\
         `× inflate` is against flate2's inflate (zlib-rs, the stream decoder the readers fall back to), \
         `× C zlib` against C zlib's (the issue's floor): the ratio of the medians, and the median of the \
         per-round ratios (each round's build over the same round's C zlib inflate, which cancels the \
         machine's slower and faster phases the way the thread pairs do).\n\n\
         | case | path | seconds | × inflate | × C zlib | × C zlib, median of per-round ratios | peak RSS MB |\n\
         |---|---|---|---|---|---|---|\n"
    );
    for r in results {
        let inflate = r.median(Variant::Inflate).unwrap_or(f64::NAN);
        let c_zlib = r.median(Variant::InflateCZlib).unwrap_or(f64::NAN);
        for (v, _) in &r.secs {
            let s = r.median(*v).unwrap_or(f64::NAN);
            let n = r
                .secs
                .iter()
                .find(|(w, _)| w == v)
                .map_or(0, |(_, x)| x.len());
            let peak = r
                .peak(*v)
                .map_or("– (in-process)".into(), |p| format!("{p:.0}"));
            let runs = if n == rounds {
                String::new()
            } else {
                format!(" ({n} run)")
            };
            let per_round = r
                .paired_ratio(*v, Variant::InflateCZlib)
                .map_or("–".to_string(), |x| format!("{x:.2}"));
            writeln!(
                t,
                "| {} | {}{runs} | {s:.2} | {:.2} | {:.2} | {per_round} | {peak} |",
                r.input_name,
                v.label(),
                s / inflate,
                s / c_zlib
            )
            .expect("w");
        }
        for (v, why) in &r.skipped {
            writeln!(
                t,
                "| {} | {} | – | – | – | – | {why} |",
                r.input_name,
                v.label()
            )
            .expect("w");
        }
    }
    t
}

/// Bytes per case per format; Parquet against the distinct PNG bytes of the case.
fn bytes_table(results: &[CaseResult]) -> String {
    let mut t = String::from(
        "### Bytes per case by format (from the single-format builds; distinct PNG bytes = the content-named \
         `jsonl/images/` folder, each distinct slice image once)\n\n\
         `datasets` MB = the Parquet rows once `datasets` has loaded them, the card's `dataset_size`: about \
         the disk its cache takes, where every row holds its slice's PNG.\n\n\
         | case | rows | Parquet MB | TSV MB (both files) | JSONL MB (lines + images) | all formats MB | distinct PNG MB | Parquet / distinct PNG | `datasets` MB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let p = r.last(PARQUET).map(|r| r.bytes).unwrap_or_default();
        let j = r.last(JSONL).map(|r| r.bytes).unwrap_or_default();
        let tsv = r
            .last(TSV)
            .or(r.last(ALL))
            .map_or("not run".into(), |r| fmt_mb(r.bytes.tsv));
        let all = r.last(ALL).map_or("not run".into(), |r| {
            fmt_mb(r.bytes.parquet + r.bytes.tsv + r.bytes.jsonl)
        });
        let ratio = p.parquet as f64 / j.distinct_png as f64;
        writeln!(
            t,
            "| {} | {} | {} | {tsv} | {} | {all} | {} | {ratio:.2} | {} |",
            r.input_name,
            p.rows,
            fmt_mb(p.parquet),
            fmt_mb(j.jsonl),
            fmt_mb(j.distinct_png),
            fmt_mb(p.loaded)
        )
        .expect("w");
        if let Some(all) = r.last(ALL_UNSAMPLED) {
            writeln!(
                t,
                "| {} (all formats, unsampled TSV) | {} | {} | {} | {} | {} | {} | | |",
                r.input_name,
                all.bytes.rows,
                fmt_mb(all.bytes.parquet),
                fmt_mb(all.bytes.tsv),
                fmt_mb(all.bytes.jsonl),
                fmt_mb(all.bytes.parquet + all.bytes.tsv + all.bytes.jsonl),
                fmt_mb(all.bytes.distinct_png)
            )
            .expect("w");
        }
    }
    t
}

fn speedup_table(speedups: &[Speedup]) -> String {
    let rounds = speedups.first().map_or(0, |s| s.t1.len());
    let mut t = format!(
        "### `--threads 2` vs `--threads 1` (paired rounds: control, 1 thread, 2 threads; median of {rounds})\n\n\
         Free-core control, measured before every pair: a fixed CPU-bound spin alone (t1) and two copies at once \
         on two threads (t2); cores actually free ≈ 2·t1/t2 (2.0 = both cores free). Memory-bound control, \
         measured alongside: the same ratio for a stream through a 256 MB buffer, what two free cores give \
         work bound by memory bandwidth (the build's volume passes are). Two processes: two 1-thread builds of \
         the same input started together, each writing its own output; 2 · (1 thread s) / (their wall s) is what \
         two cores give this very work with nothing shared between the two halves (no pool, no writer), the \
         ceiling for any split of it inside one process on this machine.\n\n\
         | input | formats | 1 thread s | 2 threads s | speedup (median of ratios) | cores free (median) | \
         memory-bound control (median) | two processes (median) | each round: speedup @ cores free | \
         speedup in rounds with ≥ 1.8 cores free |\n\
         |---|---|---|---|---|---|---|---|---|---|\n"
    );
    for s in speedups {
        let (a, b, free) = (
            median(s.t1.clone()),
            median(s.t2.clone()),
            median(s.free.clone()),
        );
        let ratios: Vec<(f64, f64)> =
            s.t1.iter()
                .zip(&s.t2)
                .zip(&s.free)
                .map(|((a, b), f)| (a / b, *f))
                .collect();
        let each: Vec<String> = ratios
            .iter()
            .map(|(r, f)| format!("{r:.2}@{f:.2}"))
            .collect();
        let quiet: Vec<f64> = ratios
            .iter()
            .filter(|(_, f)| *f >= 1.8)
            .map(|(r, _)| *r)
            .collect();
        let quiet = if quiet.is_empty() {
            "no such round".to_string()
        } else {
            format!(
                "{:.2}× ({} of {})",
                median(quiet.clone()),
                quiet.len(),
                ratios.len()
            )
        };
        writeln!(
            t,
            "| {} | {} | {a:.2} | {b:.2} | **{:.2}×** | {free:.2} | {:.2} | {:.2}× | {} | {quiet} |",
            s.input_name,
            s.formats_label,
            s.ratio(),
            median(s.memory.clone()),
            median(s.t1.iter().zip(&s.pair).map(|(a, p)| 2.0 * a / p).collect()),
            each.join(", ")
        )
        .expect("w");
    }
    t
}

/// Where the threads' time goes: cores kept busy, the 1-thread build confined to one CPU, the main thread.
fn cores_table(speedups: &[Speedup]) -> String {
    let mut t = String::from(
        "### Cores kept busy (same paired rounds as above; medians)\n\n\
         `--threads N` builds N cases at once (and renders a big case's slices on N threads) while one more \
         thread, the main one, writes the outputs, so `--threads 1` already keeps more than one core busy. \
         Cores busy = the build's user + system CPU seconds / wall seconds. One CPU = the 1-thread build \
         confined to one CPU with `taskset` (measured in each round between the 1- and 2-thread builds). \
         Main thread = its CPU seconds (the writer, discovery and the outputs' finish) as a share of the \
         build's; the cases-in-parallel ceiling that share allows on one machine is 1 / share.\n\n\
         | input | formats | cores busy, 1 thread | cores busy, 2 threads | 1 thread on one CPU s | \
         2 threads vs one CPU | main thread CPU s (2 threads) | main thread share | ceiling 1 / share |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for s in speedups {
        let busy = |pick: fn(&(Run, Run)) -> &Run| {
            median(
                s.runs
                    .iter()
                    .map(pick)
                    .map(|r| r.cpu_secs / r.secs)
                    .collect(),
            )
        };
        let main_s = median(s.runs.iter().map(|(_, b)| b.main_cpu_secs).collect());
        let share = median(
            (s.runs.iter())
                .map(|(_, b)| b.main_cpu_secs / b.cpu_secs)
                .collect(),
        );
        let (one_cpu, vs_one) = if s.t1_one_cpu.is_empty() {
            ("–".to_string(), "– (no `taskset`)".to_string())
        } else {
            let ratios = s.t1_one_cpu.iter().zip(&s.t2).map(|(a, b)| a / b);
            (
                format!("{:.2}", median(s.t1_one_cpu.clone())),
                format!("**{:.2}×**", median(ratios.collect())),
            )
        };
        writeln!(
            t,
            "| {} | {} | {:.2} | {:.2} | {one_cpu} | {vs_one} | {main_s:.2} | {:.0} % | {:.1}× |",
            s.input_name,
            s.formats_label,
            busy(|r| &r.0),
            busy(|r| &r.1),
            share * 100.0,
            1.0 / share
        )
        .expect("w");
    }
    t
}

/// Peak RSS of every build against threads × 3 × largest volume + 200 MB.
fn rss_table(results: &[CaseResult], speedups: &[Speedup]) -> String {
    let mut t = String::from(
        "### Peak RSS against the bound (VmHWM of the child, polled every 20 ms; max over rounds)\n\n\
         Bound = threads × 3 × largest volume + 200 MB, where largest volume = the in-memory size of the largest \
         image volume at its stored type (int16 here); the f32 column uses 4 bytes per voxel.\n\n\
         | input | formats | threads | peak RSS MB | bound (int16) MB | within | bound (f32) MB | within |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut row = |name: &str, label: &str, threads: usize, peak: f64, largest: f64| {
        let stored = rss_bound_mb(threads, largest);
        let f32b = rss_bound_mb(threads, largest * 2.0);
        let yes = |b: f64| if peak <= b { "yes" } else { "**no**" };
        writeln!(
            t,
            "| {name} | {label} | {threads} | {peak:.0} | {stored:.0} | {} | {f32b:.0} | {} |",
            yes(stored),
            yes(f32b)
        )
        .expect("w");
    };
    for r in results {
        for (v, _) in &r.runs {
            if let Some(p) = r.peak(*v) {
                row(r.input_name, &v.label(), 1, p, r.largest);
            }
        }
    }
    for s in speedups {
        row(s.input_name, &s.formats_label, 1, s.peak_t1, s.largest);
        row(s.input_name, &s.formats_label, 2, s.peak_t2, s.largest);
    }
    t
}

/// Projected KiTS23 and TotalSegmentator builds from the per-case numbers and the measured 2-thread speedup.
fn projection_table(
    results: &[CaseResult],
    class_files: &CaseResult,
    speedups: &[Speedup],
) -> String {
    let mut t = String::from(
        "### Projected full builds\n\n\
         Assumptions: every KiTS23 case costs what the 512×512×200 CT costs here and every TotalSegmentator CT \
         what the 512×512×300 many-label stand-in costs (1-thread seconds and bytes per case above; \
         \"117 class files\": the same CT in the release's own layout and manifest, previous table); 2 cores = \
         one such machine at the 2-thread speedup measured on the 16-case build for that format; 64 cores = \
         32 machines of 2 cores, each building N/32 cases with `--partition I/32` at that speedup (merge time \
         not included); the ideal columns assume 2.0× on 2 cores instead (both cores free). Output = Parquet + \
         TSV + JSONL bytes of the case × cases; `datasets` GB = the Parquet rows loaded by `datasets` (the \
         card's `dataset_size`) × cases, about the disk its cache takes. Wall times are minutes.\n\n\
         | dataset | cases | formats | s/case (1 thread) | measured 2-thread speedup | 2 cores min | 64 cores min | 2 cores min (ideal) | 64 cores min (ideal) | output GB | `datasets` GB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let speed_of = |label: String| {
        speedups
            .iter()
            .find(|s| s.input_name.starts_with("16") && s.formats_label == label)
    };
    for (dataset, n, r) in [
        ("KiTS23", 489usize, &results[0]),
        ("TotalSegmentator CT", 1228, &results[2]),
        ("TotalSegmentator CT, 117 class files", 1228, class_files),
    ] {
        for v in [PARQUET, ALL] {
            let (Some(s1), Some(run)) = (r.median(v), r.last(v)) else {
                writeln!(
                    t,
                    "| {dataset} | {n} | {} | not measured | | | | | | | |",
                    v.label()
                )
                .expect("w");
                continue;
            };
            let sp = speed_of(v.label()).map_or(1.0, Speedup::ratio);
            let two = n as f64 * s1 / sp / 60.0;
            let sixty_four = n.div_ceil(32) as f64 * s1 / sp / 60.0;
            let b = run.bytes;
            let gb = n as f64 * (b.parquet + b.tsv + b.jsonl) as f64 / 1e9;
            let loaded_gb = n as f64 * b.loaded as f64 / 1e9;
            let (two_i, sixty_four_i) = (two * sp / 2.0, sixty_four * sp / 2.0);
            writeln!(
                t,
                "| {dataset} | {n} | {} | {s1:.1} | {sp:.2} | {two:.0} | {sixty_four:.1} | {two_i:.0} | {sixty_four_i:.1} | {gb:.0} | {loaded_gb:.0} |",
                v.label()
            )
            .expect("w");
        }
    }
    t
}

fn main() {
    let started = Instant::now();
    let rounds: usize = std::env::var("MVB_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    // Thread pairs are short and most exposed to other load: more rounds (default 5).
    let thread_rounds: usize = std::env::var("MVB_BENCH_THREAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let cli = Cli::new();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let root = target.join("bench-data");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).expect("bench dir");
    let out = root.join("out");
    eprintln!("writing phantoms under {} …", root.display());
    let (inputs, set16, gen_secs) = write_inputs(&root);

    let library = library_table(&inputs[0], rounds);
    let mut results = Vec::new();
    let free_before = free_cores();
    for (k, input) in inputs.iter().enumerate() {
        // TSV on the many-label stand-in (k = 2) is GBs per run: once, or sampled when the binary can.
        results.push(per_case(&cli, input, &out, rounds, k == 2));
    }
    let mut speedups = Vec::new();
    let mut formats = vec![PARQUET, TSV, JSONL, ALL];
    for v in formats.drain(..) {
        speedups.push(speedup(&cli, &set16, &out, thread_rounds, v));
    }
    for v in [PARQUET, ALL] {
        speedups.push(speedup(&cli, &inputs[0], &out, thread_rounds, v));
    }
    // One big case with many labels (TotalSegmentator's kind): its slices' work outweighs its inflate.
    speedups.push(speedup(&cli, &inputs[2], &out, thread_rounds, PARQUET));

    let rss_by_cases = rss_by_cases_table(&cli, &set16, &inputs[0], &root, &out);

    eprintln!("writing TotalSegmentator's 117 class files …");
    let written = Instant::now();
    let (ts, ts_one_map) = structure_files_inputs(&root, &inputs[2]);
    let (structure_files, ts_result) = structure_files_table(
        &cli,
        &ts_one_map,
        &ts,
        &out,
        rounds,
        written.elapsed().as_secs_f64(),
    );

    let free_after = free_cores();
    let mut md = String::new();
    writeln!(
        md,
        "## Benchmark results (`cargo bench --bench build`)\n\n\
         Binary: `{}` (`--tsv-max-items`: {}). Machine: {} logical CPUs. Phantoms written by `src/synth` in {gen_secs:.0} s. \
         Builds run the CLI as a child process; times are wall seconds. \
         Free-core control (below) at the start: {free_before:.2}, at the end: {free_after:.2} cores.\n",
        cli.path.display(),
        if cli.tsv_max_items { "available" } else { "not available" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )
    .expect("w");
    for table in [
        library,
        format_table(&results, rounds),
        bytes_table(&results),
        speedup_table(&speedups),
        cores_table(&speedups),
        rss_table(&results, &speedups),
        rss_by_cases,
        structure_files,
        projection_table(&results, &ts_result, &speedups),
    ] {
        md.push_str(&table);
        md.push('\n');
    }
    writeln!(
        md,
        "Whole benchmark run: {:.1} min.",
        started.elapsed().as_secs_f64() / 60.0
    )
    .expect("w");
    println!("{md}");
    std::fs::write(target.join("bench-results.md"), &md).expect("write target/bench-results.md");
    if std::env::var("MVB_BENCH_KEEP").is_err() {
        let _ = std::fs::remove_dir_all(&root);
    }
}
