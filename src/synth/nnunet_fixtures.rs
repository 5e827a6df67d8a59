//! Tiny nnU-Net raw dataset folders (`dataset.json`, `imagesTr/`, `labelsTr/`) in every form
//! `manifest::nnunet` reads: MSD / nnU-Net v1 (4D multi-channel images, and per-channel `_0000` files), v2 with
//! `.nii.gz` and `.mha` endings, several channels, and region labels (a label given as a list of ids). Every
//! mask holds axis-aligned cuboids known in closed form; the region fixture's cuboids touch, so a region's
//! union is one component whose box differs from each member's.

use std::fs;
use std::io;
use std::path::Path;

use ndarray::{Array3, ArrayView3};

use super::fixtures::PhantomCase;
use super::meta_writer::{write_metaimage, MetaWriteOptions};
use super::phantom::{ct_volume, label_map, Cuboid, Region};
use super::writer::{write_nifti_channels, WriteOptions};

/// Canonical (R, A, S) shape of every nnU-Net fixture case.
pub const NNUNET_SHAPE: [usize; 3] = [44, 24, 12];

/// Stored orientation and canonical spacing of the first and second case of each folder.
const VARIANTS: [(&str, [f64; 3]); 2] = [("RAS", [1.0, 1.0, 1.0]), ("LPS", [0.8, 0.8, 2.5])];

/// One written nnU-Net folder and its cases (image path: channel 0's file).
#[derive(Debug, Clone, PartialEq)]
pub struct NnunetFixture {
    /// Folder name under the root, e.g. `Dataset004_BrainRegions`.
    pub folder: String,
    /// The training cases, in case-id order.
    pub cases: Vec<PhantomCase>,
}

/// How a folder's images are written.
#[derive(Debug, Clone, Copy)]
enum Images {
    /// One file per channel, `<case>_000N<ending>`.
    PerChannel,
    /// One (4D when several channels) file per case, `<case><ending>`.
    OneFile,
}

struct Spec {
    folder: &'static str,
    case_ids: [&'static str; 2],
    ending: &'static str,
    channels: usize,
    ct: bool,
    images: Images,
    cuboids: fn(usize) -> Vec<Cuboid>,
    dataset_json: &'static str,
}

/// Two disjoint organ-sized cuboids (labels 1 and 2), shifted along A by the case number.
fn two_organs(n: usize) -> Vec<Cuboid> {
    vec![
        Cuboid {
            label: 1,
            lo: [3, 3 + n, 2],
            hi: [18, 18 + n, 9],
        },
        Cuboid {
            label: 2,
            lo: [24, 4 + n, 3],
            hi: [39, 19 + n, 8],
        },
    ]
}

/// Three cuboids side by side along R, each touching the next (labels 1, 2, 3), so the union of 2 and 3, and
/// of all three, is one component in the axial and coronal planes.
fn touching_tumour(n: usize) -> Vec<Cuboid> {
    vec![
        Cuboid {
            label: 1,
            lo: [2, 4, 2],
            hi: [14, 19, 8],
        },
        Cuboid {
            label: 2,
            lo: [15, 6 - n, 3],
            hi: [27, 21 - n, 9],
        },
        Cuboid {
            label: 3,
            lo: [28, 2, 1 + n],
            hi: [40, 17, 10],
        },
    ]
}

const SPECS: [Spec; 6] = [
    Spec {
        folder: "Task05_Prostate",
        case_ids: ["prostate_00", "prostate_01"],
        ending: ".nii.gz",
        channels: 2,
        ct: false,
        images: Images::OneFile,
        cuboids: two_organs,
        dataset_json: r#"{
    "name": "PROSTATE",
    "description": "Prostate transitional zone and peripheral zone segmentation (fixture)",
    "licence": "CC-BY-SA 4.0",
    "tensorImageSize": "4D",
    "modality": {
        "0": "T2",
        "1": "ADC"
    },
    "labels": {
        "0": "background",
        "1": "PZ",
        "2": "TZ"
    },
    "numTraining": 2,
    "numTest": 1,
    "training": [
        {"image": "./imagesTr/prostate_00.nii.gz", "label": "./labelsTr/prostate_00.nii.gz"},
        {"image": "./imagesTr/prostate_01.nii.gz", "label": "./labelsTr/prostate_01.nii.gz"}
    ],
    "test": ["./imagesTs/prostate_03.nii.gz"]
}
"#,
    },
    Spec {
        folder: "Task004_Hippocampus",
        case_ids: ["hippocampus_001", "hippocampus_003"],
        ending: ".nii.gz",
        channels: 1,
        ct: false,
        images: Images::PerChannel,
        cuboids: two_organs,
        dataset_json: r#"{
    "name": "Hippocampus",
    "tensorImageSize": "3D",
    "modality": {"0": "MRI"},
    "labels": {"0": "background", "1": "Anterior", "2": "Posterior"},
    "numTraining": 2,
    "numTest": 0,
    "training": [
        {"image": "./imagesTr/hippocampus_001.nii.gz", "label": "./labelsTr/hippocampus_001.nii.gz"},
        {"image": "./imagesTr/hippocampus_003.nii.gz", "label": "./labelsTr/hippocampus_003.nii.gz"}
    ],
    "test": []
}
"#,
    },
    Spec {
        folder: "Dataset001_Liver",
        case_ids: ["liver_000", "liver_001"],
        ending: ".nii.gz",
        channels: 1,
        ct: true,
        images: Images::PerChannel,
        cuboids: two_organs,
        dataset_json: r#"{
    "channel_names": {"0": "CT"},
    "labels": {"background": 0, "liver": 1, "hepatic_tumour (\"HCC\")": 2},
    "numTraining": 2,
    "file_ending": ".nii.gz",
    "name": "Liver fixture"
}
"#,
    },
    Spec {
        folder: "Dataset002_KidneyMha",
        case_ids: ["kidney_0001", "kidney_0002"],
        ending: ".mha",
        channels: 1,
        ct: true,
        images: Images::PerChannel,
        cuboids: two_organs,
        dataset_json: r#"{
    "channel_names": {"0": "CT"},
    "labels": {"background": 0, "kidney": 1, "kidney tumor": 2},
    "numTraining": 2,
    "file_ending": ".mha"
}
"#,
    },
    Spec {
        folder: "Dataset003_ProstateMC",
        case_ids: ["prostate_00", "prostate_01"],
        ending: ".nii.gz",
        channels: 2,
        ct: false,
        images: Images::PerChannel,
        cuboids: two_organs,
        dataset_json: r#"{
    "channel_names": {"0": "T2", "1": "ADC"},
    "labels": {"background": 0, "PZ": 1, "TZ": 2},
    "numTraining": 2,
    "file_ending": ".nii.gz"
}
"#,
    },
    Spec {
        folder: "Dataset004_BrainRegions",
        case_ids: ["BRATS_001", "BRATS_002"],
        ending: ".nii.gz",
        channels: 1,
        ct: false,
        images: Images::PerChannel,
        cuboids: touching_tumour,
        dataset_json: r#"{
    "channel_names": {"0": "FLAIR"},
    "labels": {
        "background": 0,
        "edema": 1,
        "whole_tumor": [1, 2, 3],
        "tumor core": [2, 3],
        "enhancing tumor": [3]
    },
    "regions_class_order": [1, 2, 3],
    "numTraining": 2,
    "file_ending": ".nii.gz"
}
"#,
    },
];

/// Writes the six folders under `root`: `Task05_Prostate` (MSD v1: 4D T2+ADC images, an AppleDouble `._`
/// file and an `imagesTs/` image), `Task004_Hippocampus` (v1 with per-channel `_0000` files),
/// `Dataset001_Liver` (v2 CT `.nii.gz`, a label name with quotes and underscores), `Dataset002_KidneyMha`
/// (v2 CT `.mha`), `Dataset003_ProstateMC` (v2, two channel files), `Dataset004_BrainRegions` (v2 regions
/// `whole_tumor` = `[1, 2, 3]`, `tumor core` = `[2, 3]`, `enhancing tumor` = `[3]`). Two cases each (RAS 1 mm;
/// LPS 0.8 × 0.8 × 2.5 mm), int16 CT or float32 MR, u8 masks, gzip level 9 with mtime 0 / zlib MetaImage:
/// byte-identical on every run.
pub fn write_nnunet_fixtures(root: &Path) -> io::Result<Vec<NnunetFixture>> {
    SPECS.iter().map(|spec| write_folder(root, spec)).collect()
}

fn write_folder(root: &Path, spec: &Spec) -> io::Result<NnunetFixture> {
    let dir = root.join(spec.folder);
    for sub in ["imagesTr", "labelsTr"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    fs::write(dir.join("dataset.json"), spec.dataset_json)?;
    let mut cases = Vec::new();
    for (n, case_id) in spec.case_ids.iter().enumerate() {
        let (axes, spacing_mm) = VARIANTS[n];
        let cuboids = (spec.cuboids)(n);
        let channels = channel_volumes(spec, &cuboids);
        let views: Vec<ArrayView3<f32>> = channels.iter().map(|c| c.view()).collect();
        let image_path = match spec.images {
            Images::OneFile => {
                let path = dir
                    .join("imagesTr")
                    .join(format!("{case_id}{}", spec.ending));
                write_volume(&path, &views, spacing_mm, axes)?;
                path
            }
            Images::PerChannel if spec.ct => {
                let ct = ct_image(&cuboids);
                let path = dir
                    .join("imagesTr")
                    .join(format!("{case_id}_0000{}", spec.ending));
                write_volume(&path, &[ct.view()], spacing_mm, axes)?;
                path
            }
            Images::PerChannel => {
                for (k, view) in views.iter().enumerate() {
                    let path = dir
                        .join("imagesTr")
                        .join(format!("{case_id}_{k:04}{}", spec.ending));
                    write_volume(&path, &[*view], spacing_mm, axes)?;
                }
                dir.join("imagesTr")
                    .join(format!("{case_id}_0000{}", spec.ending))
            }
        };
        let regions: Vec<Region> = cuboids.iter().map(|c| Region::Cuboid(*c)).collect();
        let mask = label_map(NNUNET_SHAPE, &regions);
        let mask_path = dir
            .join("labelsTr")
            .join(format!("{case_id}{}", spec.ending));
        write_volume(&mask_path, &[mask.view()], spacing_mm, axes)?;
        cases.push(PhantomCase {
            case_id: case_id.to_string(),
            stored_axes: axes.to_string(),
            spacing_mm,
            shape: NNUNET_SHAPE,
            cuboids,
            image_path,
            mask_path: Some(mask_path),
        });
    }
    if spec.folder == "Task05_Prostate" {
        // MSD archives carry macOS AppleDouble files and a test image nothing may pair.
        fs::write(
            dir.join("imagesTr").join("._prostate_00.nii.gz"),
            [0u8, 5, 22, 7, 0, 2, 0, 0],
        )?;
        fs::create_dir_all(dir.join("imagesTs"))?;
        let test = channel_volumes(spec, &[]);
        let views: Vec<ArrayView3<f32>> = test.iter().map(|c| c.view()).collect();
        let (axes, spacing_mm) = VARIANTS[0];
        write_volume(
            &dir.join("imagesTs").join("prostate_03.nii.gz"),
            &views,
            spacing_mm,
            axes,
        )?;
    }
    Ok(NnunetFixture {
        folder: spec.folder.to_string(),
        cases,
    })
}

/// int16 CT: air, a body cylinder, each cuboid at `30 + 7·label` HU.
fn ct_image(cuboids: &[Cuboid]) -> Array3<i16> {
    let organs: Vec<(Region, i16)> = cuboids
        .iter()
        .map(|c| (Region::Cuboid(*c), 30 + 7 * c.label as i16))
        .collect();
    ct_volume(NNUNET_SHAPE, &organs, 0)
}

/// float32 channels of an MR-like image: the CT phantom rescaled, channel `k` offset by `5·k`.
fn channel_volumes(spec: &Spec, cuboids: &[Cuboid]) -> Vec<Array3<f32>> {
    let hu = ct_image(cuboids);
    (0..spec.channels)
        .map(|k| hu.mapv(|v| (f32::from(v) + 1000.0) / 10.0 + 5.0 * k as f32))
        .collect()
}

/// `.mha` as zlib MetaImage, anything else as gzip level 9 NIfTI.
fn write_volume<T: super::meta_writer::MetaScalar + super::writer::NiftiScalar>(
    path: &Path,
    channels: &[ArrayView3<T>],
    spacing_mm: [f64; 3],
    axes: &str,
) -> io::Result<()> {
    if path.to_string_lossy().ends_with(".mha") {
        let opts = MetaWriteOptions {
            compressed: true,
            ..MetaWriteOptions::default()
        };
        write_metaimage(path, channels, spacing_mm, axes, &opts)
    } else {
        let opts = WriteOptions {
            compression_level: 9,
            ..WriteOptions::default()
        };
        write_nifti_channels(path, channels, spacing_mm, axes, &opts)
    }
}
