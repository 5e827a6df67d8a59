//! Bilinear resampling of scaled gray levels, so a rendered slice can be capped at `max_side` pixels.
//!
//! Half-pixel-centre mapping with edge clamping, the convention of OpenCV `INTER_LINEAR` (no
//! anti-aliasing), computed in `f64` in a fixed operation order so `scripts/render_golden.py` reproduces
//! it bit for bit.

/// Output size whose longer side is `max_side` and whose shorter side keeps the aspect ratio
/// (rounded half away from zero, at least 1). Callers only use it when the longer side exceeds `max_side`.
pub(super) fn fitted_size(width_px: usize, height_px: usize, max_side: usize) -> (usize, usize) {
    let long = width_px.max(height_px) as f64;
    let short_px = |side: usize| -> usize {
        let scaled = (side as f64 * max_side as f64 / long).round();
        (scaled as usize).clamp(1, max_side)
    };
    if width_px >= height_px {
        (max_side, short_px(height_px))
    } else {
        (short_px(width_px), max_side)
    }
}

/// Source index pairs and weights along one axis.
fn axis_taps(src_len: usize, dst_len: usize) -> Vec<(usize, usize, f64)> {
    let inv_scale = src_len as f64 / dst_len as f64;
    (0..dst_len)
        .map(|d| {
            let s = (d as f64 + 0.5) * inv_scale - 0.5;
            let s0 = s.floor();
            let (i0, frac) = if s0 < 0.0 {
                (0, 0.0)
            } else if s0 as usize >= src_len - 1 {
                (src_len - 1, 0.0)
            } else {
                (s0 as usize, s - s0)
            };
            (i0, (i0 + 1).min(src_len - 1), frac)
        })
        .collect()
}

/// Resamples a row-major `src_w × src_h` grid to `dst_w × dst_h` (all sides ≥ 1).
pub(super) fn bilinear(
    src: &[f64],
    src_w: usize,
    src_h: usize,
    dst_w: usize,
    dst_h: usize,
) -> Vec<f64> {
    let xs = axis_taps(src_w, dst_w);
    let ys = axis_taps(src_h, dst_h);
    let mut out = Vec::with_capacity(dst_w * dst_h);
    for &(y0, y1, fy) in &ys {
        let row0 = &src[y0 * src_w..(y0 + 1) * src_w];
        let row1 = &src[y1 * src_w..(y1 + 1) * src_w];
        for &(x0, x1, fx) in &xs {
            let top = row0[x0] * (1.0 - fx) + row0[x1] * fx;
            let bottom = row1[x0] * (1.0 - fx) + row1[x1] * fx;
            out.push(top * (1.0 - fy) + bottom * fy);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_size_keeps_aspect() {
        assert_eq!(fitted_size(1024, 512, 512), (512, 256));
        assert_eq!(fitted_size(300, 600, 200), (100, 200));
        // 512 × 3 at max 100 → short side 0.586 → at least 1.
        assert_eq!(fitted_size(512, 3, 100), (100, 1));
        // 7 × 5 at max 4 → 2.857 → 3.
        assert_eq!(fitted_size(7, 5, 4), (4, 3));
    }

    #[test]
    fn halving_averages_pixel_pairs() {
        // Exact 2:1 downsampling samples halfway between source pixels: mean of 2×2 blocks.
        let src: Vec<f64> = (0..16).map(f64::from).collect();
        let out = bilinear(&src, 4, 4, 2, 2);
        assert_eq!(out, vec![2.5, 4.5, 10.5, 12.5]);
    }

    #[test]
    fn identity_and_constant() {
        let src: Vec<f64> = (0..12).map(f64::from).collect();
        assert_eq!(bilinear(&src, 4, 3, 4, 3), src);
        let flat = vec![7.25; 30];
        assert!(bilinear(&flat, 6, 5, 4, 2).iter().all(|&v| v == 7.25));
    }
}
