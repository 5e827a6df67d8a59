#!/usr/bin/env python3
"""Golden values for src/annotate (display frames, per-slice components, pixel counts and boxes).

Builds small random label volumes in canonical RAS+ order (index axes i -> Right, j -> Anterior,
k -> Superior), shows every slice in both display frames using numpy indexing written from the rules in
shared/spec/annotations.md section 2, and labels each label's pixels with scipy.ndimage.label (4- and
8-connectivity) and scipy.ndimage.find_objects. Writes one compact JSON file per volume to
tests/golden/annotate/. Deterministic (fixed seeds).

Usage: pip install numpy scipy; python3 scripts/annotate_golden.py
"""

import json
import os

import numpy as np
from scipy import ndimage

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "annotate")

FOUR = ndimage.generate_binary_structure(2, 1)
EIGHT = ndimage.generate_binary_structure(2, 2)

# Canonical axis fixed by each plane.
FIXED_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


def display_slice(vol, frame, plane, s):
    """The displayed image D[y, x] of slice s, written out per the spec table, one case at a time."""
    ni, nj, nk = vol.shape
    if frame == "raw_array":
        # Raw array slice as is: rows = first remaining axis, columns = second.
        if plane == "axial":
            return vol[:, :, s]  # rows i, cols j
        if plane == "coronal":
            return vol[:, s, :]  # rows i, cols k
        return vol[s, :, :]  # rows j, cols k
    # Radiological: build D[y, x] = vol[voxel(x, y)] from explicit coordinate maps.
    if plane == "axial":
        # x = ni-1-i (patient right on the left), y = nj-1-j (anterior on top)
        h, w = nj, ni
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        return vol[ni - 1 - xs, nj - 1 - ys, s]
    if plane == "coronal":
        # x = ni-1-i, y = nk-1-k (superior on top)
        h, w = nk, ni
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        return vol[ni - 1 - xs, s, nk - 1 - ys]
    # sagittal: x = nj-1-j (anterior on the left), y = nk-1-k (superior on top)
    h, w = nk, nj
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    return vol[s, nj - 1 - xs, nk - 1 - ys]


def spacing_of(frame, plane, spacing):
    """(row spacing, column spacing): spacing of the canonical axis shown along rows / columns."""
    rows_cols = {
        ("radiological", "axial"): (1, 0),
        ("radiological", "coronal"): (2, 0),
        ("radiological", "sagittal"): (2, 1),
        ("raw_array", "axial"): (0, 1),
        ("raw_array", "coronal"): (0, 2),
        ("raw_array", "sagittal"): (1, 2),
    }[(frame, plane)]
    return spacing[rows_cols[0]], spacing[rows_cols[1]]


def slice_rows(img, s, structure):
    rows = []
    for label in sorted(int(v) for v in np.unique(img) if v != 0):
        labelled, count = ndimage.label(img == label, structure=structure)
        objects = ndimage.find_objects(labelled)
        y0 = min(o[0].start for o in objects)
        y1 = max(o[0].stop for o in objects) - 1
        x0 = min(o[1].start for o in objects)
        x1 = max(o[1].stop for o in objects) - 1
        pixels = int((labelled > 0).sum())
        rows.append([s, label, int(count), pixels, x0, y0, x1, y1])
    return rows


def random_volume(rng, shape, labels, blobs_per_label, noise):
    """Ellipsoid blobs per label (later labels overwrite earlier), plus isolated voxels that often touch
    others only diagonally, so 4- and 8-connectivity disagree."""
    vol = np.zeros(shape, dtype=np.uint16)
    grid = np.indices(shape).astype(float)
    for label in labels:
        for _ in range(blobs_per_label):
            centre = [rng.uniform(0, n - 1) for n in shape]
            radii = [rng.uniform(1.0, max(1.5, n / 4)) for n in shape]
            inside = sum(((grid[a] - centre[a]) / radii[a]) ** 2 for a in range(3)) <= 1.0
            vol[inside] = label
    count = int(noise * vol.size)
    for _ in range(count):
        p = tuple(int(rng.integers(0, n)) for n in shape)
        vol[p] = labels[int(rng.integers(0, len(labels)))]
    # A guaranteed diagonal chain of label labels[0] in the middle axial slice.
    ci, cj, ck = shape[0] // 2, shape[1] // 2, shape[2] // 2
    for d in range(3):
        if ci + d < shape[0] and cj + d < shape[1]:
            vol[ci + d, cj + d, ck] = labels[0]
    return vol


def golden(name, seed, shape, spacing, labels, blobs_per_label, noise):
    rng = np.random.default_rng(seed)
    vol = random_volume(rng, shape, labels, blobs_per_label, noise)
    views = []
    differs = False
    for frame in ["radiological", "raw_array"]:
        for plane in ["sagittal", "coronal", "axial"]:
            n = vol.shape[FIXED_AXIS[plane]]
            four, eight = [], []
            shapes = set()
            for s in range(n):
                img = display_slice(vol, frame, plane, s)
                shapes.add(img.shape)
                four += slice_rows(img, s, FOUR)
                eight += slice_rows(img, s, EIGHT)
            assert len(shapes) == 1
            (h, w), = shapes
            differs |= four != eight
            row_mm, col_mm = spacing_of(frame, plane, spacing)
            views.append({
                "frame": frame,
                "plane": plane,
                "slice_count": n,
                "width_px": w,
                "height_px": h,
                "row_spacing_mm": row_mm,
                "col_spacing_mm": col_mm,
                "four": four,
                "eight": eight,
            })
    assert differs, f"{name}: 4- and 8-connectivity agree everywhere; pick another seed"
    return {
        "name": name,
        "generator": "scripts/annotate_golden.py (numpy %s, scipy ndimage.label/find_objects)" % np.__version__,
        "shape": list(shape),
        "spacing_mm": list(spacing),
        "data": [int(v) for v in vol.ravel(order="C")],
        "views": views,
    }


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = [
        ("blobs_23x19x15", 11, (23, 19, 15), (0.75, 0.9, 2.5), [1, 2, 3], 2, 0.01),
        ("blobs_17x13x11", 23, (17, 13, 11), (1.2, 0.6, 4.0), [1, 4, 9], 3, 0.02),
        ("blobs_9x16x7", 37, (9, 16, 7), (2.0, 1.0, 1.5), [2, 3, 300], 2, 0.03),
    ]
    for name, seed, shape, spacing, labels, blobs, noise in cases:
        g = golden(name, seed, shape, spacing, labels, blobs, noise)
        path = os.path.join(OUT_DIR, name + ".json")
        with open(path, "w") as f:
            json.dump(g, f, separators=(",", ":"))
            f.write("\n")
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
