//! What every fuzz target shares: the readers take paths, so each input is written to a file of the
//! format's name in a per-process scratch folder, read, and any error checked to name that file.

use std::path::{Path, PathBuf};

/// Writes `data` to `name` in this process's scratch folder and returns its path.
pub fn input_file(name: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medvision-build-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

/// Writes `data` to `name`, reads it with `read`, and panics (a finding) when an error does not name the
/// file. Panics inside `read` are findings by themselves.
pub fn check<E: std::fmt::Display>(name: &str, data: &[u8], read: impl Fn(&Path) -> Result<(), E>) {
    let path = input_file(name, data);
    if let Err(e) = read(&path) {
        let message = e.to_string();
        assert!(
            message.contains(&path.display().to_string()),
            "error does not name {}: {message}",
            path.display()
        );
    }
}

/// Reads a volume as an image (a 4D one at channel 1), then as a label map.
pub fn read_volume(path: &Path) -> Result<(), medvision_build::volume::VolumeError> {
    use medvision_build::volume::{self, VolumeError};
    match volume::read_image(path, None) {
        Err(VolumeError::Dimensions { .. }) => volume::read_image(path, Some(1)).map(|_| ()),
        Err(e) => Err(e),
        Ok(_) => volume::read_label_map(path, &(1..=40).collect::<Vec<u16>>()).map(|_| ()),
    }
}
