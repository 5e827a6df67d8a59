#!/usr/bin/env python3
"""Golden connected pieces for src/annotate (docs/measurements.md §4.1, §5.5): one row per piece.

Reads the volumes of tests/golden/annotate/*.json (written by scripts/annotate_golden.py, canonical RAS+
voxels in C order), shows every slice in both display frames with the numpy indexing of that script, labels
each label's pixels with scipy.ndimage.label (4- and 8-connectivity), takes each piece's box from
scipy.ndimage.find_objects and its pixel count from the labelled image, and orders the pieces of one
(slice, label) by the stated rule: left edge x_min, then top edge y_min, then x_max, y_max.
Writes tests/golden/annotate_pieces/<name>.json with, per view and connectivity, rows
[slice, label, piece_index (1-based), piece_count, pixels, x_min, y_min, x_max, y_max].

Usage: pip install numpy scipy; python3 scripts/pieces_golden.py
"""

import glob
import json
import os
import sys

import numpy as np
from scipy import ndimage

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from annotate_golden import EIGHT, FIXED_AXIS, FOUR, display_slice  # noqa: E402

IN_DIR = os.path.join(HERE, "..", "tests", "golden", "annotate")
OUT_DIR = os.path.join(HERE, "..", "tests", "golden", "annotate_pieces")


def piece_rows(img, s, structure):
    rows = []
    for label in sorted(int(v) for v in np.unique(img) if v != 0):
        labelled, count = ndimage.label(img == label, structure=structure)
        pieces = []
        for n, obj in enumerate(ndimage.find_objects(labelled), start=1):
            y0, y1 = obj[0].start, obj[0].stop - 1
            x0, x1 = obj[1].start, obj[1].stop - 1
            pixels = int((labelled[obj] == n).sum())
            pieces.append((x0, y0, x1, y1, pixels))
        pieces.sort()
        for index, (x0, y0, x1, y1, pixels) in enumerate(pieces, start=1):
            rows.append([s, label, index, int(count), pixels, x0, y0, x1, y1])
    return rows


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(IN_DIR, "*.json"))):
        with open(path) as f:
            g = json.load(f)
        vol = np.array(g["data"], dtype=np.uint16).reshape(g["shape"], order="C")
        views = []
        multi = 0
        for frame in ["radiological", "raw_array"]:
            for plane in ["sagittal", "coronal", "axial"]:
                four, eight = [], []
                for s in range(vol.shape[FIXED_AXIS[plane]]):
                    img = display_slice(vol, frame, plane, s)
                    four += piece_rows(img, s, FOUR)
                    eight += piece_rows(img, s, EIGHT)
                multi += sum(1 for r in four + eight if r[3] > 1)
                views.append({"frame": frame, "plane": plane, "four": four, "eight": eight})
        assert multi > 0, f"{g['name']}: no multi-piece slice"
        out = {
            "name": g["name"],
            "generator": "scripts/pieces_golden.py (numpy %s, scipy %s ndimage.label/find_objects)"
            % (np.__version__, __import__("scipy").__version__),
            "views": views,
        }
        target = os.path.join(OUT_DIR, g["name"] + ".json")
        with open(target, "w") as f:
            json.dump(out, f, separators=(",", ":"))
            f.write("\n")
        print(target, os.path.getsize(target), "bytes,", multi, "multi-piece rows")


if __name__ == "__main__":
    main()
