#!/usr/bin/env python3
"""Golden 8-bit outputs for src/render (annotations.md §6), computed with numpy as the reference.

For each small slice: float32 input, the scaling (CT window of a group, or the slice's 0.5–99.5th
percentiles with numpy's default 'linear' method), clip, scale to 0–255 in float64, optional bilinear
resize (half-pixel centres, edge clamp: OpenCV INTER_LINEAR semantics), then round half to even
(np.rint, our default) or truncate (astype(uint8), MedVision). The Rust tests decode our PNGs and compare
pixel-exact. When OpenCV is installed the resize reference is cross-checked against cv2.resize (±1 gray
level: OpenCV uses float32 weights).

Usage: python3 scripts/render_golden.py [out_dir]   (default tests/golden/render)
"""
import json
import math
import os
import sys

import numpy as np

WINDOWS = {  # (level, width) HU, annotations.md §6
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "brain": (40.0, 80.0),
    "bone": (400.0, 1800.0),
}


def scale(x, lo, hi):
    x = x.astype(np.float64)
    if not (hi > lo):
        return np.zeros_like(x)
    return (np.clip(x, lo, hi) - lo) / (hi - lo) * 255.0


def fitted_size(w, h, max_side):
    long = max(w, h)
    def short(s):
        return min(max(int(math.floor(s * max_side / long + 0.5)), 1), max_side)
    return (max_side, short(h)) if w >= h else (short(w), max_side)


def taps(src, dst):
    inv = src / dst
    s = (np.arange(dst, dtype=np.float64) + 0.5) * inv - 0.5
    s0 = np.floor(s)
    i0 = s0.astype(np.int64)
    frac = s - s0
    low = s0 < 0
    i0[low] = 0
    frac[low] = 0.0
    high = i0 >= src - 1
    i0[high] = src - 1
    frac[high] = 0.0
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, frac


def bilinear(img, dst_w, dst_h):
    h, w = img.shape
    x0, x1, fx = taps(w, dst_w)
    y0, y1, fy = taps(h, dst_h)
    fx = fx[None, :]
    fy = fy[:, None]
    top = img[y0][:, x0] * (1.0 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1.0 - fx) + img[y1][:, x1] * fx
    return top * (1.0 - fy) + bottom * fy


def render(data, scaling, rounding, max_side):
    if scaling["kind"] == "window":
        lo, hi = scaling["low"], scaling["high"]
    else:
        lo, hi = np.percentile(data.astype(np.float64), [scaling["low_pct"], scaling["high_pct"]])
    gray = scale(data, lo, hi)
    h, w = gray.shape
    if max_side is not None and max(w, h) > max_side:
        dw, dh = fitted_size(w, h, max_side)
        resized = bilinear(gray, dw, dh)
        try:
            import cv2
            ref = cv2.resize(gray, (dw, dh), interpolation=cv2.INTER_LINEAR)
            diff = np.abs(ref - resized).max()
            assert diff < 1e-3, f"bilinear reference differs from cv2 by {diff}"
            print(f"  cv2 cross-check: max |diff| = {diff:.2e}")
        except ImportError:
            print("  (cv2 not installed: resize cross-check skipped)")
        gray = resized
    if rounding == "half_even":
        out = np.rint(gray)
    else:
        out = np.trunc(gray)
    return np.clip(out, 0, 255).astype(np.uint8)


def window(name):
    level, width = WINDOWS[name]
    return {"kind": "window", "low": level - width / 2.0, "high": level + width / 2.0}


PCT = {"kind": "percentile", "low_pct": 0.5, "high_pct": 99.5}


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "golden", "render")
    rng = np.random.default_rng(20261202)
    ct = rng.normal(0.0, 700.0, size=(7, 9)).astype(np.float32)
    ct.flat[:6] = [-1000.0, -160.0, 240.0, 40.0, 1300.0, -1350.0]
    mr = rng.gamma(2.0, 150.0, size=(12, 16)).astype(np.float32)
    mr[0, 0] = 5000.0  # bright outlier: the 99.5th percentile clips it
    # Brain window [0, 80] maps v to v * 255 / 80: 8, 24, 40, 56, 72 land on x.5 (up to float error).
    ties = np.array([[8.0, 24.0, 40.0, 56.0, 72.0, 0.0, 80.0, -3.0]], dtype=np.float32)
    ramp = np.arange(200, dtype=np.float32).reshape(10, 20) * 3.7 - 100.0
    cases = []
    for group in WINDOWS:
        for rounding in ("half_even", "truncate"):
            cases.append((f"ct_{group}_{rounding}", ct, window(group), rounding, None))
    for rounding in ("half_even", "truncate"):
        cases.append((f"mr_percentile_{rounding}", mr, PCT, rounding, None))
        cases.append((f"brain_ties_{rounding}", ties, window("brain"), rounding, None))
        cases.append((f"mr_percentile_resized_{rounding}", mr, PCT, rounding, 7))
        cases.append((f"ramp_soft_tissue_resized_{rounding}", ramp, window("soft_tissue"), rounding, 13))
    cases.append(("flat_percentile", np.full((4, 5), 100.0, dtype=np.float32), PCT, "half_even", None))
    cases.append(("flat_window", np.full((3, 3), -2000.0, dtype=np.float32), window("soft_tissue"),
                  "half_even", None))
    records = []
    for name, data, scaling, rounding, max_side in cases:
        print(name)
        out = render(data, scaling, rounding, max_side)
        records.append({
            "name": name,
            "width_px": int(data.shape[1]),
            "height_px": int(data.shape[0]),
            "data": [float(v) for v in data.ravel()],
            "scaling": scaling,
            "rounding": rounding,
            "max_side": max_side,
            "out_width_px": int(out.shape[1]),
            "out_height_px": int(out.shape[0]),
            "pixels": [int(v) for v in out.ravel()],
        })
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "render_cases.json")
    with open(path, "w") as f:
        json.dump({"generator": "scripts/render_golden.py", "numpy": np.__version__, "cases": records},
                  f, indent=1)
        f.write("\n")
    print(f"wrote {len(records)} cases to {path}")


if __name__ == "__main__":
    main()
