//! `gallery` on the built KiTS23 fixture: the page is well formed (balanced tags), self-contained (no
//! network resource, no script), every card's image is the row's PNG from the Parquet shard with an overlay
//! whose viewBox is that PNG's size, and the cards are exactly the sample the README promises (per config
//! and label, the `--n` English rows with the smallest xxh3 of their id); an empty folder or a corrupt shard
//! exits 2.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrow_array::cast::AsArray;
use base64::Engine as _;

use crate::common::{column, config_batches, run, temp_dir, ROOT};

const N: usize = 3;

fn built() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let out = temp_dir("kits23");
        let result = run(&[
            "--manifest",
            &format!("{ROOT}/manifests/kits23.toml"),
            "--data-root",
            &format!("{ROOT}/fixtures/kits23"),
            "--out",
            out.to_str().expect("utf-8"),
            "--threads",
            "2",
        ]);
        assert!(
            matches!(result.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        out.join("KiTS23")
    })
}

/// Every row of the dataset: id → (config, label name, lang, PNG bytes).
fn dataset_rows(dataset: &Path) -> BTreeMap<String, (String, String, String, Vec<u8>)> {
    let mut rows = BTreeMap::new();
    for entry in fs::read_dir(dataset).expect("dataset") {
        let dir = entry.expect("entry").path();
        let has_shards = fs::read_dir(&dir).is_ok_and(|files| {
            files
                .flatten()
                .any(|f| f.path().extension().is_some_and(|e| e == "parquet"))
        });
        if !has_shards {
            continue;
        }
        for batch in config_batches(&dir) {
            let text = |name| column(&batch, name).as_string::<i32>().clone();
            let (ids, configs, labels, langs) =
                (text("id"), text("config"), text("label_name"), text("lang"));
            let bytes = crate::common::png_bytes(&batch);
            for i in 0..batch.num_rows() {
                rows.insert(
                    ids.value(i).to_string(),
                    (
                        configs.value(i).to_string(),
                        labels.value(i).to_string(),
                        langs.value(i).to_string(),
                        bytes.value(i).to_vec(),
                    ),
                );
            }
        }
    }
    rows
}

/// Panics unless every non-void element is closed in order (`<x/>` self-closes, `<!…>` is skipped).
fn assert_balanced(html: &str) {
    const VOID: [&str; 5] = ["img", "input", "meta", "br", "link"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = start + rest[start..].find('>').expect("unclosed tag");
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "closing </{name}>");
            continue;
        }
        let name = tag.split([' ', '\n']).next().unwrap_or("").to_string();
        assert!(!name.is_empty(), "empty tag");
        if !VOID.contains(&name.as_str()) {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

/// The value of `name="…"` in `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    let at = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag:.80}"))
        + key.len();
    &tag[at..at + tag[at..].find('"').expect("quote")]
}

#[test]
fn gallery_page_shows_the_promised_sample_self_contained() {
    let dataset = built();
    let page = dataset.join("gallery.html");
    let result = run(&[
        "gallery",
        "--dataset",
        dataset.to_str().expect("utf-8"),
        "--n",
        &N.to_string(),
    ]);
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let html = fs::read_to_string(&page).expect("gallery.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_balanced(&html);
    for banned in ["http://", "https://", "<script", "<link", "@import", "url("] {
        assert!(!html.contains(banned), "page contains {banned}");
    }

    let rows = dataset_rows(dataset);
    // The promised sample, from the Parquet rows: per (config, label) the N English ids with the smallest
    // xxh3 (the first row of the first shard is English in this build).
    let mut groups: BTreeMap<(String, String), BTreeSet<(u64, String)>> = BTreeMap::new();
    for (id, (config, label, lang, _)) in &rows {
        if lang == "en" {
            let hash = xxhash_rust::xxh3::xxh3_64(id.as_bytes());
            groups
                .entry((config.clone(), label.clone()))
                .or_default()
                .insert((hash, id.clone()));
        }
    }
    let expected: BTreeSet<String> = groups
        .values()
        .flat_map(|g| g.iter().take(N).map(|(_, id)| id.clone()))
        .collect();
    assert!(groups.len() >= 4, "{groups:?}");

    let figures: Vec<&str> = html.split("<figure ").skip(1).collect();
    let mut shown = BTreeSet::new();
    for figure in &figures {
        let figure = &figure[..figure.find("</figure>").expect("closed figure")];
        let img = &figure[figure.find("<img ").expect("img")..];
        let img = &img[..img.find('>').expect("img end")];
        let b64 = attr(img, "src")
            .strip_prefix("data:image/png;base64,")
            .expect("PNG data URI");
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64");
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .expect("decodes as PNG");
        let svg = &figure[figure.find("<svg ").expect("svg")..];
        assert_eq!(
            attr(svg, "viewBox"),
            format!("0 0 {} {}", decoded.width(), decoded.height())
        );
        assert_eq!(attr(img, "width"), decoded.width().to_string());
        let id = figure
            .rsplit("<small>")
            .next()
            .and_then(|s| s.split('<').next())
            .expect("id");
        let (config, label, lang, bytes) =
            rows.get(id).unwrap_or_else(|| panic!("unknown id {id}"));
        assert_eq!(lang, "en");
        assert!(png == *bytes, "{id}: image is not the row's PNG");
        assert!(
            figure.contains(&format!("<b>{config} · {label}</b>")),
            "{id}"
        );
        assert!(svg.contains("<rect class=\"box\""), "{id}: no box drawn");
        if id.contains("/lesion_size/") {
            assert!(
                svg.contains("class=\"ell\"") && svg.contains("class=\"major\""),
                "{id}"
            );
        }
        assert!(shown.insert(id.to_string()), "{id} shown twice");
    }
    assert_eq!(shown, expected);
    // Filters: one radio per config and label value besides `all`.
    let configs: BTreeSet<&String> = groups.keys().map(|(c, _)| c).collect();
    assert_eq!(html.matches("name=\"fc\"").count(), configs.len() + 1);
    assert!(html.contains("class=\"hist\""));
}

#[test]
fn gallery_of_a_folder_without_shards_exits_2() {
    let empty = temp_dir("empty");
    let result = run(&["gallery", "--dataset", empty.to_str().expect("utf-8")]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("no Parquet shards"), "{stderr}");
    assert!(!empty.join("gallery.html").exists());
}

#[test]
fn gallery_of_a_corrupt_shard_exits_2_naming_it() {
    let dataset = temp_dir("corrupt");
    fs::create_dir_all(dataset.join("bbox")).expect("mkdir");
    let shard = dataset.join("bbox/train-00000-of-00001.parquet");
    fs::write(&shard, b"not parquet").expect("write");
    let result = run(&["gallery", "--dataset", dataset.to_str().expect("utf-8")]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains(shard.to_str().expect("utf-8")), "{stderr}");
    assert!(!dataset.join("gallery.html").exists());
}
