//! Whole-file gzip inflate through libdeflate, the fast path for a volume read in full: a `.nii.gz` image is
//! the longest serial step of a case, and libdeflate inflates it in about half the time of a streaming
//! zlib decoder (docs/measurements.md §14). The only file that uses `libdeflater`.
//!
//! The fast path is taken only when it can prove it read the whole file: one gzip member whose trailer (the
//! file's last 8 bytes: CRC-32 and length of the data) matches what came out. Anything else — several
//! members, trailing bytes, a length of 4 GiB or more, a corrupt stream, memory that cannot be had — gives
//! `None`, and the caller reads the file with the streaming decoder, which accepts every valid form and words
//! every error.

use std::fs::File;
use std::io::Read;

use super::limits;

/// The whole inflated content of the gzip file `file` (`stored_bytes` long, read from its start), when it is
/// one member holding at least `needed` bytes; `None` to read it with the streaming decoder instead.
pub(super) fn whole_gzip(mut file: File, stored_bytes: u64, needed: u64) -> Option<Vec<u8>> {
    // A member is at least an 18-byte frame; its trailer's length is the data's length modulo 2^32.
    let stored_len = usize::try_from(stored_bytes).ok().filter(|&n| n >= 18)?;
    let mut compressed = Vec::new();
    compressed.try_reserve_exact(stored_len).ok()?;
    file.read_to_end(&mut compressed).ok()?;
    let trailer: [u8; 8] = compressed
        .get(compressed.len().checked_sub(8)?..)?
        .try_into()
        .ok()?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let length = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    // Not more than deflate can give from this many bytes (the header's claim was checked the same way).
    let most = limits::inflated_at_most(compressed.len() as u64);
    if u64::from(length) < needed || u64::from(length) > most {
        return None;
    }
    let mut out: Vec<u8> = limits::zeroed_vec(length as usize).ok()?;
    let written = libdeflater::Decompressor::new()
        .gzip_decompress(&compressed, &mut out)
        .ok()?;
    // libdeflate checked the first member's own CRC-32 and length; the file's last 8 bytes being the trailer
    // of all that came out proves that member is the whole file.
    (written == out.len() && libdeflater::crc32(&out) == crc).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).expect("gzip");
        enc.finish().expect("gzip")
    }

    /// `whole_gzip` of `bytes` written to a temporary file.
    fn inflate(bytes: &[u8], needed: u64) -> Option<Vec<u8>> {
        let dir = tempfile_dir();
        let path = dir.join("v.gz");
        std::fs::write(&path, bytes).expect("write");
        let out = whole_gzip(File::open(&path).expect("open"), bytes.len() as u64, needed);
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    fn tempfile_dir() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mvb-inflate-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    fn data() -> Vec<u8> {
        (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn one_member_inflates_to_its_content() {
        let data = data();
        assert_eq!(inflate(&gzip(&data), 1000).as_deref(), Some(&data[..]));
    }

    #[test]
    fn every_other_form_is_left_to_the_streaming_decoder() {
        let data = data();
        let one = gzip(&data);
        // Two members: valid gzip, but not one member.
        let two = [gzip(&data[..1000]), gzip(&data[1000..])].concat();
        assert_eq!(inflate(&two, 10), None);
        // Trailing bytes after the member.
        assert_eq!(inflate(&[&one[..], b"junk0000"].concat(), 10), None);
        // A flipped bit inside the deflate data, and a wrong trailer.
        let mut corrupt = one.clone();
        corrupt[one.len() / 2] ^= 0x10;
        assert_eq!(inflate(&corrupt, 10), None);
        let mut bad_crc = one.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert_eq!(inflate(&bad_crc, 10), None);
        // Truncated, and less data than the header needs.
        assert_eq!(inflate(&one[..one.len() - 100], 10), None);
        assert_eq!(inflate(&one, data.len() as u64 + 1), None);
        // A trailer claiming more than deflate can give.
        let mut bomb = one.clone();
        bomb[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(inflate(&bomb, 10), None);
    }
}
