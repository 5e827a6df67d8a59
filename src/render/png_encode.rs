//! PNG encoding of rendered slices (8-bit gray) and of 3-channel images for the TSV writer.
//!
//! Compression choice: `CompressionType::Fast` (the `fdeflate` encoder) with the `Avg` filter on every row.
//! Measured on a synthetic 512² abdominal CT slice in the soft-tissue window (quantum noise σ = 15 HU;
//! `cargo test --release --lib compression_table -- --ignored --nocapture`, 2-core box, 2026-12-06):
//!
//! | setting (Adaptive filter) | bytes  | ms per slice |
//! |---------------------------|--------|--------------|
//! | Fast (fdeflate)           | 92 556 | 0.22         |
//! | Level(1) (zlib-rs)        | 114 510| 1.19         |
//! | Level(3)                  | 80 043 | 1.92         |
//! | Default (Balanced)        | 79 192 | 2.34         |
//! | Level(9) / Best           | 83 179 | 5.4          |
//!
//! Fast is ~10× quicker than Default for 17 % more bytes: at 2–4 ms PNG encoding alone would dominate the
//! build, at 0.2 ms it is in the noise. Filter, with Fast:
//!
//! | filter    | gray bytes | gray ms | RGB bytes (gray ×3) | RGB ms (median of 31) |
//! |-----------|------------|---------|---------------------|-----------------------|
//! | Adaptive  | 92 556     | 0.22    | 273 054             | 0.87                  |
//! | Avg       | 92 808     | 0.14    | 273 754             | 0.48                  |
//! | Sub / Up  | –          | –       | 283 794 / 284 574   | 0.45                  |
//! | Paeth     | –          | –       | 289 324             | 0.53                  |
//! | none      | –          | –       | 471 145             | 0.39                  |
//!
//! `Avg` gives Adaptive's size (+0.3 %) in 55–65 % of its time (Adaptive tries all five filters per row);
//! the TSV's RGB images, three times the bytes, gain most. Every setting is deterministic: same pixels, same
//! bytes.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::RenderError;

const COMPRESSION: CompressionType = CompressionType::Fast;
const FILTER: FilterType = FilterType::Avg;

fn encode(
    width_px: u32,
    height_px: u32,
    pixels: &[u8],
    color: ExtendedColorType,
    channels: u32,
    compression: CompressionType,
    filter: FilterType,
) -> Result<Vec<u8>, RenderError> {
    let expected = width_px as usize * height_px as usize * channels as usize;
    if pixels.len() != expected || width_px == 0 || height_px == 0 {
        return Err(RenderError::BufferLength {
            width_px,
            height_px,
            channels,
            actual: pixels.len(),
        });
    }
    let mut out = Vec::with_capacity(expected / 2 + 128);
    PngEncoder::new_with_quality(&mut out, compression, filter)
        .write_image(pixels, width_px, height_px, color)
        .map_err(|source| RenderError::Encode {
            width_px,
            height_px,
            source,
        })?;
    Ok(out)
}

/// 8-bit grayscale PNG of a row-major `width_px × height_px` buffer.
pub fn encode_png_gray(width_px: u32, height_px: u32, gray: &[u8]) -> Result<Vec<u8>, RenderError> {
    encode(
        width_px,
        height_px,
        gray,
        ExtendedColorType::L8,
        1,
        COMPRESSION,
        FILTER,
    )
}

/// 8-bit RGB PNG of a row-major, interleaved `width_px × height_px × 3` buffer (GMAI TSV images).
pub fn encode_png_rgb(width_px: u32, height_px: u32, rgb: &[u8]) -> Result<Vec<u8>, RenderError> {
    encode(
        width_px,
        height_px,
        rgb,
        ExtendedColorType::Rgb8,
        3,
        COMPRESSION,
        FILTER,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Deterministic synthetic axial abdomen CT slice in HU: air, body ellipse with fat rim, liver,
    /// kidneys, spine, lungs bases, and Gaussian quantum noise σ = 15 HU (xorshift + Box–Muller).
    pub(crate) fn synthetic_ct_slice(side_px: usize) -> Vec<f32> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut uniform = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let s = side_px as f64;
        let inside = |x: f64, y: f64, cx: f64, cy: f64, rx: f64, ry: f64| {
            ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
        };
        let mut out = Vec::with_capacity(side_px * side_px);
        for yi in 0..side_px {
            for xi in 0..side_px {
                let (x, y) = (xi as f64 / s, yi as f64 / s);
                let hu = if !inside(x, y, 0.5, 0.5, 0.42, 0.32) {
                    -1000.0
                } else if inside(x, y, 0.5, 0.72, 0.05, 0.05) {
                    700.0
                } else if inside(x, y, 0.35, 0.4, 0.15, 0.12) {
                    60.0
                } else if inside(x, y, 0.68, 0.6, 0.05, 0.07) || inside(x, y, 0.32, 0.6, 0.05, 0.07)
                {
                    30.0
                } else if inside(x, y, 0.7, 0.32, 0.08, 0.06) {
                    -850.0
                } else if !inside(x, y, 0.5, 0.5, 0.39, 0.29) {
                    -100.0
                } else {
                    40.0
                };
                let noise =
                    (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
                out.push((hu + 15.0 * noise) as f32);
            }
        }
        out
    }

    #[test]
    fn rgb_and_gray_round_trip() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|v| (v * 7) as u8).collect();
        let png = encode_png_rgb(4, 3, &rgb).unwrap();
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!(img.color(), image::ColorType::Rgb8);
        assert_eq!(img.to_rgb8().into_raw(), rgb);
        assert!(matches!(
            encode_png_rgb(4, 3, &rgb[1..]),
            Err(RenderError::BufferLength { actual: 35, .. })
        ));
        assert!(matches!(
            encode_png_gray(0, 3, &[]),
            Err(RenderError::BufferLength { .. })
        ));
        let gray: Vec<u8> = (0..20).collect();
        let png = encode_png_gray(5, 4, &gray).unwrap();
        assert_eq!(png, encode_png_gray(5, 4, &gray).unwrap());
        assert_eq!(
            image::load_from_memory(&png).unwrap().to_luma8().into_raw(),
            gray
        );
    }

    /// Prints size and time per compression setting for a 512² CT slice.
    /// Run: `cargo test --release --lib compression_table -- --ignored --nocapture`.
    #[test]
    #[ignore = "benchmark table, not a test"]
    fn compression_table() {
        use crate::render::{render_slice, Rounding, Scaling};
        let slice = crate::geom::Grid2 {
            width_px: 512,
            height_px: 512,
            data: synthetic_ct_slice(512),
        };
        let scaling = Scaling::Window {
            low: -160.0,
            high: 240.0,
        };
        let rendered = render_slice(&slice, scaling, Rounding::HalfEven, None).unwrap();
        let gray = image::load_from_memory(&rendered.png)
            .unwrap()
            .to_luma8()
            .into_raw();
        let settings = [
            ("Fast (fdeflate)", CompressionType::Fast),
            ("Level(1)", CompressionType::Level(1)),
            ("Level(3)", CompressionType::Level(3)),
            ("Default (Balanced)", CompressionType::Default),
            ("Level(6)", CompressionType::Level(6)),
            ("Level(9)", CompressionType::Level(9)),
            ("Best", CompressionType::Best),
        ];
        let rgb: Vec<u8> = gray.iter().flat_map(|&v| [v, v, v]).collect();
        for filter in [
            FilterType::Adaptive,
            FilterType::Sub,
            FilterType::Up,
            FilterType::Avg,
            FilterType::Paeth,
            FilterType::NoFilter,
        ] {
            let reps = 31;
            let mut times = Vec::new();
            let mut size = 0;
            for _ in 0..reps {
                let start = std::time::Instant::now();
                size = encode(
                    512,
                    512,
                    &rgb,
                    ExtendedColorType::Rgb8,
                    3,
                    COMPRESSION,
                    filter,
                )
                .unwrap()
                .len();
                times.push(start.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "RGB {filter:?}\tFast\t{size} B\t{:.2} ms (median)",
                times[reps / 2]
            );
            for (name, compression) in settings {
                let reps = 20;
                let start = std::time::Instant::now();
                let mut size = 0;
                for _ in 0..reps {
                    size = encode(
                        512,
                        512,
                        &gray,
                        ExtendedColorType::L8,
                        1,
                        compression,
                        filter,
                    )
                    .unwrap()
                    .len();
                }
                let ms = start.elapsed().as_secs_f64() * 1000.0 / reps as f64;
                println!("{filter:?}\t{name}\t{size} B\t{ms:.2} ms");
            }
        }
    }
}
