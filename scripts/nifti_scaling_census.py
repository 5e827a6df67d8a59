#!/usr/bin/env python3
"""Tally the stored datatype and scl_slope/scl_inter of every NIfTI-1 file under the given folders, and the
in-memory type medvision-build's image reader keeps for each (src/volume/open.rs, `ImageVolume`).

Usage: scripts/nifti_scaling_census.py DIR...      (reads only the 348-byte header of each .nii / .nii.gz)

Why: the reader keeps u8/i16/u16/i32 images in their stored type and renders them through a lookup table;
scaled files stay integral only when slope and intercept are integers (else they are read as f32). This
script shows how often real data takes each path.
"""
import collections
import gzip
import math
import pathlib
import struct
import sys

NAMES = {2: "u8", 4: "i16", 8: "i32", 16: "f32", 64: "f64", 256: "i8", 512: "u16", 768: "u32", 1024: "i64", 1280: "u64"}
RANGES = {"u8": (0, 255), "i8": (-128, 127), "i16": (-32768, 32767), "u16": (0, 65535)}


def kept_type(dtype, slope, inter):
    """The ImageVolume variant the reader picks (mirrors open.rs)."""
    if not math.isfinite(slope) or slope == 0 or (slope == 1 and inter == 0):
        return {"u8": "u8", "i8": "i16", "i16": "i16", "u16": "u16", "i32": "i32"}.get(dtype, "f32")
    inter = inter if math.isfinite(inter) else 0.0  # the reader takes a non-finite intercept as 0
    if dtype not in RANGES or slope != int(slope) or inter != int(inter):
        return "f32"
    lo, hi = RANGES[dtype]
    a, b = lo * slope + inter, hi * slope + inter
    lo, hi = min(a, b), max(a, b)
    if lo >= -32768 and hi <= 32767:
        return "i16"
    return "i32" if lo >= -(2**24) and hi <= 2**24 else "f32"


def header(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        h = f.read(348)
    endian = "<" if struct.unpack("<i", h[:4])[0] == 348 else ">"
    dtype = struct.unpack(endian + "h", h[70:72])[0]
    slope, inter = struct.unpack(endian + "ff", h[112:120])
    return NAMES.get(dtype, f"code {dtype}"), slope, inter


def main():
    counts = collections.Counter()
    for root in sys.argv[1:]:
        for p in sorted(pathlib.Path(root).rglob("*.nii*")):
            if p.name.startswith("._") or not (p.name.endswith(".nii") or p.name.endswith(".nii.gz")):
                continue
            try:
                dtype, slope, inter = header(p)
            except (OSError, struct.error, EOFError) as e:
                print(f"{p}: unreadable header: {e}", file=sys.stderr)
                continue
            counts[(dtype, slope, inter, kept_type(dtype, slope, inter))] += 1
    print("files\tstored\tscl_slope\tscl_inter\tkept as")
    for (dtype, slope, inter, kept), n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{n}\t{dtype}\t{slope:g}\t{inter:g}\t{kept}")


if __name__ == "__main__":
    main()
