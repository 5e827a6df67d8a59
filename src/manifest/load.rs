//! Loads a manifest file and validates it semantically, collecting every diagnostic (file:line:column) at once.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::bundled::{ManifestSource, UnknownManifest};
use super::schema::{Collection, Label, LabelSpec, LabelTableSpec, Manifest, Task, TaskKind};

#[path = "load_landmarks.rs"]
mod landmarks;
use landmarks::validate_landmarks;

/// One problem found in a manifest, located when the position is known.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Manifest file the problem is in.
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a position in the file.
    pub line_col: Option<(usize, usize)>,
    /// What is wrong, for the user.
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line_col {
            Some((line, col)) => write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                line,
                col,
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// A manifest that failed to load or validate, with every diagnostic found.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read manifest: {source}")]
    /// The manifest file could not be read.
    Read {
        /// Manifest file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    #[error(transparent)]
    /// `--manifest` is neither an existing file nor the name of a bundled manifest.
    NotFound(#[from] UnknownManifest),
    #[error("{}", render_diagnostics(.0))]
    /// The manifest has problems; every one found is listed.
    Invalid(Vec<Diagnostic>),
}

// Here rather than in nnunet.rs, so nnunet.rs (used by label tables, which the loader reads) does not
// import the loader.
impl super::nnunet::NnunetError {
    /// The error as a manifest error, so the loader's callers report it like any manifest problem.
    pub fn into_manifest_error(self) -> ManifestError {
        match self {
            super::nnunet::NnunetError::Read { path, source } => {
                ManifestError::Read { path, source }
            }
            super::nnunet::NnunetError::Json {
                path,
                line,
                column,
                message,
            } => ManifestError::Invalid(vec![Diagnostic {
                path,
                line_col: Some((line, column)),
                message,
            }]),
            super::nnunet::NnunetError::Dataset { path, message } => {
                ManifestError::Invalid(vec![Diagnostic {
                    path,
                    line_col: None,
                    message,
                }])
            }
        }
    }
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A validated manifest with everything later stages need resolved.
#[derive(Debug, Clone)]
pub struct LoadedManifest {
    /// Manifest file it was loaded from (a bundled manifest's file name for one compiled in).
    pub path: PathBuf,
    /// Where the manifest came from: a file or the binary (`bundled::resolve`).
    pub source: ManifestSource,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// SHA-256 (hex) of the manifest file's bytes.
    pub sha256: String,
    /// Label map per collection name, ids resolved (for `labels = "auto"`: the label table's, possibly
    /// empty; each case adds the ids its mask holds, see [`LoadedManifest::case_labels`]).
    pub label_maps: BTreeMap<String, BTreeMap<u16, Label>>,
    /// Collections with `labels = "auto"`.
    pub auto_labels: BTreeSet<String>,
    /// Resolved explicit split file, relative paths taken from the manifest's directory.
    pub split_file: Option<PathBuf>,
    /// The manifest file's text, to place diagnostics found by later checks (templates, languages).
    text: String,
}

impl LoadedManifest {
    /// A diagnostic of this manifest, placed at a byte range of its text when one is given.
    pub fn diag(&self, span: Option<Range<usize>>, message: String) -> Diagnostic {
        Ctx {
            path: &self.path,
            text: &self.text,
        }
        .diag(span, message)
    }

    /// Labels of a collection (ids ascending).
    pub fn labels(&self, collection: &str) -> &BTreeMap<u16, Label> {
        &self.label_maps[collection]
    }

    /// True when the collection's structures are the ids present in each mask (`labels = "auto"`).
    pub fn is_auto(&self, collection: &str) -> bool {
        self.auto_labels.contains(collection)
    }

    /// The label map a case of `collection` is asked about: the collection's map, plus, for
    /// `labels = "auto"`, every id in `present` (the mask's nonzero values) that it lacks, named `label_<id>`.
    pub fn case_labels(&self, collection: &str, present: &[u16]) -> BTreeMap<u16, Label> {
        let mut map = self.labels(collection).clone();
        if self.is_auto(collection) {
            for &id in present.iter().filter(|&&id| id != 0) {
                map.entry(id).or_insert_with(|| auto_label(id));
            }
        }
        map
    }

    /// Where a collection's labels come from, for the build report and the card, e.g.
    /// `auto: every label id present in the masks; names from label table `aal.txt` (itksnap), else label_<id>`.
    pub fn describe_labels(&self, collection: &str) -> String {
        let Some(c) = self
            .manifest
            .collections
            .iter()
            .find(|c| c.name == collection)
        else {
            return String::new();
        };
        let (spec, table) = collection_labels(&self.manifest, c);
        let names = match table {
            Some(t) => format!(
                "names from label table `{}` ({})",
                t.get_ref().path,
                t.get_ref().format.as_str()
            ),
            None => "names from the manifest".to_string(),
        };
        match (spec.is_auto(), table) {
            (true, Some(_)) => {
                format!("auto: every label id present in the masks; {names}, else label_<id>")
            }
            (true, None) => "auto: every label id present in the masks, named label_<id>".into(),
            (false, _) => format!("{} labels; {names}", self.labels(collection).len()),
        }
    }

    /// Tasks that run on the named collection, in manifest order.
    pub fn tasks_for<'a>(
        &'a self,
        collection: &'a str,
    ) -> impl Iterator<Item = &'a super::Task> + 'a {
        self.manifest.tasks.iter().filter(move |t| {
            t.collections.is_empty() || t.collections.iter().any(|c| c.get_ref() == collection)
        })
    }

    /// Label ids a task asks about on a collection: the task's list, or every label of the collection.
    pub fn task_labels(&self, task: &super::Task, collection: &str) -> Vec<u16> {
        Self::task_labels_in(task, self.labels(collection))
    }

    /// [`LoadedManifest::task_labels`] against a given label map (a case's, for `labels = "auto"`).
    pub fn task_labels_in(task: &super::Task, map: &BTreeMap<u16, Label>) -> Vec<u16> {
        if task.labels.is_empty() {
            map.keys().copied().collect()
        } else {
            let mut ids: Vec<u16> = task
                .labels
                .iter()
                .map(|l| *l.get_ref())
                .filter(|id| map.contains_key(id))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        }
    }
}

/// Checks a manifest needs beyond its own structure (templates, languages), run by [`load_with`] on the
/// parsed manifest; the diagnostics they return are reported with the structural ones.
pub type ExtraChecks<'a> = &'a dyn Fn(&LoadedManifest) -> Vec<Diagnostic>;

/// Reads, parses and validates a manifest's structure; all problems are reported together. Templates and
/// languages are not checked: `vqa::templates::load_manifest` adds those checks.
pub fn load(path: &Path) -> Result<LoadedManifest, ManifestError> {
    load_with(path, &|_| Vec::new())
}

/// [`load`] with `extra` checks, whose diagnostics come after the structural ones (before the split file's).
/// `given` is resolved as `--manifest` is: a file, else a bundled manifest's name.
pub fn load_with(given: &Path, extra: ExtraChecks) -> Result<LoadedManifest, ManifestError> {
    let source = super::bundled::resolve(given)?;
    let text = read_text(&source)?;
    let mut loaded = load_text(source.path(), text, extra)?;
    loaded.source = source;
    Ok(loaded)
}

/// A manifest's text; a file that cannot be read is an error naming it.
/// A file larger than [`super::limits::MAX_MANIFEST_BYTES`] (or endless, like `/dev/zero`) is refused.
pub fn read_text(source: &ManifestSource) -> Result<String, ManifestError> {
    let error = |e| ManifestError::Read {
        path: source.path().to_path_buf(),
        source: e,
    };
    match source {
        ManifestSource::File(path) => super::limits::read_bounded(path).map_err(error),
        ManifestSource::Bundled(_) => source.read().map_err(error),
    }
}

/// [`load_with`] of a manifest already read: `path` names it in diagnostics and anchors `split.split_file`.
pub fn load_text(
    path: &Path,
    text: String,
    extra: ExtraChecks,
) -> Result<LoadedManifest, ManifestError> {
    let sha256 = hex(&Sha256::digest(text.as_bytes()));
    let ctx = Ctx { path, text: &text };
    let manifest: Manifest = toml::from_str(&text).map_err(|e| {
        ManifestError::Invalid(vec![ctx.diag(e.span(), e.message().trim_end().to_string())])
    })?;
    let mut diags = Vec::new();
    if let Some(problem) = super::limits::dataset_name_problem(&manifest.dataset.name) {
        diags.push(ctx.diag(None, problem));
    }
    diags.extend(
        super::limits::text_problems(&text)
            .into_iter()
            .map(|m| ctx.diag(None, m)),
    );
    let label_maps = validate_structure(&ctx, &manifest, &mut diags);
    let auto_labels = manifest
        .collections
        .iter()
        .filter(|c| collection_labels(&manifest, c).0.is_auto())
        .map(|c| c.name.clone())
        .collect();
    let split_file = manifest.split.split_file.as_ref().map(|f| {
        let dir = path.parent().unwrap_or(Path::new("."));
        dir.join(f)
    });
    let loaded = LoadedManifest {
        path: path.to_path_buf(),
        source: ManifestSource::File(path.to_path_buf()),
        manifest,
        sha256,
        label_maps,
        auto_labels,
        split_file,
        text,
    };
    diags.extend(extra(&loaded));
    if let Some(f) = &loaded.split_file {
        if !f.is_file() {
            diags.push(loaded.diag(
                None,
                format!("split.split_file: {} does not exist", f.display()),
            ));
        }
    }
    if diags.is_empty() {
        Ok(loaded)
    } else {
        Err(ManifestError::Invalid(diags))
    }
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn diag(&self, span: Option<Range<usize>>, message: String) -> Diagnostic {
        Diagnostic {
            path: self.path.to_path_buf(),
            line_col: span.map(|s| line_col(self.text, s.start)),
            message,
        }
    }

    fn at<T>(&self, spanned: &Spanned<T>, message: String) -> Diagnostic {
        self.diag(Some(spanned.span()), message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The label a `labels = "auto"` id that no table names gets: `label_<id>`.
pub fn auto_label(id: u16) -> Label {
    Label {
        name: super::Localized::new(format!("label_{id}")),
        group: None,
        vqa_task: None,
        file: None,
        region: None,
    }
}

/// The `labels` and `label_table` a collection uses: its own when it sets either, else the top level's.
fn collection_labels<'m>(
    m: &'m Manifest,
    c: &'m Collection,
) -> (&'m LabelSpec, Option<&'m Spanned<LabelTableSpec>>) {
    static EMPTY: LabelSpec = LabelSpec::Named(BTreeMap::new());
    if c.labels.is_some() || c.label_table.is_some() {
        // A collection with only a `label_table` names no labels beside it.
        (c.labels.as_ref().unwrap_or(&EMPTY), c.label_table.as_ref())
    } else {
        (&m.labels, m.label_table.as_ref())
    }
}

/// The labels of a label table file (relative to the manifest's folder), as manifest labels.
fn table_labels(
    ctx: &Ctx,
    table: &Spanned<LabelTableSpec>,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<u16, Label> {
    let spec = table.get_ref();
    let dir = ctx.path.parent().unwrap_or(Path::new("."));
    match super::label_table::read(&dir.join(&spec.path), spec.format) {
        Ok(labels) => labels
            .into_iter()
            .map(|l| {
                let label = Label {
                    name: super::Localized::new(l.name),
                    group: None,
                    vqa_task: None,
                    file: None,
                    region: l.region,
                };
                (l.id, label)
            })
            .collect(),
        Err(e) => {
            diags.push(ctx.at(table, format!("label_table: {e}")));
            BTreeMap::new()
        }
    }
}

fn resolve_labels(
    ctx: &Ctx,
    map: &BTreeMap<Spanned<String>, Label>,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<u16, Label> {
    let mut out = BTreeMap::new();
    for (key, label) in map {
        match key.get_ref().parse::<u16>() {
            Ok(0) => {
                diags.push(ctx.at(key, "label 0 is the background and cannot be named".into()))
            }
            Ok(id) => {
                if out.insert(id, label.clone()).is_some() {
                    diags.push(ctx.at(key, format!("label {id} is defined twice")));
                }
            }
            Err(_) => diags.push(ctx.at(
                key,
                format!(
                    "label key `{}` must be an integer id from 1 to 65535",
                    key.get_ref()
                ),
            )),
        }
        if label.name.english().trim().is_empty() {
            diags.push(ctx.at(key, format!("label {} has an empty name", key.get_ref())));
        }
    }
    check_regions(ctx, map, &out, diags);
    out
}

/// Region labels (`region = [ids]`): members are mask values 1..65535, listed once, and never a region's own
/// (synthetic) id, since no voxel holds one.
fn check_regions(
    ctx: &Ctx,
    map: &BTreeMap<Spanned<String>, Label>,
    resolved: &BTreeMap<u16, Label>,
    diags: &mut Vec<Diagnostic>,
) {
    for (key, label) in map {
        let Some(members) = &label.region else {
            continue;
        };
        let id = key.get_ref();
        let mut seen = BTreeSet::new();
        if members.is_empty() {
            diags.push(ctx.at(key, format!("label {id}: `region` needs at least one id")));
        }
        for &m in members {
            if m == 0 || !seen.insert(m) {
                diags.push(ctx.at(
                    key,
                    format!("label {id}: region id {m} is 0 or listed twice"),
                ));
            } else if id.parse::<u16>() == Ok(m) {
                diags.push(ctx.at(
                    key,
                    format!("label {id}: a region cannot contain its own id"),
                ));
            } else if resolved.get(&m).is_some_and(|l| l.region.is_some()) {
                diags.push(ctx.at(
                    key,
                    format!("label {id}: region member {m} is itself a region label (no voxel holds it)"),
                ));
            }
        }
    }
}

/// Everything a manifest says about itself: collections and labels, tasks, options, landmarks, fixture.
fn validate_structure(
    ctx: &Ctx,
    m: &Manifest,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, BTreeMap<u16, Label>> {
    let label_maps = validate_collections(ctx, m, diags);
    let auto: BTreeSet<&str> = m
        .collections
        .iter()
        .filter(|c| collection_labels(m, c).0.is_auto())
        .map(|c| c.name.as_str())
        .collect();
    let mut task_ids = BTreeSet::new();
    for t in &m.tasks {
        if !task_ids.insert((t.kind, t.id.clone())) {
            diags.push(ctx.diag(
                None,
                format!(
                    "task id `{}` is used twice for kind `{}`",
                    t.id,
                    t.kind.as_str()
                ),
            ));
        }
        validate_task(ctx, t, &label_maps, &auto, diags);
    }
    validate_options(ctx, m, diags);
    validate_landmarks(ctx, m, diags);
    validate_fixture(ctx, m, &label_maps, diags);
    label_maps
}

/// Collections and their label maps (resolved, per collection name).
fn validate_collections(
    ctx: &Ctx,
    m: &Manifest,
    diags: &mut Vec<Diagnostic>,
) -> BTreeMap<String, BTreeMap<u16, Label>> {
    // Resolved once per distinct source (the top level's is shared), so a bad table is reported once.
    let mut resolved: BTreeMap<Option<String>, BTreeMap<u16, Label>> = BTreeMap::new();
    let mut label_maps = BTreeMap::new();
    if m.collections.is_empty() {
        diags.push(ctx.diag(None, "at least one [[collection]] is required".into()));
    }
    for c in &m.collections {
        validate_collection(ctx, c, diags);
        let (spec, table) = collection_labels(m, c);
        // The top level's labels are shared by every collection that sets none of its own.
        let own = c.labels.is_some() || c.label_table.is_some();
        let key = own.then(|| c.name.clone());
        let labels = resolved
            .entry(key)
            .or_insert_with(|| {
                let mut labels = match table {
                    Some(table) => table_labels(ctx, table, diags),
                    None => BTreeMap::new(),
                };
                if let Some(named) = spec.named() {
                    // Manifest entries add to the table and win over it (a group, translations, …).
                    labels.extend(resolve_labels(ctx, named, diags));
                }
                labels
            })
            .clone();
        validate_mask_files(ctx, c, &labels, diags);
        if spec.is_auto() && (c.mask_files.is_some() || c.landmarks.is_some()) {
            diags.push(ctx.diag(
                None,
                format!(
                    "collection `{}`: labels = \"auto\" reads the ids a label map holds; it cannot go with `mask_files` or `landmarks`",
                    c.name
                ),
            ));
        }
        if labels.is_empty() && c.landmarks.is_none() && !spec.is_auto() {
            diags.push(ctx.diag(
                None,
                format!(
                    "collection `{}` has no labels: add a [labels] table or collection labels",
                    c.name
                ),
            ));
        }
        if label_maps.insert(c.name.clone(), labels).is_some() {
            diags.push(ctx.diag(None, format!("collection name `{}` is used twice", c.name)));
        }
    }
    label_maps
}

/// One task's own settings: lesion guards, planes, filters, and the collections and labels it names.
fn validate_task(
    ctx: &Ctx,
    t: &Task,
    label_maps: &BTreeMap<String, BTreeMap<u16, Label>>,
    auto: &BTreeSet<&str>,
    diags: &mut Vec<Diagnostic>,
) {
    if let Some(lesion) = &t.lesion {
        if t.kind != TaskKind::LesionSize {
            diags.push(ctx.at(
                lesion,
                format!(
                    "task `{}`: `lesion` applies only to `lesion_size` tasks",
                    t.id
                ),
            ));
        }
        let l = lesion.get_ref();
        for (key, value) in [
            (
                "max_major_over_bbox_diagonal",
                l.max_major_over_bbox_diagonal,
            ),
            ("min_major_mm", l.min_major_mm),
            ("min_major_px", l.min_major_px),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                diags.push(ctx.at(
                    lesion,
                    format!("task `{}`: lesion.{key} must be a finite number ≥ 0", t.id),
                ));
            }
        }
        // A threshold of a guard the same table switches off would be silently ignored: refuse it.
        for (switch, on, key, value) in [
            (
                "major_above_bbox_diagonal",
                l.major_above_bbox_diagonal,
                "max_major_over_bbox_diagonal",
                l.max_major_over_bbox_diagonal,
            ),
            (
                "major_below_floor",
                l.major_below_floor,
                "min_major_mm",
                l.min_major_mm,
            ),
            (
                "major_below_floor",
                l.major_below_floor,
                "min_major_px",
                l.min_major_px,
            ),
        ] {
            if on == Some(false) && value.is_some() {
                diags.push(ctx.at(
                    lesion,
                    format!(
                        "task `{}`: lesion.{key} is set but lesion.{switch} = false switches that guard off; remove one of them",
                        t.id
                    ),
                ));
            }
        }
    }
    if t.planes.is_empty() {
        diags.push(ctx.diag(None, format!("task `{}`: `planes` must not be empty", t.id)));
    }
    validate_task_refs(ctx, t, label_maps, auto, diags);
    if t.filters.min_side_px == 0 {
        diags.push(ctx.diag(
            None,
            format!("task `{}`: filters.min_side_px must be at least 1", t.id),
        ));
    }
}

/// The collections and labels a task names must exist.
fn validate_task_refs(
    ctx: &Ctx,
    t: &Task,
    label_maps: &BTreeMap<String, BTreeMap<u16, Label>>,
    auto: &BTreeSet<&str>,
    diags: &mut Vec<Diagnostic>,
) {
    for c in &t.collections {
        if !label_maps.contains_key(c.get_ref()) {
            let known: Vec<&String> = label_maps.keys().collect();
            diags.push(ctx.at(
                c,
                format!(
                    "task `{}` names collection `{}`, which is not defined (known: {known:?})",
                    t.id,
                    c.get_ref()
                ),
            ));
        }
    }
    // Labels are checked against the task's defined collections (all of them when it names none that
    // exist), so an unknown collection does not hide an unknown label.
    let mut collections: Vec<&str> = t
        .collections
        .iter()
        .map(|c| c.get_ref().as_str())
        .filter(|c| label_maps.contains_key(*c))
        .collect();
    if collections.is_empty() {
        collections = label_maps.keys().map(String::as_str).collect();
    }
    // An `auto` collection's labels are whatever its masks hold: any id may be asked about.
    collections.retain(|c| !auto.contains(c));
    for label in &t.labels {
        for c in &collections {
            if let Some(map) = label_maps.get(*c) {
                if !map.contains_key(label.get_ref()) {
                    let known: Vec<u16> = map.keys().copied().collect();
                    diags.push(ctx.at(
                            label,
                            format!(
                                "task `{}` names label {} but collection `{c}`'s label map lacks it (known: {known:?})",
                                t.id,
                                label.get_ref()
                            ),
                        ));
                }
            }
        }
    }
}

/// `[split]`, `[output]` and `[render]` values.
fn validate_options(ctx: &Ctx, m: &Manifest, diags: &mut Vec<Diagnostic>) {
    let split = &m.split;
    if !(0.0..=1.0).contains(&split.test_fraction) || split.test_fraction.is_nan() {
        diags.push(ctx.diag(
            None,
            format!(
                "split.test_fraction must be within 0..1, found {}",
                split.test_fraction
            ),
        ));
    }
    if let Some(group) = &split.group {
        if let Err(e) = regex::Regex::new(group.get_ref()) {
            diags.push(ctx.at(group, format!("split.group is not a valid regex: {e}")));
        }
    }
    let out = &m.output;
    if out.row_group_rows == 0 || out.row_group_rows > 100 {
        diags.push(ctx.diag(
            None,
            format!(
                "output.row_group_rows must be within 1..=100, found {}",
                out.row_group_rows
            ),
        ));
    }
    if out.shard_bytes < 1024 {
        diags.push(ctx.diag(
            None,
            format!(
                "output.shard_bytes must be at least 1024, found {}",
                out.shard_bytes
            ),
        ));
    }
    if let Some(side) = m.render.max_side {
        if side < 16 {
            diags.push(ctx.diag(
                None,
                format!("render.max_side must be at least 16, found {side}"),
            ));
        }
    }
}

/// `[fixture]` must name defined collections and give a valid `wildcard_from_case` regex.
fn validate_fixture(
    ctx: &Ctx,
    m: &Manifest,
    label_maps: &BTreeMap<String, BTreeMap<u16, Label>>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(f) = &m.fixture else {
        return;
    };
    for (key, map) in [
        ("cases", &f.cases),
        ("image_only", &f.image_only),
        ("empty_mask", &f.empty_mask),
    ] {
        for name in map.keys() {
            if !label_maps.contains_key(name) {
                diags.push(ctx.diag(
                    None,
                    format!("fixture.{key} names collection `{name}`, which is not defined"),
                ));
            }
        }
    }
    if let Some(re) = &f.wildcard_from_case {
        if let Err(e) = regex::Regex::new(re) {
            diags.push(ctx.diag(
                None,
                format!("fixture.wildcard_from_case is not a valid regex: {e}"),
            ));
        }
    }
}

fn validate_collection(ctx: &Ctx, c: &Collection, diags: &mut Vec<Diagnostic>) {
    validate_render_from(ctx, c, diags);
    let patterns = c.image.iter().flat_map(|p| p.all()).map(|p| ("image", p));
    for (key, pattern) in patterns.chain(c.mask.all().iter().map(|p| ("mask", p))) {
        if pattern.matches("{case}").count() != 1 {
            diags.push(ctx.diag(
                None,
                format!(
                    "collection `{}`: `{key}` must contain `{{case}}` exactly once, found `{pattern}`",
                    c.name
                ),
            ));
        }
        if Path::new(pattern).is_absolute() || pattern.split('/').any(|p| p == "..") {
            diags.push(ctx.diag(
                None,
                format!(
                    "collection `{}`: `{key}` must be relative to the data root, found `{pattern}`",
                    c.name
                ),
            ));
        }
    }
    validate_h5_dataset(ctx, c, diags);
    for glob in &c.exclude {
        if glob.is_empty() || glob.contains(['/', '\\']) {
            diags.push(ctx.diag(
                None,
                format!(
                    "collection `{}`: `exclude` entries are path-component globs without slashes, found `{glob}`",
                    c.name
                ),
            ));
        }
    }
    if c.name.is_empty() || c.name.contains(['/', '\\']) {
        diags.push(ctx.diag(
            None,
            format!(
                "collection name `{}` must be non-empty and have no slashes",
                c.name
            ),
        ));
    }
}

/// A collection has an `image` pattern or, mask-only, a `render_from` (never both); a mask-only collection
/// has nothing to read a channel from and cannot hold landmarks (measured on an image).
fn validate_render_from(ctx: &Ctx, c: &Collection, diags: &mut Vec<Diagnostic>) {
    use super::schema::RenderFrom;
    let name = &c.name;
    let mut say = |msg: String| diags.push(ctx.diag(None, format!("collection `{name}`: {msg}")));
    match (&c.image, &c.render_from) {
        (Some(_), Some(_)) => say(
            "`render_from` is for mask-only collections; a collection with an `image` pattern renders its image (remove one of the two)".into(),
        ),
        (None, None) => say(
            "no `image` pattern: give one, or make this a mask-only collection with `render_from = \"labels\"` (slices drawn from the label map) or `render_from = { template = \"path\" }` (one template image for every case)".into(),
        ),
        (None, Some(from)) => {
            if c.landmarks.is_some() {
                say("landmark collections are measured on their image and need an `image` pattern (`render_from` is for mask-only collections)".into());
            }
            if c.channel.is_some() {
                say("`channel` picks a channel of the image; a mask-only collection has none".into());
            }
            if c.mask_files.is_some() {
                say("a mask-only collection is found by its label map files; `mask_files` (a folder of per-structure masks) needs an `image` pattern".into());
            }
            if let RenderFrom::Template(path) = from {
                if path.trim().is_empty() || path.contains("{case}") {
                    say(format!("render_from.template must name one image file for every case (no `{{case}}`), found `{path}`"));
                }
            }
        }
        (Some(_), None) => {}
    }
}

/// `h5_dataset` is set exactly when the image patterns name HDF5 files, names a dataset, and goes with a single
/// mask file (whose grid the HDF5 image takes) and no `channel`.
fn validate_h5_dataset(ctx: &Ctx, c: &Collection, diags: &mut Vec<Diagnostic>) {
    let name = &c.name;
    let is_h5 = |p: &String| {
        let p = p.to_ascii_lowercase();
        p.ends_with(".h5") || p.ends_with(".hdf5")
    };
    let images = c.image.as_ref().map_or(&[][..], |p| p.all());
    let h5_patterns = images.iter().filter(|p| is_h5(p)).count();
    let mut say = |msg: String| diags.push(ctx.diag(None, format!("collection `{name}`: {msg}")));
    match &c.h5_dataset {
        None if h5_patterns > 0 => say(
            "`image` names HDF5 files (.h5/.hdf5): set `h5_dataset` to the dataset to read, e.g. `h5_dataset = \"echo1\"`".into(),
        ),
        None => {}
        Some(dataset) => {
            if h5_patterns == 0 || h5_patterns != images.len() {
                say(format!("`h5_dataset = \"{dataset}\"` needs every `image` pattern to end in .h5 or .hdf5"));
            }
            if dataset.trim_matches('/').is_empty() {
                say("`h5_dataset` must name a dataset, e.g. `echo1` or `group/data`".into());
            }
            if c.channel.is_some() {
                say("`h5_dataset` and `channel` exclude each other (the dataset must be 3D)".into());
            }
            if c.landmarks.is_some() || c.mask_files.is_some() {
                say("`h5_dataset` needs one mask file per case to take the voxel grid from (not `landmarks` or `mask_files`)".into());
            }
        }
    }
}

/// `mask_files` collections: a plain suffix, no landmarks, and one distinct plain file name per label.
fn validate_mask_files(
    ctx: &Ctx,
    c: &Collection,
    labels: &BTreeMap<u16, Label>,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(rule) = &c.mask_files else { return };
    let name = &c.name;
    if rule.suffix.is_empty() || rule.suffix.contains(['/', '\\']) {
        diags.push(ctx.diag(None, format!("collection `{name}`: mask_files.suffix must be a non-empty file-name ending, found `{}`", rule.suffix)));
    }
    if c.landmarks.is_some() {
        diags.push(ctx.diag(
            None,
            format!("collection `{name}`: `mask_files` and `landmarks` exclude each other"),
        ));
    }
    if let Some(id) = labels
        .iter()
        .find_map(|(id, l)| l.region.as_ref().map(|_| id))
    {
        diags.push(ctx.diag(
            None,
            format!("collection `{name}`: label {id} is a `region`, which `mask_files` collections do not support"),
        ));
    }
    let mut seen: BTreeMap<String, u16> = BTreeMap::new();
    for (&id, label) in labels {
        let stem = label.file_stem();
        if stem.is_empty() || stem.contains(['/', '\\']) || stem == "." || stem == ".." {
            diags.push(ctx.diag(
                None,
                format!("collection `{name}`: label {id} file `{stem}` must be a plain file name"),
            ));
        }
        if let Some(other) = seen.insert(stem.clone(), id) {
            diags.push(ctx.diag(None, format!("collection `{name}`: labels {other} and {id} both read the mask file `{stem}{}`", rule.suffix)));
        }
    }
}

/// Landmark tasks run only on landmark collections, and mask tasks that name collections only on mask ones.
fn validate_task_collections(ctx: &Ctx, m: &Manifest, t: &Task, diags: &mut Vec<Diagnostic>) {
    let applies: Vec<&super::schema::Collection> = m
        .collections
        .iter()
        .filter(|c| {
            t.collections.is_empty() || t.collections.iter().any(|n| n.get_ref() == &c.name)
        })
        .collect();
    let is_landmarks = t.kind == TaskKind::Landmarks;
    for c in applies {
        if is_landmarks && c.landmarks.is_none() {
            diags.push(ctx.diag(
                    None,
                    format!("task `{}`: kind `landmarks` runs on collection `{}`, which has no [collection.landmarks] table", t.id, c.name),
                ));
        } else if !is_landmarks && c.landmarks.is_some() && !t.collections.is_empty() {
            diags.push(ctx.diag(
                    None,
                    format!("task `{}`: kind `{}` needs a mask but collection `{}` is a landmark collection", t.id, t.kind.as_str(), c.name),
                ));
        }
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod table_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 4));
    }
}
