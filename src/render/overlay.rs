//! Three-channel copies of rendered slices for readers that want RGB (GMAI-style TSV), optionally with a red
//! box drawn around a structure for "which structure is in the red box?" questions.
//!
//! The box is drawn on the pixels just outside the inclusive box (clipped to the image), so the marked
//! structure's own pixels keep their gray values.

use image::ImageFormat;

use super::{encode_png_rgb, RenderError};

/// Colour of the drawn box.
pub const BOX_RGB: [u8; 3] = [255, 0, 0];

/// Line width of the drawn box in pixels: 1 up to 383-pixel images, then one more per 384 pixels of the
/// shorter side, so the box stays visible after a reader downsamples a large slice.
pub fn box_line_px(width_px: u32, height_px: u32) -> u32 {
    1 + width_px.min(height_px) / 384
}

/// Decodes an 8-bit PNG (gray or colour) and re-encodes it as 8-bit RGB, drawing `bbox_px` (inclusive
/// `[x_min, y_min, x_max, y_max]`) as a red frame around the box when given.
pub fn rgb_png(png: &[u8], bbox_px: Option<[u32; 4]>) -> Result<Vec<u8>, RenderError> {
    let decoded = image::load_from_memory_with_format(png, ImageFormat::Png)
        .map_err(|source| RenderError::Decode { source })?;
    let mut rgb = decoded.to_rgb8();
    let (width_px, height_px) = rgb.dimensions();
    if let Some(bbox) = bbox_px {
        draw_frame(&mut rgb, width_px, height_px, bbox);
    }
    encode_png_rgb(width_px, height_px, rgb.as_raw())
}

/// Paints the `box_line_px`-wide ring of pixels around `bbox` red.
fn draw_frame(rgb: &mut image::RgbImage, width_px: u32, height_px: u32, bbox: [u32; 4]) {
    let line = i64::from(box_line_px(width_px, height_px));
    let [x0, y0, x1, y1] = bbox.map(i64::from);
    let (outer_x0, outer_y0, outer_x1, outer_y1) = (x0 - line, y0 - line, x1 + line, y1 + line);
    for y in outer_y0.max(0)..=outer_y1.min(i64::from(height_px) - 1) {
        for x in outer_x0.max(0)..=outer_x1.min(i64::from(width_px) - 1) {
            let inside = (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
            if !inside {
                rgb.put_pixel(x as u32, y as u32, image::Rgb(BOX_RGB));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::encode_png_gray;

    fn decode(png: &[u8]) -> image::RgbImage {
        let img = image::load_from_memory_with_format(png, ImageFormat::Png).expect("decodes");
        assert_eq!(img.color(), image::ColorType::Rgb8);
        img.to_rgb8()
    }

    #[test]
    fn gray_becomes_three_equal_channels() {
        let gray: Vec<u8> = (0..12u8).map(|v| v * 20).collect();
        let png = encode_png_gray(4, 3, &gray).expect("encode");
        let rgb = decode(&rgb_png(&png, None).expect("rgb"));
        for (i, p) in rgb.pixels().enumerate() {
            assert_eq!(p.0, [gray[i]; 3]);
        }
    }

    #[test]
    fn frame_surrounds_the_box_and_spares_its_pixels() {
        let gray = vec![100u8; 10 * 8];
        let png = encode_png_gray(10, 8, &gray).expect("encode");
        // Box x 2..=4, y 0..=3: the frame is x 1..=5, y 0..=4 minus the box (top edge clipped).
        let rgb = decode(&rgb_png(&png, Some([2, 0, 4, 3])).expect("rgb"));
        for y in 0..8u32 {
            for x in 0..10u32 {
                let in_box = (2..=4).contains(&x) && y <= 3;
                let in_ring = (1..=5).contains(&x) && y <= 4 && !in_box;
                let want = if in_ring { BOX_RGB } else { [100; 3] };
                assert_eq!(rgb.get_pixel(x, y).0, want, "pixel ({x}, {y})");
            }
        }
        assert_eq!(box_line_px(512, 512), 2);
        assert_eq!(box_line_px(48, 40), 1);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(matches!(
            rgb_png(b"not a png", None),
            Err(RenderError::Decode { .. })
        ));
    }
}
