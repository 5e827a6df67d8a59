#!/usr/bin/env python3
"""Reference HDF5 files and golden values for the HDF5 image reader (src/volume/hdf5.rs).

h5py (libhdf5, the library the SKM-TEA release was written with) writes small files shaped like the
release's `image_files/<scan>.h5` (3D `echo1`/`echo2` magnitude volumes, a 4D one-hot `seg`, a `stats` group
of scalars) in the storage forms a reader must handle:

  * h5py_release_like.h5 — h5py defaults (superblock 0, v1 B-tree chunk index):
      echo1  uint16  (7, 5, 4) contiguous, values up to 60000 (beyond int16)
      echo2  float32 (7, 5, 4) chunked (4, 3, 2) with shuffle + gzip 4 (edge chunks are partial)
      seg    uint8   (7, 5, 4, 6) chunked + gzip (one-hot; 4D, so not readable as a volume)
      stats/echo1/mean, stats/echo2/mean  float64 scalars
  * h5py_v110.h5 — libver v110 (superblock 3, version-4 layout, the newer chunk indexes):
      echo1  float32 (6, 3, 5) chunked (6, 3, 1) + gzip 9
      echo2  int16 big-endian (6, 3, 5) contiguous
  * h5py_v200.h5 — libver "latest" under HDF5 2.x (layout message version 5), echo1 float32 (6, 3, 5)
      chunked + gzip: a format hdf5-pure 0.47 does not read, kept to check the error is clean. No golden.

Golden values (tests/golden/hdf5/h5py.json): per file and dataset the shape, the NumPy dtype and every
value in C order (h5py's own reading), so the Rust reader is checked against files it did not write.

    pip install h5py numpy
    python3 scripts/hdf5_golden.py
"""
import json
import os

import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "hdf5")


def echo_u16(shape):
    i, j, k = np.indices(shape)
    return ((i * 7919 + j * 613 + k * 97) * 13 % 60001).astype(np.uint16)


def echo_f32(shape, phase):
    i, j, k = np.indices(shape)
    return (np.sin(i * 0.7 + j * 1.3 + k * 0.4 + phase) * 250.0 + 300.0).astype(np.float32)


def one_hot(shape, classes):
    i, j, k = np.indices(shape)
    labels = (i + 2 * j + 3 * k) % (classes + 1)
    out = np.zeros(shape + (classes,), dtype=np.uint8)
    for c in range(classes):
        out[..., c] = labels == c + 1
    return out


def main():
    os.makedirs(ROOT, exist_ok=True)
    golden = {}

    shape = (7, 5, 4)
    path = os.path.join(ROOT, "h5py_release_like.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("echo1", data=echo_u16(shape))
        f.create_dataset(
            "echo2", data=echo_f32(shape, 0.0), chunks=(4, 3, 2), shuffle=True, compression="gzip",
            compression_opts=4,
        )
        f.create_dataset("seg", data=one_hot(shape, 6), chunks=(4, 5, 4, 6), compression="gzip")
        for name in ("echo1", "echo2"):
            f.create_dataset(f"stats/{name}/mean", data=float(np.mean(f[name][()])))

    shape = (6, 3, 5)
    path = os.path.join(ROOT, "h5py_v110.h5")
    with h5py.File(path, "w", libver=("v110", "v110")) as f:
        f.create_dataset(
            "echo1", data=echo_f32(shape, 1.0), chunks=(6, 3, 1), compression="gzip", compression_opts=9
        )
        f.create_dataset("echo2", data=((echo_u16(shape) // 3).astype(np.int16) - 9000).astype(">i2"))

    path = os.path.join(ROOT, "h5py_v200.h5")
    with h5py.File(path, "w", libver="latest") as f:
        f.create_dataset("echo1", data=echo_f32(shape, 2.0), chunks=(6, 3, 1), compression="gzip")

    for name in ("h5py_release_like.h5", "h5py_v110.h5"):
        with h5py.File(os.path.join(ROOT, name), "r") as f:
            entry = {}
            for key in ("echo1", "echo2", "seg"):
                if key not in f:
                    continue
                a = f[key][()]
                entry[key] = {
                    "shape": list(a.shape),
                    "dtype": f[key].dtype.str,
                    "chunks": list(f[key].chunks) if f[key].chunks else None,
                    "filters": sorted(k for k in ("gzip", "shuffle") if getattr(f[key], k if k != "gzip" else "compression", None)),
                    "values": [float(v) for v in a.reshape(-1)],
                }
            golden[name] = entry

    with open(os.path.join(ROOT, "h5py.json"), "w") as out:
        json.dump(golden, out, indent=1, sort_keys=True)
        out.write("\n")
    check_skm_tea_fixture()


def check_skm_tea_fixture():
    """Independent check of the HDF5 files `medvision-build synth skm_tea` writes (fixtures/skm_tea): h5py
    reads them, and on nibabel's index order of the mask every labelled voxel holds the layout phantom's value
    (label l at 30 + 7·l HU; echo1 = HU + 1000 as uint16, echo2 = (HU + 1000) / 10 + 5 as float32)."""
    import nibabel as nib

    fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "skm_tea")
    for case in ("MTR_005", "MTR_010"):
        mask = np.asarray(nib.load(os.path.join(fixture, "segmentation_masks", "raw-data-track", f"{case}.nii.gz")).dataobj)
        with h5py.File(os.path.join(fixture, "image_files", f"{case}.h5"), "r") as f:
            echo1, echo2 = f["echo1"][()], f["echo2"][()]
        assert echo1.dtype == np.uint16 and echo2.dtype == np.float32 and echo1.shape == mask.shape, case
        for label in range(1, 7):
            assert (echo1[mask == label] == 1030 + 7 * label).all(), (case, label)
        assert np.allclose(echo2, echo1.astype(np.float32) / 10 + 5), case
        print(f"fixtures/skm_tea {case}: echo1/echo2 agree with the mask on nibabel's index order")


if __name__ == "__main__":
    main()
