//! Tests of the HDF5 image reader against files h5py wrote (`scripts/hdf5_golden.py` → tests/golden/hdf5/):
//! every value of contiguous and chunked, shuffled and deflated datasets of both SKM-TEA dtypes (and a
//! big-endian one), the grid taken from a NIfTI file in closed form for three stored orientations, and the
//! errors for a wrong dataset name, a non-HDF5 file, a 4D dataset, a shape that is not the grid's and a
//! storage layout the reader does not know.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array3;
use serde_json::Value;

use super::tests::Scratch;
use super::*;
use crate::synth::{write_nifti, WriteOptions};

const GOLDEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/hdf5");

fn golden() -> Value {
    let text = fs::read_to_string(Path::new(GOLDEN_DIR).join("h5py.json")).expect("h5py.json");
    serde_json::from_str(&text).expect("json")
}

fn h5(file: &str) -> PathBuf {
    Path::new(GOLDEN_DIR).join(file)
}

/// A grid file: an all-zero u8 NIfTI whose stored shape is `stored` in orientation `axes` (a permutation of
/// RAS given as axis codes), spacing 0.5 / 0.75 / 1.25 mm along canonical R, A, S.
fn grid(scratch: &Scratch, name: &str, stored: [usize; 3], axes: &str) -> PathBuf {
    let orientation = crate::geom::affine::parse_axis_codes(axes).expect("axes");
    let mut canonical = [0usize; 3];
    for (s, o) in orientation.iter().enumerate() {
        canonical[o.world_axis] = stored[s];
    }
    let path = scratch.path(name);
    let zeros = Array3::<u8>::zeros((canonical[0], canonical[1], canonical[2]));
    write_nifti(
        &path,
        &zeros,
        [0.5, 0.75, 1.25],
        axes,
        &WriteOptions::default(),
    )
    .expect("grid");
    path
}

/// The golden `(shape, values in C order)` of one dataset.
fn expected(g: &Value, file: &str, dataset: &str) -> ([usize; 3], Vec<f64>) {
    let d = &g[file][dataset];
    let shape: Vec<usize> = d["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|v| v.as_u64().expect("dim") as usize)
        .collect();
    let values = d["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| v.as_f64().expect("value"))
        .collect();
    ([shape[0], shape[1], shape[2]], values)
}

#[test]
fn every_value_of_every_h5py_dataset_lands_on_its_grid_voxel() {
    let g = golden();
    let scratch = Scratch::new("hdf5-golden");
    let cases = [
        ("h5py_release_like.h5", "echo1", "<u2", 4_093_176.0),
        (
            "h5py_release_like.h5",
            "echo2",
            "<f4",
            42_249.816_463_470_46,
        ),
        ("h5py_v110.h5", "echo1", "<f4", 22_946.946_304_321_29),
        ("h5py_v110.h5", "echo2", ">i2", 65_607.0),
    ];
    for (file, dataset, dtype, sum) in cases {
        assert_eq!(g[file][dataset]["dtype"], dtype, "{file} {dataset}");
        let (shape, values) = expected(&g, file, dataset);
        assert!(
            (values.iter().sum::<f64>() - sum).abs() < 1e-6,
            "{file} {dataset} golden sum"
        );
        let [d0, d1, d2] = shape;
        // Canonical index of dataset index (i, j, k) for each stored orientation of the grid.
        type Map = fn([usize; 3], [usize; 3]) -> [usize; 3];
        let layouts: [(&str, Map); 3] = [
            ("RAS", |[i, j, k], _| [i, j, k]),
            ("LPS", |[i, j, k], [d0, d1, _]| [d0 - 1 - i, d1 - 1 - j, k]),
            // Stored axis 0 runs posterior, 1 inferior, 2 right: canonical (R, A, S) = (k, d0-1-i, d1-1-j).
            ("PIR", |[i, j, k], [d0, d1, _]| [k, d0 - 1 - i, d1 - 1 - j]),
        ];
        for (axes, map) in layouts {
            let grid_path = grid(
                &scratch,
                &format!("{dataset}-{d0}{d1}{d2}-{axes}.nii.gz"),
                shape,
                axes,
            );
            let file_path = h5(file);
            let image = open_hdf5_image(&file_path, dataset, &grid_path).expect("open");
            let mask = read_label_map(&grid_path, &[]).expect("grid");
            assert_eq!(
                image.geometry(),
                &mask.geometry,
                "{file} {dataset} {axes}: geometry"
            );
            assert_eq!(image.geometry().source_axes, axes);
            assert_eq!(image.shape()[..], *mask.data.shape());
            let volume = image.read().expect("read");
            match (&volume, dtype) {
                (ImageVolume::U16(_), "<u2") | (ImageVolume::F32(_), "<f4") => {}
                (ImageVolume::I16(_), ">i2") => {}
                _ => panic!("{file} {dataset}: stored {dtype} read as {volume:?}"),
            }
            let v = volume.to_f32();
            for i in 0..d0 {
                for j in 0..d1 {
                    for k in 0..d2 {
                        let want = values[(i * d1 + j) * d2 + k] as f32;
                        let got = v.data[map([i, j, k], shape)];
                        assert_eq!(got, want, "{file} {dataset} {axes} [{i},{j},{k}]");
                    }
                }
            }
        }
    }
}

#[test]
fn a_missing_dataset_names_the_file_and_lists_what_it_holds() {
    let scratch = Scratch::new("hdf5-missing");
    let grid_path = grid(&scratch, "g.nii.gz", [7, 5, 4], "RAS");
    let file = h5("h5py_release_like.h5");
    let err = open_hdf5_image(&file, "echo3", &grid_path)
        .err()
        .expect("no echo3")
        .to_string();
    assert!(
        err.starts_with(&format!("{}: no HDF5 dataset `echo3`", file.display())),
        "{err}"
    );
    assert!(
        err.ends_with(
            "datasets in the file: echo1, echo2, seg, stats/echo1/mean, stats/echo2/mean"
        ),
        "{err}"
    );
}

#[test]
fn a_non_hdf5_file_a_4d_dataset_and_a_foreign_shape_are_clear_errors() {
    let scratch = Scratch::new("hdf5-errors");
    let grid_path = grid(&scratch, "g.nii.gz", [7, 5, 4], "RAS");
    let text = scratch.path("MTR_001.h5");
    fs::write(&text, "not an HDF5 file at all\n").expect("write");
    let err = open_hdf5_image(&text, "echo1", &grid_path)
        .err()
        .expect("text")
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: not a readable HDF5 file: no HDF5 signature: not an HDF5 file",
            text.display()
        )
    );

    let file = h5("h5py_release_like.h5");
    let err = open_hdf5_image(&file, "seg", &grid_path)
        .err()
        .expect("4D")
        .to_string();
    assert!(
        err.contains("dataset `seg` has shape [7, 5, 4, 6]; a volume needs 3"),
        "{err}"
    );

    let other = grid(&scratch, "other.nii.gz", [5, 7, 4], "RAS");
    let err = open_hdf5_image(&file, "echo1", &other)
        .err()
        .expect("shape")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}: geometry differs from image {}: HDF5 dataset `echo1` has shape [7, 5, 4] but the grid \
             file's stored dimensions are [5, 7, 4]",
            other.display(),
            file.display()
        )),
        "{err}"
    );
}

#[test]
fn an_hdf5_image_without_a_dataset_name_says_what_it_needs() {
    let file = h5("h5py_release_like.h5");
    let err = read_image(&file, None).expect_err("no dataset").to_string();
    assert!(
        err.contains("an HDF5 image needs the collection's `h5_dataset`"),
        "{err}"
    );
    let err = open_image(&file, None)
        .err()
        .expect("no dataset")
        .to_string();
    assert!(
        err.starts_with(&format!("{}: not a readable HDF5 file", file.display())),
        "{err}"
    );
}

#[test]
fn a_layout_the_reader_does_not_know_fails_the_read_naming_file_and_dataset() {
    // HDF5 2.x `libver="latest"` (layout message version 5): not readable by hdf5-pure 0.47; the error must be
    // a per-case error, not a panic.
    let scratch = Scratch::new("hdf5-v200");
    let grid_path = grid(&scratch, "g.nii.gz", [6, 3, 5], "RAS");
    let file = h5("h5py_v200.h5");
    let err = open_hdf5_image(&file, "echo1", &grid_path)
        .and_then(ImageFile::read)
        .expect_err("layout version 5")
        .to_string();
    assert!(
        err.starts_with(&format!(
            "{}: not a readable HDF5 file: dataset `echo1`: ",
            file.display()
        )),
        "{err}"
    );
}
