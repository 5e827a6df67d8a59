//! Cluster builds: three partitions (their index taken from `--partition`, Slurm's, Kubernetes' and AWS
//! Batch's environment variables) merged into a dataset byte-identical to a single build, patient groups never
//! split across partitions, and merge refusing parts that are missing, unfinished, corrupt or from another
//! build.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{temp_dir, tree, BIN, ROOT};

/// Every array variable the binary reads, removed from each run so the test's own environment cannot leak in.
const ARRAY_VARS: [&str; 7] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "AWS_BATCH_JOB_ARRAY_INDEX",
];

fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd).args(args);
    for var in ARRAY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .output()
        .expect("run medvision-build")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Nine cases in three patient groups (`case_0001x`, `case_0002x`, `case_0003x`, grouped by
/// `split.group = '^(case_000\d)'`), copied from the KiTS23 fixture; `case_00021`'s mask is truncated, so it
/// fails. Returns (data root, manifest).
fn grouped_dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let source = Path::new(ROOT).join("fixtures/kits23/dataset");
    let root = dir.join("data");
    for group in 1..=3 {
        for k in 0..3 {
            let to = root.join(format!("dataset/case_000{group}{k}"));
            fs::create_dir_all(&to).expect("mkdir");
            let from = source.join(format!("case_0000{}", (group + k) % 4));
            for name in ["imaging.nii.gz", "segmentation.nii.gz"] {
                fs::copy(from.join(name), to.join(name)).expect("copy");
            }
        }
    }
    let seg = root.join("dataset/case_00021/segmentation.nii.gz");
    let bytes = fs::read(&seg).expect("read");
    fs::write(&seg, &bytes[..bytes.len() / 2]).expect("truncate");
    let manifest = fs::read_to_string(Path::new(ROOT).join("manifests/kits23.toml"))
        .expect("read manifest")
        .replace("seed = 4\n", "seed = 4\ngroup = '^(case_000\\d)'\n");
    assert!(manifest.contains("group = "));
    let path = dir.join("grouped.toml");
    fs::write(&path, manifest).expect("write manifest");
    (root, path)
}

fn build_args<'a>(manifest: &'a str, root: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--manifest",
        manifest,
        "--data-root",
        root,
        "--out",
        out,
        "--threads",
        "2",
    ]
}

fn part_cases(part: &Path) -> Vec<usize> {
    let info: serde_json::Value =
        serde_json::from_slice(&fs::read(part.join("part.json")).expect("part.json"))
            .expect("json");
    info["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|v| v.as_u64().expect("index") as usize)
        .collect()
}

#[test]
fn three_partitions_merge_into_the_single_build_byte_for_byte() {
    let dir = temp_dir("cluster-merge");
    let (root, manifest) = grouped_dataset(&dir);
    let (m, r) = (manifest.to_str().unwrap(), root.to_str().unwrap());
    let single = dir.join("single");
    let out = run_in(&dir, &build_args(m, r, single.to_str().unwrap()), &[]);
    assert_eq!(out.status.code(), Some(1), "one case fails: {}", text(&out));

    // Partition 0 from AWS Batch's index, 1 from a Kubernetes Indexed Job's, 2 from a Slurm array whose ids
    // start at 1 (`--array=1-3`: task 3 is partition 2).
    let parts = dir.join("parts");
    let mut args = build_args(m, r, parts.to_str().unwrap());
    args.extend(["--partition-count", "3"]);
    let envs: [&[(&str, &str)]; 3] = [
        &[("AWS_BATCH_JOB_ARRAY_INDEX", "0")],
        &[("JOB_COMPLETION_INDEX", "1")],
        &[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
    ];
    for (i, env) in envs.iter().enumerate() {
        let out = run_in(&dir, &args, env);
        // Partition 0 holds the failing case_00021.
        let code = if i == 0 { 1 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(code),
            "partition {i}: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(&format!("partition {i}/3")),
            "{}",
            text(&out)
        );
    }
    let parts_dir = parts.join("KiTS23.parts");
    let part = |i: usize| parts_dir.join(format!("part-{i:05}-of-00003"));
    // Cases in discovery order: 0–2 case_0001x, 3–5 case_0002x, 6–8 case_0003x. Each group lands whole in the
    // partition of its key: ⌊xxh3_64("medvision-build partition\0case_000g")·3/2^64⌋ = 2, 0, 1 (Python
    // `xxhash`), although the case ids alone would scatter them (case_00010..12 → 1, 0, 2).
    assert_eq!(part_cases(&part(0)), vec![3, 4, 5]);
    assert_eq!(part_cases(&part(1)), vec![6, 7, 8]);
    assert_eq!(part_cases(&part(2)), vec![0, 1, 2]);

    let merged = dir.join("merged");
    let merge = [
        "merge",
        parts_dir.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ];
    let out = run_in(&dir, &merge, &[]);
    assert_eq!(out.status.code(), Some(1), "merge: {}", text(&out));
    let (a, b) = (tree(&single), tree(&merged));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(
            b[name] == *bytes,
            "{name} differs between single build and merge"
        );
    }
    // Both splits, every format, the failed case and the card are among the compared files.
    for file in [
        "KiTS23/all/train-00000-of-00001.parquet",
        "KiTS23/all/test-00000-of-00001.parquet",
        "KiTS23/tsv/KiTS23_test_en.tsv",
        "KiTS23/tsv/KiTS23_test_en_hidden.tsv",
        "KiTS23/jsonl/train.jsonl",
        "KiTS23/README.md",
    ] {
        assert!(a.contains_key(file), "{file} missing from {:?}", a.keys());
    }
    let report = String::from_utf8_lossy(&a["KiTS23/build-report.json"]).into_owned();
    assert!(report.contains("\"case_id\": \"case_00021\""), "{report}");
    assert!(
        !report.contains("KiTS23.parts"),
        "no part path in the report: {report}"
    );

    merge_refuses_incomplete_or_foreign_parts(&dir, &parts_dir, m, r);
}

/// Merge errors (exit 2, the part named) on the parts of the test above; nothing is left that looks finished.
fn merge_refuses_incomplete_or_foreign_parts(dir: &Path, parts_dir: &Path, m: &str, r: &str) {
    let out_dir = dir.join("bad-merge");
    let merge_of = |parts: &[&Path]| {
        let mut args: Vec<&str> = vec!["merge"];
        args.extend(parts.iter().map(|p| p.to_str().unwrap()));
        args.extend(["--out", out_dir.to_str().unwrap()]);
        let out = run_in(dir, &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(!out_dir.join("KiTS23/build-report.json").exists());
        text(&out)
    };
    let part = |i: usize| parts_dir.join(format!("part-{i:05}-of-00003"));

    let missing = merge_of(&[&part(0), &part(2)]);
    assert!(missing.contains("partition 1 of 3 is missing"), "{missing}");
    let twice = merge_of(&[&part(0), &part(1), &part(2), &part(1)]);
    assert!(twice.contains("partition 1 is given twice"), "{twice}");

    // A killed partition leaves only `….partial`, which is not a part.
    let killed = dir.join("killed");
    fs::create_dir_all(&killed).unwrap();
    for i in 0..3 {
        let name = if i == 1 {
            "part-00001-of-00003.partial".to_string()
        } else {
            format!("part-{i:05}-of-00003")
        };
        copy_dir(&part(i), &killed.join(name));
    }
    let text_killed = merge_of(&[&killed]);
    assert!(
        text_killed.contains("partition 1 of 3 is missing"),
        "{text_killed}"
    );
    // Named on its own, an unfinished folder is not a part either (its part.json may be complete already).
    let unfinished = killed.join("part-00001-of-00003.partial");
    let named = merge_of(&[&part(0), &unfinished, &part(2)]);
    assert!(
        named.contains("part-00001-of-00003.partial: no part folder here"),
        "{named}"
    );

    // A part.json whose partition count is absurd is corrupt, not an allocation.
    let absurd = dir.join("absurd");
    copy_dir(&part(1), &absurd.join("part-00001-of-00003"));
    let info_path = absurd.join("part-00001-of-00003/part.json");
    let info = fs::read_to_string(&info_path).unwrap();
    let edited = info.replace(
        "\"partition_count\": 3",
        "\"partition_count\": 18446744073709551615",
    );
    assert_ne!(info, edited);
    fs::write(&info_path, edited).unwrap();
    let huge = merge_of(&[&absurd.join("part-00001-of-00003")]);
    assert!(
        huge.contains("part-00001-of-00003/part.json") && huge.contains("more than the 99999"),
        "{huge}"
    );

    // A flipped byte in the data (same length) is caught by the hash; a truncated file by its length.
    let flipped = killed.join("part-00001-of-00003");
    copy_dir(&part(1), &flipped);
    let data = flipped.join("cases.bin");
    let mut bytes = fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&data, &bytes).unwrap();
    let corrupt = merge_of(&[&killed]);
    assert!(
        corrupt.contains("part-00001-of-00003/cases.bin"),
        "{corrupt}"
    );
    fs::write(&data, &bytes[..middle]).unwrap();
    let truncated = merge_of(&[&killed]);
    assert!(truncated.contains("part.json says"), "{truncated}");

    // A part of another partitioning (2 instead of 3) does not belong.
    let two = dir.join("two");
    let mut args = build_args(m, r, two.to_str().unwrap());
    args.extend(["--partition", "1/2"]);
    assert!(run_in(dir, &args, &[]).status.code().is_some());
    let foreign = two.join("KiTS23.parts/part-00001-of-00002");
    let mixed = merge_of(&[&part(0), &foreign, &part(2)]);
    assert!(
        mixed.contains("does not belong") && mixed.contains("part-00001-of-00002"),
        "{mixed}"
    );

    // Other flags: the message names the option that differs, read limits included (they decide which cases
    // fail, so a part built with others would merge into a dataset no single build makes).
    for (flags, needle) in [
        (
            &["--tsv-max-items", "5"][..],
            "--tsv-max-items (not given) vs 5",
        ),
        (
            &["--max-voxels", "1000000"][..],
            "--max-voxels 1073741824 vs 1000000",
        ),
        (
            &["--spacing-range-mm", "0.01,50"][..],
            "--spacing-range-mm 0.001,100 vs 0.01,50",
        ),
    ] {
        let other = dir.join(format!("other-{}", &flags[0][2..]));
        let mut args = build_args(m, r, other.to_str().unwrap());
        args.extend(["--partition", "1/3"]);
        args.extend_from_slice(flags);
        assert!(run_in(dir, &args, &[]).status.code().is_some_and(|c| c < 2));
        let odd = other.join("KiTS23.parts/part-00001-of-00003");
        let message = merge_of(&[&odd, &part(0), &part(2)]);
        assert!(
            message.contains("built with other options than") && message.contains(needle),
            "{flags:?}: {message}"
        );
    }

    // The manifest changed after the partitions ran.
    let original = fs::read(m).unwrap();
    fs::write(m, [&original[..], b"\n# edited\n"].concat()).unwrap();
    let edited = merge_of(&[parts_dir]);
    assert!(
        edited.contains("has changed since the part was built"),
        "{edited}"
    );
    fs::write(m, original).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn partition_flags_and_environment_are_validated() {
    let dir = temp_dir("cluster-flags");
    let (m, r) = (
        format!("{ROOT}/manifests/kits23.toml"),
        format!("{ROOT}/fixtures/kits23"),
    );
    let out = dir.join("out");
    let base = build_args(&m, &r, out.to_str().unwrap());
    let fails = |extra: &[&str], env: &[(&str, &str)], needle: &str| {
        let mut args = base.clone();
        args.extend_from_slice(extra);
        let o = run_in(&dir, &args, env);
        assert_eq!(o.status.code(), Some(2), "{extra:?} {env:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{extra:?} {env:?}: {}", text(&o));
    };
    fails(&["--partition", "3/3"], &[], "0-based and must be below 3");
    fails(&["--partition", "1of3"], &[], "expected I/N");
    fails(
        &["--partition", "auto"],
        &[("JOB_COMPLETION_INDEX", "1")],
        "--partition-count",
    );
    fails(&["--partition", "auto"], &[], "none of SLURM_ARRAY_TASK_ID");
    fails(
        &["--partition-count", "4"],
        &[
            ("SLURM_ARRAY_TASK_ID", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        "SLURM_ARRAY_TASK_COUNT gives 3 partitions but --partition-count is 4",
    );
    fails(
        &[],
        &[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ],
        "or rerun single partitions with --partition I/N",
    );
    // An index out of range names the variable it came from; two job arrays that disagree are an error.
    fails(
        &["--partition-count", "8"],
        &[("JOB_COMPLETION_INDEX", "8")],
        "JOB_COMPLETION_INDEX=8, --partition-count 8: partition 8 of 8",
    );
    fails(
        &["--partition-count", "3"],
        &[
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("AWS_BATCH_JOB_ARRAY_INDEX", "2"),
        ],
        "unset one of them",
    );
    fails(&["--partition", "0/100000"], &[], "more than the 99999");
    // `none` builds the whole dataset inside an array task; an index without a count builds it too (with a note).
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    let mut args = base.clone();
    args.extend(["--partition", "none"]);
    assert_eq!(run_in(&dir, &args, &slurm).status.code(), Some(0));
    let whole = run_in(&dir, &base, &[("JOB_COMPLETION_INDEX", "2")]);
    assert_eq!(whole.status.code(), Some(0));
    assert!(text(&whole).contains("JOB_COMPLETION_INDEX=2 is set but --partition-count is not"));
    assert!(out.join("KiTS23/build-report.json").is_file());
    assert!(!out.join("KiTS23.parts").exists());
}

#[test]
fn a_partition_stopped_by_fail_fast_leaves_no_part() {
    let dir = temp_dir("cluster-fail-fast");
    let (m, r) = (
        format!("{ROOT}/manifests/feta24.toml"),
        format!("{ROOT}/fixtures/feta24"),
    );
    let out = dir.join("out");
    let mut args = build_args(&m, &r, out.to_str().unwrap());
    // Partition 1 of 3 holds sub-003, whose label map is broken.
    args.extend(["--partition", "1/3", "--fail-fast"]);
    // Exit 2, not 1: job-array scripts let the merge run on a part that exits 1, and there is none.
    let o = run_in(&dir, &args, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--fail-fast: the partition stopped and wrote no part"),
        "{}",
        text(&o)
    );
    let parts = out.join("FeTA24.parts");
    let left: Vec<_> = fs::read_dir(&parts)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing that looks like a part: {left:?}");
    // Without --fail-fast the part is complete and records the failure for merge.
    args.pop();
    let o = run_in(&dir, &args, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let info = fs::read_to_string(parts.join("part-00001-of-00003/part.json")).unwrap();
    assert!(info.contains("\"failed\": 1"), "{info}");
}

#[test]
fn merge_runs_where_relative_paths_resolve() {
    let dir = temp_dir("cluster-cwd");
    let data = dir.join("work");
    fs::create_dir_all(data.join("manifests")).unwrap();
    fs::copy(
        Path::new(ROOT).join("manifests/kits23.toml"),
        data.join("manifests/kits23.toml"),
    )
    .unwrap();
    let fixture = Path::new(ROOT).join("fixtures/kits23/dataset");
    for case in ["case_00000", "case_00001"] {
        copy_dir(
            &fixture.join(case),
            &data.join("fixtures/kits23/dataset").join(case),
        );
    }
    let args = |i: &'static str| {
        [
            "--manifest",
            "manifests/kits23.toml",
            "--data-root",
            "fixtures/kits23",
            "--out",
            "parts",
            "--formats",
            "parquet",
            "--partition",
            i,
        ]
    };
    for i in ["0/2", "1/2"] {
        let out = run_in(&data, &args(i), &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let merge = ["merge", "work/parts/KiTS23.parts", "--out", "merged"];
    let elsewhere = run_in(&dir, &merge, &[]);
    assert_eq!(elsewhere.status.code(), Some(2));
    assert!(
        text(&elsewhere).contains("run merge from that folder"),
        "{}",
        text(&elsewhere)
    );
    let merge = ["merge", "parts/KiTS23.parts", "--out", "merged"];
    let here = run_in(&data, &merge, &[]);
    assert_eq!(here.status.code(), Some(0), "{}", text(&here));
    // With absolute paths the folder a partition ran in does not matter, to the partitions or to merge.
    let (manifest, root) = (
        data.join("manifests/kits23.toml"),
        data.join("fixtures/kits23"),
    );
    let absolute = dir.join("absolute");
    for (i, cwd) in [("0/2", &dir), ("1/2", &data)] {
        let args = [
            "--manifest",
            manifest.to_str().unwrap(),
            "--data-root",
            root.to_str().unwrap(),
            "--out",
            absolute.to_str().unwrap(),
            "--formats",
            "parquet",
            "--partition",
            i,
        ];
        let out = run_in(cwd, &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    let parts = absolute.join("KiTS23.parts");
    let merge = ["merge", parts.to_str().unwrap(), "--out", "merged-absolute"];
    let anywhere = run_in(&dir, &merge, &[]);
    assert_eq!(anywhere.status.code(), Some(0), "{}", text(&anywhere));
    let files = |d: &Path| tree(d).into_keys().collect::<Vec<_>>();
    assert_eq!(
        files(&dir.join("merged-absolute")),
        files(&data.join("merged"))
    );
    assert!(
        data.join("merged/KiTS23/all/train-00000-of-00001.parquet")
            .is_file()
            || data
                .join("merged/KiTS23/all/test-00000-of-00001.parquet")
                .is_file()
    );
}

#[test]
fn a_partition_being_written_is_not_replaced_by_a_second_run_of_it() {
    let dir = temp_dir("cluster-part-lock");
    let (m, r) = (
        format!("{ROOT}/manifests/kits23.toml"),
        format!("{ROOT}/fixtures/kits23"),
    );
    let out = dir.join("out");
    let mut args = build_args(&m, &r, out.to_str().unwrap());
    args.extend(["--formats", "parquet", "--partition", "0/2"]);
    let first = run_in(&dir, &args, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let part = out.join("KiTS23.parts/part-00000-of-00002");
    let before = tree(&part);
    assert!(before.contains_key("part.json"), "{:?}", before.keys());
    // A run of the same partition still writing (held here as that run would hold it): refused, exit 2,
    // and the finished part is untouched.
    let held = medvision_build::sink::DatasetLock::acquire_part(&part).expect("lock");
    let second = run_in(&dir, &args, &[]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    assert!(
        text(&second).contains("part-00000-of-00002: another build, pid")
            && text(&second).contains("is writing this partition"),
        "{}",
        text(&second)
    );
    assert_eq!(tree(&part), before);
    // The other partition of the same build is not held up.
    let mut other = args.clone();
    *other.last_mut().unwrap() = "1/2";
    assert_eq!(run_in(&dir, &other, &[]).status.code(), Some(0));
    drop(held);
    // Released: a rerun replaces the part with an identical one and leaves no lock file or folder beside it.
    let rerun = run_in(&dir, &args, &[]);
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    assert_eq!(tree(&part), before);
    let mut names: Vec<String> = fs::read_dir(out.join("KiTS23.parts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["part-00000-of-00002", "part-00001-of-00002"]);
}
