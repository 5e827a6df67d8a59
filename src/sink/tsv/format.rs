//! The TSV text itself: the columns GMAI-MMBench uses, every field double-quoted, an item's text columns and
//! the image as standard base64 (shared by the sink, its parts and its spill).

/// Column order of a GMAI-MMBench TSV.
pub const COLUMNS: [&str; 16] = [
    "index",
    "question",
    "A",
    "B",
    "C",
    "D",
    "E",
    "answer",
    "category",
    "l2-category",
    "clinical VQA task",
    "department",
    "perceptual granularity",
    "modality",
    "original task",
    "image",
];

/// Columns left out of a hidden split's copy: the correct letter (`category` and `l2-category` stay, as in
/// GMAI-MMBench's test split: neither names the answer).
pub const HIDDEN_COLUMNS: [&str; 1] = ["answer"];

/// Standard base64 (RFC 4648 alphabet, `=` padding, no line breaks).
pub fn base64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

/// One field, double-quoted with inner quotes doubled; the runs between quotes are copied whole.
pub(super) fn quote(field: &str, out: &mut String) {
    out.push('"');
    let mut rest = field;
    while let Some(at) = rest.find('"') {
        out.push_str(&rest[..=at]);
        out.push('"');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

/// `fields` as one tab-separated line, each quoted.
pub(super) fn line(fields: &[&str]) -> String {
    let mut out = String::with_capacity(fields.iter().map(|f| f.len() + 3).sum::<usize>() + 1);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        quote(f, &mut out);
    }
    out.push('\n');
    out
}

/// The 14 text columns of an item (`question` … `original task`, without `index` and `image`).
pub(super) type ItemText = Vec<String>;

/// Position of `answer` in [`ItemText`].
pub(super) const HIDDEN_TEXT: [usize; 1] = [6];
