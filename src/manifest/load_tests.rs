//! One row per kind of manifest diagnostic: a small edit of a valid manifest, the message it must produce
//! and where (1-based line:column, or no position).

use std::path::Path;

use super::{load_text, ManifestError};

/// A valid mask manifest every row edits.
const MASKS: &str = r#"[dataset]
name = "T"
modality = "CT"
image_description = "a CT scan"
department = "D"

[[collection]]
name = "c"
image = "img/{case}.nii.gz"
mask = "lab/{case}.nii.gz"

[labels]
1 = { name = "kidney" }
2 = { name = "tumor" }

[[task]]
id = "T01"
kind = "bbox"
"#;

/// A valid landmark manifest every landmark row edits.
const LANDMARKS: &str = r#"[dataset]
name = "L"
modality = "XR"
image_description = "an X-ray"
department = "D"

[[collection]]
name = "ceph"
image = "img/{case}.bmp"
mask = "pts/{case}.txt"
landmarks = { format = "ceph_txt", points = 2, pixel_spacing_mm = [0.1, 0.1] }

[[task]]
id = "L1"
kind = "landmarks"
landmarks = [{ id = "P1", name = "sella" }, { id = "P2", name = "nasion" }]
measurements = [{ id = "d", kind = "distance", points = ["P1", "P2"], plane = "sagittal" }]
"#;

/// `base` with `from` replaced by `to` (appended when `from` is empty; `^to` removes `from` and puts `to` first); the replacement must apply.
fn edit(base: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        return format!("{base}{to}");
    }
    assert!(base.contains(from), "`{from}` not in the base manifest");
    match to.strip_prefix('^') {
        Some(top) => format!("{top}{}", base.replacen(from, "", 1)),
        None => base.replacen(from, to, 1),
    }
}

/// Every diagnostic of a manifest text, as `line:col: message` (or just the message when unplaced).
pub(crate) fn diagnostics(text: &str) -> Vec<String> {
    match load_text(Path::new("m.toml"), text.to_string(), &|_| Vec::new()) {
        Ok(_) => Vec::new(),
        Err(ManifestError::Invalid(diags)) => diags
            .iter()
            .map(|d| match d.line_col {
                Some((l, c)) => format!("{l}:{c}: {}", d.message),
                None => d.message.clone(),
            })
            .collect(),
        Err(e) => vec![e.to_string()],
    }
}

/// Checks that exactly one diagnostic of `text` contains `fragment` (the start of its message), placed at `at`.
pub(crate) fn expect_one(row: &str, text: &str, fragment: &str, at: Option<(usize, usize)>) {
    let found = diagnostics(text);
    let hits: Vec<&String> = found.iter().filter(|d| d.contains(fragment)).collect();
    assert_eq!(hits.len(), 1, "{row}: `{fragment}` in {found:#?}");
    let expected = match at {
        Some((l, c)) => format!("{l}:{c}: "),
        None => String::new(),
    };
    let (position, message) = hits[0].split_at(hits[0].find(fragment).unwrap_or(0));
    assert_eq!(position, expected, "{row}: position of `{message}`");
}

type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<(usize, usize)>,
);

#[test]
fn base_manifests_are_valid() {
    assert_eq!(diagnostics(MASKS), Vec::<String>::new());
    assert_eq!(diagnostics(LANDMARKS), Vec::<String>::new());
}

#[test]
fn every_mask_manifest_diagnostic() {
    const ROWS: &[Row] = &[
        ("toml unknown field", "1 = { name = \"kidney\" }", "1 = { name = \"kidney\", nmae = \"x\" }",
            "unknown field `nmae`, expected one of `name`, `name_ar`, `group`, `vqa_task`, `file`", Some((13, 24))),
        ("label 0", "1 = { name = \"kidney\" }", "0 = { name = \"kidney\" }",
            "label 0 is the background and cannot be named", Some((13, 1))),
        ("label twice", "2 = { name = \"tumor\" }", "01 = { name = \"tumor\" }",
            "label 1 is defined twice", Some((13, 1))),
        ("label key", "2 = { name = \"tumor\" }", "two = { name = \"tumor\" }",
            "label key `two` must be an integer id from 1 to 65535", Some((14, 1))),
        ("label empty name", "2 = { name = \"tumor\" }", "2 = { name = \" \" }",
            "label 2 has an empty name", Some((14, 1))),
        ("region empty", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\" }\n3 = { name = \"both\", region = [] }",
            "label 3: `region` needs at least one id", Some((15, 1))),
        ("region zero", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\" }\n3 = { name = \"both\", region = [1, 0] }",
            "label 3: region id 0 is 0 or listed twice", Some((15, 1))),
        ("region twice", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\" }\n3 = { name = \"both\", region = [1, 2, 1] }",
            "label 3: region id 1 is 0 or listed twice", Some((15, 1))),
        ("region of a region", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\" }\n3 = { name = \"both\", region = [1, 2] }\n4 = { name = \"x\", region = [3, 5] }",
            "label 4: region member 3 is itself a region label", Some((16, 1))),
        ("region own id", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\" }\n3 = { name = \"both\", region = [1, 3] }",
            "label 3: a region cannot contain its own id", Some((15, 1))),
        ("region mask files", "mask = \"lab/{case}.nii.gz\"", "mask = \"lab/{case}\"\nmask_files = { overlap = \"error\" }\n[collection.labels]\n1 = { name = \"a\" }\n2 = { name = \"b\", region = [1, 3] }",
            "collection `c`: label 2 is a `region`, which `mask_files` collections do not support", None),
        ("no collection", "[[collection]]\nname = \"c\"\nimage = \"img/{case}.nii.gz\"\nmask = \"lab/{case}.nii.gz\"\n", "^collection = []\n",
            "at least one [[collection]] is required", None),
        ("collection without labels", "[labels]\n1 = { name = \"kidney\" }\n2 = { name = \"tumor\" }\n", "",
            "collection `c` has no labels: add a [labels] table or collection labels", None),
        ("collection twice", "", "\n[[collection]]\nname = \"c\"\nimage = \"a/{case}\"\nmask = \"b/{case}\"\n",
            "collection name `c` is used twice", None),
        ("task twice", "", "\n[[task]]\nid = \"T01\"\nkind = \"bbox\"\n",
            "task id `T01` is used twice for kind `bbox`", None),
        ("lesion single instance", "kind = \"bbox\"", "kind = \"lesion_size\"\nfilters = { single_instance = false }",
            "task `T01`: lesion_size measures one component per slice and needs filters.single_instance = true", None),
        ("lesion on bbox", "kind = \"bbox\"", "kind = \"bbox\"\nlesion = { min_pixels = 3 }",
            "task `T01`: `lesion` applies only to `lesion_size` tasks", Some((19, 10))),
        ("lesion negative", "kind = \"bbox\"", "kind = \"lesion_size\"\nlesion = { min_major_mm = -1.0 }",
            "task `T01`: lesion.min_major_mm must be a finite number ≥ 0", Some((19, 10))),
        ("lesion threshold of a guard switched off", "kind = \"bbox\"", "kind = \"lesion_size\"\nlesion = { major_above_bbox_diagonal = false, max_major_over_bbox_diagonal = 2.0 }",
            "task `T01`: lesion.max_major_over_bbox_diagonal is set but lesion.major_above_bbox_diagonal = false switches that guard off; remove one of them", Some((19, 10))),
        ("lesion floor switched off", "kind = \"bbox\"", "kind = \"lesion_size\"\nlesion = { major_below_floor = false, min_major_px = 3.0 }",
            "task `T01`: lesion.min_major_px is set but lesion.major_below_floor = false switches that guard off; remove one of them", Some((19, 10))),
        ("lesion switch not a bool", "kind = \"bbox\"", "kind = \"lesion_size\"\nlesion = { scaled_box_rule = \"off\" }",
            "invalid type: string \"off\", expected a boolean", Some((19, 30))),
        ("planes empty", "kind = \"bbox\"", "kind = \"bbox\"\nplanes = []",
            "task `T01`: `planes` must not be empty", None),
        ("unknown collection", "kind = \"bbox\"", "kind = \"bbox\"\ncollections = [\"x\"]",
            "task `T01` names collection `x`, which is not defined (known: [\"c\"])", Some((19, 16))),
        ("unknown label", "kind = \"bbox\"", "kind = \"bbox\"\nlabels = [7]",
            "task `T01` names label 7 but collection `c`'s label map lacks it (known: [1, 2])", Some((19, 11))),
        ("min side", "kind = \"bbox\"", "kind = \"bbox\"\nfilters = { min_side_px = 0 }",
            "task `T01`: filters.min_side_px must be at least 1", None),
        ("test fraction", "", "\n[split]\ntest_fraction = 1.5\n",
            "split.test_fraction must be within 0..1, found 1.5", None),
        ("split group", "", "\n[split]\ngroup = \"(\"\n",
            "split.group is not a valid regex", Some((21, 9))),
        ("split file", "", "\n[split]\nsplit_file = \"no/such/file.txt\"\n",
            "split.split_file: no/such/file.txt does not exist", None),
        ("row group rows", "", "\n[output]\nrow_group_rows = 101\n",
            "output.row_group_rows must be within 1..=100, found 101", None),
        ("shard bytes", "", "\n[output]\nshard_bytes = 10\n",
            "output.shard_bytes must be at least 1024, found 10", None),
        ("max side", "", "\n[render]\nmax_side = 8\n",
            "render.max_side must be at least 16, found 8", None),
        ("fixture collection", "", "\n[fixture]\ncases = { x = [\"1\"] }\n",
            "fixture.cases names collection `x`, which is not defined", None),
        ("fixture regex", "", "\n[fixture]\nwildcard_from_case = \"(\"\n",
            "fixture.wildcard_from_case is not a valid regex", None),
        ("pattern case", "image = \"img/{case}.nii.gz\"", "image = \"img/case.nii.gz\"",
            "collection `c`: `image` must contain `{case}` exactly once, found `img/case.nii.gz`", None),
        ("pattern relative", "mask = \"lab/{case}.nii.gz\"", "mask = \"../{case}.nii.gz\"",
            "collection `c`: `mask` must be relative to the data root, found `../{case}.nii.gz`", None),
        ("exclude slash", "mask = \"lab/{case}.nii.gz\"", "mask = \"lab/{case}.nii.gz\"\nexclude = [\"a/b\"]",
            "collection `c`: `exclude` entries are path-component globs without slashes, found `a/b`", None),
        ("collection name", "name = \"c\"", "name = \"c/d\"",
            "collection name `c/d` must be non-empty and have no slashes", None),
        ("mask files suffix", "mask = \"lab/{case}.nii.gz\"", "mask = \"lab/{case}\"\nmask_files = { suffix = \"\", overlap = \"error\" }",
            "collection `c`: mask_files.suffix must be a non-empty file-name ending, found ``", None),
        ("mask files stem", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\", file = \"..\" }\n[collection.mask_files]\noverlap = \"error\"",
            "collection `c`: label 2 file `..` must be a plain file name", None),
        ("mask files twice", "2 = { name = \"tumor\" }", "2 = { name = \"tumor\", file = \"kidney\" }\n[collection.mask_files]\noverlap = \"error\"",
            "collection `c`: labels 1 and 2 both read the mask file `kidney.nii.gz`", None),
        ("h5 image without dataset", "image = \"img/{case}.nii.gz\"", "image = \"img/{case}.h5\"",
            "collection `c`: `image` names HDF5 files (.h5/.hdf5): set `h5_dataset`", None),
        ("h5 dataset on a nifti image", "mask = \"lab/{case}.nii.gz\"", "mask = \"lab/{case}.nii.gz\"\nh5_dataset = \"echo1\"",
            "collection `c`: `h5_dataset = \"echo1\"` needs every `image` pattern to end in .h5 or .hdf5", None),
        ("h5 dataset empty", "image = \"img/{case}.nii.gz\"", "image = \"img/{case}.HDF5\"\nh5_dataset = \"/\"",
            "collection `c`: `h5_dataset` must name a dataset", None),
        ("h5 dataset with channel", "image = \"img/{case}.nii.gz\"", "image = \"img/{case}.h5\"\nh5_dataset = \"echo1\"\nchannel = 0",
            "collection `c`: `h5_dataset` and `channel` exclude each other", None),
        ("h5 dataset with mask files", "image = \"img/{case}.nii.gz\"", "image = \"img/{case}.h5\"\nh5_dataset = \"echo1\"\nmask_files = { overlap = \"error\" }",
            "collection `c`: `h5_dataset` needs one mask file per case", None),
    ];
    check_rows(MASKS, ROWS);
}

/// Runs every row on `base`, reporting all failures at once.
fn check_rows(base: &str, rows: &[Row]) {
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|&(row, from, to, fragment, at)| {
            std::panic::catch_unwind(|| expect_one(row, &edit(base, from, to), fragment, at))
                .err()
                .map(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| row.to_string())
                })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_landmark_manifest_diagnostic() {
    const ROWS: &[Row] = &[
        ("ceph points", "points = 2, ", "",
            "collection `ceph`: landmarks.format `ceph_txt` needs `points` (number of x,y lines, at least 1)", None),
        ("map pairs", "format = \"ceph_txt\", points = 2", "format = \"measurement_map\"",
            "collection `ceph`: landmarks.format `measurement_map` needs `pairs`", None),
        ("index base", "points = 2,", "points = 2, index_base = 2,",
            "collection `ceph`: landmarks.index_base must be 0 or 1, found 2", None),
        ("pair label", "points = 2,", "points = 2, pairs = [{ label = 0, points = [\"P1\", \"P2\"], larger_first_axis = 0 }],",
            "collection `ceph`: landmarks.pairs label 0 is 0 or used twice", None),
        ("pair axis", "points = 2,", "points = 2, pairs = [{ label = 1, points = [\"P1\", \"P2\"], larger_first_axis = 3 }],",
            "collection `ceph`: landmarks.pairs larger_first_axis must be 0, 1 or 2, found 3", None),
        ("average with", "points = 2,", "points = 2, average_with = [\"/abs/{case}.txt\"],",
            "collection `ceph`: landmarks.average_with `/abs/{case}.txt` must be relative with `{case}` exactly once", None),
        ("pixel spacing", "[0.1, 0.1]", "[0.1, 0.0]",
            "collection `ceph`: landmarks.pixel_spacing_mm must be positive, found [0.1, 0.0]", None),
        ("transform", "points = 2,", "points = 2, transform = \"a/b\",",
            "collection `ceph`: landmarks.transform must be a file name glob, found `a/b`", None),
        ("mask files and landmarks", "mask = \"pts/{case}.txt\"", "mask = \"pts/{case}.txt\"\nlabels = { 1 = { name = \"a\" } }\nmask_files = { overlap = \"error\" }",
            "collection `ceph`: `mask_files` and `landmarks` exclude each other", None),
        ("landmarks on a mask collection", "", "\n[[collection]]\nname = \"m\"\nimage = \"i/{case}\"\nmask = \"m/{case}\"\nlabels = { 1 = { name = \"a\" } }\n",
            "task `L1`: kind `landmarks` runs on collection `m`, which has no [collection.landmarks] table", None),
        ("mask task on landmarks", "", "\n[[task]]\nid = \"B\"\nkind = \"bbox\"\ncollections = [\"ceph\"]\n",
            "task `B`: kind `bbox` needs a mask but collection `ceph` is a landmark collection", None),
        ("landmarks on a bbox task", "kind = \"landmarks\"", "kind = \"mask_size\"",
            "task `L1`: `landmarks` and `measurements` belong to kind `landmarks` only", None),
        ("landmark labels", "kind = \"landmarks\"", "kind = \"landmarks\"\nlabels = [1]",
            "task `L1`: kind `landmarks` takes no `labels`", None),
        ("landmark needs measurements", "measurements = [{ id = \"d\", kind = \"distance\", points = [\"P1\", \"P2\"], plane = \"sagittal\" }]", "",
            "task `L1`: kind `landmarks` needs `landmarks` (unless its collections take names from their files, landmarks.names) and `measurements`", None),
        ("landmark twice", "{ id = \"P2\", name = \"nasion\" }", "{ id = \"P2\", name = \"nasion\" }, { id = \"P2\", name = \"x\" }",
            "task `L1`: landmark `P2` has an empty id or name, or is defined twice", None),
        ("measurement id", "id = \"d\"", "id = \"d/e\"",
            "task `L1`: measurement id `d/e` is empty, has a slash or is used twice", None),
        ("measurement arity", "kind = \"distance\"", "kind = \"vertex_angle\"",
            "task `L1`: measurement `d` of kind `vertex_angle` needs 3 points, found 2", None),
        ("measurement landmark", "[\"P1\", \"P2\"]", "[\"P1\", \"P9\"]",
            "task `L1`: measurement `d` names landmark `P9`, which the task does not define", None),
    ];
    check_rows(LANDMARKS, ROWS);
}

#[test]
fn output_tsv_sample_keys() {
    let with = |table: &str| format!("{MASKS}\n[output.tsv]\n{table}\n");
    let loaded = load_text(
        Path::new("m.toml"),
        with("max_items = 120\nseed = 7"),
        &|_| Vec::new(),
    )
    .expect("valid");
    assert_eq!(
        (
            loaded.manifest.output.tsv.max_items,
            loaded.manifest.output.tsv.seed
        ),
        (120, 7)
    );
    let default =
        load_text(Path::new("m.toml"), MASKS.to_string(), &|_| Vec::new()).expect("valid");
    assert_eq!(default.manifest.output.tsv.max_items, 500);
    assert_eq!(default.manifest.output.tsv.seed, 0);
    let unknown = diagnostics(&with("max_item = 3"));
    assert!(
        unknown.len() == 1
            && unknown[0].contains("unknown field `max_item`, expected `max_items` or `seed`"),
        "{unknown:?}"
    );
    let negative = diagnostics(&with("max_items = -1"));
    // Placed at the value: line 21, column 13.
    assert_eq!(
        negative,
        vec!["21:13: invalid value: integer `-1`, expected u64".to_string()]
    );
}
