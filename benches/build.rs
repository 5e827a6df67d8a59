//! `cargo bench`: times a 512×512×200 int16 CT with its mask through the annotation-only path and the full
//! build, each against simply decompressing the two `.nii.gz` files, and prints a table (median of runs).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use medvision_build::annotate::lesion::{LesionOptions, LesionRules};
use medvision_build::annotate::{self, DisplayFrame};
use medvision_build::manifest::{self, Connectivity, Plane, Profile, TaskKind};
use medvision_build::pipeline::{self, BuildOptions};
use medvision_build::sink::OutputFormat;
use medvision_build::{synth, volume};

const RUNS: usize = 3;

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
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

fn main() {
    let shape = [512, 512, 200];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    let case_dir = root.join("dataset/case_00000");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&case_dir).expect("bench dir");
    let (image, mask) =
        synth::write_benchmark_case(&case_dir, shape).expect("write benchmark case");
    std::fs::rename(&image, case_dir.join("imaging.nii.gz")).expect("rename image");
    std::fs::rename(&mask, case_dir.join("segmentation.nii.gz")).expect("rename mask");
    let (image, mask) = (
        case_dir.join("imaging.nii.gz"),
        case_dir.join("segmentation.nii.gz"),
    );
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/kits23.toml");
    let loaded = manifest::load(&manifest_path).expect("manifest");
    let known: Vec<u16> = loaded.labels("default").keys().copied().collect();
    let tasks = loaded.manifest.tasks.clone();

    let decompress = time(RUNS, || {
        gunzip(&image);
        gunzip(&mask);
    });
    let mut kept = 0;
    let annotate_only = time(RUNS, || {
        let mask_volume = volume::read_label_map(&mask, &known).expect("mask");
        let image_file = volume::open_image(&image, None).expect("image header");
        let (shape, geometry) = (image_file.shape(), image_file.geometry().clone());
        volume::check_grid_agreement(&image, shape, &geometry, &mask, &mask_volume)
            .expect("agreement");
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
        kept = 0;
        for task in &tasks {
            kept += match task.kind {
                TaskKind::Bbox => annotate::box_facts(&stats, &known, &task.filters).0.len(),
                TaskKind::MaskSize => annotate::mask_size_facts(&stats, &known, &task.filters)
                    .0
                    .len(),
                TaskKind::LesionSize | TaskKind::Landmarks => 0,
            };
        }
    });
    // Lesion size on top of the one-pass statistics: every tumour slice of all three planes.
    let mask_volume = volume::read_label_map(&mask, &known).expect("mask");
    let stats = annotate::mask_stats(
        &mask_volume,
        DisplayFrame::Radiological,
        &Plane::ALL,
        Connectivity::Four,
    )
    .expect("stats");
    let mut lesions = 0;
    let lesion_only = time(RUNS, || {
        let options = LesionOptions::new(LesionRules::Default);
        lesions = annotate::lesion_facts(&mask_volume, &stats, &[2], &options)
            .0
            .len();
    });
    let mut rows = 0;
    let full = |threads: usize, formats: &[OutputFormat], rows: &mut u64| {
        let out = root.join(format!("out-{threads}-{}", formats.len()));
        let options = BuildOptions {
            manifest: manifest_path.clone(),
            data_root: root.clone(),
            out_dir: out,
            threads,
            fail_fast: true,
            profile: Profile::Default,
            formats: formats.to_vec(),
            tsv_max_items: None,
        };
        *rows = pipeline::build(&options, &|_| {})
            .expect("build")
            .report
            .rows_total;
    };
    let parquet_1 = time(1, || full(1, &[OutputFormat::Parquet], &mut rows));
    let full_1 = time(1, || full(1, &OutputFormat::ALL, &mut rows));
    let full_2 = time(1, || full(2, &OutputFormat::ALL, &mut rows));

    println!("512x512x200 int16 CT + u8 mask (.nii.gz), median of {RUNS} runs (full build: 1 run)");
    println!("{kept} kept box/size facts, {lesions} measured tumour slices, {rows} rows in the full build");
    println!();
    println!("| path | seconds | × decompression |");
    println!("|---|---|---|");
    println!("| decompress image + mask (flate2, zlib-rs) | {decompress:.3} | 1.00 |");
    println!("| annotation only (read, reorient, check, boxes + areas, 3 planes) | {annotate_only:.3} | {:.2} |", annotate_only / decompress);
    println!(
        "| lesion size only (tumour outline, ellipse fit, Feret; 3 planes; after the statistics) | {lesion_only:.4} | {:.3} |",
        lesion_only / decompress
    );
    println!(
        "| full build, Parquet only, 1 thread (+ render PNG, questions, Parquet) | {parquet_1:.3} | {:.2} |",
        parquet_1 / decompress
    );
    println!(
        "| full build, Parquet + TSV + JSONL, 1 thread (+ multiple choice, RGB PNG/base64, box overlays) | {full_1:.3} | {:.2} |",
        full_1 / decompress
    );
    println!(
        "| full build, Parquet + TSV + JSONL, 2 threads | {full_2:.3} | {:.2} |",
        full_2 / decompress
    );
}
