//! 2D images (BMP, PNG) read as single-slice grayscale grids in their stored orientation, pixel (0, 0) at the
//! top-left (docs/measurements.md §3.4): the cephalograms are used as distributed, with no conversion step.

use std::path::{Path, PathBuf};

use image::{ColorType, ImageReader};

use crate::geom::Grid2;

/// A 2D image that could not be read; names the file.
#[derive(Debug, thiserror::Error)]
pub enum Image2dError {
    #[error("{path}: cannot read 2D image: {reason}")]
    /// The 2D image could not be read or decoded.
    Read {
        /// The image file.
        path: PathBuf,
        /// What the decoder reported.
        reason: String,
    },
}

/// True when `path` names a 2D image format this module reads (`.bmp`, `.png`, any case).
pub fn is_2d_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("bmp") || e.eq_ignore_ascii_case("png"))
}

/// Reads a BMP or PNG (format from its content) as grayscale: 16-bit images keep 16-bit levels, everything
/// else becomes 8-bit luma (colour images through the `image` crate's luma weights).
pub fn read_image_2d(path: &Path) -> Result<Grid2<f32>, Image2dError> {
    let err = |reason: String| Image2dError::Read {
        path: path.to_path_buf(),
        reason,
    };
    let decoded = ImageReader::open(path)
        .map_err(|e| err(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?
        .decode()
        .map_err(|e| err(e.to_string()))?;
    let (width_px, height_px) = (decoded.width() as usize, decoded.height() as usize);
    if width_px == 0 || height_px == 0 {
        return Err(err("image has no pixels".into()));
    }
    let data: Vec<f32> = match decoded.color() {
        ColorType::L16 | ColorType::La16 | ColorType::Rgb16 | ColorType::Rgba16 => decoded
            .to_luma16()
            .into_raw()
            .into_iter()
            .map(f32::from)
            .collect(),
        _ => decoded
            .to_luma8()
            .into_raw()
            .into_iter()
            .map(f32::from)
            .collect(),
    };
    Ok(Grid2 {
        width_px,
        height_px,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_bmp_reads_back_in_stored_orientation() {
        let dir = std::env::temp_dir().join(format!("mvb-image2d-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("probe.bmp");
        // 5 x 3 pixels (odd width exercises row padding), value = 40 * y + 7 * x.
        let grid = Grid2 {
            width_px: 5,
            height_px: 3,
            data: (0..15u8).map(|n| 40 * (n / 5) + 7 * (n % 5)).collect(),
        };
        crate::synth::write_bmp_gray(&path, &grid).expect("write");
        let back = read_image_2d(&path).expect("read");
        assert_eq!((back.width_px, back.height_px), (5, 3));
        for y in 0..3 {
            for x in 0..5 {
                assert_eq!(
                    back.get(x, y),
                    f32::from(grid.get(x, y)),
                    "pixel ({x}, {y})"
                );
            }
        }
        assert!(
            is_2d_image(&path)
                && is_2d_image(Path::new("a/B.PNG"))
                && !is_2d_image(Path::new("a.nii.gz"))
        );
        assert!(read_image_2d(&dir.join("missing.bmp")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
