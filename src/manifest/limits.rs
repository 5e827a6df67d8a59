//! Bounds on what a manifest may hold, checked at load so hostile values fail with a clear message before
//! any output exists: the dataset name becomes a folder and file-name stem under `--out` (so it must be one
//! plain path component), and manifest text is copied into every row (so one string may not be huge).

/// Longest string value a manifest may hold, in bytes. Descriptions, label names and templates are copied
/// into rows, so a megabyte here would become gigabytes of output; the longest bundled value is ~420 bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Longest `dataset.citation`, in bytes: it is written once, into the dataset card, not into rows, and a
/// BibTeX entry with its full author list (KiTS23's has 44 authors) runs past [`MAX_TEXT_BYTES`].
pub const MAX_CITATION_BYTES: usize = 16 << 10;

/// Largest manifest file read, in bytes (bundled manifests are under 20 KB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// Longest dataset name, in characters.
pub const MAX_DATASET_NAME_CHARS: usize = 100;

/// Reads a manifest-like text file (a manifest, an nnU-Net `dataset.json`): it must be a regular file (a FIFO
/// would block, `/dev/zero` never ends) of at most [`MAX_MANIFEST_BYTES`], in UTF-8.
pub fn read_bounded(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (a directory, FIFO or device)",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Error::other(format!(
            "larger than {MAX_MANIFEST_BYTES} bytes; a manifest is a few kilobytes"
        )));
    }
    String::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::InvalidData, e))
}

/// Why `name` cannot be a dataset name, or `None` when it can: 1 to [`MAX_DATASET_NAME_CHARS`] ASCII
/// letters, digits, `_`, `-` or `.`, not starting with `.` (so never `..`, a hidden folder, or a path).
pub fn dataset_name_problem(name: &str) -> Option<String> {
    let why = if name.is_empty() {
        "must not be empty"
    } else if name.chars().count() > MAX_DATASET_NAME_CHARS {
        "is longer than 100 characters"
    } else if name.starts_with('.') {
        "must not start with `.` (it names the output folder `<out>/<name>/`)"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        "may hold only ASCII letters, digits, `_`, `-` and `.` (it names the output folder `<out>/<name>/` \
         and the TSV files)"
    } else {
        return None;
    };
    Some(format!("dataset.name `{}` {why}", shorten(name)))
}

/// The chat JSONL's image placeholder (`sink::jsonl` puts one before each question): text that holds it would
/// give a row two placeholders for its one image, which trainers that count them (LLaMA-Factory) refuse.
const IMAGE_TOKEN: &str = "<image>";

/// One message per string value of the TOML `text` longer than [`MAX_TEXT_BYTES`] ([`MAX_CITATION_BYTES`]
/// for `dataset.citation`) or holding `<image>`, naming its key.
/// Text that is not TOML yields nothing (the schema reports it).
pub fn text_problems(text: &str) -> Vec<String> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (key, value) in &table {
        walk(key, value, &mut found);
    }
    found
}

fn walk(key: &str, value: &toml::Value, found: &mut Vec<String>) {
    match value {
        toml::Value::String(s) if key == "dataset.citation" && s.len() > MAX_CITATION_BYTES => {
            found.push(format!(
                "`{key}` is {} bytes long; a citation may be at most {MAX_CITATION_BYTES} bytes",
                s.len()
            ))
        }
        toml::Value::String(s) if key != "dataset.citation" && s.len() > MAX_TEXT_BYTES => {
            found.push(format!(
                "`{key}` is {} bytes long; text values may be at most {MAX_TEXT_BYTES} bytes (they are \
                 copied into every row)",
                s.len()
            ))
        }
        toml::Value::String(s) if s.contains(IMAGE_TOKEN) => found.push(format!(
            "`{key}` contains `{IMAGE_TOKEN}`: the chat JSONL puts one `{IMAGE_TOKEN}` before every question \
             itself, and a second would make trainers that count them (LLaMA-Factory) refuse the row"
        )),
        toml::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(&format!("{key}[{i}]"), item, found);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table {
                walk(&format!("{key}.{k}"), v, found);
            }
        }
        _ => {}
    }
}

/// At most 60 characters of `s` for a message, with `…` when cut.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_paths_do_not() {
        for ok in [
            "KiTS23",
            "autoPET-III",
            "AbdomenAtlas1.0Mini",
            "SKM-TEA",
            "T",
        ] {
            assert_eq!(dataset_name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "..",
            "../escaped",
            ".hidden",
            "a/b",
            "a\\b",
            "a b",
            "x\0y",
            "é",
        ] {
            assert!(dataset_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(dataset_name_problem(&"n".repeat(101)).is_some());
        assert_eq!(dataset_name_problem(&"n".repeat(100)), None);
    }

    #[test]
    fn the_image_placeholder_is_refused_in_any_text() {
        let text = "[dataset]\nname = \"D\"\n[templates.mask_size]\nen = \"<image>What area does the {label} \
                    cover?\"\n[[labels]]\nid = 1\nname = \"kidney <image>\"\n";
        let found = text_problems(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[1].starts_with("`templates.mask_size.en` contains `<image>`"),
            "{found:?}"
        );
        assert!(
            found[0].starts_with("`labels[0].name` contains `<image>`"),
            "{found:?}"
        );
        assert!(text_problems("[dataset]\nname = \"an image of <images>\"\n").is_empty());
    }

    #[test]
    fn long_strings_are_named_by_key_wherever_they_are() {
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        let fits = "y".repeat(MAX_TEXT_BYTES);
        let citation = "c".repeat(MAX_CITATION_BYTES);
        let text = format!(
            "[dataset]\nimage_description = \"{big}\"\ndepartment = \"{fits}\"\ncitation = \"{citation}\"\n\
             [[collection]]\nname = \"c\"\nextract = [\"ok\", \"{big}\"]\n"
        );
        let too_long = format!("[dataset]\ncitation = \"{citation}c\"\n");
        let found_citation = text_problems(&too_long);
        assert!(
            found_citation.len() == 1
                && found_citation[0].starts_with("`dataset.citation` is 16385 bytes"),
            "{found_citation:?}"
        );
        let found = text_problems(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("`collection[0].extract[1]` is 1025 bytes"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("`dataset.image_description` is 1025 bytes"),
            "{found:?}"
        );
    }
}
