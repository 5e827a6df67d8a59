//! Says why a data root gives no (or too few) cases: what each pattern matched, near misses (the right files
//! under another top folder, a flat extract, a folder too deep), files that look like images but no pattern
//! takes, masks without images, and archives left unextracted. `medvision-build doctor` prints it; the
//! zero-cases error carries its hints.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use regex::Regex;
use walkdir::WalkDir;

use super::{discover_collection, is_junk, wildcard_regex, Case, CollectionFound, SkippedCase};
use crate::manifest::{Collection, LoadedManifest};

/// Files listed before the walk stops (a root of this size is not a download of one dataset).
const MAX_FILES: usize = 2_000_000;
/// How many examples a finding lists.
const EXAMPLES: usize = 5;

/// File endings of the image and mask formats we read (lower case).
const IMAGE_ENDINGS: [&str; 10] = [
    ".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".h5", ".hdf5", ".bmp", ".zraw",
];
/// File endings of archives a dataset is distributed in (lower case).
const ARCHIVE_ENDINGS: [&str; 9] = [
    ".zip", ".7z", ".rar", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar.zst",
];

/// Everything `doctor` found under one data root for one manifest.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    /// The data root examined.
    pub data_root: PathBuf,
    /// Files seen by the walk (hidden and macOS junk files excluded).
    pub files_seen: usize,
    /// True when the walk stopped at its file limit (`MAX_FILES`).
    pub truncated: bool,
    /// Per collection, in manifest order.
    pub collections: Vec<CollectionDiagnosis>,
    /// Image-like files (by ending) that no image or mask pattern takes.
    pub unmatched_images: Finding,
    /// Archives found in the data root (paths relative to it).
    pub archives: Vec<String>,
    /// What to do, most useful first.
    pub hints: Vec<String>,
}

/// One collection's findings.
#[derive(Debug, Clone, Default)]
pub struct CollectionDiagnosis {
    /// What discovery itself found (cases and forms).
    pub found: CollectionFound,
    /// Image files whose mask is missing (case ids).
    pub images_without_mask: Finding,
    /// Mask files whose image is missing (case ids).
    pub masks_without_image: Finding,
    /// Per image pattern, how far it got.
    pub forms: Vec<FormDiagnosis>,
}

/// One image pattern of a collection.
#[derive(Debug, Clone, Default)]
pub struct FormDiagnosis {
    /// The pattern as written in the manifest.
    pub pattern: String,
    /// Files matching it exactly.
    pub matches: usize,
    /// The longest leading run of its fixed folders that exists (`` when even the first is missing).
    pub existing_prefix: String,
    /// The first fixed folder that does not exist, if any.
    pub missing_folder: Option<String>,
    /// Files that match the pattern's tail somewhere else, by where they are.
    pub near_misses: Vec<NearMiss>,
}

/// Files that would match a pattern if they were somewhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NearMiss {
    /// How many files.
    pub count: usize,
    /// The folder they are under, relative to the data root (`` = the data root itself).
    pub under: String,
    /// The part of the pattern they match (below `under`).
    pub tail: String,
    /// The folder(s) the manifest expects in their place (`` when they are one level too deep).
    pub expected: String,
}

/// A count and a few examples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    /// How many.
    pub count: usize,
    /// Up to `EXAMPLES` of them.
    pub examples: Vec<String>,
}

impl Finding {
    fn push(&mut self, item: String) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(item);
        }
    }
}

/// A pattern as a regex over `/`-joined paths relative to the data root; capture 1 is the case id.
fn path_regex(pattern: &str, prefix: &str, suffix: &str) -> Regex {
    let mut re = format!("^{prefix}");
    for (i, piece) in pattern.split("{case}").enumerate() {
        if i == 1 {
            re.push_str("([^/]+)");
        } else if i > 1 {
            re.push_str("[^/]+");
        }
        re.push_str(&wildcard_regex(piece));
    }
    re.push_str(suffix);
    re.push('$');
    // Escaped literals and fixed groups: always compiles.
    Regex::new(&re).unwrap_or_else(|_| Regex::new("^$").expect("empty regex"))
}

/// Every file under `root` (relative, `/`-joined, sorted), skipping hidden and macOS junk entries.
fn list_files(root: &Path) -> (Vec<String>, bool) {
    let mut files = Vec::new();
    let walker = WalkDir::new(root)
        .min_depth(1)
        .max_depth(16)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_junk(&e.file_name().to_string_lossy()));
    for entry in walker.filter_map(|e| e.ok()) {
        if !entry.file_type().is_file() {
            continue;
        }
        if files.len() == MAX_FILES {
            return (files, true);
        }
        if let Ok(rel) = entry.path().strip_prefix(root) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(rel.join("/"));
        }
    }
    (files, false)
}

fn has_ending(path: &str, endings: &[&str]) -> bool {
    let lower = path.to_ascii_lowercase();
    endings.iter().any(|e| lower.ends_with(e))
}

/// Examines `data_root` for `manifest`. Unreadable folders are skipped (discovery reports them).
pub fn diagnose(manifest: &LoadedManifest, data_root: &Path) -> Diagnosis {
    let (files, truncated) = list_files(data_root);
    let mut out = Diagnosis {
        data_root: data_root.to_path_buf(),
        files_seen: files.len(),
        truncated,
        ..Diagnosis::default()
    };
    let collections = &manifest.manifest.collections;
    // Every file some image or mask pattern takes (masks of `mask_files` collections are folders).
    let taken: Vec<Regex> = collections
        .iter()
        .flat_map(|c| {
            let masks = c.mask.all().iter().map(move |p| {
                let below = if c.mask_files.is_some() { "/[^/]+" } else { "" };
                path_regex(p, "", below)
            });
            c.case_patterns()
                .iter()
                .map(|p| path_regex(p, "", ""))
                .chain(masks)
        })
        .collect();
    for file in &files {
        if has_ending(file, &ARCHIVE_ENDINGS) {
            out.archives.push(file.clone());
        } else if has_ending(file, &IMAGE_ENDINGS) && !taken.iter().any(|re| re.is_match(file)) {
            out.unmatched_images.push(file.clone());
        }
    }
    let found: Vec<Found> = collections
        .iter()
        .map(|c| {
            discover_collection(c, data_root).unwrap_or_else(|_| {
                let found = CollectionFound {
                    collection: c.name.clone(),
                    ..CollectionFound::default()
                };
                (Vec::new(), Vec::new(), found)
            })
        })
        .collect();
    // Files some collection reads as a mask (or from a mask folder), and files some image pattern takes:
    // neither is a mask without an image, whichever collection's pattern also matches it.
    let read_masks: Vec<String> = found
        .iter()
        .flat_map(|(cases, _, _)| cases.iter().map(|k| k.mask_rel.clone()))
        .collect();
    let image_patterns: Vec<Regex> = collections
        .iter()
        .flat_map(|c| c.case_patterns().iter().map(|p| path_regex(p, "", "")))
        .collect();
    let not_orphan = |file: &str| {
        read_masks.iter().any(|m| {
            file == m
                || file
                    .strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with('/'))
        }) || image_patterns.iter().any(|re| re.is_match(file))
    };
    for (c, found) in collections.iter().zip(found) {
        out.collections.push(diagnose_collection(
            c,
            data_root,
            &files,
            found,
            &not_orphan,
        ));
    }
    out.hints = hints_for(manifest, &out);
    out
}

/// One collection's discovery: cases, skipped images, counts.
type Found = (Vec<Case>, Vec<SkippedCase>, CollectionFound);

/// `not_orphan`: whether a file another collection reads as a mask, or any image pattern takes.
fn diagnose_collection(
    c: &Collection,
    data_root: &Path,
    files: &[String],
    (cases, skipped, found): Found,
    not_orphan: &dyn Fn(&str) -> bool,
) -> CollectionDiagnosis {
    let mut d = CollectionDiagnosis {
        found,
        ..CollectionDiagnosis::default()
    };
    for s in &skipped {
        d.images_without_mask
            .push(format!("{} ({})", s.case_id, s.reason));
    }
    // Case ids with an image file in any form, `exclude` aside (CAMUS's excluded single frames have their
    // own masks; AMOS22's CT and MR collections share folders and split them by `exclude`).
    let mut with_image: BTreeSet<&str> = cases
        .iter()
        .map(|k| k.case_id.as_str())
        .chain(skipped.iter().map(|s| s.case_id.as_str()))
        .collect();
    for pattern in c.case_patterns() {
        let re = path_regex(pattern, "", "");
        with_image.extend(
            files
                .iter()
                .filter_map(|f| re.captures(f))
                .filter_map(|caps| caps.get(1).map(|m| m.as_str())),
        );
    }
    let mut orphan_masks: BTreeMap<String, String> = BTreeMap::new();
    for pattern in c.mask.all() {
        let below = if c.mask_files.is_some() { "/[^/]+" } else { "" };
        let re = path_regex(pattern, "", below);
        for file in files {
            if let Some(caps) = re.captures(file) {
                if !with_image.contains(&caps[1]) && !not_orphan(file) {
                    orphan_masks
                        .entry(caps[1].to_string())
                        .or_insert_with(|| file.clone());
                }
            }
        }
    }
    for (case_id, file) in orphan_masks {
        d.masks_without_image.push(format!("{case_id} ({file})"));
    }
    for pattern in c.case_patterns() {
        d.forms.push(diagnose_form(pattern, data_root, files));
    }
    d
}

/// How far one image pattern gets, and where files matching its tail are instead.
fn diagnose_form(pattern: &str, data_root: &Path, files: &[String]) -> FormDiagnosis {
    let full = path_regex(pattern, "", "");
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let fixed = parts
        .iter()
        .take_while(|p| !p.contains("{case}") && !p.contains('*'))
        .count()
        .min(parts.len().saturating_sub(1));
    let mut d = FormDiagnosis {
        pattern: pattern.to_string(),
        matches: files.iter().filter(|f| full.is_match(f)).count(),
        ..FormDiagnosis::default()
    };
    let mut existing = Vec::new();
    for part in &parts[..fixed] {
        existing.push(*part);
        if !data_root.join(existing.join("/")).is_dir() {
            existing.pop();
            d.missing_folder = Some(part.to_string());
            break;
        }
    }
    d.existing_prefix = existing.join("/");
    if d.matches > 0 {
        return d;
    }
    // One or more folders too deep: the whole pattern matches below some folder.
    let deeper = path_regex(pattern, "(.+?)/", "");
    let mut by_folder: BTreeMap<String, usize> = BTreeMap::new();
    for f in files {
        if let Some(caps) = deeper.captures(f) {
            *by_folder.entry(caps[1].to_string()).or_default() += 1;
        }
    }
    let mut near: Vec<NearMiss> = by_folder
        .into_iter()
        .map(|(under, count)| NearMiss {
            count,
            under,
            tail: pattern.to_string(),
            expected: String::new(),
        })
        .collect();
    // Another (or no) top folder: the pattern without its first k components matches elsewhere; the
    // closest k that matches anything wins.
    for k in 1..parts.len() {
        let tail = parts[k..].join("/");
        if !tail.contains("{case}") {
            break;
        }
        let re = path_regex(&tail, "(?:(.*)/)?", "");
        let mut by_folder: BTreeMap<String, usize> = BTreeMap::new();
        for f in files {
            if let Some(caps) = re.captures(f) {
                let under = caps.get(1).map_or("", |m| m.as_str()).to_string();
                *by_folder.entry(under).or_default() += 1;
            }
        }
        if !by_folder.is_empty() {
            let expected = parts[..k].join("/");
            near.extend(by_folder.into_iter().map(|(under, count)| NearMiss {
                count,
                under,
                tail: tail.clone(),
                expected: expected.clone(),
            }));
            break;
        }
    }
    near.sort_by(|a, b| b.count.cmp(&a.count).then(a.under.cmp(&b.under)));
    near.truncate(3);
    d.near_misses = near;
    d
}

/// The fixes to suggest, most useful first.
fn hints_for(manifest: &LoadedManifest, d: &Diagnosis) -> Vec<String> {
    let mut hints = Vec::new();
    let mut seen = BTreeSet::new();
    for c in &d.collections {
        for form in &c.forms {
            for n in &form.near_misses {
                let hint = near_miss_hint(n, &d.data_root);
                if seen.insert(hint.clone()) {
                    hints.push(hint);
                }
            }
        }
    }
    let extract = &manifest.manifest.dataset.extract;
    for archive in &d.archives {
        let name = archive.rsplit('/').next().unwrap_or(archive);
        let how = extract.iter().find(|cmd| cmd.contains(name)).map_or_else(
            || "extract it into the data root as the manifest's layout says".to_string(),
            |cmd| format!("extract it: `{cmd}`"),
        );
        hints.push(format!(
            "`{archive}` is an archive, not extracted data: {how}"
        ));
    }
    let none_found = d.collections.iter().all(|c| c.found.cases == 0);
    if none_found && !d.unmatched_images.examples.is_empty() && hints.is_empty() {
        hints.push(format!(
            "{} image-like file(s) match no pattern, e.g. `{}`; compare with `medvision-build list` \
             (the layout this manifest expects)",
            d.unmatched_images.count, d.unmatched_images.examples[0]
        ));
    }
    if d.files_seen == 0 {
        hints.push(format!(
            "{} holds no files: is it the folder the dataset was downloaded into?",
            d.data_root.display()
        ));
    }
    hints
}

fn near_miss_hint(n: &NearMiss, data_root: &Path) -> String {
    let shown = |folder: &str| {
        if folder.is_empty() {
            "the data root".to_string()
        } else {
            format!("`{folder}/`")
        }
    };
    if n.expected.is_empty() {
        return format!(
            "{} file(s) match `{}` under {}: the data root is a level too high; pass --data-root {}",
            n.count,
            n.tail,
            shown(&n.under),
            data_root.join(&n.under).display()
        );
    }
    if n.under.is_empty() {
        return format!(
            "{} file(s) match `{}` directly in the data root, but the manifest expects them under `{}/`: \
             either the archive was extracted without its top folder (extract it again into `{}/`, or \
             `mkdir -p {}` and move the files there), or --data-root points inside `{}/` (pass its parent)",
            n.count, n.tail, n.expected, n.expected, n.expected, n.expected
        );
    }
    format!(
        "{} file(s) match `{}` under {}; the manifest expects `{}/`: rename or link the folder \
         (`ln -s {} {}` in the data root)",
        n.count,
        n.tail,
        shown(&n.under),
        n.expected,
        n.under,
        n.expected
    )
}

/// The hints for the zero-cases error.
pub fn hints(manifest: &LoadedManifest, data_root: &Path) -> Vec<String> {
    let d = diagnose(manifest, data_root);
    let mut hints = d.hints;
    hints.push(format!(
        "`medvision-build doctor --manifest {} --data-root {}` shows what each pattern matched",
        manifest.path.display(),
        data_root.display()
    ));
    hints
}

impl Diagnosis {
    /// True when every collection found at least one case and none has an image without mask or a mask
    /// without image.
    pub fn is_complete(&self) -> bool {
        self.collections.iter().all(|c| {
            c.found.cases > 0
                && c.images_without_mask.count == 0
                && c.masks_without_image.count == 0
        })
    }

    /// True when no collection found a case.
    pub fn found_nothing(&self) -> bool {
        self.collections.iter().all(|c| c.found.cases == 0)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.count)?;
        if !self.examples.is_empty() {
            let more = if self.count > self.examples.len() {
                ", …"
            } else {
                ""
            };
            write!(f, " (e.g. {}{more})", self.examples.join(", "))?;
        }
        Ok(())
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "data root {}: {} file(s){}",
            self.data_root.display(),
            self.files_seen,
            if self.truncated {
                " (walk stopped there)"
            } else {
                ""
            }
        );
        for c in &self.collections {
            let _ = writeln!(
                text,
                "collection `{}`: {} case(s)",
                c.found.collection, c.found.cases
            );
            for (form, count) in c.forms.iter().zip(&c.found.image_forms) {
                let _ = writeln!(
                    text,
                    "  image `{}`: {} file(s) match, {} case(s) read",
                    form.pattern, form.matches, count.files
                );
                if let Some(missing) = &form.missing_folder {
                    let at = if form.existing_prefix.is_empty() {
                        "the data root".to_string()
                    } else {
                        format!("`{}/`", form.existing_prefix)
                    };
                    let _ = writeln!(text, "    folder `{missing}` is not in {at}");
                }
                for n in &form.near_misses {
                    let under = if n.under.is_empty() { "." } else { &n.under };
                    let _ = writeln!(
                        text,
                        "    near miss: {} file(s) match `{}` under `{under}/`",
                        n.count, n.tail
                    );
                }
            }
            for count in &c.found.mask_forms {
                let _ = writeln!(text, "  mask `{}`: {} read", count.pattern, count.files);
            }
            if c.found.duplicates > 0 {
                let _ = writeln!(
                    text,
                    "  found more than once (read once, from the first form): {}",
                    c.found.duplicates
                );
            }
            if c.images_without_mask.count > 0 {
                let _ = writeln!(text, "  images without mask: {}", c.images_without_mask);
            }
            if c.masks_without_image.count > 0 {
                let _ = writeln!(text, "  masks without image: {}", c.masks_without_image);
            }
        }
        if self.unmatched_images.count > 0 {
            let _ = writeln!(
                text,
                "image or mask files no pattern takes: {}",
                self.unmatched_images
            );
        }
        for a in &self.archives {
            let _ = writeln!(text, "archive: {a}");
        }
        for h in &self.hints {
            let _ = writeln!(text, "hint: {h}");
        }
        f.write_str(&text)
    }
}
