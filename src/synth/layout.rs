//! Generic, manifest-driven phantom fixtures: for any NIfTI segmentation manifest with a `[fixture]` table,
//! writes a tiny copy of the dataset's file layout (its real case-id form, every collection's image and mask
//! patterns, 4D images for `channel` collections, and the layout's traps) whose boxes are known in closed
//! form: one disjoint cuboid per label of each collection's label map (per-structure mask folders for
//! `mask_files` collections, MetaImage for `.mha` patterns, HDF5 with one dataset per `h5_dataset` collection
//! for `.h5` image patterns).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayView3};
use regex::Regex;

use super::fixtures::PhantomCase;
use super::meta_writer::{write_metaimage, MetaScalar, MetaWriteOptions};
use super::phantom::{ct_volume, paint_cuboid, Cuboid, Region};
use super::writer::{stored_view, write_nifti_channels, WriteOptions};
use crate::geom::affine;
use crate::manifest::{AbsentMask, Collection, FixtureOptions, LoadedManifest, Modality};
use crate::volume::{write_hdf5, Hdf5Dataset, Hdf5Values};

/// In-plane (R, A) extent of every layout phantom, voxels.
pub const LAYOUT_RA_PX: [usize; 2] = [24, 20];

/// Stored orientation and canonical (R, A, S) spacing of the n-th case of a collection (cycled).
const VARIANTS: [(&str, [f64; 3]); 4] = [
    ("RAS", [1.0, 1.0, 1.0]),
    ("LPS", [0.8, 0.8, 2.5]),
    ("LSA", [0.9, 0.9, 0.9]),
    ("PIR", [0.7, 0.7, 3.0]),
];

/// Bytes of a macOS AppleDouble `._*` file header (magic, version), padded: never a NIfTI volume.
const APPLEDOUBLE_JUNK: [u8; 16] = [0, 5, 22, 7, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// One case the generator wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutCase {
    /// Collection the case belongs to.
    pub collection: String,
    /// Geometry, cuboids and paths; `mask_path` is `None` for an image-only case, `cuboids` is empty for an
    /// empty-mask case.
    pub phantom: PhantomCase,
}

/// The manifest cannot be turned into a fixture, or a file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LayoutFixtureError {
    #[error("{manifest}: {reason}")]
    /// The manifest cannot be turned into a fixture.
    Manifest {
        /// Manifest file.
        manifest: PathBuf,
        /// Why not.
        reason: String,
    },
    #[error("{path}: cannot write fixture file: {source}")]
    /// A fixture file could not be written.
    Io {
        /// File being written.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Canonical (R, A, S) shape of a layout phantom with `labels` labels: one slab of slices per label.
pub fn layout_shape(labels: usize) -> [usize; 3] {
    [LAYOUT_RA_PX[0], LAYOUT_RA_PX[1], (3 * labels + 2).max(12)]
}

/// One cuboid per label, pairwise disjoint: label `i` (in the order given) fills S slices
/// `1 + p·i ..= p·(i+1) − 1` with pitch `p = (S − 2) / n`, 16–17 × 15 voxels in the (R, A) plane shifted by
/// `i mod 5` along R and `i mod 3 + shift` along A (`shift` 0 or 1), so every axial cut is one component
/// of at least 240 px and both sides ≥ 15 px (MedVision's 10 px and 200 px filters keep it).
pub fn layout_cuboids(label_ids: &[u16], shift: usize) -> Vec<Cuboid> {
    let n = label_ids.len().max(1);
    let shape = layout_shape(n);
    let pitch = (shape[2] - 2) / n;
    label_ids
        .iter()
        .enumerate()
        .map(|(i, &label)| {
            let lo = [1 + i % 5, 1 + i % 3 + shift.min(1), 1 + pitch * i];
            Cuboid {
                label,
                lo,
                hi: [lo[0] + 15 + i % 2, lo[1] + 14, lo[2] + pitch - 2],
            }
        })
        .collect()
}

/// What one output file holds; files shared by collections (a mask used with several image channels, a
/// 4D image read at several channels) are merged and must agree.
#[derive(Debug, Clone, PartialEq)]
enum FileSpec {
    Image {
        ct: bool,
        shape: [usize; 3],
        spacing_mm: [f64; 3],
        axes: &'static str,
        organs: Vec<Cuboid>,
        channels: usize,
        /// HDF5 datasets to write (sorted; empty for a NIfTI/MetaImage image).
        h5_datasets: Vec<String>,
    },
    Mask {
        shape: [usize; 3],
        spacing_mm: [f64; 3],
        axes: &'static str,
        cuboids: Vec<Cuboid>,
    },
    Junk,
}

/// Writes the phantom fixture the manifest's `[fixture]` table describes under `root` (the data root to
/// build from) and returns the cases written, in collection order then `cases`, then `image_only`. Images
/// are int16 CT (air, body, each label's cuboid at `30 + 7·label` HU) or float32 for other modalities,
/// masks u8 (u16 when a label exceeds 255); gzip level 9 with mtime 0, so the bytes are identical on every
/// run. A `mask_files` collection gets one 0/1 mask per label (`<mask folder>/<file><suffix>`); with
/// `absent = "empty"` its last `cases` entry lacks the last label's file and cuboid. A path ending in
/// `.mha` is written as zlib-compressed MetaImage; an image of `h5_dataset` collections as HDF5 holding each
/// collection's dataset (`write_h5_image`).
pub fn write_manifest_fixture(
    manifest: &LoadedManifest,
    root: &Path,
) -> Result<Vec<LayoutCase>, LayoutFixtureError> {
    let mut plan = FixturePlan::new(manifest)?;
    let mut cases = Vec::new();
    for collection in &manifest.manifest.collections {
        plan.add_collection(collection, root, &mut cases)?;
    }
    plan.add_extra_files()?;
    for (rel, spec) in &plan.files {
        write_file(&root.join(rel), spec)?;
    }
    Ok(cases)
}

/// The files of a fixture being planned: relative path → contents, merged as collections share files.
struct FixturePlan<'m> {
    manifest: &'m LoadedManifest,
    fixture: &'m FixtureOptions,
    /// `fixture.wildcard_from_case`, compiled.
    from_case: Option<Regex>,
    files: BTreeMap<String, FileSpec>,
}

/// Geometry and image kind shared by every file of one case.
#[derive(Debug, Clone, Copy)]
struct CaseGeometry {
    ct: bool,
    shape: [usize; 3],
    spacing_mm: [f64; 3],
    axes: &'static str,
    channels: usize,
}

impl<'m> FixturePlan<'m> {
    fn new(manifest: &'m LoadedManifest) -> Result<Self, LayoutFixtureError> {
        let bad = |reason: String| bad_manifest(manifest, reason);
        let Some(fixture) = &manifest.manifest.fixture else {
            return Err(bad(
                "no [fixture] table: add `[fixture] cases = { <collection> = [\"<case id>\", ...] }`"
                    .into(),
            ));
        };
        let from_case = match &fixture.wildcard_from_case {
            Some(re) => {
                Some(Regex::new(re).map_err(|e| bad(format!("fixture.wildcard_from_case: {e}")))?)
            }
            None => None,
        };
        Ok(FixturePlan {
            manifest,
            fixture,
            from_case,
            files: BTreeMap::new(),
        })
    }

    fn bad(&self, reason: String) -> LayoutFixtureError {
        bad_manifest(self.manifest, reason)
    }

    /// `pattern` with `{case}` replaced by `case_id` and each `*` by its `fixture.wildcards` template
    /// (expanded against `wildcard_from_case`'s captures of the case id when set).
    fn fill(&self, pattern: &str, case_id: &str) -> Result<String, LayoutFixtureError> {
        let path = pattern.replace("{case}", case_id);
        let default = if self.from_case.is_some() { "$1" } else { "1" };
        let caps = match &self.from_case {
            Some(re) => Some(re.captures(case_id).ok_or_else(|| {
                self.bad(format!(
                    "fixture.wildcard_from_case does not match case id `{case_id}`"
                ))
            })?),
            None => None,
        };
        let wildcards = &self.fixture.wildcards;
        // A pattern with fewer `*`s than `wildcards` entries (an alternative form with fewer wildcard
        // folders) takes the last entries: its `*`s are the inner folders of the longer form.
        let stars = path.matches('*').count();
        let skip = wildcards.len().saturating_sub(stars);
        let mut out = String::new();
        for (i, piece) in path.split('*').enumerate() {
            if i > 0 {
                let template = wildcards
                    .get(skip + i - 1)
                    .or(wildcards.last())
                    .map_or(default, String::as_str);
                match &caps {
                    Some(c) => c.expand(template, &mut out),
                    None => out.push_str(template),
                }
            }
            out.push_str(piece);
        }
        Ok(out)
    }

    /// Plans file `rel`, merging with an earlier use of the same path.
    fn add(&mut self, rel: String, spec: FileSpec) -> Result<(), LayoutFixtureError> {
        match self.files.get_mut(&rel) {
            None => {
                self.files.insert(rel, spec);
                Ok(())
            }
            Some(existing) => merge(existing, spec)
                .map_err(|reason| bad_manifest(self.manifest, format!("{rel}: {reason}"))),
        }
    }

    /// Plans the files of every fixture case of `collection` and appends the cases to `cases`.
    fn add_collection(
        &mut self,
        collection: &Collection,
        root: &Path,
        cases: &mut Vec<LayoutCase>,
    ) -> Result<(), LayoutFixtureError> {
        if collection.landmarks.is_some() {
            return Err(self.bad(format!(
                "collection `{}` is a landmark collection; the generic generator writes label masks only",
                collection.name
            )));
        }
        let (manifest, fixture) = (self.manifest, self.fixture);
        let mut label_ids: Vec<u16> = manifest.labels(&collection.name).keys().copied().collect();
        if label_ids.is_empty() && manifest.is_auto(&collection.name) {
            // `labels = "auto"` without a table: any ids will do; three keep the phantom small.
            label_ids = vec![1, 2, 3];
        }
        let shape = layout_shape(label_ids.len());
        let ct = collection
            .modality
            .unwrap_or(manifest.manifest.dataset.modality)
            == Modality::CT;
        let channels = collection.channel.map_or(1, |c| c + 1);
        let none = Vec::new();
        let with_mask = fixture.cases.get(&collection.name).unwrap_or(&none);
        let image_only = fixture.image_only.get(&collection.name).unwrap_or(&none);
        let empty = fixture.empty_mask.get(&collection.name).unwrap_or(&none);
        let ids = with_mask
            .iter()
            .map(|id| (id, true))
            .chain(image_only.iter().map(|id| (id, false)));
        for (n, (case_id, has_mask)) in ids.enumerate() {
            if case_id.is_empty() || case_id.contains('/') {
                return Err(self.bad(format!(
                    "fixture case id `{case_id}` must be one path component"
                )));
            }
            let (axes, spacing_mm) = VARIANTS[n % VARIANTS.len()];
            let geometry = CaseGeometry {
                ct,
                shape,
                spacing_mm,
                axes,
                channels,
            };
            let (cuboids, absent_label) = case_cuboids(
                collection,
                &label_ids,
                n,
                empty.contains(case_id),
                has_mask && n + 1 == with_mask.len(),
            );
            let form = per_case(&fixture.forms, &collection.name, case_id);
            let (image, mask) = self.form(collection, case_id, form)?;
            let h5 = collection.h5_dataset.as_ref();
            let image_rel = match &collection.image {
                Some(_) => self.add_image(image, case_id, geometry, &cuboids, h5)?,
                // A mask-only collection: its cases are found by their label maps.
                None => self.fill(mask, case_id)?,
            };
            let mask_rel = if has_mask {
                Some(self.add_masks(collection, mask, case_id, geometry, &cuboids, absent_label)?)
            } else {
                None
            };
            if let Some(shadow) = per_case(&fixture.shadowed, &collection.name, case_id) {
                // The shadow copy: each of its files that is not one of the case's own is junk.
                let (image, mask) = self.form(collection, case_id, Some(shadow))?;
                let copies = [self.fill(image, case_id)?, self.fill(mask, case_id)?];
                let own = [Some(&image_rel), mask_rel.as_ref()];
                let junk: Vec<String> = copies
                    .into_iter()
                    .filter(|path| !own.contains(&Some(path)))
                    .collect();
                if junk.is_empty() {
                    return Err(self.bad(format!(
                        "fixture.shadowed: case `{case_id}`'s shadow form is the form it is written in"
                    )));
                }
                for path in junk {
                    self.add(path, FileSpec::Junk)?;
                }
            }
            cases.push(LayoutCase {
                collection: collection.name.clone(),
                phantom: PhantomCase {
                    case_id: case_id.clone(),
                    stored_axes: axes.to_string(),
                    spacing_mm,
                    shape,
                    cuboids,
                    image_path: root.join(&image_rel),
                    mask_path: mask_rel.map(|r| root.join(r)),
                },
            });
        }
        Ok(())
    }

    /// The image and mask patterns of alternative `form` (default 0) of `collection`; when one of the two
    /// lists is shorter, its last pattern serves the later forms (e.g. one image form, two mask forms).
    fn form<'c>(
        &self,
        collection: &'c Collection,
        case_id: &str,
        form: Option<usize>,
    ) -> Result<(&'c str, &'c str), LayoutFixtureError> {
        let form = form.unwrap_or(0);
        let (images, masks) = (collection.case_patterns(), collection.mask.all());
        let forms = images.len().max(masks.len());
        if form >= forms {
            return Err(self.bad(format!(
                "fixture: case `{case_id}` names form {form}, but collection `{}` has {forms} form(s)",
                collection.name
            )));
        }
        Ok((
            &images[form.min(images.len() - 1)],
            &masks[form.min(masks.len() - 1)],
        ))
    }

    /// Plans the image of one case (and its AppleDouble twin when `fixture.junk`); returns its path.
    fn add_image(
        &mut self,
        pattern: &str,
        case_id: &str,
        geometry: CaseGeometry,
        cuboids: &[Cuboid],
        h5_dataset: Option<&String>,
    ) -> Result<String, LayoutFixtureError> {
        let image_rel = self.fill(pattern, case_id)?;
        self.add(
            image_rel.clone(),
            FileSpec::Image {
                ct: geometry.ct,
                shape: geometry.shape,
                spacing_mm: geometry.spacing_mm,
                axes: geometry.axes,
                organs: cuboids.to_vec(),
                channels: geometry.channels,
                h5_datasets: h5_dataset.into_iter().cloned().collect(),
            },
        )?;
        if self.fixture.junk {
            let (dir, name) = match image_rel.rsplit_once('/') {
                Some((d, f)) => (format!("{d}/"), f),
                None => (String::new(), image_rel.as_str()),
            };
            self.add(format!("{dir}._{name}"), FileSpec::Junk)?;
        }
        Ok(image_rel)
    }

    /// Plans the mask of one case: one label map, or for `mask_files` one binary (0/1) mask per label
    /// (except `absent_label`) in the folder the mask pattern names. Returns the mask pattern's path.
    fn add_masks(
        &mut self,
        collection: &Collection,
        pattern: &str,
        case_id: &str,
        geometry: CaseGeometry,
        cuboids: &[Cuboid],
        absent_label: Option<u16>,
    ) -> Result<String, LayoutFixtureError> {
        let mask = |cuboids: Vec<Cuboid>| FileSpec::Mask {
            shape: geometry.shape,
            spacing_mm: geometry.spacing_mm,
            axes: geometry.axes,
            cuboids,
        };
        let rel = self.fill(pattern, case_id)?;
        match &collection.mask_files {
            None => self.add(rel.clone(), mask(cuboids.to_vec()))?,
            Some(mf) => {
                for (&id, label) in self.manifest.labels(&collection.name) {
                    if Some(id) == absent_label {
                        continue;
                    }
                    let own = cuboids
                        .iter()
                        .filter(|c| c.label == id)
                        .map(|c| Cuboid { label: 1, ..*c })
                        .collect();
                    self.add(
                        format!("{rel}/{}{}", label.file_stem(), mf.suffix),
                        mask(own),
                    )?;
                }
            }
        }
        Ok(rel)
    }

    /// Plans `fixture.extra_files`: empty one-label images at the first variant's geometry.
    fn add_extra_files(&mut self) -> Result<(), LayoutFixtureError> {
        let fixture = self.fixture;
        for rel in &fixture.extra_files {
            if rel.contains('*') || rel.contains("{case}") {
                return Err(self.bad(format!(
                    "fixture.extra_files entry `{rel}` must be a literal path"
                )));
            }
            let (axes, spacing_mm) = VARIANTS[0];
            self.add(
                rel.clone(),
                FileSpec::Image {
                    ct: self.manifest.manifest.dataset.modality == Modality::CT,
                    shape: layout_shape(1),
                    spacing_mm,
                    axes,
                    organs: Vec::new(),
                    channels: 1,
                    h5_datasets: Vec::new(),
                },
            )?;
        }
        Ok(())
    }
}

/// The cuboids of the `n`-th case of `collection` (none for an `empty_mask` case) and the label whose
/// per-structure mask file the case lacks. With `absent = "empty"` the last `cases` entry
/// (`last_with_mask`) lacks the last label's file and its cuboid, so the merge's missing-file path is
/// exercised.
fn case_cuboids(
    collection: &Collection,
    label_ids: &[u16],
    n: usize,
    empty: bool,
    last_with_mask: bool,
) -> (Vec<Cuboid>, Option<u16>) {
    let mut cuboids = if empty {
        Vec::new()
    } else {
        layout_cuboids(label_ids, n % 2)
    };
    let absent_label = collection
        .mask_files
        .as_ref()
        .filter(|mf| mf.absent == AbsentMask::Empty)
        .filter(|_| last_with_mask && cuboids.len() > 1)
        .and_then(|_| label_ids.last().copied());
    cuboids.retain(|c| Some(c.label) != absent_label);
    (cuboids, absent_label)
}

fn bad_manifest(manifest: &LoadedManifest, reason: String) -> LayoutFixtureError {
    LayoutFixtureError::Manifest {
        manifest: manifest.path.clone(),
        reason,
    }
}

/// Merges a second use of one file into the first: equal specs, or images differing only in channels.
/// A per-case fixture setting (`forms`, `shadowed`): the `<collection>/<case>` key first, then the bare case
/// id (which applies in every collection holding the case).
fn per_case(map: &BTreeMap<String, usize>, collection: &str, case_id: &str) -> Option<usize> {
    map.get(&format!("{collection}/{case_id}"))
        .or_else(|| map.get(case_id))
        .copied()
}

fn merge(existing: &mut FileSpec, new: FileSpec) -> Result<(), String> {
    match (existing, new) {
        (
            FileSpec::Image {
                channels: have,
                ct,
                shape,
                spacing_mm,
                axes,
                organs,
                h5_datasets,
            },
            FileSpec::Image {
                channels: want,
                ct: ct2,
                shape: shape2,
                spacing_mm: spacing2,
                axes: axes2,
                organs: organs2,
                h5_datasets: h5_datasets2,
            },
        ) if *ct == ct2
            && *shape == shape2
            && *spacing_mm == spacing2
            && *axes == axes2
            && *organs == organs2
            && h5_datasets.is_empty() == h5_datasets2.is_empty() =>
        {
            *have = (*have).max(want);
            h5_datasets.extend(h5_datasets2);
            h5_datasets.sort();
            h5_datasets.dedup();
            Ok(())
        }
        (existing, new) if *existing == new => Ok(()),
        _ => Err(
            "two collections write this file with different contents (list shared case ids in the same \
             order in every collection that shares it)"
                .into(),
        ),
    }
}

fn write_file(path: &Path, spec: &FileSpec) -> Result<(), LayoutFixtureError> {
    let out = VolumeFile::new(path);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| out.io_err(e))?;
    }
    match spec {
        FileSpec::Junk => fs::write(path, APPLEDOUBLE_JUNK).map_err(|e| out.io_err(e)),
        FileSpec::Mask {
            shape,
            spacing_mm,
            axes,
            cuboids,
        } => {
            if cuboids.iter().any(|c| c.label > 255) {
                let m = painted_mask(*shape, cuboids, |label| label);
                out.put(&[m.view()], *spacing_mm, axes)
            } else {
                let m = painted_mask(*shape, cuboids, |label| label as u8);
                out.put(&[m.view()], *spacing_mm, axes)
            }
        }
        FileSpec::Image {
            ct,
            shape,
            spacing_mm,
            axes,
            organs,
            channels,
            h5_datasets,
        } => {
            let regions: Vec<(Region, i16)> = organs
                .iter()
                .map(|c| (Region::Cuboid(*c), 30 + 7 * (c.label.min(1000) as i16)))
                .collect();
            let hu = ct_volume(*shape, &regions, 0);
            if !h5_datasets.is_empty() {
                return write_h5_image(path, &hu, axes, h5_datasets).map_err(|e| out.io_err(e));
            }
            if *ct && *channels == 1 {
                return out.put(&[hu.view()], *spacing_mm, axes);
            }
            // Other modalities (and CT channels): float32, air 0, body 100, channel c offset by 5·c.
            let vols: Vec<Array3<f32>> = (0..*channels)
                .map(|c| hu.mapv(|v| (f32::from(v) + 1000.0) / 10.0 + 5.0 * c as f32))
                .collect();
            let views: Vec<ArrayView3<f32>> = vols.iter().map(|v| v.view()).collect();
            out.put(&views, *spacing_mm, axes)
        }
    }
}

/// An HDF5 image: the phantom in the stored order its mask is written in (C order, so dataset index
/// `[i, j, k]` is the mask's stored voxel `(i, j, k)`). The first dataset (by name) is uint16 `hu + 1000`,
/// contiguous; the n-th later one float32 `(hu + 1000) / 10 + 5·n`, chunked 8 × 8 × 4 and deflated.
fn write_h5_image(
    path: &Path,
    hu: &Array3<i16>,
    axes: &str,
    names: &[String],
) -> Result<(), io::Error> {
    let orientation = affine::parse_axis_codes(axes).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad axis codes {axes:?}"),
        )
    })?;
    let stored = stored_view(hu.view(), &orientation);
    let (s0, s1, s2) = stored.dim();
    let shape = [s0, s1, s2];
    let above_air: Vec<f32> = stored.iter().map(|&v| f32::from(v) + 1000.0).collect();
    let datasets: Vec<Hdf5Dataset> = names
        .iter()
        .enumerate()
        .map(|(n, name)| Hdf5Dataset {
            name: name.clone(),
            shape,
            values: if n == 0 {
                Hdf5Values::U16(above_air.iter().map(|&v| v as u16).collect())
            } else {
                Hdf5Values::F32(
                    above_air
                        .iter()
                        .map(|&v| v / 10.0 + 5.0 * n as f32)
                        .collect(),
                )
            },
            deflate: (n > 0).then_some(([s0.min(8), s1.min(8), s2.min(4)], 6)),
        })
        .collect();
    write_hdf5(path, &datasets)
}

/// Label map of `shape` with each cuboid painted with `value_of(label)` over zeros.
fn painted_mask<T: Copy + Default>(
    shape: [usize; 3],
    cuboids: &[Cuboid],
    value_of: impl Fn(u16) -> T,
) -> Array3<T> {
    let mut m = Array3::<T>::from_elem((shape[0], shape[1], shape[2]), T::default());
    cuboids
        .iter()
        .for_each(|c| paint_cuboid(&mut m, c, value_of(c.label)));
    m
}

/// One fixture volume file and how it is written: `.mha` as zlib-compressed MetaImage, else NIfTI with gzip
/// level 9.
struct VolumeFile<'p> {
    path: &'p Path,
    metaimage: bool,
    opts: WriteOptions,
    meta_opts: MetaWriteOptions,
}

impl<'p> VolumeFile<'p> {
    fn new(path: &'p Path) -> Self {
        VolumeFile {
            path,
            metaimage: path.to_string_lossy().ends_with(".mha"),
            opts: WriteOptions {
                compression_level: 9,
                ..WriteOptions::default()
            },
            meta_opts: MetaWriteOptions {
                compressed: true,
                ..MetaWriteOptions::default()
            },
        }
    }

    fn io_err(&self, source: io::Error) -> LayoutFixtureError {
        LayoutFixtureError::Io {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Writes one 3D (or 4D, several channels) volume in the file's format.
    fn put<T: MetaScalar>(
        &self,
        vols: &[ArrayView3<T>],
        spacing_mm: [f64; 3],
        axes: &str,
    ) -> Result<(), LayoutFixtureError> {
        if self.metaimage {
            write_metaimage(self.path, vols, spacing_mm, axes, &self.meta_opts)
        } else {
            write_nifti_channels(self.path, vols, spacing_mm, axes, &self.opts)
        }
        .map_err(|e| self.io_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuboids_are_disjoint_inside_and_pass_the_axial_filters() {
        for n in [1usize, 2, 4, 13, 15] {
            let ids: Vec<u16> = (1..=n as u16).collect();
            let shape = layout_shape(n);
            for shift in 0..2 {
                let cs = layout_cuboids(&ids, shift);
                assert_eq!(cs.len(), n);
                for (i, c) in cs.iter().enumerate() {
                    let s = c.size_px();
                    assert!(s[0] >= 16 && s[1] == 15 && s[2] >= 1, "{c:?}");
                    assert!((0..3).all(|a| c.hi[a] < shape[a]), "{c:?} in {shape:?}");
                    for d in &cs[i + 1..] {
                        assert!(c.hi[2] < d.lo[2], "{c:?} overlaps {d:?}");
                    }
                }
            }
        }
        // One label: a slab of 9 slices in a 12-slice volume.
        let c = layout_cuboids(&[4], 0)[0];
        assert_eq!((c.lo, c.hi), ([1, 1, 1], [16, 15, 9]));
    }
}
