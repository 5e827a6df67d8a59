#!/usr/bin/env python3
"""Golden rows of MedVision's lesion-size planner for src/annotate/lesion.rs (profiles medvision, medvision-1.4).

v1.0 rows come from the planner's OWN code, run here, not re-implemented: the methods
`_find_scaled_bounding_boxes_2D`, `__fit_ellipses` (class `BiometricVQA_BenchmarkPlannerBiometry_fromSeg`) and
`_cal_point2vec`, `_cal_distance` (class `BiometricVQA_BenchmarkPlannerBiometry`) are read with `git show` from
src/biometric_vqa/utils/benchmark_planner.py of github.com/YongchengYAO/biometric_vqa at commit
aa3caade5bcac7ae87e4ae4bcdd7d7bca2d3c4ee (package version 1.0.0; the same methods are in every commit of that
repository and in medvision_ds 1.0.0), cut out of the file with `ast` and executed in a small class. Nothing of
that source is stored in this repository. The masks go through them exactly as the planner's
`_extract_ellipse_landmarks` passes them: 2D slice of the mask, `pixel_sizes` = the two in-plane voxel sizes
(float32, dim0 then dim1), cluster threshold 200 px; lengths L-1-2 / L-3-4 come from `_cal_distance` on the 3D
landmarks with the volume's voxel sizes.

v1.4 rows: the planner's source for releases 1.1.1 to 1.4.0 is not in any mirror we have (it lives in the
Hugging Face dataset repo YongchengYAO/MedVision, `src/medvision_ds/utils/benchmark_planner.py`). They are
computed here by `v14_row` from the published release notes (v1.1.1: per-axis spacing, contour
`(x*ps_dim1, y*ps_dim0)`, the same per-coordinate map for centre and end points, lengths = the fitted
continuous axes; v1.4.0: no pixel floor, no `all_within` gate, guards: contour < 5 points, non-finite conic,
minor < one voxel of the coarser in-plane spacing, major > 1.5 x the cluster box diagonal in mm, major <
max(2 mm, 2 x coarser spacing)), with OpenCV's own findContours/fitEllipse and scipy's label/find_objects.

Knife edges are marked: `fragile_keep` when an unrounded end point lies within 1e-3 px of a scaled-box
border or a guard's value within 1e-4 relative of its threshold, `fragile_points` when an end point
coordinate lies within 1e-3 px of a .5 rounding boundary (symmetric shapes). Our fit agrees with OpenCV to
~1e-4, not bit for bit, so the Rust test skips that one comparison there and bounds how many are skipped.

Usage: pip install --user "numpy==1.26.4" "scipy==1.13.1" "opencv-python-headless==4.10.0.84"
       (the planner's era; under numpy 2 its `find_objects` call on a boolean mask raises a TypeError)
       python3 scripts/planner_golden.py [--repo /work/.mirror/YongchengYAO+biometric_vqa/repo] [--commit SHA]
Output: tests/golden/lesion/planner_golden.json
"""
import argparse
import ast
import json
import math
import os
import subprocess

import cv2
import numpy as np
from scipy.ndimage import find_objects, label

PLANNER_PATH = "src/biometric_vqa/utils/benchmark_planner.py"
V10_COMMIT = "aa3caade5bcac7ae87e4ae4bcdd7d7bca2d3c4ee"
FIT_CLASS = "BiometricVQA_BenchmarkPlannerBiometry_fromSeg"
BIO_CLASS = "BiometricVQA_BenchmarkPlannerBiometry"
WANTED = {
    FIT_CLASS: ["_find_scaled_bounding_boxes_2D", "__fit_ellipses"],
    BIO_CLASS: ["_cal_point2vec", "_cal_distance"],
}
EDGE_PX = 1e-3
EDGE_REL = 1e-4


def load_planner(repo, commit):
    """The planner's methods, executed from the mirror's source at `commit` (never copied)."""
    src = subprocess.run(
        ["git", "--git-dir", repo, "show", f"{commit}:{PLANNER_PATH}"],
        check=True, capture_output=True, text=True,
    ).stdout
    lines = src.splitlines()
    tree = ast.parse(src)
    body = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in WANTED:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and fn.name in WANTED[node.name]:
                    body.extend(lines[fn.lineno - 1 : fn.end_lineno])
                    body.append("")
    found = sum(1 for l in body if l.lstrip().startswith("def "))
    assert found == 4, f"expected 4 planner methods at {commit}, found {found}"
    ns = {"np": np, "cv2": cv2, "label": label, "find_objects": find_objects}
    exec("class Planner:\n" + "\n".join(body), ns)
    planner = ns["Planner"]()
    planner.shrunk_bbox_scale = 0.9
    planner.enlarged_bbox_scale = 1.1
    return planner


def ellipse_mask(h, w, cy, cx, a, b, angle_deg):
    """Pixel-centre rasterised ellipse in pixel units (x = column, y = row)."""
    yy, xx = np.mgrid[0:h, 0:w]
    t = math.radians(angle_deg)
    u = (xx - cx) * math.cos(t) + (yy - cy) * math.sin(t)
    v = -(xx - cx) * math.sin(t) + (yy - cy) * math.cos(t)
    return ((u / a) ** 2 + (v / b) ** 2 <= 1.0).astype(np.uint8)


def rect_mask(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), np.uint8)
    m[y0 : y1 + 1, x0 : x1 + 1] = 1
    return m


def rle(mask):
    flat = mask.reshape(-1).astype(np.uint8)
    runs, cur, n = [], 0, 0
    for v in flat:
        if v == cur:
            n += 1
        else:
            runs.append(n)
            cur, n = int(v), 1
    runs.append(n)
    return runs


def voxel_sizes(slice_dim, row_sp, col_sp):
    """3D voxel sizes (float32) whose in-plane pair, in the planner's dim0/dim1 order, is (row, col)."""
    other = np.float32(1.7)
    v = {0: [other, row_sp, col_sp], 1: [row_sp, other, col_sp], 2: [row_sp, col_sp, other]}[slice_dim]
    return np.array(v, dtype=np.float32)


def in_plane(p3, slice_dim):
    """[x, y] = [dim1, dim0] of a 3D landmark."""
    q = [c for i, c in enumerate(p3) if i != slice_dim]
    return [int(q[1]), int(q[0])]


def box_margin(planner, mask, pts):
    """Smallest distance (px) of an unrounded end point coordinate to a scaled-box border, and to .5."""
    margins = []
    for s in (0.9, 1.1):
        bb = planner._find_scaled_bounding_boxes_2D(mask, s)[0]
        for p in pts:
            for d in (0, 1):
                margins.append(abs(p[d] - bb["min_coords"][d]))
                margins.append(abs(p[d] - bb["max_coords"][d]))
    half = [abs(abs(c - math.floor(c)) - 0.5) for p in pts for c in p]
    return min(margins), min(half)


def previous_rule_passes(mask, pts):
    """The builder's rule before this change (box length hi - lo, end points rounded first): only to count
    how many cases tell the two apart."""
    (s0, s1) = find_objects(mask.astype(np.int32))[0]
    ok = True
    for p in pts:
        r = [round(p[0]), round(p[1])]
        inside_outer, inside_inner = True, True
        for d, sl in enumerate((s0, s1)):
            lo, hi, size = sl.start, sl.stop - 1, mask.shape[d]
            c = (lo + hi) / 2
            rng = {}
            for s in (0.9, 1.1):
                ls = int((hi - lo) * s)
                rng[s] = (max(0, int(c - ls / 2)), min(size - 1, int(c + ls / 2)))
            inside_outer &= rng[1.1][0] <= r[d] <= rng[1.1][1]
            inside_inner &= rng[0.9][0] < r[d] < rng[0.9][1]
        ok &= inside_outer and not inside_inner
    return ok


def v10_row(planner, mask, row_sp, col_sp, slice_dim):
    ps = np.array([row_sp, col_sp], dtype=np.float32)
    vs = voxel_sizes(slice_dim, row_sp, col_sp)
    fit = getattr(planner, "_Planner__fit_ellipses")
    landmarks, info = fit(mask, 200, ps, slice_dim, 5)
    # Same call with the gate opened (1.1 box = image, 0.9 box = a point): the unrounded end points of every
    # cluster the gate saw, to measure how close each was to a border.
    planner.enlarged_bbox_scale, planner.shrunk_bbox_scale = 1e6, 1e-9
    try:
        _, open_info = fit(mask, 200, ps, slice_dim, 5)
    finally:
        planner.enlarged_bbox_scale, planner.shrunk_bbox_scale = 1.1, 0.9
    row = {"kept": len(landmarks) == 1, "pixel_count": int(mask.sum())}
    if open_info["landmarks_coords"]:
        pts = open_info["landmarks_coords"][0]  # (dim0, dim1) pairs, unrounded
        edge, half = box_margin(planner, mask, pts)
        row["fragile_keep"] = bool(edge < EDGE_PX)
        row["fragile_points"] = bool(half < EDGE_PX)
        row["box_margin_px"] = float(edge)
        row["previous_rule_kept"] = bool(mask.sum() >= 200 and previous_rule_passes(mask, pts))
    else:
        row["fragile_keep"] = row["fragile_points"] = False
    if row["kept"]:
        lm = landmarks[0]
        task = {"lines_map": {"L-1-2": {"element_keys": ["P1", "P2"]}, "L-3-4": {"element_keys": ["P3", "P4"]}}}
        l12, _ = planner._cal_distance("L-1-2", "lines_map", task, lm, vs, slice_dim)
        l34, _ = planner._cal_distance("L-3-4", "lines_map", task, lm, vs, slice_dim)
        row["points_xy"] = [in_plane(lm[k], slice_dim) for k in ("P1", "P2", "P3", "P4")]
        row["l12_mm"] = float(l12)
        row["l34_mm"] = float(l34)
    return row


def v14_row(mask, row_sp, col_sp):
    """Release-notes reading of planner 1.4.0 (see the module docstring); not the planner's code."""
    ps_y, ps_x = float(row_sp), float(col_sp)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = contours[0].reshape(-1, 2)
    if len(c) < 5:
        return {"kept": False, "reason": "too_few_boundary_points", "fragile_keep": False}
    real = np.column_stack((c[:, 0] * ps_x, c[:, 1] * ps_y)).astype(np.float32)
    (cx, cy), (w, h), ang = cv2.fitEllipse(real)
    if not all(math.isfinite(v) for v in (cx, cy, w, h, ang)) or min(w, h) <= 0:
        return {"kept": False, "reason": "non_finite_conic", "fragile_keep": False}
    major, minor = max(w, h), min(w, h)
    coarser = max(ps_x, ps_y)
    sl = find_objects(label(mask)[0])[0]
    diag = math.hypot((sl[0].stop - sl[0].start) * ps_y, (sl[1].stop - sl[1].start) * ps_x)
    floor = max(2.0, 2.0 * coarser)
    tests = [
        ("minor_below_one_pixel", bool(minor < coarser), minor, coarser),
        ("major_above_bbox_diagonal", major > 1.5 * diag, major, 1.5 * diag),
        ("major_below_floor", major < floor, major, floor),
    ]
    fragile = bool(any(abs(v - t) <= EDGE_REL * max(abs(t), 1.0) for _, _, v, t in tests))
    for name, failed, _, _ in tests:
        if failed:
            return {"kept": False, "reason": name, "fragile_keep": fragile}
    t = math.radians(ang)
    a, b = w / 2, h / 2
    mx, my, nx, ny = a * math.cos(t), a * math.sin(t), -b * math.sin(t), b * math.cos(t)
    to_px = lambda x, y: (x / ps_x, y / ps_y)
    p = [to_px(cx + mx, cy + my), to_px(cx - mx, cy - my), to_px(cx + nx, cy + ny), to_px(cx - nx, cy - ny)]
    if w < h:
        p = [p[2], p[3], p[0], p[1]]

    def order(u, v):  # larger row, then larger column, first (the planner's order)
        return (v, u) if (u[1] < v[1] or (u[1] == v[1] and u[0] < v[0])) else (u, v)

    p1, p2 = order(p[0], p[1])
    p3, p4 = order(p[2], p[3])
    half = min(abs(abs(q - math.floor(q)) - 0.5) for pt in (p1, p2, p3, p4) for q in pt)
    return {
        "kept": True,
        "fragile_keep": fragile,
        "fragile_points": bool(half < EDGE_PX),
        "points_xy": [[int(round(q[0])), int(round(q[1]))] for q in (p1, p2, p3, p4)],
        "major_mm": float(major),
        "minor_mm": float(minor),
    }


def cases():
    """(name, mask, row_sp, col_sp, slice_dim): anisotropic coronal/sagittal slices, box-edge shapes, small
    and large pieces, random ellipses."""
    f32 = lambda v: np.float32(v)
    out = []
    # Thick-slice reformats: 0.78 mm rows x 6.5 mm columns (coronal, slice_dim 1) and the transpose
    # (sagittal, slice_dim 0), the case the issue reports.
    for k, ang in enumerate([0, 10, 35, 60, 90, 125, 160]):
        m = ellipse_mask(120, 40, 60.3, 19.6, 45, 9, ang)
        out.append((f"coronal_0.78x6.5_{ang}deg", m, f32(0.78), f32(6.5), 1))
        m = ellipse_mask(40, 120, 19.4, 60.2, 45, 9, ang)
        out.append((f"sagittal_6.5x0.78_{ang}deg", m, f32(6.5), f32(0.78), 0))
    for ang in [0, 20, 45, 80]:
        m = ellipse_mask(90, 60, 45, 30, 30, 12, ang)
        out.append((f"axial_0.8x2.0_{ang}deg", m, f32(0.8), f32(2.0), 2))
    # Box edges: axis-aligned rectangles and ellipses of odd/even sizes, where hi-lo vs hi-lo+1 and rounded
    # vs unrounded end points decide.
    for hh, ww in [(20, 20), (21, 21), (20, 31), (25, 14), (30, 11), (19, 40), (41, 17)]:
        out.append((f"rect_{hh}x{ww}", rect_mask(64, 64, 5, 4 + hh, 7, 6 + ww), f32(1.0), f32(1.0), 2))
    for a, b in [(20, 10), (19.5, 9.5), (15, 14), (25, 8), (12.2, 12.0), (30, 6)]:
        for ang in (0, 90):
            m = ellipse_mask(70, 70, 35, 35, a, b, ang)
            out.append((f"aligned_{a}x{b}_{ang}deg", m, f32(0.7), f32(0.7), 2))
    # Pieces at the image border (clipping of the 1.1 box).
    out.append(("border_top_left", ellipse_mask(50, 50, 8, 9, 14, 8, 0), f32(1.0), f32(1.0), 2))
    out.append(("border_bottom_right", ellipse_mask(50, 50, 44, 42, 12, 9, 90), f32(1.0), f32(1.0), 2))
    # Small pieces (around and under 200 px) and a large one.
    for a, b, ang in [(9, 7, 15), (8.5, 7.5, 0), (6, 4, 30), (3, 2, 10), (2, 1.2, 0)]:
        m = ellipse_mask(30, 30, 15, 15, a, b, ang)
        out.append((f"small_{a}x{b}_{ang}deg", m, f32(0.9), f32(0.9), 2))
    out.append(("large_110x70_33deg", ellipse_mask(240, 240, 120, 118, 110, 70, 33), f32(0.7), f32(0.7), 2))
    # Thin and degenerate pieces (v1.4 guards).
    out.append(("line_1px", rect_mask(20, 40, 9, 9, 5, 34), f32(1.0), f32(1.0), 2))
    out.append(("thin_2px_at_0.5x3", rect_mask(12, 40, 5, 6, 4, 35), f32(0.5), f32(3.0), 1))
    # v1.4 guards: under the mm floor, minor under one coarse pixel, a thin arc whose fit runs far beyond its
    # box, a plus with 4 contour points.
    out.append(("floor_small_0.3mm", ellipse_mask(12, 12, 6, 6, 2.6, 1.9, 20), f32(0.3), f32(0.3), 2))
    out.append(("floor_small_0.25mm", ellipse_mask(14, 14, 7, 7, 3.2, 2.5, 70), f32(0.25), f32(0.25), 2))
    out.append(("minor_thin_0.5x3", ellipse_mask(9, 40, 4, 20, 15, 1.6, 0), f32(0.5), f32(3.0), 1))
    out.append(("minor_thin_3x0.5", ellipse_mask(40, 9, 20, 4, 1.6, 15, 0), f32(3.0), f32(0.5), 0))
    arc = np.zeros((20, 70), np.uint8)
    for k in range(601):
        a = math.radians(-25 + 50 * k / 600)
        arc[int(round(65 - 60 * math.cos(a))), int(round(35 + 60 * math.sin(a)))] = 1
    out.append(("arc_radius60", arc, f32(1.0), f32(1.0), 2))
    plus = np.zeros((5, 5), np.uint8)
    plus[2, 1:4] = 1
    plus[1:4, 2] = 1
    out.append(("plus_4_points", plus, f32(1.0), f32(1.0), 2))
    # Random ellipses over spacings.
    rng = np.random.default_rng(1301)
    spacings = [(0.78, 6.5), (6.5, 0.78), (0.8, 0.8), (1.0, 3.0), (3.0, 1.0), (0.5, 0.5)]
    for i in range(90):
        rs, cs = spacings[i % len(spacings)]
        h, w = 72, 72
        a = rng.uniform(6, 30)
        b = rng.uniform(3, a)
        ang = rng.uniform(0, 180)
        cy, cx = rng.uniform(30, 42), rng.uniform(30, 42)
        m = ellipse_mask(h, w, cy, cx, a, b, ang)
        if m.sum() == 0:
            continue
        out.append((f"random_{i:03d}_{rs}x{cs}", m, f32(rs), f32(cs), [1, 0, 2][i % 3]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default="/work/.mirror/YongchengYAO+biometric_vqa/repo")
    ap.add_argument("--commit", default=V10_COMMIT)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "lesion",
                                                   "planner_golden.json"))
    args = ap.parse_args()
    planner = load_planner(args.repo, args.commit)
    rows = []
    for name, m, rs, cs, sd in cases():
        labelled, n = label(m)
        assert n == 1, f"{name}: {n} components"
        rows.append({
            "name": name,
            "width": int(m.shape[1]),
            "height": int(m.shape[0]),
            "rle": rle(m),
            "row_spacing": float(rs),
            "col_spacing": float(cs),
            "slice_dim": sd,
            "v10": v10_row(planner, m, rs, cs, sd),
            "v14": v14_row(m, rs, cs),
        })
    doc = {
        "source": {
            "v10": f"github.com/YongchengYAO/biometric_vqa@{args.commit}:{PLANNER_PATH} (run, not copied)",
            "v14": "release notes v1.1.1 and v1.4.0 of the MedVision dataset (planner source not mirrored)",
            "opencv": cv2.__version__,
            "numpy": np.__version__,
        },
        "cases": rows,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    kept10 = sum(r["v10"]["kept"] for r in rows)
    kept14 = sum(r["v14"]["kept"] for r in rows)
    fr = sum(r["v10"]["fragile_keep"] or r["v14"]["fragile_keep"] for r in rows)
    differ = sum(1 for r in rows if r["v10"].get("previous_rule_kept", False) != r["v10"]["kept"])
    print(f"box rule: {differ} cases where hi-lo with rounded end points would decide otherwise")
    print(f"{len(rows)} cases; v1.0 kept {kept10}, v1.4 kept {kept14}, decision on a knife edge {fr} -> {args.out}")


if __name__ == "__main__":
    main()
