//! The manifests bundled in the binary, used as a user would after `cargo install`: from an empty folder,
//! `--manifest kits23.toml` and `--manifest kits23` build the committed KiTS23 fixture byte-identically to the
//! repository's manifest file, the summary says which manifest was used, a file of that name in the working
//! folder wins, partitions merge from another folder, and an unknown name is refused with the list.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{temp_dir, tree, BIN, ROOT};

/// Runs the binary in `cwd`, with no array-job variables from the test's own environment.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd).args(args);
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
        "AWS_BATCH_JOB_ARRAY_INDEX",
    ] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run medvision-build")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn both(out: &Output) -> String {
    format!("{}{}", stdout(out), String::from_utf8_lossy(&out.stderr))
}

/// The committed fixture's data root, absolute.
fn fixture() -> String {
    format!("{ROOT}/fixtures/kits23")
}

/// Stems of `manifests/*.toml` in the repository, sorted.
fn manifest_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(Path::new(ROOT).join("manifests"))
        .expect("manifests")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn bundled_label() -> String {
    format!(
        "kits23.toml (bundled with medvision-build {})",
        env!("CARGO_PKG_VERSION")
    )
}

#[test]
fn a_bundled_manifest_builds_from_an_empty_folder_as_the_file_does() {
    // The fixture's truth: every case folder has an image, those with a segmentation are built.
    let folders: Vec<PathBuf> = fs::read_dir(Path::new(ROOT).join("fixtures/kits23/dataset"))
        .expect("fixture")
        .map(|e| e.expect("entry").path())
        .collect();
    let found = folders.len();
    let built = folders
        .iter()
        .filter(|f| f.join("segmentation.nii.gz").is_file())
        .count();
    assert_eq!((found, built), (5, 4));
    let base = temp_dir("bundled-build");
    let from_file = base.join("from-file");
    let manifest_file = format!("{ROOT}/manifests/kits23.toml");
    let file_run = run_in(
        Path::new(ROOT),
        &[
            "--manifest",
            &manifest_file,
            "--data-root",
            &fixture(),
            "--out",
            from_file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(file_run.status.code(), Some(0), "{}", both(&file_run));
    assert!(
        stdout(&file_run).contains(&format!("manifest: {manifest_file}\n")),
        "{}",
        stdout(&file_run)
    );
    let expected = tree(&from_file);
    assert!(expected.contains_key("KiTS23/build-report.json"));

    for given in ["kits23.toml", "kits23"] {
        let empty = base.join(format!("empty-{given}"));
        fs::create_dir_all(&empty).expect("mkdir");
        let out = run_in(&empty, &["--manifest", given, "--data-root", &fixture()]);
        assert_eq!(out.status.code(), Some(0), "{given}: {}", both(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!(
                "KiTS23: {found} case(s) found, {built} built, {} skipped, 0 failed in ",
                found - built
            )),
            "{given}: {text}"
        );
        assert!(
            text.contains(&format!("\nmanifest: {}\n", bundled_label())),
            "{given}: {text}"
        );
        // Written under the default `out/` of the empty folder, byte for byte as from the file.
        assert_eq!(tree(&empty.join("out")), expected, "{given}");
    }
}

#[test]
fn a_file_in_the_working_folder_wins_over_the_bundled_manifest() {
    let dir = temp_dir("bundled-file-wins");
    let text = fs::read_to_string(Path::new(ROOT).join("manifests/kits23.toml")).expect("read");
    let local = text.replacen("name = \"KiTS23\"", "name = \"KiTS23local\"", 1);
    assert_ne!(local, text);
    fs::write(dir.join("kits23.toml"), local).expect("write");

    let out = run_in(&dir, &["validate", "kits23.toml", "kits23"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("kits23.toml: ok ("), "{lines:?}");
    assert!(
        lines[1].starts_with(&format!("{}: ok (", bundled_label())),
        "{lines:?}"
    );

    // Exit 1: the fixture's case_00004 has no mask, which doctor reports (from the bundled manifest).
    let out = run_in(
        &dir,
        &["doctor", "--manifest", "kits23", "--data-root", &fixture()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("images without mask: 1"),
        "{}",
        both(&out)
    );
    let out = run_in(
        &dir,
        &[
            "--manifest",
            "kits23.toml",
            "--data-root",
            &fixture(),
            "--formats",
            "tsv",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).starts_with("KiTS23local: 5 case(s) found"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("\nmanifest: kits23.toml\n"),
        "{}",
        stdout(&out)
    );
    assert!(dir.join("out/KiTS23local/build-report.json").is_file());
}

#[test]
fn an_unknown_name_exits_2_with_the_bundled_names_and_list_shows_them() {
    let dir = temp_dir("bundled-unknown");
    let names = manifest_names();
    assert_eq!(names.len(), 22);
    let expected = names.join(", ");
    for args in [
        vec!["--manifest", "kits24", "--data-root", "."],
        vec!["validate", "kits24.toml"],
        vec![
            "doctor",
            "--manifest",
            "elsewhere/kits23.toml",
            "--data-root",
            ".",
        ],
    ] {
        let out = run_in(&dir, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", both(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no such manifest file"), "{args:?}: {err}");
        assert!(err.contains(&expected), "{args:?}: {err}");
    }
    assert_eq!(
        fs::read_dir(&dir).expect("dir").count(),
        0,
        "nothing written"
    );

    let out = run_in(&dir, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    let text = stdout(&out);
    let listed: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(".toml): "))
        .map(|l| l.split(' ').next().expect("stem"))
        .collect();
    assert_eq!(listed, names, "{text}");
    assert!(text.contains("kits23 (kits23.toml): KiTS23 CT"), "{text}");
}

#[test]
fn partitions_of_a_bundled_manifest_merge_from_another_folder() {
    let base = temp_dir("bundled-cluster");
    let (single, work, merge_dir): (PathBuf, PathBuf, PathBuf) =
        (base.join("single"), base.join("work"), base.join("merge"));
    for d in [&single, &work, &merge_dir] {
        fs::create_dir_all(d).expect("mkdir");
    }
    let root = fixture();
    let args = |partition: &'static str| {
        [
            "--manifest",
            "kits23",
            "--data-root",
            root.as_str(),
            "--formats",
            "parquet",
            "--partition",
            partition,
        ]
    };
    let out = run_in(&single, &args("none"));
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    for i in ["0/2", "1/2"] {
        let out = run_in(&work, &args(i));
        assert_eq!(out.status.code(), Some(0), "{}", both(&out));
        assert!(
            stdout(&out).contains(&format!("manifest: {}", bundled_label())),
            "{}",
            stdout(&out)
        );
    }
    let parts = work.join("out/KiTS23.parts");
    let out = run_in(&merge_dir, &["merge", parts.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", both(&out));
    assert!(
        stdout(&out).contains(&format!("manifest: {}", bundled_label())),
        "{}",
        stdout(&out)
    );
    assert_eq!(tree(&merge_dir.join("out")), tree(&single.join("out")));
}
