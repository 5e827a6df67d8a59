//! The TSV sink end to end: quoting, parts, references, hidden copies, the sample (decided at finish or at
//! the final case) against the unsampled files.

use super::format::{line, quote};
use super::*;
use crate::sink::tsv_sample::ItemKey;
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::Arc;

#[test]
fn base64_matches_rfc4648_vectors() {
    // Every length up to 300 (each SIMD block size and tail) and a long input, against the scalar
    // `base64` crate.
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 256) as u8).collect();
    let scalar = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    for n in (0..300).chain([4095, 4096, 4097, 100_000]) {
        assert_eq!(base64(&bytes[..n]), scalar(&bytes[..n]), "{n} bytes");
    }
    for (input, want) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), want);
    }
    assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
}

#[test]
fn every_field_is_quoted_and_quotes_doubled() {
    assert_eq!(
        line(&["1", "a \"b\"\tc", ""]),
        "\"1\"\t\"a \"\"b\"\"\tc\"\t\"\"\n"
    );
}

#[test]
fn options_pandas_would_mangle_are_refused() {
    for bad in ["NA", "None", "null", "", "nan", "40", " 7.5 ", "1e3", "inf"] {
        assert!(option_problem(bad).is_some(), "{bad}");
    }
    for good in [
        "40.00 mm",
        "82.50°",
        "[0.100, 0.720, 0.290, 0.900]",
        "kidney",
        "الكلية",
        "Nan Madol",
    ] {
        assert!(option_problem(good).is_none(), "{good}");
    }
}

#[test]
fn forbidden_dataset_names_are_refused() {
    let dir = std::env::temp_dir().join(format!("mvb-tsv-names-{}", std::process::id()));
    assert!(matches!(
        TsvSink::new(&dir, "MyMMBenchCT", TsvOptions::default()),
        Err(SinkError::TsvName { .. })
    ));
    assert!(matches!(
        TsvSink::new(&dir, "circular_ct", TsvOptions::default()),
        Err(SinkError::TsvName { .. })
    ));
    assert!(matches!(
        TsvSink::new(&dir, "a b", TsvOptions::default()),
        Err(SinkError::TsvName { .. })
    ));
    assert!(TsvSink::new(&dir, "KiTS23", TsvOptions::default()).is_ok());
    let _ = fs::remove_dir_all(&dir);
}

fn row(i: usize, split: &str) -> Row {
    let gray: Vec<u8> = (0..64u32)
        .map(|v| ((v * 7 + i as u32) % 256) as u8)
        .collect();
    let rgb: Vec<u8> = gray.iter().flat_map(|&g| [g, g, g]).collect();
    let mut boxed = rgb.clone();
    boxed[..3].copy_from_slice(&[255, 0, 0]);
    let png = |rgb: &[u8]| -> Arc<[u8]> {
        crate::render::encode_png_rgb(8, 8, rgb)
            .expect("png")
            .into()
    };
    let choice = Choice {
        question: format!("Question {i} with \"quotes\"?"),
        options: (0..5)
            .map(|k| format!("{}.00 mm²", 10 + k * 3 + i))
            .collect(),
        answer_index: i % 5,
        clinical_vqa_task: "Disease Diagnosis".into(),
        department: "Urology".into(),
        perceptual_granularity: "Mask level".into(),
        modality: "CT".into(),
        original_task: "SEG_2D".into(),
        box_drawn: false,
        rgb_png: Some(png(&rgb)),
    };
    let identify = Choice {
        question: "Which structure is marked by the red box?".into(),
        options: vec!["kidney".into(), "kidney tumor".into(), "kidney cyst".into()],
        answer_index: i % 3,
        box_drawn: true,
        rgb_png: Some(png(&boxed)),
        ..choice.clone()
    };
    Row {
        id: format!("ds/c/case_{i}/bbox/T01/axial/{i}/1/en"),
        task_type: "bbox".into(),
        label_id: Some(1),
        label_name: Some("kidney tumor".into()),
        case_id: format!("case_{}", i / 4),
        split: split.into(),
        lang: "en".into(),
        image_png: crate::render::encode_png_gray(8, 8, &gray)
            .expect("png")
            .into(),
        bbox_px: Some([1, 2, 4, 5]),
        choice: Some(choice),
        identify: Some(identify),
        ..Row::default()
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mvb-tsv-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn parts_stay_under_the_limit_and_hidden_copies_lack_the_answer() {
    let dir = temp("parts");
    let options = TsvOptions {
        max_file_bytes: 4000,
        ..TsvOptions::default()
    };
    let mut sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
    for i in 0..20 {
        sink.push(&row(i, if i % 2 == 0 { "train" } else { "test" }))
            .expect("push");
    }
    let (written, _) = sink.finish().expect("finish");
    let total: u64 = written
        .iter()
        .filter(|f| f.path.to_string_lossy().contains("_test_en_part_"))
        .map(|f| f.rows)
        .sum();
    assert_eq!(total, 20, "10 test rows, two items each");
    let mut indices = Vec::new();
    for file in &written {
        let text = fs::read_to_string(&file.path).expect("read");
        assert!(
            text.len() <= 4000,
            "{} has {} bytes",
            file.path.display(),
            text.len()
        );
        let hidden = file.path.to_string_lossy().contains("_hidden");
        let header = text.lines().next().expect("header");
        assert_eq!(header.contains("\"answer\""), !hidden);
        assert!(header.contains("\"category\"\t\"l2-category\""), "{header}");
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let at = if hidden { 7 } else { 8 };
            // `row` makes a mask-size item and an identification item per row.
            assert!(
                [
                    ["\"kidney tumor\"", "\"bounding box\""],
                    ["\"structure identification\""; 2]
                ]
                .contains(&[fields[at], fields[at + 1]]),
                "{line:.200}"
            );
        }
        assert_eq!(text.lines().count() as u64, file.rows + 1);
        let name = file
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name");
        assert!(
            name.contains("_part_"),
            "{name}: several parts are numbered"
        );
        if name.starts_with("KiTS23_train_en_part_") {
            indices.extend(
                text.lines()
                    .skip(1)
                    .map(|l| l.split('\t').next().map(str::to_string)),
            );
        }
    }
    // Indices run on across parts; no train copy is hidden.
    let want: Vec<Option<String>> = (0..20).map(|i| Some(format!("\"{i}\""))).collect();
    assert_eq!(indices, want);
    assert!(!written
        .iter()
        .any(|f| f.split == "train" && f.path.to_string_lossy().contains("hidden")));
    // A second build with one part replaces the numbered parts.
    let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
    sink.push(&row(0, "train")).expect("push");
    let (written, _) = sink.finish().expect("finish");
    let names: Vec<String> = fs::read_dir(dir.join("tsv"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["KiTS23_train_en.tsv".to_string()]);
    assert_eq!(written[0].rows, 2);
    fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn drop_removes_partials_and_bad_items_are_refused() {
    let dir = temp("drop");
    let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
    sink.push(&row(3, "train")).expect("push");
    let partials: Vec<PathBuf> = sink.partials.clone();
    assert!(!partials.is_empty() && partials.iter().all(|p| p.exists()));
    drop(sink);
    assert!(partials.iter().all(|p| !p.exists()));
    let mut bad = row(4, "train");
    if let Some(c) = bad.choice.as_mut() {
        c.options[2] = "None".into();
    }
    let mut sink = TsvSink::new(&dir, "KiTS23", TsvOptions::default()).expect("sink");
    let err = sink.push(&bad).expect_err("None would vanish in pandas");
    assert!(err.to_string().contains("`None`"), "{err}");
    let mut bare = row(5, "train");
    if let Some(c) = bare.identify.as_mut() {
        c.rgb_png = None;
    }
    let err = sink.push(&bare).expect_err("the sink makes no images");
    assert!(err.to_string().contains("no RGB image"), "{err}");
    fs::remove_dir_all(&dir).expect("clean up");
}

/// Every file of `dir/tsv`, by name.
fn tsv_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    (fs::read_dir(dir.join("tsv")).expect("tsv dir").flatten())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, fs::read(e.path()).expect("read"))
        })
        .collect()
}

#[test]
fn a_sample_of_every_item_writes_the_unsampled_files_byte_for_byte() {
    // The sample spills base64 and writes the hidden copy on a second thread; the unsampled path writes
    // each item to both files at once. Both must give the same bytes, across part splits and references
    // (rows share images in pairs).
    let rows = rows_sharing_images(30);
    let build = |name: &str, max_items: u64| {
        let (dir, mut sink) = small_parts_sink(name, max_items);
        for r in &rows {
            sink.push(r).expect("push");
        }
        let (written, _) = sink.finish().expect("finish");
        let files = tsv_files(&dir);
        fs::remove_dir_all(&dir).expect("clean up");
        (written.len(), files)
    };
    let (count, unsampled) = build("all-direct", 0);
    let (_, sampled) = build("all-sampled", 1_000);
    assert!(count > 6, "parts split: {count} files");
    assert!(unsampled.keys().any(|n| n.contains("_hidden_part_")));
    assert_eq!(
        sampled.keys().collect::<Vec<_>>(),
        unsampled.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &unsampled {
        assert!(sampled[name] == *bytes, "{name} differs");
    }
}

/// A sink in a fresh folder `name` with parts of at most 3,000 bytes (so a few rows split them) and a sample
/// of `max_items` (0: none).
fn small_parts_sink(name: &str, max_items: u64) -> (PathBuf, TsvSink) {
    let dir = temp(name);
    let options = TsvOptions {
        max_file_bytes: 3_000,
        max_items,
        ..TsvOptions::default()
    };
    let sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
    (dir, sink)
}

/// `n` rows (cases of four rows: `case_0`, `case_1`, …) in two splits, identification images shared in
/// pairs.
fn rows_sharing_images(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let mut r = row(i, if i % 3 == 0 { "train" } else { "test" });
            let shared = row(i / 2, "test");
            r.identify.as_mut().expect("identify").rgb_png =
                shared.identify.and_then(|c| c.rgb_png);
            r
        })
        .collect()
}

/// Builds `rows` with a sample of `max_items`; with `register`, the final case registers its items first
/// (plus `extra`, items it will not offer) as its worker does. Returns the files or the finish error.
fn sampled(
    name: &str,
    rows: &[Row],
    max_items: u64,
    register: bool,
    extra: Vec<ItemKey>,
) -> Result<BTreeMap<String, Vec<u8>>, SinkError> {
    let (dir, mut sink) = small_parts_sink(name, max_items);
    let gate = sink.gate().expect("a sample");
    let last = rows.last().expect("rows");
    if register {
        let items: Vec<(&Row, ItemKind)> = (rows.iter())
            .filter(|r| r.case_id == last.case_id)
            .flat_map(|r| row_items(r).map(move |(kind, _)| (r, kind)))
            .collect();
        let mut keys = gate.keys(&items);
        keys.extend(extra);
        gate.register_final(&last.collection, &last.case_id, keys);
    }
    let tsv_dir = dir.join("tsv");
    let spill_exists = || {
        fs::read_dir(&tsv_dir).expect("tsv dir").any(|e| {
            e.expect("entry")
                .file_name()
                .to_string_lossy()
                .contains("spill")
        })
    };
    for r in rows {
        sink.push(r).expect("push");
        if r.case_id == last.case_id {
            // Decided at the final case's first row: the spill is written out and gone before finish.
            assert_eq!(spill_exists(), !register, "spill during the final case");
        }
    }
    let finished = sink.finish().map(|_| tsv_files(&dir));
    fs::remove_dir_all(&dir).expect("clean up");
    finished
}

#[test]
fn a_sample_decided_at_the_final_case_writes_the_same_files() {
    let rows = rows_sharing_images(40);
    for max_items in [6, 13, 1_000] {
        let at_finish = sampled("finish", &rows, max_items, false, Vec::new()).expect("finish");
        let decided = sampled("decided", &rows, max_items, true, Vec::new()).expect("finish");
        assert!(at_finish.keys().any(|n| n.contains("_hidden")));
        assert_eq!(
            decided.keys().collect::<Vec<_>>(),
            at_finish.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &at_finish {
            assert!(
                decided[name] == *bytes,
                "{name} differs (max_items {max_items})"
            );
        }
    }
}

#[test]
fn a_final_case_that_offers_less_than_it_registered_fails_the_finish() {
    // One registered item never comes: the decided sample (which holds it) is not the stream's.
    let rows = rows_sharing_images(40);
    let last = rows.last().expect("rows");
    let gate: TsvGate<SpillRef> = TsvGate::new(1_000, 0);
    let mut extra = gate.keys(&[(last, ItemKind::Own)]);
    extra[0].2 .1.push_str("/never-offered");
    let err = sampled("missing", &rows, 1_000, true, extra).expect_err("a bug is caught");
    assert!(err.to_string().contains("(a bug)"), "{err}");
}

/// The image field of each line of a written TSV file, resolved as VLMEvalKit does: a field of at most
/// 64 characters is the index of an earlier line of the same file whose image is stored in full.
fn resolved_images(path: &Path) -> (Vec<Vec<u8>>, usize) {
    let text = fs::read_to_string(path).expect("read");
    let mut full: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    let mut references = 0;
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').map(|f| f.trim_matches('"')).collect();
        let (index, image) = (fields[0], fields[fields.len() - 1]);
        let b64 = if image.len() <= MAX_REFERENCE_CHARS {
            references += 1;
            full.get(image)
                .cloned()
                .expect("reference to a full image in the same file")
        } else {
            assert!(
                !full.values().any(|v| v == image),
                "image stored twice in {path:?}"
            );
            full.insert(index.to_string(), image.to_string());
            image.to_string()
        };
        out.push(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64"),
        );
    }
    (out, references)
}

#[test]
fn repeated_images_become_references_within_each_file_and_hidden_copy() {
    // 24 test rows, two items each; rows share their images in groups of 4 (as items of one slice do).
    let dir = temp("refs");
    let mut want: Vec<Arc<[u8]>> = Vec::new();
    let rows: Vec<Row> = (0..24)
        .map(|i| {
            let shared = row(i / 4, "test");
            let mut r = row(i, "test");
            r.choice.as_mut().expect("choice").rgb_png = shared.choice.and_then(|c| c.rgb_png);
            r.identify.as_mut().expect("identify").rgb_png =
                shared.identify.and_then(|c| c.rgb_png);
            for item in r.choice.iter().chain(r.identify.iter()) {
                want.push(item.rgb_png.clone().expect("png"));
            }
            r
        })
        .collect();
    for (limit, parts) in [(MAX_FILE_BYTES, 1usize), (2_000, 0)] {
        let options = TsvOptions {
            max_file_bytes: limit,
            ..TsvOptions::default()
        };
        let mut sink = TsvSink::new(&dir, "KiTS23", options).expect("sink");
        for r in &rows {
            sink.push(r).expect("push");
        }
        let (written, samples) = sink.finish().expect("finish");
        assert_eq!(samples[0].selected, 48);
        for hidden in [false, true] {
            let files: Vec<&WrittenFile> = written
                .iter()
                .filter(|f| f.path.to_string_lossy().contains("_hidden") == hidden)
                .collect();
            if parts > 0 {
                assert_eq!(files.len(), parts);
            } else {
                assert!(files.len() > 2, "small parts: {}", files.len());
            }
            let mut got = Vec::new();
            let mut references = 0;
            for file in &files {
                let (images, refs) = resolved_images(&file.path);
                got.extend(images);
                references += refs;
            }
            assert!(
                got.iter().zip(&want).all(|(g, w)| g[..] == w[..]) && got.len() == 48,
                "limit {limit}, hidden {hidden}: every item resolves to its own image"
            );
            if parts == 1 {
                // 12 distinct images (6 slices × plain and boxed), 48 items: 36 references.
                assert_eq!(references, 36, "hidden {hidden}");
            } else {
                assert!(references > 0 && references < 36, "{references}");
            }
        }
    }
    fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn quoting_copies_runs_and_doubles_quotes() {
    let mut out = String::new();
    quote("\"a\"\"b \u{627}\"", &mut out);
    assert_eq!(out, "\"\"\"a\"\"\"\"b \u{627}\"\"\"");
    out.clear();
    quote("plain", &mut out);
    assert_eq!(out, "\"plain\"");
}

#[test]
#[ignore = "benchmark, not a test: cargo test --release --lib base64_speed -- --ignored --nocapture"]
fn base64_speed() {
    // 100 images of 320 KB, the size of a 512² RGB slice's PNG: each encoded on its own, as the sinks do.
    let images: Vec<Vec<u8>> = (0..100u32)
        .map(|k| {
            (0..320_000u32)
                .map(|i| ((i ^ k).wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect()
        })
        .collect();
    let scalar = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let a: usize = images.iter().map(|b| scalar(b).len()).sum();
        let scalar_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let b: usize = images.iter().map(|b| base64(b).len()).sum();
        let ours_s = t.elapsed().as_secs_f64();
        assert_eq!(a, b);
        println!(
            "100 × 320 KB: base64 crate {:.0} MB/s, ours (base64-simd) {:.0} MB/s",
            32.0 / scalar_s,
            32.0 / ours_s
        );
    }
}
