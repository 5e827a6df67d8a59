//! Architecture guard: reads every `.rs` file under `src/`, builds the graph of which file imports which, and
//! fails when files import each other in a circle or when a module uses one the layer table below forbids
//! (data flows one way: manifest → discover → volume → annotate → render → vqa → sinks, with pipeline and
//! cli on top). Also keeps heavy external crates where they belong (`arrow`/`parquet` only in sink and the
//! readers in score and gallery, `nifti` and `hdf5_pure` only in volume, `clap` only in cli, no thread pool or
//! image encoder in sink).
//!
//! Std only, no parser crate: a small lexer drops comments, string and char literals; `#[cfg(test)]` items and
//! test-only files (`tests.rs`, `*_tests.rs`, modules declared under `#[cfg(test)]`) are skipped, because unit
//! tests may reach anywhere. Imports are `use` trees (`use crate::{a, b::c}`, `use super::…`, `use self::…`,
//! edition-2018 child-relative `use child::…`) and `crate::…` / `super::…` / `self::…` paths in code. A path
//! resolves to the file of its longest module prefix; a name re-exported by a `mod.rs` facade
//! (`pub use child::Item`, also through `pub use child::*`) is followed to the file that defines it, and a
//! facade's re-export of its own children is not itself an arrow — otherwise every `mod.rs` would sit in a
//! circle with the children that use `super::Type`.
//!
//! The checker is [`check_architecture`], run on `src/` and on the fixture crates under
//! `tests/fixtures/architecture/` (one clean, one with a known bad import, circle and crate use).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Layer table: top-level module → the other top-level modules its files may import. Imports inside one
/// module are always allowed (circles are checked separately); `lib.rs` and `main.rs` may import anything.
/// A module missing from this table is itself a violation: a new module needs a row.
const LAYERS: &[(&str, &[&str])] = &[
    ("geom", &[]),
    ("manifest", &[]),
    ("record", &[]),
    ("discover", &["manifest"]),
    ("volume", &["manifest", "geom"]),
    ("annotate", &["volume", "geom", "manifest"]),
    ("render", &["geom", "manifest"]),
    ("vqa", &["manifest", "annotate", "geom", "record"]),
    ("sink", &["record"]),
    ("synth", &["manifest", "geom", "volume"]),
    ("score", &["manifest", "vqa", "sink"]),
    ("gallery", &["sink"]),
    (
        "pipeline",
        &[
            "geom", "manifest", "record", "discover", "volume", "annotate", "render", "vqa",
            "sink", "synth",
        ],
    ),
    (
        "cli",
        &[
            "pipeline", "manifest", "synth", "sink", "discover", "volume", "score", "gallery",
        ],
    ),
];

/// External crates that only some modules may name: crate-name prefix → the top-level modules (or the crate
/// root files `lib.rs` / `main.rs`) allowed to use it. `arrow` covers `arrow_array`, `arrow_schema`, ….
const EXCLUSIVE_CRATES: &[(&str, &[&str])] = &[
    ("arrow", &["sink", "score", "gallery"]),
    ("parquet", &["sink", "score", "gallery"]),
    ("calamine", &["score"]),
    ("nifti", &["volume"]),
    ("hdf5_pure", &["volume"]),
    ("clap", &["cli", "main.rs"]),
    ("rustix", &["sink"]),
    ("base64", &["sink", "gallery"]),
];

/// External crates a module must not name at all: sinks serialise and write only (no thread pool, no image
/// encoding).
const FORBIDDEN_CRATES: &[(&str, &[&str])] = &[("sink", &["rayon", "image", "imageproc", "png"])];

/// Names that mean "this crate" at the start of a path (`medvision_build::` is how `main.rs` reaches it).
const SELF_ROOTS: &[&str] = &["crate", "medvision_build"];

// ---------------------------------------------------------------------------------------------------------
// Lexing: comments, literals and test-only items out.

/// `text` with comments, string literals and char literals replaced by spaces (newlines kept).
fn strip_comments_and_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let prev_ident = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r')))
            && !prev_ident
            && raw_string_hashes(&c, i + usize::from(c[i] == 'b') + 1).is_some()
        {
            let start = i + usize::from(c[i] == 'b') + 1;
            let hashes = raw_string_hashes(&c, start).unwrap_or(0);
            i = start + hashes + 1;
            loop {
                if i >= c.len() {
                    break;
                }
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    i += hashes + 1;
                    break;
                }
                out.push(blank(c[i]));
                i += 1;
            }
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    out.push(blank(c[i]));
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Number of `#` when a raw string literal's `#…#"` starts at `c[at]`.
fn raw_string_hashes(c: &[char], at: usize) -> Option<usize> {
    let hashes = c[at.min(c.len())..]
        .iter()
        .take_while(|&&ch| ch == '#')
        .count();
    (c.get(at + hashes) == Some(&'"')).then_some(hashes)
}

/// Identifiers and punctuation (`::` is one token; every other punctuation character is its own token).
fn tokenize(text: &str) -> Vec<String> {
    let c: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_whitespace() {
            i += 1;
        } else if c[i].is_alphanumeric() || c[i] == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            tokens.push(c[start..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            tokens.push("::".into());
            i += 2;
        } else {
            tokens.push(c[i].to_string());
            i += 1;
        }
    }
    tokens
}

/// Tokens with every item under `#[cfg(test)]` removed, and the names of modules declared there
/// (`#[cfg(test)] mod tests;` makes `tests.rs` a test-only file).
fn drop_test_items(tokens: &[String]) -> (Vec<String>, Vec<String>) {
    const CFG_TEST: [&str; 7] = ["#", "[", "cfg", "(", "test", ")", "]"];
    let (mut kept, mut test_mods) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < tokens.len() {
        if tokens.len() - i < CFG_TEST.len()
            || !CFG_TEST.iter().zip(&tokens[i..]).all(|(a, b)| a == b)
        {
            kept.push(tokens[i].clone());
            i += 1;
            continue;
        }
        i += CFG_TEST.len();
        let start = i;
        // The item ends at a `;` outside brackets, or at the `}` closing its first top-level `{`.
        let mut depth = 0usize;
        while i < tokens.len() {
            match tokens[i].as_str() {
                "(" | "[" => depth += 1,
                ")" | "]" => depth = depth.saturating_sub(1),
                ";" if depth == 0 => break,
                "{" if depth == 0 => {
                    let mut braces = 0usize;
                    while i < tokens.len() {
                        match tokens[i].as_str() {
                            "{" => braces += 1,
                            "}" => {
                                braces -= 1;
                                if braces == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item = &tokens[start..i.min(tokens.len())];
        if let Some(pos) = item.iter().position(|t| t == "mod") {
            if let Some(name) = item.get(pos + 1) {
                if item.get(pos + 2).map(String::as_str).is_none() {
                    test_mods.push(name.clone());
                }
            }
        }
        i += 1;
    }
    (kept, test_mods)
}

// ---------------------------------------------------------------------------------------------------------
// Parsing: use trees, paths in code, item definitions.

/// One name brought in by a `use` tree: its path as written, and the name it is bound to.
#[derive(Debug, Clone)]
struct UseLeaf {
    path: Vec<String>,
    /// Bound name (`as` alias or last segment); `None` for a glob `…::*`.
    name: Option<String>,
    public: bool,
}

/// What one (non-test) file says, after lexing.
#[derive(Debug, Default)]
struct Parsed {
    uses: Vec<UseLeaf>,
    /// `crate::…`, `super::…`, `self::…` paths written in code outside `use`.
    code_paths: Vec<Vec<String>>,
    /// First segments of every path (`x::…`) in code, for the external-crate rules.
    path_heads: BTreeSet<String>,
    /// Items defined at the top level of the file (structs, functions, …, child modules).
    defined: BTreeSet<String>,
    /// Child modules declared with `mod name;` outside `#[cfg(test)]`.
    child_mods: BTreeSet<String>,
}

fn parse_file(text: &str) -> (Parsed, Vec<String>) {
    let tokens = tokenize(&strip_comments_and_literals(text));
    let (t, test_mods) = drop_test_items(&tokens);
    let mut p = Parsed::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < t.len() {
        let tok = t[i].as_str();
        match tok {
            "{" => depth += 1,
            "}" => depth = depth.saturating_sub(1),
            "use" => {
                let public = is_public(&t, i);
                i += 1;
                parse_use_tree(&t, &mut i, Vec::new(), public, &mut p.uses);
                continue;
            }
            "struct" | "enum" | "fn" | "trait" | "type" | "const" | "static" | "union" | "mod"
                if depth == 0 =>
            {
                if let Some(name) = t.get(i + 1).filter(|n| is_ident(n)) {
                    p.defined.insert(name.clone());
                    if tok == "mod" && t.get(i + 2).map(String::as_str) == Some(";") {
                        p.child_mods.insert(name.clone());
                    }
                }
            }
            _ => {}
        }
        let after_path_sep = i > 0 && t[i - 1] == "::";
        if is_ident(tok) && !after_path_sep && t.get(i + 1).map(String::as_str) == Some("::") {
            p.path_heads.insert(tok.to_string());
            if tok == "super" || tok == "self" || SELF_ROOTS.contains(&tok) {
                let mut path = vec![tok.to_string()];
                let mut j = i + 1;
                while t.get(j).map(String::as_str) == Some("::")
                    && t.get(j + 1).is_some_and(|s| is_ident(s))
                {
                    path.push(t[j + 1].clone());
                    j += 2;
                }
                p.code_paths.push(path);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    (p, test_mods)
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Whether the `use` at `t[at]` is `pub use` or `pub(…) use`.
fn is_public(t: &[String], at: usize) -> bool {
    match at.checked_sub(1).map(|k| t[k].as_str()) {
        Some("pub") => true,
        Some(")") => t[..at]
            .iter()
            .rposition(|s| s == "(")
            .is_some_and(|open| open > 0 && t[open - 1] == "pub"),
        _ => false,
    }
}

/// Parses one use tree starting at `t[*i]` (after `use` or a `{`/`,`), leaving `*i` after it.
fn parse_use_tree(
    t: &[String],
    i: &mut usize,
    mut prefix: Vec<String>,
    public: bool,
    out: &mut Vec<UseLeaf>,
) {
    if t.get(*i).map(String::as_str) == Some("::") {
        *i += 1; // `use ::name` (absolute external path)
    }
    while let Some(tok) = t.get(*i) {
        match tok.as_str() {
            "{" => {
                *i += 1;
                while let Some(next) = t.get(*i) {
                    match next.as_str() {
                        "}" => {
                            *i += 1;
                            break;
                        }
                        "," => *i += 1,
                        _ => parse_use_tree(t, i, prefix.clone(), public, out),
                    }
                }
                break;
            }
            "*" => {
                *i += 1;
                out.push(UseLeaf {
                    path: prefix,
                    name: None,
                    public,
                });
                break;
            }
            "self" if !prefix.is_empty() => {
                *i += 1;
                let name = alias(t, i).or_else(|| prefix.last().cloned());
                out.push(UseLeaf {
                    path: prefix,
                    name,
                    public,
                });
                break;
            }
            name if is_ident(name) => {
                prefix.push(name.to_string());
                *i += 1;
                if t.get(*i).map(String::as_str) == Some("::") {
                    *i += 1;
                    continue;
                }
                let name = alias(t, i).or_else(|| prefix.last().cloned());
                out.push(UseLeaf {
                    path: prefix,
                    name,
                    public,
                });
                break;
            }
            _ => break,
        }
    }
    // A top-level tree ends at `;`; a nested one at `,` or `}` (handled by the caller).
    if t.get(*i).map(String::as_str) == Some(";") {
        *i += 1;
    }
}

/// `as name` at `t[*i]`, consumed.
fn alias(t: &[String], i: &mut usize) -> Option<String> {
    if t.get(*i).map(String::as_str) == Some("as") {
        *i += 2;
        return t.get(*i - 1).cloned();
    }
    None
}

// ---------------------------------------------------------------------------------------------------------
// The crate: files, module paths, resolution.

struct SourceFile {
    /// Path relative to the source directory, with `/` separators (`sink/tsv.rs`).
    rel: String,
    /// Module path (`["sink", "tsv"]`; `[]` for `lib.rs` and `main.rs`).
    module: Vec<String>,
    parsed: Parsed,
}

struct Crate {
    files: Vec<SourceFile>,
    /// Module path → index into `files` (`main.rs` is not a module of the library).
    by_module: BTreeMap<Vec<String>, usize>,
}

fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_test_file_name(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == "tests.rs" || name.ends_with("_tests.rs")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn load_crate(src: &Path) -> Crate {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let mut parsed_all = Vec::new();
    let mut test_only = BTreeSet::new();
    for path in paths {
        let rel = path
            .strip_prefix(src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {rel}: {e}"));
        let (parsed, test_mods) = parse_file(&text);
        let module = module_of(&rel);
        for name in test_mods {
            let mut child = module.clone();
            child.push(name);
            test_only.insert(child);
        }
        parsed_all.push((rel, module, parsed));
    }
    let files: Vec<SourceFile> = parsed_all
        .into_iter()
        .filter(|(rel, module, _)| {
            !is_test_file_name(rel) && !test_only.iter().any(|t| module.starts_with(t))
        })
        .map(|(rel, module, parsed)| SourceFile {
            rel,
            module,
            parsed,
        })
        .collect();
    let by_module = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.rel != "main.rs")
        .map(|(k, f)| (f.module.clone(), k))
        .collect();
    Crate { files, by_module }
}

impl Crate {
    /// `path` as written in `file` made absolute (module path + item), or `None` for an external crate.
    fn absolute(&self, file: &SourceFile, path: &[String]) -> Option<Vec<String>> {
        let head = path.first()?.as_str();
        if SELF_ROOTS.contains(&head) {
            return Some(path[1..].to_vec());
        }
        if head == "super" || head == "self" {
            let mut base = file.module.clone();
            let mut rest = path;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
            if rest.first().map(String::as_str) == Some("self") {
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        // Edition 2018: a path may start with a child module of the current one.
        let mut child = file.module.clone();
        child.push(head.to_string());
        if file.parsed.child_mods.contains(head) || self.by_module.contains_key(&child) {
            let mut abs = file.module.clone();
            abs.extend(path.iter().cloned());
            return Some(abs);
        }
        None
    }

    /// The file that defines what absolute `path` names, following facade re-exports.
    fn resolve(&self, path: &[String], hops: usize) -> Option<usize> {
        let k = (0..=path.len())
            .rev()
            .find(|&k| self.by_module.contains_key(&path[..k]))?;
        let at = self.by_module[&path[..k]];
        let Some(item) = path.get(k) else {
            return Some(at);
        };
        if hops > 8 {
            return Some(at);
        }
        let file = &self.files[at];
        for leaf in file.parsed.uses.iter().filter(|u| u.public) {
            if leaf.name.as_deref() == Some(item.as_str()) {
                if let Some(mut target) = self.absolute(file, &leaf.path) {
                    target.extend(path[k + 1..].iter().cloned());
                    return self.resolve(&target, hops + 1).or(Some(at));
                }
            }
        }
        if file.parsed.defined.contains(item) {
            return Some(at);
        }
        for leaf in file
            .parsed
            .uses
            .iter()
            .filter(|u| u.public && u.name.is_none())
        {
            if let Some(base) = self.absolute(file, &leaf.path) {
                if let Some(&glob_file) = self.by_module.get(&base) {
                    let g = &self.files[glob_file].parsed;
                    let reexported = g
                        .uses
                        .iter()
                        .any(|u| u.public && u.name.as_ref() == Some(item));
                    if g.defined.contains(item) || reexported {
                        let mut target = base;
                        target.extend(path[k..].iter().cloned());
                        return self.resolve(&target, hops + 1).or(Some(at));
                    }
                }
            }
        }
        Some(at)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The checks.

/// Import arrows between files: `from` file index → (`to` file index → path as written, for messages).
type Arrows = BTreeMap<usize, BTreeMap<usize, String>>;

fn arrows(krate: &Crate) -> Arrows {
    let mut arrows: Arrows = BTreeMap::new();
    for (from, file) in krate.files.iter().enumerate() {
        let written = file
            .parsed
            .uses
            .iter()
            .map(|u| (&u.path, u.public))
            .chain(file.parsed.code_paths.iter().map(|p| (p, false)));
        for (path, public) in written {
            let Some(abs) = krate.absolute(file, path) else {
                continue;
            };
            // A facade re-exporting its own children (`pub use child::Item`) is not a dependency.
            if public && abs.len() > file.module.len() + 1 && abs.starts_with(&file.module) {
                let child = abs[..=file.module.len()].to_vec();
                if krate.by_module.contains_key(&child) {
                    continue;
                }
            }
            if let Some(to) = krate.resolve(&abs, 0) {
                if to != from {
                    arrows
                        .entry(from)
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| path.join("::"));
                }
            }
        }
    }
    arrows
}

/// Strongly connected groups of more than one file (Tarjan), each sorted, in file order.
fn circles(n: usize, arrows: &Arrows) -> Vec<Vec<usize>> {
    struct State<'a> {
        arrows: &'a Arrows,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        groups: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let targets: Vec<usize> = s
            .arrows
            .get(&v)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort_unstable();
                s.groups.push(group);
            }
        }
    }
    let mut s = State {
        arrows,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        next: 0,
        groups: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.groups.sort();
    s.groups
}

/// Shortest cycle from `group[0]` back to itself inside `group` (breadth-first).
fn shortest_cycle(group: &[usize], arrows: &Arrows) -> Vec<usize> {
    let start = group[0];
    let mut came_from: BTreeMap<usize, usize> = BTreeMap::new();
    let mut frontier = vec![start];
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for &v in &frontier {
            for &w in arrows.get(&v).map(|m| m.keys()).into_iter().flatten() {
                if !group.contains(&w) {
                    continue;
                }
                if w == start {
                    let mut cycle = vec![v];
                    while let Some(&back) = came_from.get(cycle.last().expect("non-empty")) {
                        cycle.push(back);
                    }
                    cycle.reverse(); // start, …, v
                    cycle.push(start);
                    return cycle;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = came_from.entry(w) {
                    e.insert(v);
                    next.push(w);
                }
            }
        }
        frontier = next;
    }
    vec![start]
}

/// Every architecture violation of the crate whose sources are in `src` (circles, layer breaks, external
/// crates in the wrong module), one readable line each, sorted within each kind. Empty when clean.
pub fn check_architecture(src: &Path) -> Vec<String> {
    let krate = load_crate(src);
    let arrows = arrows(&krate);
    let name = |k: usize| format!("src/{}", krate.files[k].rel);
    let mut violations = Vec::new();

    for group in circles(krate.files.len(), &arrows) {
        let cycle: Vec<String> = shortest_cycle(&group, &arrows)
            .into_iter()
            .map(name)
            .collect();
        let mut line = format!("import circle: {}", cycle.join(" -> "));
        if cycle.len() - 1 < group.len() {
            let members: Vec<String> = group.iter().map(|&k| name(k)).collect();
            line.push_str(&format!(" (circle group: {})", members.join(", ")));
        }
        violations.push(line);
    }

    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut unknown = BTreeSet::new();
    let mut layer_breaks = Vec::new();
    for (&from, targets) in &arrows {
        let file = &krate.files[from];
        let Some(own) = file.module.first() else {
            continue; // lib.rs and main.rs may use anything
        };
        let Some(allowed) = layers.get(own.as_str()) else {
            unknown.insert(own.clone());
            continue;
        };
        for &to in targets.keys() {
            let Some(theirs) = krate.files[to].module.first() else {
                continue;
            };
            if theirs == own || allowed.contains(&theirs.as_str()) {
                continue;
            }
            let may = if allowed.is_empty() {
                "nothing else in the crate".to_string()
            } else {
                allowed.join(", ")
            };
            layer_breaks.push(format!(
                "{} uses crate::{}; {own} may use only: {may}",
                name(from),
                krate.files[to].module.join("::"),
            ));
        }
    }
    violations.extend(unknown.into_iter().map(|m| {
        format!("module {m} is not in the layer table of tests/architecture.rs; add a row")
    }));
    violations.extend(layer_breaks);

    for (k, file) in krate.files.iter().enumerate() {
        let place = file
            .module
            .first()
            .cloned()
            .unwrap_or_else(|| file.rel.clone());
        let mut crates: BTreeSet<&str> =
            file.parsed.path_heads.iter().map(String::as_str).collect();
        for leaf in &file.parsed.uses {
            if krate.absolute(file, &leaf.path).is_none() {
                crates.extend(leaf.path.first().map(String::as_str));
            }
        }
        for used in crates {
            for (prefix, only) in EXCLUSIVE_CRATES {
                let family = used == *prefix || used.starts_with(&format!("{prefix}_"));
                if family && !only.contains(&place.as_str()) {
                    violations.push(format!(
                        "{} uses the {used} crate; only {} may",
                        name(k),
                        only.join(", ")
                    ));
                }
            }
            for (module, banned) in FORBIDDEN_CRATES {
                if place == *module && banned.contains(&used) {
                    violations.push(format!(
                        "{} uses the {used} crate; {module} must not",
                        name(k)
                    ));
                }
            }
        }
    }
    violations
}

/// Number of import arrows between files, so a test can tell the checker saw the imports at all.
fn arrow_count(src: &Path) -> usize {
    arrows(&load_crate(src)).values().map(BTreeMap::len).sum()
}

fn fixture(which: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/architecture")
        .join(which)
        .join("src")
}

#[test]
fn src_has_no_import_circles_and_respects_the_layer_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(
        arrow_count(&src) > 50,
        "the checker found almost no imports in src/; the parser is broken"
    );
    let violations = check_architecture(&src);
    assert!(
        violations.is_empty(),
        "{} architecture violation(s) in src/:\n  {}",
        violations.len(),
        violations.join("\n  ")
    );
}

#[test]
fn bad_fixture_reports_exactly_its_planted_violations() {
    let violations = check_architecture(&fixture("bad"));
    assert_eq!(
        violations,
        [
            "import circle: src/volume/nrrd.rs -> src/volume/reader.rs -> src/volume/nrrd.rs",
            "src/sink/parquet.rs uses crate::annotate; sink may use only: record",
            "src/sink/parquet.rs uses the rayon crate; sink must not",
        ]
    );
}

#[test]
fn good_fixture_reports_nothing() {
    let good = fixture("good");
    assert!(arrow_count(&good) >= 6, "good fixture: imports not seen");
    assert_eq!(check_architecture(&good), Vec::<String>::new());
}

#[test]
fn lexer_drops_comments_strings_and_chars_but_keeps_lifetimes() {
    let text =
        "let a = \"crate::x\"; // crate::y\n/* crate::z /* nested */ */ let b = r#\"crate::w\"#;\n\
                fn f<'a>(c: &'a str) -> char { '\"' }";
    let stripped = strip_comments_and_literals(text);
    assert!(!stripped.contains("crate::"), "{stripped}");
    assert!(stripped.contains("<'a>"), "{stripped}");
    assert_eq!(stripped.lines().count(), 3, "{stripped}");
}
