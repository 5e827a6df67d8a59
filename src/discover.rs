//! Finds a dataset's cases on disk: walks the data root for files matching each collection's image pattern,
//! pairs every image with its mask, sorts by case id and reports what it could not pair.

use std::path::{Path, PathBuf};

use regex::Regex;
use walkdir::WalkDir;

use crate::manifest::{Collection, LoadedManifest};

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
    /// Non-fatal findings, e.g. an `expected_cases` mismatch.
    pub warnings: Vec<String>,
}

/// Discovery could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("data root {0} is not a directory")]
    /// The data root is not a directory.
    DataRoot(PathBuf),
    #[error(
        "no cases found: collection `{collection}` pattern `{pattern}` matched no file under {dir} \
         (is --data-root the folder that contains `{pattern_root}`?)"
    )]
    /// A collection's pattern matched no file.
    NoMatch {
        /// Collection name from the manifest.
        collection: String,
        /// The glob pattern that matched nothing.
        pattern: String,
        /// Directory that was searched.
        dir: PathBuf,
        /// Leading folder of the pattern, which the data root should contain.
        pattern_root: String,
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
pub fn discover(manifest: &LoadedManifest, data_root: &Path) -> Result<Discovery, DiscoverError> {
    if !data_root.is_dir() {
        return Err(DiscoverError::DataRoot(data_root.to_path_buf()));
    }
    let mut out = Discovery::default();
    for collection in &manifest.manifest.collections {
        let (mut cases, mut skipped) = discover_collection(collection, data_root)?;
        if cases.is_empty() && skipped.is_empty() {
            let pattern = Pattern::new(&collection.image);
            return Err(DiscoverError::NoMatch {
                collection: collection.name.clone(),
                pattern: collection.image.clone(),
                dir: data_root.join(pattern.prefix.join("/")),
                pattern_root: collection
                    .image
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            });
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
        out.cases.append(&mut cases);
        out.skipped.append(&mut skipped);
    }
    Ok(out)
}

fn discover_collection(
    collection: &Collection,
    data_root: &Path,
) -> Result<(Vec<Case>, Vec<SkippedCase>), DiscoverError> {
    let pattern = Pattern::new(&collection.image);
    let base = data_root.join(pattern.prefix.join("/"));
    let mut found = matching_images(collection, &pattern, &base)?;
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    let mut cases = Vec::new();
    let mut skipped = Vec::new();
    for (case_id, image_rel) in found {
        let mask_rel = resolve_wildcards(data_root, &collection.mask.replace("{case}", &case_id));
        let mask_path = data_root.join(&mask_rel);
        let mask_found = match collection.mask_files {
            Some(_) => mask_path.is_dir(),
            None => mask_path.is_file(),
        };
        if !mask_found {
            skipped.push(SkippedCase {
                collection: collection.name.clone(),
                case_id,
                path: image_rel,
                reason: format!("image without mask ({mask_rel} not found)"),
            });
            continue;
        }
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
    Ok((cases, skipped))
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
        let (cases, skipped) = discover_collection(&collection, &dir).expect("discover");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            cases.iter().map(|c| c.case_id.as_str()).collect::<Vec<_>>(),
            ["a_1"]
        );
        assert_eq!(cases[0].mask_rel, "d/labelsTr/a_1.nii.gz");
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn junk_entries_are_skipped() {
        assert!(is_junk("._case_00001"));
        assert!(is_junk("__MACOSX"));
        assert!(!is_junk("case_00001"));
    }
}
