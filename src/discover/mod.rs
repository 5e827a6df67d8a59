//! Finds a dataset's cases on disk: walks the data root for files matching each collection's image pattern,
//! pairs every image with its mask, sorts by case id and reports what it could not pair.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use walkdir::WalkDir;

use crate::manifest::{Collection, LoadedManifest};

pub mod diagnose;

/// One image/mask pair to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Collection name from the manifest.
    pub collection: String,
    /// Case identifier within the collection.
    pub case_id: String,
    /// Paths relative to the data root, `/`-separated, as written in rows.
    pub image_rel: String,
    /// Mask (or landmark file) path relative to the data root, `/`-separated.
    pub mask_rel: String,
    /// Absolute path of the image file.
    pub image_path: PathBuf,
    /// Absolute path of the mask (or landmark) file.
    pub mask_path: PathBuf,
    /// Landmark collections: further landmark files whose points are averaged with `mask_path`'s
    /// (`landmarks.average_with`, resolved against the data root), in manifest order.
    pub average_with: Vec<PathBuf>,
    /// Landmark collections with a `landmarks.transform` glob: the files in `mask_path`'s folder that match
    /// it, sorted (one is used; several are the case's error).
    pub transforms: Vec<PathBuf>,
}

/// A case that is not built, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedCase {
    /// Collection name from the manifest.
    pub collection: String,
    /// Case identifier within the collection.
    pub case_id: String,
    /// Path of the file that caused the skip.
    pub path: String,
    /// Why the case is skipped.
    pub reason: String,
}

/// Everything discovery found for one manifest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// Cases sorted by (collection order in the manifest, case id).
    pub cases: Vec<Case>,
    /// Images whose mask is missing.
    pub skipped: Vec<SkippedCase>,
    /// Non-fatal findings, e.g. an `expected_cases` mismatch or a collection that matched nothing.
    pub warnings: Vec<String>,
    /// What each collection found, and in which of its forms (manifest order).
    pub collections: Vec<CollectionFound>,
}

/// What discovery found for one collection: how many cases, read from which form.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CollectionFound {
    /// Collection name from the manifest.
    pub collection: String,
    /// Cases paired with a mask.
    pub cases: usize,
    /// Images without a mask (skipped).
    pub images_without_mask: usize,
    /// Per image pattern (in the order tried): the pattern and the cases read through it.
    pub image_forms: Vec<FormCount>,
    /// Per mask pattern: the pattern and the masks read through it.
    pub mask_forms: Vec<FormCount>,
    /// Case ids found more than once (in several forms, or twice through a wildcard); each is read once,
    /// from the first form.
    pub duplicates: usize,
    /// Up to ten of them: `<case id>: read <path>, ignored <path>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_examples: Vec<String>,
}

/// One pattern of a collection and how many files were read through it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FormCount {
    /// The pattern as written in the manifest.
    pub pattern: String,
    /// Files read through it.
    pub files: usize,
}

/// Discovery could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("data root {0} is not a directory")]
    /// The data root is not a directory.
    DataRoot(PathBuf),
    #[error("no cases found under {}:\n{}", data_root.display(), explain(tried, hints))]
    /// No collection matched a file, or a `required` one matched none.
    NoMatch {
        /// The data root searched.
        data_root: PathBuf,
        /// `collection `name`: pattern(s)` of each collection that matched nothing.
        tried: Vec<String>,
        /// What the data root holds instead and how to fix it (see [`crate::discover::diagnose`]).
        hints: Vec<String>,
    },
    #[error("{path}: cannot read directory: {reason}")]
    /// A directory could not be read.
    Walk {
        /// Directory being read.
        path: PathBuf,
        /// The I/O error, as text.
        reason: String,
    },
}

fn explain(tried: &[String], hints: &[String]) -> String {
    let mut text: Vec<String> = tried
        .iter()
        .map(|t| format!("  matched nothing: {t}"))
        .collect();
    text.extend(hints.iter().map(|h| format!("  hint: {h}")));
    text.join("\n")
}

/// A collection's image pattern split into the fixed directory to walk and a regex for the rest.
struct Pattern {
    /// Fixed leading directories (no `{case}`), relative to the data root.
    prefix: Vec<String>,
    /// Matches the `/`-joined path below `prefix`; capture 1 is the case id.
    regex: Regex,
    /// Path components below `prefix`.
    depth: usize,
}

impl Pattern {
    fn new(pattern: &str) -> Pattern {
        let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
        let first_var = parts
            .iter()
            .position(|p| p.contains("{case}") || p.contains('*'))
            .unwrap_or(parts.len().saturating_sub(1));
        let prefix: Vec<String> = parts[..first_var].iter().map(|s| s.to_string()).collect();
        let rest = parts[first_var..].join("/");
        let mut re = String::from("^");
        let mut case_seen = false;
        for (i, piece) in rest.split("{case}").enumerate() {
            if i > 0 {
                // The first `{case}` captures; validation guarantees there is exactly one.
                re.push_str(if case_seen { "[^/]+" } else { "([^/]+)" });
                case_seen = true;
            }
            re.push_str(&wildcard_regex(piece));
        }
        re.push('$');
        // The pattern is built from escaped literals and a fixed group, so it always compiles.
        let regex = Regex::new(&re).unwrap_or_else(|_| Regex::new("^$").expect("empty regex"));
        Pattern {
            prefix,
            regex,
            depth: parts.len() - first_var,
        }
    }
}

/// macOS metadata (`._x`, `__MACOSX/`) and hidden entries are never data.
fn is_junk(name: &str) -> bool {
    name.starts_with('.') || name == "__MACOSX"
}

/// Finds every case of every collection under `data_root`.
///
/// A collection that matches no file is a warning when another collection matched (one downloaded cohort
/// of a multi-cohort dataset is a valid download), and fatal when none matched or it is `required`.
pub fn discover(manifest: &LoadedManifest, data_root: &Path) -> Result<Discovery, DiscoverError> {
    if !data_root.is_dir() {
        return Err(DiscoverError::DataRoot(data_root.to_path_buf()));
    }
    let mut out = Discovery::default();
    let mut unmatched: Vec<&Collection> = Vec::new();
    for collection in &manifest.manifest.collections {
        let (mut cases, mut skipped, found) = discover_collection(collection, data_root)?;
        if cases.is_empty() && skipped.is_empty() {
            unmatched.push(collection);
        }
        if let Some(expected) = collection.expected_cases {
            if expected != cases.len() {
                out.warnings.push(format!(
                    "collection `{}`: expected {expected} cases with masks, found {} (and {} image(s) without mask)",
                    collection.name,
                    cases.len(),
                    skipped.len()
                ));
            }
        }
        if found.duplicates > 0 {
            out.warnings.push(format!(
                "collection `{}`: {} case id(s) found more than once, each read once from the first form \
                 (build-report.json `discovery` lists examples), e.g. {}",
                collection.name,
                found.duplicates,
                found.duplicate_examples[0]
            ));
        }
        out.cases.append(&mut cases);
        out.skipped.append(&mut skipped);
        out.collections.push(found);
    }
    let none_matched = out.cases.is_empty() && out.skipped.is_empty();
    let fatal: Vec<&&Collection> = unmatched
        .iter()
        .filter(|c| none_matched || c.required)
        .collect();
    if !fatal.is_empty() {
        return Err(DiscoverError::NoMatch {
            data_root: data_root.to_path_buf(),
            tried: fatal.iter().map(|c| describe_patterns(c)).collect(),
            hints: diagnose::hints(manifest, data_root),
        });
    }
    for c in unmatched {
        out.warnings.push(format!(
            "{} (other collections matched, so this part of the dataset is taken as not downloaded; \
             mark the collection `required = true` to make this an error)",
            describe_patterns(c)
        ));
    }
    Ok(out)
}

/// `collection `name`: no file matches image `…` (or `…`)` for messages.
fn describe_patterns(c: &Collection) -> String {
    let patterns: Vec<String> = c.case_patterns().iter().map(|p| format!("`{p}`")).collect();
    format!(
        "collection `{}`: no file matches image {}",
        c.name,
        patterns.join(" or ")
    )
}

/// One collection's cases (each case id once, from the first image form that has it), its images without
/// a mask, and what was found in which form.
fn discover_collection(
    collection: &Collection,
    data_root: &Path,
) -> Result<(Vec<Case>, Vec<SkippedCase>, CollectionFound), DiscoverError> {
    let mut report = CollectionFound {
        collection: collection.name.clone(),
        ..CollectionFound::default()
    };
    let mut image_files = vec![0; collection.case_patterns().len()];
    let mut mask_files = vec![0; collection.mask.all().len()];
    // Case id → (form index, image path); the first form (and within it the first path by name) wins.
    let mut found: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (form, image) in collection.case_patterns().iter().enumerate() {
        let pattern = Pattern::new(image);
        let base = data_root.join(pattern.prefix.join("/"));
        let mut matches = matching_images(collection, &pattern, &base)?;
        matches.sort();
        for (case_id, image_rel) in matches {
            match found.get(&case_id) {
                Some((_, kept)) => {
                    report.duplicates += 1;
                    if report.duplicate_examples.len() < 10 {
                        report
                            .duplicate_examples
                            .push(format!("{case_id}: read {kept}, ignored {image_rel}"));
                    }
                }
                None => {
                    found.insert(case_id, (form, image_rel));
                }
            }
        }
    }
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    for (case_id, (form, image_rel)) in found {
        let Some((mask_form, mask_rel, mask_path)) =
            find_mask(collection, data_root, &case_id, form)
        else {
            let tried = collection
                .mask
                .all()
                .iter()
                .map(|p| p.replace("{case}", &case_id))
                .collect::<Vec<_>>()
                .join(" or ");
            skipped.push(SkippedCase {
                collection: collection.name.clone(),
                case_id,
                path: image_rel,
                reason: format!("image without mask ({tried} not found)"),
            });
            continue;
        };
        let (average_with, transforms) =
            match landmark_files(collection, data_root, &case_id, &mask_path) {
                Ok(files) => files,
                Err(reason) => {
                    skipped.push(SkippedCase {
                        collection: collection.name.clone(),
                        case_id,
                        path: image_rel,
                        reason,
                    });
                    continue;
                }
            };
        image_files[form] += 1;
        mask_files[mask_form] += 1;
        cases.push(Case {
            collection: collection.name.clone(),
            case_id,
            image_path: data_root.join(&image_rel),
            image_rel,
            mask_rel,
            mask_path,
            average_with,
            transforms,
        });
    }
    let counts = |patterns: &[String], files: Vec<usize>| {
        patterns
            .iter()
            .zip(files)
            .map(|(pattern, files)| FormCount {
                pattern: pattern.clone(),
                files,
            })
            .collect()
    };
    report.cases = cases.len();
    report.images_without_mask = skipped.len();
    report.image_forms = counts(collection.case_patterns(), image_files);
    report.mask_forms = counts(collection.mask.all(), mask_files);
    Ok((cases, skipped, report))
}

/// The case's mask: the mask form with the image's form index first, then the others in order.
/// `(form index, path relative to the data root, absolute path)`.
fn find_mask(
    collection: &Collection,
    data_root: &Path,
    case_id: &str,
    image_form: usize,
) -> Option<(usize, String, PathBuf)> {
    let patterns = collection.mask.all();
    let order = (image_form < patterns.len())
        .then_some(image_form)
        .into_iter()
        .chain((0..patterns.len()).filter(|&i| i != image_form));
    for form in order {
        let mask_rel = resolve_wildcards(data_root, &patterns[form].replace("{case}", case_id));
        let mask_path = data_root.join(&mask_rel);
        let exists = match collection.mask_files {
            Some(_) => mask_path.is_dir(),
            None => mask_path.is_file(),
        };
        if exists {
            return Some((form, mask_rel, mask_path));
        }
    }
    None
}

/// `(case id, image path relative to the data root)` of every file under `base` that matches the collection's
/// image pattern and none of its `exclude` globs, in walk order.
fn matching_images(
    collection: &Collection,
    pattern: &Pattern,
    base: &Path,
) -> Result<Vec<(String, String)>, DiscoverError> {
    let excluded: Vec<Regex> = collection
        .exclude
        .iter()
        .filter_map(|glob| Regex::new(&format!("^{}$", wildcard_regex(glob))).ok())
        .collect();
    let mut found: Vec<(String, String)> = Vec::new();
    if base.is_dir() {
        let walker = WalkDir::new(base)
            .min_depth(1)
            .max_depth(pattern.depth)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !is_junk(&e.file_name().to_string_lossy()));
        for entry in walker {
            let entry = entry.map_err(|e| DiscoverError::Walk {
                path: e
                    .path()
                    .map_or_else(|| base.to_path_buf(), Path::to_path_buf),
                reason: e.to_string(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(base) else {
                continue;
            };
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if rel.iter().any(|c| excluded.iter().any(|re| re.is_match(c))) {
                continue;
            }
            let rel = rel.join("/");
            if let Some(caps) = pattern.regex.captures(&rel) {
                let case_id = caps[1].to_string();
                let image_rel = join_rel(&pattern.prefix, &rel);
                found.push((case_id, image_rel));
            }
        }
    }
    Ok(found)
}

/// A landmark case's further files: the ones averaged with its own (`average_with`) and the transform files
/// next to its landmark file matching `transform`. `Err` (a skip reason) when that folder cannot be listed.
fn landmark_files(
    collection: &Collection,
    data_root: &Path,
    case_id: &str,
    landmark_file: &Path,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let Some(source) = &collection.landmarks else {
        return Ok((Vec::new(), Vec::new()));
    };
    let average_with = source
        .average_with
        .iter()
        .map(|p| data_root.join(p.replace("{case}", case_id)))
        .collect();
    let Some(glob) = &source.transform else {
        return Ok((average_with, Vec::new()));
    };
    let dir = landmark_file.parent().unwrap_or(Path::new("."));
    let re = Regex::new(&format!("^{}$", wildcard_regex(glob)))
        .map_err(|e| format!("transform `{glob}` is not a usable pattern: {e}"))?;
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot list: {e}", dir.display()))?;
    let mut transforms: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| re.is_match(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    transforms.sort();
    Ok((average_with, transforms))
}

fn join_rel(prefix: &[String], rel: &str) -> String {
    if prefix.is_empty() {
        rel.to_string()
    } else {
        format!("{}/{rel}", prefix.join("/"))
    }
}

/// A literal path piece as a regex, with `*` matching any run of characters within one path component.
fn wildcard_regex(piece: &str) -> String {
    piece
        .split('*')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join("[^/]*")
}

/// A relative path whose components may hold `*` wildcards, resolved against `data_root`: every existing
/// file it matches is found (entries sorted by name); exactly one match is returned as that path. Paths
/// without `*`, and paths matching no file or several, are returned unchanged (the caller then reports
/// them as missing).
fn resolve_wildcards(data_root: &Path, rel: &str) -> String {
    if !rel.contains('*') {
        return rel.to_string();
    }
    let mut candidates: Vec<Vec<String>> = vec![Vec::new()];
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        if !part.contains('*') {
            candidates.iter_mut().for_each(|c| c.push(part.to_string()));
            continue;
        }
        let Ok(re) = Regex::new(&format!("^{}$", wildcard_regex(part))) else {
            return rel.to_string();
        };
        let mut next = Vec::new();
        for c in &candidates {
            let Ok(entries) = std::fs::read_dir(data_root.join(c.join("/"))) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !is_junk(n) && re.is_match(n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| {
                let mut c = c.clone();
                c.push(n);
                c
            }));
        }
        candidates = next;
    }
    let found: Vec<String> = candidates
        .into_iter()
        .map(|c| c.join("/"))
        .filter(|c| data_root.join(c).is_file())
        .collect();
    match found.as_slice() {
        [one] => one.clone(),
        _ => rel.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_splits_fixed_prefix_and_captures_case() {
        let p = Pattern::new("dataset/{case}/imaging.nii.gz");
        assert_eq!(p.prefix, vec!["dataset".to_string()]);
        assert_eq!(p.depth, 2);
        let caps = p
            .regex
            .captures("case_00001/imaging.nii.gz")
            .expect("match");
        assert_eq!(&caps[1], "case_00001");
        assert!(p.regex.captures("case_00001/segmentation.nii.gz").is_none());
        assert!(p.regex.captures("a/b/imaging.nii.gz").is_none());

        let p = Pattern::new("Images/{case}_0000.nii.gz");
        assert_eq!(p.depth, 1);
        assert_eq!(
            &p.regex.captures("FLARE22_001_0000.nii.gz").expect("match")[1],
            "FLARE22_001"
        );
        assert!(
            p.regex.captures("FLARE22_001_0000.nii").is_none(),
            "dots are literal"
        );
    }

    #[test]
    fn wildcards_match_within_one_component() {
        let p = Pattern::new("feta_2.4/*/anat/{case}_T2w.nii.gz");
        assert_eq!(p.prefix, vec!["feta_2.4".to_string()]);
        assert_eq!(p.depth, 3);
        let caps = p
            .regex
            .captures("sub-001/anat/sub-001_rec-mial_T2w.nii.gz")
            .expect("match");
        assert_eq!(&caps[1], "sub-001_rec-mial");
        assert!(p.regex.captures("a/b/anat/x_T2w.nii.gz").is_none());
        let dir = std::env::temp_dir().join(format!("mvb-discover-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bio/sub-001/anat")).expect("dir");
        std::fs::create_dir_all(dir.join("bio/sub-002/anat")).expect("dir");
        std::fs::write(dir.join("bio/sub-001/anat/x_meas.nii.gz"), b"").expect("file");
        assert_eq!(
            resolve_wildcards(&dir, "bio/*/anat/x_meas.nii.gz"),
            "bio/sub-001/anat/x_meas.nii.gz"
        );
        assert_eq!(
            resolve_wildcards(&dir, "bio/*/anat/y_meas.nii.gz"),
            "bio/*/anat/y_meas.nii.gz"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn excluded_components_are_not_images() {
        let dir = std::env::temp_dir().join(format!("mvb-exclude-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for f in [
            "d/imagesTr/a_1.nii.gz",
            "d/imagesTr/a_1_gt.nii.gz",
            "d/imagesTr/a_4d.nii.gz",
            "d/imagesTs/a_2.nii.gz",
            "d/labelsTr/a_1.nii.gz",
        ] {
            std::fs::create_dir_all(dir.join(f).parent().expect("parent")).expect("dir");
            std::fs::write(dir.join(f), b"").expect("file");
        }
        let collection: Collection = toml::from_str(
            r#"
            name = "x"
            image = "d/images*/{case}.nii.gz"
            mask = "d/labels*/{case}.nii.gz"
            exclude = ["*_gt.nii.gz", "*_4d.nii.gz", "imagesTs"]
            "#,
        )
        .expect("collection");
        let (cases, skipped, _) = discover_collection(&collection, &dir).expect("discover");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            cases.iter().map(|c| c.case_id.as_str()).collect::<Vec<_>>(),
            ["a_1"]
        );
        assert_eq!(cases[0].mask_rel, "d/labelsTr/a_1.nii.gz");
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    /// A manifest with two collections; `a` has two forms (official `off/`, repack `rep/`).
    fn forms_manifest(required: bool) -> LoadedManifest {
        let text = format!(
            r#"[dataset]
name = "T"
modality = "CT"
image_description = "a CT scan"
department = "D"

[[collection]]
name = "a"
image = ["off/img/{{case}}.nii.gz", "rep/img/{{case}}.nii.gz"]
mask = ["off/lab/{{case}}.nii.gz", "rep/lab/{{case}}.nii.gz"]

[[collection]]
name = "b"
image = "b/img/{{case}}.nii.gz"
mask = "b/lab/{{case}}.nii.gz"
required = {required}

[labels]
1 = {{ name = "kidney" }}

[[task]]
id = "T01"
kind = "bbox"
"#
        );
        crate::manifest::load_text(Path::new("m.toml"), text, &|_| Vec::new()).expect("manifest")
    }

    fn touch(dir: &Path, files: &[&str]) {
        for f in files {
            std::fs::create_dir_all(dir.join(f).parent().expect("parent")).expect("dir");
            std::fs::write(dir.join(f), b"").expect("file");
        }
    }

    #[test]
    fn each_case_is_read_once_from_its_first_form() {
        let dir = std::env::temp_dir().join(format!("mvb-forms-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        touch(
            &dir,
            &[
                // x: in both forms (read from `off`); y: only in the repack; z: official image, mask
                // only in the repack (paired across forms); w: repack image without any mask.
                "off/img/x.nii.gz",
                "off/lab/x.nii.gz",
                "rep/img/x.nii.gz",
                "rep/lab/x.nii.gz",
                "rep/img/y.nii.gz",
                "rep/lab/y.nii.gz",
                "off/img/z.nii.gz",
                "rep/lab/z.nii.gz",
                "rep/img/w.nii.gz",
                "b/img/q.nii.gz",
                "b/lab/q.nii.gz",
            ],
        );
        let found = discover(&forms_manifest(false), &dir).expect("discover");
        let _ = std::fs::remove_dir_all(&dir);
        let got: Vec<(&str, &str, &str)> = found
            .cases
            .iter()
            .map(|c| {
                (
                    c.case_id.as_str(),
                    c.image_rel.as_str(),
                    c.mask_rel.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("x", "off/img/x.nii.gz", "off/lab/x.nii.gz"),
                ("y", "rep/img/y.nii.gz", "rep/lab/y.nii.gz"),
                ("z", "off/img/z.nii.gz", "rep/lab/z.nii.gz"),
                ("q", "b/img/q.nii.gz", "b/lab/q.nii.gz"),
            ]
        );
        assert_eq!(found.skipped.len(), 1);
        assert_eq!(found.skipped[0].case_id, "w");
        let a = &found.collections[0];
        assert_eq!((a.cases, a.images_without_mask, a.duplicates), (3, 1, 1));
        assert_eq!(
            a.image_forms.iter().map(|f| f.files).collect::<Vec<_>>(),
            [2, 1]
        );
        assert_eq!(
            a.mask_forms.iter().map(|f| f.files).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(
            a.duplicate_examples,
            ["x: read off/img/x.nii.gz, ignored rep/img/x.nii.gz"]
        );
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(found.warnings[0].contains("1 case id(s) found more than once"));
    }

    #[test]
    fn a_collection_matching_nothing_is_a_warning_unless_required_or_alone() {
        let dir = std::env::temp_dir().join(format!("mvb-cohort-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        touch(&dir, &["rep/img/y.nii.gz", "rep/lab/y.nii.gz"]);
        let found = discover(&forms_manifest(false), &dir).expect("one cohort is a download");
        assert_eq!(found.cases.len(), 1);
        assert_eq!(found.warnings.len(), 1);
        assert!(
            found.warnings[0].starts_with(
                "collection `b`: no file matches image `b/img/{case}.nii.gz` (other collections matched"
            ),
            "{}",
            found.warnings[0]
        );
        assert_eq!(found.collections[1].cases, 0);
        let err = discover(&forms_manifest(true), &dir).expect_err("b is required");
        assert!(
            err.to_string().contains(
                "matched nothing: collection `b`: no file matches image `b/img/{case}.nii.gz`"
            ),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let err = discover(&forms_manifest(false), &dir).expect_err("nothing matched");
        let text = err.to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(text.contains("collection `a`: no file matches image `off/img/{case}.nii.gz` or `rep/img/{case}.nii.gz`"), "{text}");
        assert!(text.contains("collection `b`"), "{text}");
        assert!(text.contains("holds no files"), "{text}");
    }

    #[test]
    fn junk_entries_are_skipped() {
        assert!(is_junk("._case_00001"));
        assert!(is_junk("__MACOSX"));
        assert!(!is_junk("case_00001"));
    }
}
