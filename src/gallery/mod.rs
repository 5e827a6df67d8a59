//! QC gallery (`medvision-build gallery`): one self-contained HTML page showing a deterministic sample of a
//! built dataset's rows per config and label, with the box, ellipse, chord and landmarks drawn over each slice,
//! pure-CSS filters by config, label, plane and split, and per-label histograms of the measurements.

mod error;
pub mod html;
pub mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

pub use self::error::GalleryError;
use self::read::GalleryRow;

/// What `gallery` draws and where.
#[derive(Debug, Clone)]
pub struct GalleryOptions {
    /// The built dataset folder, `<out>/<dataset name>`.
    pub dataset_dir: PathBuf,
    /// Rows shown per (config, label).
    pub per_label: usize,
    /// The HTML file to write.
    pub out: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GallerySummary {
    /// Cards on the page.
    pub cards: usize,
    /// (config, label) groups.
    pub groups: usize,
    /// Rows read (all languages).
    pub rows_read: usize,
    /// The language shown.
    pub lang: String,
}

/// A histogram's measurement: title, the task type whose rows carry it as their answer (so a slice counted
/// in several configs counts once), and the value.
type Measure = (&'static str, &'static str, fn(&GalleryRow) -> Option<f64>);

const MEASURES: [Measure; 8] = [
    ("box width (mm)", "bbox", |r| r.box_width_mm),
    ("box height (mm)", "bbox", |r| r.box_height_mm),
    ("area (mm²)", "mask_size", |r| r.area_mm2),
    ("major axis (mm)", "lesion_size", |r| r.major_axis_mm),
    ("minor axis (mm)", "lesion_size", |r| r.minor_axis_mm),
    ("longest diameter (mm)", "lesion_diameter", |r| {
        r.longest_diameter_mm
    }),
    ("distance (mm)", "", |r| r.distance_mm),
    ("angle (°)", "", |r| r.angle_deg),
];

/// The rows kept for one (config, label): the `per_label` smallest `(xxh3(id), id)`.
type Group = BTreeMap<(u64, String), GalleryRow>;

/// Reads the dataset once: the sample (only the language of the first row of the first shard, rows with
/// the smallest xxh3 of their id per config and label) and every row's measurements for the histograms.
struct Collected {
    lang: String,
    groups: BTreeMap<(String, i32, String), Group>,
    measures: BTreeMap<(i32, String), Vec<Vec<f64>>>,
    rows_read: usize,
}

fn collect(dataset_dir: &Path, per_label: usize) -> Result<Collected, GalleryError> {
    let mut c = Collected {
        lang: String::new(),
        groups: BTreeMap::new(),
        measures: BTreeMap::new(),
        rows_read: 0,
    };
    for shard in read::shards(dataset_dir)? {
        // Split borrows: `wants` reads the groups, `visit` fills them.
        let groups = std::cell::RefCell::new(std::mem::take(&mut c.groups));
        let lang = std::cell::RefCell::new(std::mem::take(&mut c.lang));
        let mut wants = |row: &GalleryRow| {
            let mut lang = lang.borrow_mut();
            if lang.is_empty() {
                *lang = row.lang.clone();
            }
            if row.lang != *lang || per_label == 0 {
                return false;
            }
            let groups = groups.borrow();
            let key = (row.config.clone(), row.label_id, row.label_name.clone());
            match groups.get(&key) {
                Some(g) if g.len() >= per_label => g
                    .keys()
                    .next_back()
                    .is_some_and(|last| (xxh3_64(row.id.as_bytes()), row.id.clone()) < *last),
                _ => true,
            }
        };
        let mut visit = |row: GalleryRow| {
            c.rows_read += 1;
            if row.lang != *lang.borrow() {
                return;
            }
            let values = c
                .measures
                .entry((row.label_id, row.label_name.clone()))
                .or_insert_with(|| vec![Vec::new(); MEASURES.len()]);
            for (slot, (_, task, value)) in values.iter_mut().zip(MEASURES) {
                if task.is_empty() || row.task_type == task {
                    slot.extend(value(&row).filter(|v| v.is_finite()));
                }
            }
            if row.png.is_empty() {
                return;
            }
            let mut groups = groups.borrow_mut();
            let key = (row.config.clone(), row.label_id, row.label_name.clone());
            let group = groups.entry(key).or_default();
            group.insert((xxh3_64(row.id.as_bytes()), row.id.clone()), row);
            while group.len() > per_label {
                group.pop_last();
            }
        };
        read::read_shard(&shard, &mut wants, &mut visit)?;
        c.groups = groups.into_inner();
        c.lang = lang.into_inner();
    }
    Ok(c)
}

/// Index of `v` in the sorted `values`.
fn index_of(values: &[String], v: &str) -> usize {
    values.binary_search_by(|x| x.as_str().cmp(v)).unwrap_or(0)
}

/// Reads the dataset and writes the page atomically to `options.out`.
pub fn write_gallery(options: &GalleryOptions) -> Result<GallerySummary, GalleryError> {
    let c = collect(&options.dataset_dir, options.per_label)?;
    let rows: Vec<&GalleryRow> = c.groups.values().flat_map(|g| g.values()).collect();
    let sorted = |f: fn(&GalleryRow) -> String| -> Vec<String> {
        rows.iter()
            .map(|r| f(r))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let configs = sorted(|r| r.config.clone());
    let planes = sorted(|r| r.plane.clone());
    let splits = sorted(|r| r.split.clone());
    // Labels in label-id order (names may repeat across ids only in odd manifests; the id disambiguates).
    let labels: Vec<(i32, String)> = c.measures.keys().cloned().collect();
    let label_names: Vec<String> = labels.iter().map(|(_, n)| n.clone()).collect();
    let label_index = |r: &GalleryRow| {
        labels
            .iter()
            .position(|(id, n)| *id == r.label_id && *n == r.label_name)
            .unwrap_or(0)
    };

    let title = options
        .dataset_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>QC gallery: {}</title>\n<style>{}",
        html::escape(&c.lang),
        html::escape(&title),
        html::STYLE
    );
    page.push_str(&html::filter_rules('c', configs.len(), false));
    page.push_str(&html::filter_rules('l', labels.len(), true));
    page.push_str(&html::filter_rules('p', planes.len(), false));
    page.push_str(&html::filter_rules('s', splits.len(), false));
    let _ = write!(
        page,
        "</style></head><body>\n<h1>QC gallery: {}</h1>\n<p>{} card(s): up to {} row(s) per config and label \
         with the smallest xxh3 of their id, language <code>{}</code>; {} row(s) read. Green: box; yellow: \
         fitted ellipse; red/blue: its major/minor axis (P1–P2, P3–P4); orange: longest diameter; violet: \
         measured segments; cyan: points.</p>\n",
        html::escape(&title),
        rows.len(),
        options.per_label,
        html::escape(&c.lang),
        c.rows_read
    );
    let (mut inputs, mut nav) = (String::new(), String::new());
    for (key, name, values) in [
        ('c', "config", &configs),
        ('l', "label", &label_names),
        ('p', "plane", &planes),
        ('s', "split", &splits),
    ] {
        nav.push_str(&format!("<b>{name}</b> "));
        html::filter_inputs(key, values, &mut inputs, &mut nav);
    }
    let _ = write!(
        page,
        "{inputs}\n<nav>{nav}</nav>\n<section><h2>Histograms per label</h2>\n"
    );
    for (i, ((_, name), values)) in c.measures.iter().enumerate() {
        let _ = write!(
            page,
            "<div class=\"lab\" data-l=\"{i}\"><h3>{}</h3>",
            html::escape(name)
        );
        for ((measure, _, _), v) in MEASURES.iter().zip(values) {
            if !v.is_empty() {
                page.push_str(&html::histogram(measure, v));
            }
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n<h2>Rows</h2>\n<main>\n");
    for row in &rows {
        let facets = html::Facets {
            config: index_of(&configs, &row.config),
            label: label_index(row),
            plane: index_of(&planes, &row.plane),
            split: index_of(&splits, &row.split),
        };
        page.push_str(&html::card(row, &facets));
    }
    page.push_str("</main>\n</body></html>\n");
    crate::sink::write_atomic(&options.out, page.as_bytes()).map_err(|source| {
        GalleryError::Write {
            path: options.out.clone(),
            source,
        }
    })?;
    Ok(GallerySummary {
        cards: rows.len(),
        groups: c.groups.len(),
        rows_read: c.rows_read,
        lang: c.lang,
    })
}

#[cfg(test)]
mod tests;
