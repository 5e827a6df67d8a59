//! PNG encoding of rendered slices (8-bit gray) and of 3-channel images for the TSV writer.
//!
//! Compression choice: `CompressionType::Fast` (the `fdeflate` encoder) with the `Adaptive` filter.
//! Measured on a synthetic 512² abdominal CT slice in the soft-tissue window (quantum noise σ = 15 HU;
//! `cargo test --release --lib compression_table -- --ignored --nocapture`, 2-core box):
//!
//! | setting (Adaptive filter) | bytes  | ms per slice |
//! |---------------------------|--------|--------------|
//! | Fast (fdeflate)           | 92 556 | 0.22         |
//! | Level(1) (zlib-rs)        | 114 510| 1.49         |
//! | Level(3)                  | 80 043 | 2.96         |
//! | Default (Balanced)        | 79 192 | 3.59         |
//! | Level(9) / Best           | 83 179 | 8.0          |
//!
//! Fast is 16× quicker than Default for 17 % more bytes. At 3.6 ms PNG encoding alone would cap a core at
//! ~280 slices/s and dominate the build (a whole CT volume decodes in ~1.3 ms per slice; the Parquet sink
//! writes 10 k rows/s), while 0.22 ms keeps it in the noise. Other filters (Up, Paeth, none) were larger
//! with Fast. Every setting is deterministic: same pixels, same bytes.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::RenderError;

const COMPRESSION: CompressionType = CompressionType::Fast;
const FILTER: FilterType = FilterType::Adaptive;

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
        for filter in [
            FilterType::Adaptive,
            FilterType::Up,
            FilterType::Paeth,
            FilterType::NoFilter,
        ] {
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
