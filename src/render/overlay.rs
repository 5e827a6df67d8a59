//! Three-channel copies of rendered slices for readers that want RGB (GMAI-style TSV), optionally with a red
//! box drawn around a structure for "which structure is in the red box?" questions. Made straight from the
//! rendered gray pixels: nothing is decoded.
//!
//! The box is drawn on the pixels just outside the inclusive box (clipped to the image), so the marked
//! structure's own pixels keep their gray values.

use super::{encode_png_rgb, RenderError, RenderedSlice};

/// Colour of the drawn box.
pub const BOX_RGB: [u8; 3] = [255, 0, 0];

/// Line width of the drawn box in pixels: 1 up to 383-pixel images, then one more per 384 pixels of the
/// shorter side, so the box stays visible after a reader downsamples a large slice.
pub fn box_line_px(width_px: u32, height_px: u32) -> u32 {
    1 + width_px.min(height_px) / 384
}

/// The rendered slice as an 8-bit RGB PNG (each gray level copied to the three channels), with `bbox_px`
/// (inclusive `[x_min, y_min, x_max, y_max]`) drawn as a red frame around the box when given.
pub fn rgb_png(slice: &RenderedSlice, bbox_px: Option<[u32; 4]>) -> Result<Vec<u8>, RenderError> {
    let (width_px, height_px) = (slice.width_px, slice.height_px);
    let expected = width_px as usize * height_px as usize;
    if slice.gray.len() != expected {
        return Err(RenderError::BufferLength {
            width_px,
            height_px,
            channels: 1,
            actual: slice.gray.len(),
        });
    }
    // Presized and filled eight pixels at a time (a `flat_map` collect cannot know its length and regrows;
    // pixel by pixel, the stores are three bytes wide).
    let mut rgb = vec![0u8; expected * 3];
    let (gray_blocks, gray_rest) = slice.gray.as_chunks::<8>();
    let (rgb_blocks, rgb_rest) = rgb.as_chunks_mut::<24>();
    for (px, g) in rgb_blocks.iter_mut().zip(gray_blocks) {
        *px = std::array::from_fn(|i| g[i / 3]);
    }
    for (px, &g) in rgb_rest.chunks_exact_mut(3).zip(gray_rest) {
        px.copy_from_slice(&[g, g, g]);
    }
    if let Some(bbox) = bbox_px {
        draw_frame(&mut rgb, width_px, height_px, bbox);
    }
    encode_png_rgb(width_px, height_px, &rgb)
}

/// Paints the `box_line_px`-wide ring of pixels around `bbox` red.
fn draw_frame(rgb: &mut [u8], width_px: u32, height_px: u32, bbox: [u32; 4]) {
    let line = i64::from(box_line_px(width_px, height_px));
    let [x0, y0, x1, y1] = bbox.map(i64::from);
    let (outer_x0, outer_y0, outer_x1, outer_y1) = (x0 - line, y0 - line, x1 + line, y1 + line);
    for y in outer_y0.max(0)..=outer_y1.min(i64::from(height_px) - 1) {
        for x in outer_x0.max(0)..=outer_x1.min(i64::from(width_px) - 1) {
            let inside = (x0..=x1).contains(&x) && (y0..=y1).contains(&y);
            if !inside {
                let at = (y as usize * width_px as usize + x as usize) * 3;
                rgb[at..at + 3].copy_from_slice(&BOX_RGB);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageFormat;

    fn decode(png: &[u8]) -> image::RgbImage {
        let img = image::load_from_memory_with_format(png, ImageFormat::Png).expect("decodes");
        assert_eq!(img.color(), image::ColorType::Rgb8);
        img.to_rgb8()
    }

    fn slice(width_px: u32, height_px: u32, gray: Vec<u8>) -> RenderedSlice {
        RenderedSlice {
            png: crate::render::encode_png_gray(width_px, height_px, &gray).expect("encode"),
            gray,
            width_px,
            height_px,
            scale_x: 1.0,
            scale_y: 1.0,
        }
    }

    #[test]
    fn gray_becomes_three_equal_channels_as_a_decoded_copy_would() {
        let gray: Vec<u8> = (0..12u8).map(|v| v * 20).collect();
        let s = slice(4, 3, gray.clone());
        let png = rgb_png(&s, None).expect("rgb");
        let rgb = decode(&png);
        for (i, p) in rgb.pixels().enumerate() {
            assert_eq!(p.0, [gray[i]; 3]);
        }
        // The same bytes as decoding the gray PNG and converting it with the `image` crate.
        let decoded = image::load_from_memory_with_format(&s.png, ImageFormat::Png)
            .expect("gray decodes")
            .to_rgb8();
        assert_eq!(png, encode_png_rgb(4, 3, decoded.as_raw()).expect("encode"));
    }

    #[test]
    fn frame_surrounds_the_box_and_spares_its_pixels() {
        let s = slice(10, 8, vec![100u8; 10 * 8]);
        // Box x 2..=4, y 0..=3: the frame is x 1..=5, y 0..=4 minus the box (top edge clipped).
        let rgb = decode(&rgb_png(&s, Some([2, 0, 4, 3])).expect("rgb"));
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
    fn pixels_that_do_not_fill_the_image_are_an_error() {
        let mut s = slice(4, 4, vec![0; 16]);
        s.gray.pop();
        assert!(matches!(
            rgb_png(&s, None),
            Err(RenderError::BufferLength { actual: 15, .. })
        ));
    }
}
