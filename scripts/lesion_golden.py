#!/usr/bin/env python3
"""Golden values for src/geom/{contour,ellipse}.rs and src/annotate/lesion.rs.

Reference tool: OpenCV (pip install numpy opencv-python-headless). For each mask this records
  - the outer contour OpenCV finds first: findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE), last list element
    (OpenCV lists contours in reverse discovery order);
  - cv2.fitEllipse on that contour converted to mm with per-axis spacing (x*col, y*row) as float32, and on the
    swapped pairing (x*row, y*col) used by MedVision v1.0;
  - near-singular systems (where OpenCV would perturb the points with random noise) are detected with
    OpenCV's own test and recorded as "singular" instead of calling fitEllipse; 5-point sets whose
    interpolating conic is degenerate (e.g. on two lines) are recorded as "degenerate" (OpenCV's answer there
    is rounding noise); a fit OpenCV returns with a zero-length axis is kept as is (the Rust side refuses it).
Masks are stored as run lengths over the row-major grid, alternating background/foreground, starting with
background. Output: tests/golden/lesion/opencv_lesion_golden.json
Run: python3 scripts/lesion_golden.py
"""
import json
import os

import cv2
import numpy as np

FLT_EPS = np.float32(np.finfo(np.float32).eps)


def ellipse_mask(h, w, cx_mm, cy_mm, semi_a_mm, semi_b_mm, angle_deg, row_sp, col_sp):
    """Pixel-centre rasterised ellipse, defined in mm (x = col*col_sp, y = row*row_sp)."""
    yy, xx = np.mgrid[0:h, 0:w]
    x = xx * col_sp - cx_mm
    y = yy * row_sp - cy_mm
    t = np.deg2rad(angle_deg)
    u = x * np.cos(t) + y * np.sin(t)
    v = -x * np.sin(t) + y * np.cos(t)
    return ((u / semi_a_mm) ** 2 + (v / semi_b_mm) ** 2 <= 1.0).astype(np.uint8)


def from_rows(rows):
    return np.array([[1 if c == "#" else 0 for c in r] for r in rows], np.uint8)


def rle(mask):
    flat = mask.reshape(-1).astype(np.uint8)
    runs, cur, n = [], 0, 0
    for v in flat:
        if v == cur:
            n += 1
        else:
            runs.append(n)
            cur, n = v, 1
    runs.append(n)
    return runs


def no_direct_is_singular(pts):
    """OpenCV fitEllipseNoDirect's test `w[0]*FLT_EPSILON > w[4]` on its scaled 5-column design matrix."""
    p = pts.astype(np.float32)
    c = np.zeros(2, np.float32)
    for q in p:
        c += q
    c /= np.float32(len(p))
    d = p - c
    s = float(np.sum(np.abs(d[:, 0]) + np.abs(d[:, 1])))
    scale = 100.0 / (s if s > float(FLT_EPS) else float(FLT_EPS))
    px = d[:, 0].astype(np.float64) * scale
    py = d[:, 1].astype(np.float64) * scale
    a = np.stack([-px * px, -py * py, -px * py, px, py], 1)
    w = np.linalg.svd(a, compute_uv=False)
    return w[0] * float(FLT_EPS) > w[-1]


def direct_det(pts):
    """det(M) of OpenCV fitEllipseDirect's reduced 3x3 system, in OpenCV's operation order (it perturbs the
    points with random noise when |det| <= 1e-10). With exactly 5 points the exact det is 0 (the conic
    interpolates them), so the value is rounding noise: only sets with a clear margin are kept as fits."""
    p = [(float(np.float32(a)), float(np.float32(b))) for a, b in pts]
    n = len(p)
    cx = sum(q[0] for q in p) / n
    cy = sum(q[1] for q in p) / n
    s = sum(abs(q[0] - cx) + abs(q[1] - cy) for q in p)
    scale = 100.0 / (s if s > float(FLT_EPS) else float(FLT_EPS))
    rows = []
    for q in p:
        x = (q[0] - cx) * scale
        y = (q[1] - cy) * scale
        rows.append([x * x, x * y, y * y, x, y, 1.0])
    d = [[0.0] * 6 for _ in range(6)]
    for i in range(6):
        for j in range(6):
            acc = 0.0
            for r in rows:
                acc += r[i] * r[j]
            d[i][j] = acc * (1.0 / n)
    D = lambda i, j: d[i][j]
    tm = [[0.0] * 3 for _ in range(3)]
    for k in range(3):
        tm[0][k] = (D(k, 5) * D(3, 5) * D(4, 4) - D(k, 5) * D(3, 4) * D(4, 5) - D(k, 4) * D(3, 5) * D(5, 4)
                    + D(k, 3) * D(4, 5) * D(5, 4) + D(k, 4) * D(3, 4) * D(5, 5) - D(k, 3) * D(4, 4) * D(5, 5))
        tm[1][k] = (D(k, 5) * D(3, 3) * D(4, 5) - D(k, 5) * D(3, 5) * D(4, 3) + D(k, 4) * D(3, 5) * D(5, 3)
                    - D(k, 3) * D(4, 5) * D(5, 3) - D(k, 4) * D(3, 3) * D(5, 5) + D(k, 3) * D(4, 3) * D(5, 5))
        tm[2][k] = (D(k, 5) * D(3, 4) * D(4, 3) - D(k, 5) * D(3, 3) * D(4, 4) - D(k, 4) * D(3, 4) * D(5, 3)
                    + D(k, 3) * D(4, 4) * D(5, 3) + D(k, 4) * D(3, 3) * D(5, 4) - D(k, 3) * D(4, 3) * D(5, 4))
    ts = (-(D(3, 5) * D(4, 4) * D(5, 3)) + D(3, 4) * D(4, 5) * D(5, 3) + D(3, 5) * D(4, 3) * D(5, 4)
          - D(3, 3) * D(4, 5) * D(5, 4) - D(3, 4) * D(4, 3) * D(5, 5) + D(3, 3) * D(4, 4) * D(5, 5))
    m = [[0.0] * 3 for _ in range(3)]
    for k in range(3):
        corr = lambda r: (D(r, 3) * tm[0][k] + D(r, 4) * tm[1][k] + D(r, 5) * tm[2][k]) / ts
        m[0][k] = (D(2, k) + corr(2)) / 2.0
        m[1][k] = -D(1, k) - corr(1)
        m[2][k] = (D(0, k) + corr(0)) / 2.0
    det = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
           - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
           + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]))
    return det, np.array(m)


def direct_best_cond(m):
    """OpenCV picks the eigenvector (unit norm) of M with the largest 4ac - b^2. When that is ~0 the five
    points lie on a degenerate conic (e.g. two lines) and the pick is decided by rounding noise."""
    w, v = np.linalg.eig(m)
    best = -np.inf
    for k in range(3):
        if abs(w[k].imag) > 0:
            continue
        e = np.real(v[:, k])
        e = e / np.linalg.norm(e)
        best = max(best, 4 * e[0] * e[2] - e[1] ** 2)
    return best


def direct_is_singular(pts):
    return abs(direct_det(pts)[0]) <= 1e-10


def fit(pts_mm):
    if len(pts_mm) < 5:
        return {"status": "too_few"}
    try:
        singular = direct_is_singular(pts_mm) if len(pts_mm) == 5 else no_direct_is_singular(pts_mm)
    except np.linalg.LinAlgError:
        singular = True
    if singular:
        return {"status": "singular"}
    if len(pts_mm) == 5 and direct_best_cond(direct_det(pts_mm)[1]) <= 1e-4:
        return {"status": "degenerate"}
    (cx, cy), (w, h), ang = cv2.fitEllipse(pts_mm.astype(np.float32))
    out = {"status": "ok", "center": [cx, cy], "axes": [w, h], "angle": ang}
    if len(pts_mm) == 5:
        out["direct_det"] = direct_det(pts_mm)[0]
    return out


def case(name, mask, row_sp=1.0, col_sp=1.0):
    mask = np.ascontiguousarray(mask.astype(np.uint8))
    contours, _ = cv2.findContours(mask.copy(), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    first = contours[-1].reshape(-1, 2) if contours else np.zeros((0, 2), int)
    pts = first.astype(np.float64)
    per_axis = np.stack([pts[:, 0] * col_sp, pts[:, 1] * row_sp], 1).astype(np.float32)
    swapped = np.stack([pts[:, 0] * row_sp, pts[:, 1] * col_sp], 1).astype(np.float32)
    out = {
        "name": name,
        "width": int(mask.shape[1]),
        "height": int(mask.shape[0]),
        "row_spacing": row_sp,
        "col_spacing": col_sp,
        "rle": rle(mask),
        "n_contours": len(contours),
        "contour": [int(v) for v in first.reshape(-1)],
        "fit": fit(per_axis),
    }
    if row_sp != col_sp:
        out["fit_swapped"] = fit(swapped)
    return out


def l_piece(vertical_px, horizontal_px, rot90=0, flip=False, at=(0, 0), width_px=1):
    """L-shaped piece: a vertical arm of `vertical_px` and a horizontal arm of `horizontal_px` pixels sharing
    the corner pixel (`width_px` wide), turned `rot90` quarter turns (np.rot90), then mirrored left-right when
    `flip`, framed by one background pixel and moved `at = (x, y)` pixels from the origin."""
    a, b, w = vertical_px, horizontal_px, width_px
    m = np.zeros((a + 2, b + 2), np.uint8)
    m[1:a + 1, 1:1 + w] = 1
    m[a + 1 - w:a + 1, 1:b + 1] = 1
    m = np.rot90(m, rot90)
    if flip:
        m = np.fliplr(m)
    ox, oy = at
    out = np.zeros((m.shape[0] + oy, m.shape[1] + ox), np.uint8)
    out[oy:, ox:] = m
    return out


def t_piece(stem_px, bar_px):
    """T-shaped piece: a horizontal bar of `bar_px` (odd) pixels over a stem of `stem_px` pixels below it."""
    m = np.zeros((stem_px + 3, bar_px + 2), np.uint8)
    m[1, 1:bar_px + 1] = 1
    m[1:stem_px + 2, bar_px // 2 + 1] = 1
    return m


def five_point_masks(count):
    """Small random blobs whose outer contour has exactly 5 points and a non-singular direct fit."""
    rng = np.random.default_rng(7)
    found, seen = [], set()
    while len(found) < count:
        m = (rng.random((4, 4)) < 0.55).astype(np.uint8)
        n_lab, _ = cv2.connectedComponents(m, connectivity=8)
        if n_lab != 2:
            continue
        c, _ = cv2.findContours(m.copy(), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if len(c) == 1 and len(c[0]) == 5:
            pts = c[0].reshape(-1, 2).astype(np.float32)
            # Keep only clearly regular sets (|det| ~ 1e-5 here): five points on two lines give det(M) ~ 1e-20
            # (rounding noise), where OpenCV takes its random-perturbation branch.
            shape = tuple(map(tuple, (pts - pts.min(0)).astype(int).tolist()))
            det, m5 = direct_det(pts)
            if abs(det) > 1e-7 and direct_best_cond(m5) > 1e-3 and shape not in seen:
                seen.add(shape)
                found.append(np.pad(m, 1))
    return found


def main():
    cases = []
    # Spec reference figure: 96x96, centre (48,48), semi-axes 20/10 px, 30 deg, 0.8 mm.
    cases.append(case("spec_reference_96", ellipse_mask(96, 96, 48 * 0.8, 48 * 0.8, 16.0, 8.0, 30, 0.8, 0.8), 0.8, 0.8))
    # Rotated ellipses, isotropic and anisotropic spacing (ellipse defined in mm).
    specs = [
        (0, 1.0, 1.0, 22, 9), (15, 1.0, 1.0, 25, 12), (45, 0.8, 0.8, 18, 7), (72, 0.7, 1.3, 20, 8),
        (90, 2.0, 0.8, 30, 11), (110, 0.5, 3.0, 40, 15), (135, 1.2, 0.9, 14, 10), (165, 0.9, 0.9, 26, 6),
        (30, 0.78, 6.5, 36.55, 8.75), (60, 6.5, 0.78, 36.55, 8.75),
    ]
    for ang, rs, cs, a, b in specs:
        h = int(np.ceil((2 * a + 10) / rs)) + 2
        w = int(np.ceil((2 * a + 10) / cs)) + 2
        cx = (w * cs) / 2 + 0.37 * cs
        cy = (h * rs) / 2 - 0.21 * rs
        cases.append(case(f"ellipse_{ang}deg_{rs}x{cs}", ellipse_mask(h, w, cx, cy, a, b, ang, rs, cs), rs, cs))
    # Analytic phantom 73.1 / 17.5 mm.
    for rs, cs, ang in [(0.8, 0.8, 0), (0.8, 0.8, 30), (0.8, 2.0, 0), (0.8, 2.0, 10), (0.8, 2.0, 90), (2.0, 0.8, 30)]:
        h = int(100 / rs) + 4
        w = int(100 / cs) + 4
        cases.append(case(f"phantom_73.1x17.5_{ang}deg_{rs}x{cs}",
                          ellipse_mask(h, w, 50, 50, 73.1 / 2, 17.5 / 2, ang, rs, cs), rs, cs))
    # Thin / one-pixel-wide shapes.
    line = np.zeros((5, 12), np.uint8); line[2, 1:11] = 1
    cases.append(case("thin_horizontal_line", line))
    diag = np.zeros((12, 12), np.uint8)
    for i in range(1, 11):
        diag[i, i] = 1
    cases.append(case("thin_diagonal_line", diag))
    cases.append(case("thin_L_shape", from_rows([
        "..........", ".#........", ".#........", ".#........", ".#........", ".#######..", ".........."])))
    cases.append(case("thin_cross", from_rows([
        ".........", "....#....", "....#....", "....#....", ".#######.", "....#....", "....#....", "....#....", "........."])))
    ring = np.zeros((40, 40), np.uint8); cv2.circle(ring, (20, 19), 14, 1, 1)
    cases.append(case("thin_ring_1px", ring, 0.9, 0.9))
    zig = np.zeros((12, 20), np.uint8)
    for x in range(1, 19):
        zig[2 + abs((x % 8) - 4), x] = 1
    cases.append(case("thin_zigzag", zig, 1.0, 0.7))
    spur = ellipse_mask(40, 50, 24, 20, 12, 7, 20, 1.0, 1.0); spur[20, 36:47] = 1; spur[2:16, 24] = 1
    cases.append(case("ellipse_with_one_pixel_spurs", spur))
    # Shapes with holes (outer border only).
    ann = ellipse_mask(50, 50, 25, 25, 18, 14, 40, 1.0, 1.0) & (1 - ellipse_mask(50, 50, 25, 25, 9, 6, 10, 1.0, 1.0))
    cases.append(case("annulus", ann, 0.6, 0.6))
    holed = ellipse_mask(40, 60, 30 * 1.1, 20 * 0.7, 25, 10, 160, 0.7, 1.1); holed[17:22, 22:30] = 0
    cases.append(case("ellipse_with_rect_hole", holed, 0.7, 1.1))
    # Tiny components (5-10 px).
    cases.append(case("tiny_plus_5px", from_rows([".....", "..#..", ".###.", "..#..", "....."])))
    cases.append(case("tiny_block_2x3", from_rows(["....", ".##.", ".##.", ".##.", "...."]), 0.5, 0.5))
    cases.append(case("tiny_block_3x3_minus_corner", from_rows([".....", ".##..", ".###.", ".###.", "....."])))
    cases.append(case("tiny_blob_10px", from_rows(["......", "..##..", ".####.", ".###..", "..#...", "......"]), 1.5, 0.75))
    cases.append(case("tiny_diamond_13px", from_rows([".......", "...#...", "..###..", ".#####.", "..###..", "...#...", "......."])))
    for i, m in enumerate(five_point_masks(3)):
        cases.append(case(f"five_point_contour_{i}", m, 1.0 + 0.25 * i, 1.0))
    # Five boundary points on two lines: the interpolating conic is a line pair; OpenCV's answer is rounding
    # noise (or a random perturbation), we refuse.
    cases.append(case("five_point_two_lines", from_rows(["......", "...#..", "...##.", "...##.", "......"])))
    # Small L pieces (7-16 px) whose 3-parameter refit about the centre is rank-deficient (a symmetric L has
    # equal axes, a circle): nalgebra 0.35's SVD with eps = f64::EPSILON returned a wrong decomposition on some
    # of them, depending on orientation and position (the position changes the float32 centroid rounding).
    # l6x6_flip_at28_36 is the 11-pixel AAL piece of issue #13 (old code 8.966 mm major axis, OpenCV 7.920).
    for name, args in [
        ("l6x6_flip_at28_36", (6, 6, 0, True, (28, 36))),
        ("l6x6_at28_0", (6, 6, 0, False, (28, 0))),
        ("l6x6_rot90_at7_9", (6, 6, 1, False, (7, 9))),
        ("l6x6_rot180_at7_54", (6, 6, 2, False, (7, 54))),
        ("l3x9_flip_at0_0", (3, 9, 0, True, (0, 0))),
        ("l4x8_flip_at56_54", (4, 8, 0, True, (56, 54))),
        ("l4x8_rot90_at56_54", (4, 8, 1, False, (56, 54))),
        ("l5x7_rot90_at7_9", (5, 7, 1, False, (7, 9))),
        ("l9x3_rot90_flip_at7_9", (9, 3, 1, True, (7, 9))),
        ("l4x4_at0_0", (4, 4, 0, False, (0, 0))),
        ("l8x9_rot90_at0_0", (8, 9, 1, False, (0, 0))),
        ("l5x11_rot90_at0_0", (5, 11, 1, False, (0, 0))),
        ("l7x10_at0_0", (7, 10, 0, False, (0, 0))),
    ]:
        cases.append(case(f"rank_deficient_refit_{name}", l_piece(*args)))
    # Their neighbours: a thick L, T pieces and a bumped line of the same size (full-rank refits).
    cases.append(case("small_thick_l5x5_w2", l_piece(5, 5, 0, False, (3, 4), width_px=2)))
    cases.append(case("small_t_stem5_bar5", t_piece(5, 5)))
    cases.append(case("small_t_stem6_bar7_rot90", np.ascontiguousarray(np.rot90(t_piece(6, 7))), 1.0, 0.8))
    bump = np.zeros((5, 12), np.uint8); bump[2, 1:11] = 1; bump[1, 4] = 1
    cases.append(case("small_line10_bump", bump))
    # Edge-touching components.
    cases.append(case("edge_top_left", ellipse_mask(30, 40, 3, 2, 15, 9, 25, 1.0, 1.0)))
    cases.append(case("edge_bottom_right", ellipse_mask(30, 40, 37, 27, 15, 9, 115, 1.0, 1.0), 0.8, 1.2))
    cases.append(case("edge_full_grid", np.ones((7, 9), np.uint8)))
    edge_line = np.zeros((6, 10), np.uint8); edge_line[0, :] = 1; edge_line[:, 9] = 1
    cases.append(case("edge_one_pixel_frame_corner", edge_line))
    # Several components: the contour OpenCV finds first.
    two = np.zeros((30, 40), np.uint8)
    two |= ellipse_mask(30, 40, 28, 8, 8, 5, 10, 1.0, 1.0)
    two |= ellipse_mask(30, 40, 12, 20, 9, 6, 70, 1.0, 1.0)
    cases.append(case("multi_two_blobs", two))
    pix = ellipse_mask(30, 30, 15, 16, 10, 6, 45, 1.0, 1.0); pix[1, 25] = 1
    cases.append(case("multi_isolated_pixel_first", pix))
    nest = ellipse_mask(50, 50, 25, 25, 20, 20, 0, 1.0, 1.0) & (1 - ellipse_mask(50, 50, 25, 25, 14, 14, 0, 1.0, 1.0))
    nest |= ellipse_mask(50, 50, 25, 25, 6, 4, 30, 1.0, 1.0)
    cases.append(case("multi_blob_inside_ring", nest))
    cases.append(case("single_pixel", from_rows(["...", ".#.", "..."])))
    cases.append(case("two_pixels_diagonal", from_rows(["....", ".#..", "..#.", "...."])))

    out = {
        "generator": "scripts/lesion_golden.py",
        "opencv_version": cv2.__version__,
        "numpy_version": np.__version__,
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "lesion",
                        "opencv_lesion_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{len(cases)} cases -> {os.path.normpath(path)} ({os.path.getsize(path)} bytes)")
    for c in cases:
        print(c["name"], c["n_contours"], len(c["contour"]) // 2, c["fit"]["status"],
              c.get("fit_swapped", {}).get("status", "-"))


if __name__ == "__main__":
    main()
