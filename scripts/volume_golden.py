#!/usr/bin/env python3
"""Golden values for src/volume: nibabel's reading of the files in tests/golden/volume/.

The input files are written by our own synth writer
(`cargo test --release --lib regenerate_volume_golden_inputs -- --ignored`); this script records what the
reference tool (nibabel, `as_closest_canonical`) makes of them, into tests/golden/volume/nibabel.json.

    pip install nibabel numpy
    python3 scripts/volume_golden.py

Values are cast to float32 (our `read_image` output type, after scaling in float64) before summing.
"""
import json
import os

import nibabel as nib
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "volume")

FILES = [
    # (file, channel, is_label_map)
    ("lps_i16.nii.gz", None, False),
    ("lsa_u16_scaled.nii", None, False),
    ("pir_u8_be.nii.gz", None, True),
    ("qform_disagree.nii.gz", None, False),
    ("qform_oblique.nii.gz", None, False),
    ("sform_oblique.nii.gz", None, False),
    ("four_d_f64.nii.gz", 1, False),
]


def main():
    out = []
    for name, channel, is_label in FILES:
        img = nib.load(os.path.join(ROOT, name))
        canon = nib.as_closest_canonical(img)
        data = canon.get_fdata(dtype=np.float64)
        if channel is not None:
            data = data[..., channel]
        data = data.astype(np.float32).astype(np.float64)
        n0, n1, n2 = data.shape
        i, j, k = np.meshgrid(np.arange(n0), np.arange(n1), np.arange(n2), indexing="ij")
        weights = (1 + i + 3 * j + 7 * k).astype(np.float64)
        idx = [
            (0, 0, 0),
            (n0 - 1, 0, 0),
            (0, n1 - 1, 0),
            (0, 0, n2 - 1),
            (n0 - 1, n1 - 1, n2 - 1),
            (n0 // 2, n1 // 3, n2 // 2),
        ]
        entry = {
            "file": name,
            "channel": channel,
            "axcodes": "".join(nib.aff2axcodes(img.affine)),
            "shape": [int(n0), int(n1), int(n2)],
            "zooms": [float(z) for z in canon.header.get_zooms()[:3]],
            "affine": [[float(x) for x in row] for row in canon.affine],
            "sum": float(data.sum()),
            "weighted_sum": float((data * weights).sum()),
            "samples": [[list(map(int, p)), float(data[p])] for p in idx],
            "labels": sorted(int(v) for v in np.unique(data)) if is_label else None,
        }
        out.append(entry)
    with open(os.path.join(ROOT, "nibabel.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} entries; nibabel {nib.__version__}")


if __name__ == "__main__":
    main()
