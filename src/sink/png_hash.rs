//! The content hash (xxh3-128) a sink keys a row's PNG by, made once per shared image: the rows of one slice
//! are adjacent and share one `Arc`, so a sink remembers the last image it hashed instead of hashing the same
//! bytes for every row.

use std::sync::Arc;

/// The last PNG hashed and its hash (the `Arc` is held, so an equal pointer is the same, unchanged bytes).
#[derive(Default)]
pub(crate) struct LastPngHash(Option<(Arc<[u8]>, u128)>);

impl LastPngHash {
    /// xxh3-128 of `png`'s bytes.
    pub(crate) fn of(&mut self, png: &Arc<[u8]>) -> u128 {
        if let Some((last, hash)) = &self.0 {
            if Arc::ptr_eq(last, png) {
                return *hash;
            }
        }
        let hash = xxhash_rust::xxh3::xxh3_128(png);
        self.0 = Some((Arc::clone(png), hash));
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_contents_whether_remembered_or_not() {
        let a: Arc<[u8]> = Arc::from(&b"\x89PNG one"[..]);
        let same_bytes: Arc<[u8]> = Arc::from(&b"\x89PNG one"[..]);
        let b: Arc<[u8]> = Arc::from(&b"\x89PNG two"[..]);
        let mut last = LastPngHash::default();
        let want = |png: &[u8]| xxhash_rust::xxh3::xxh3_128(png);
        assert_eq!(last.of(&a), want(b"\x89PNG one"));
        let remembered = |last: &LastPngHash, png: &Arc<[u8]>| {
            last.0
                .as_ref()
                .is_some_and(|(held, _)| Arc::ptr_eq(held, png))
        };
        assert!(remembered(&last, &a));
        assert_eq!(last.of(&Arc::clone(&a)), want(b"\x89PNG one"));
        assert_eq!(last.of(&same_bytes), want(b"\x89PNG one"));
        assert!(remembered(&last, &same_bytes) && !remembered(&last, &a));
        assert_eq!(last.of(&b), want(b"\x89PNG two"));
        assert_eq!(last.of(&a), want(b"\x89PNG one"));
    }
}
