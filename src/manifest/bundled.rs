//! The manifests of `manifests/*.toml`, compiled into the binary, and the rule that turns a user's
//! `--manifest` value into a manifest: an existing file is read from disk; otherwise a bare name (`kits23`,
//! `kits23.toml`, `manifests/kits23.toml`) names a bundled manifest, so an installed binary works from any
//! folder. Bundled manifests set no `split.split_file` (a test keeps it so): a split file is relative to its
//! manifest's folder, and a bundled manifest has none — copy the manifest beside the split file instead.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// One manifest of the repository's `manifests/` folder, as it was when the binary was built.
#[derive(Debug, PartialEq, Eq)]
pub struct BundledManifest {
    /// File name in `manifests/` (e.g. `kits23.toml`).
    pub file_name: &'static str,
    /// The file's text, byte for byte.
    pub text: &'static str,
}

impl BundledManifest {
    /// The name a user gives: the file name without `.toml` (e.g. `kits23`).
    pub fn name(&self) -> &'static str {
        self.file_name
            .strip_suffix(".toml")
            .unwrap_or(self.file_name)
    }
}

macro_rules! bundle {
    ($file:literal) => {
        BundledManifest {
            file_name: $file,
            text: include_str!(concat!("../../manifests/", $file)),
        }
    };
}

/// Every manifest of `manifests/`, sorted by file name. A new manifest needs a line here (a test fails
/// until it has one).
pub const BUNDLED: &[BundledManifest] = &[
    bundle!("abdomenatlas1_0mini.toml"),
    bundle!("abdomenct_1k.toml"),
    bundle!("acdc.toml"),
    bundle!("amos22.toml"),
    bundle!("autopet_iii.toml"),
    bundle!("bcv15.toml"),
    bundle!("brats24.toml"),
    bundle!("camus.toml"),
    bundle!("ceph_biometrics_400.toml"),
    bundle!("crossmoda.toml"),
    bundle!("feta24.toml"),
    bundle!("flare22.toml"),
    bundle!("hntsmrg24.toml"),
    bundle!("isles24.toml"),
    bundle!("kipa22.toml"),
    bundle!("kits23.toml"),
    bundle!("msd.toml"),
    bundle!("oaizib_cm.toml"),
    bundle!("skm_tea.toml"),
    bundle!("toothfairy2.toml"),
    bundle!("topcow24.toml"),
    bundle!("totalsegmentator.toml"),
];

/// Where a manifest came from: a file on disk or the binary itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// A file, by the path the user gave.
    File(PathBuf),
    /// A manifest compiled into the binary.
    Bundled(&'static BundledManifest),
}

impl ManifestSource {
    /// The path diagnostics name: the file's, or the bundled manifest's file name (given back as
    /// `--manifest`, it names the bundled manifest again).
    pub fn path(&self) -> &Path {
        match self {
            ManifestSource::File(path) => path,
            ManifestSource::Bundled(b) => Path::new(b.file_name),
        }
    }

    /// The manifest's text (`manifest::read_text` names the file in the error).
    pub fn read(&self) -> std::io::Result<String> {
        match self {
            ManifestSource::File(path) => std::fs::read_to_string(path),
            ManifestSource::Bundled(b) => Ok(b.text.to_string()),
        }
    }
}

/// The file's path, or e.g. `kits23.toml (bundled with medvision-build 0.1.0)`.
impl fmt::Display for ManifestSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestSource::File(path) => write!(f, "{}", path.display()),
            ManifestSource::Bundled(b) => write!(
                f,
                "{} (bundled with medvision-build {})",
                b.file_name,
                env!("CARGO_PKG_VERSION")
            ),
        }
    }
}

/// A `--manifest` value that is neither an existing file nor a bundled manifest's name.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}: no such manifest file, and no manifest of that name is bundled; pass a manifest file or one of \
     the bundled names: {}",
    path.display(),
    names().join(", ")
)]
pub struct UnknownManifest {
    /// The value given.
    pub path: PathBuf,
}

/// The manifest a user's `--manifest` value means: the file when `given` is one, else the bundled manifest
/// it names; neither is an error listing the bundled names.
pub fn resolve(given: &Path) -> Result<ManifestSource, UnknownManifest> {
    if given.is_file() {
        return Ok(ManifestSource::File(given.to_path_buf()));
    }
    find(given)
        .map(ManifestSource::Bundled)
        .ok_or_else(|| UnknownManifest {
            path: given.to_path_buf(),
        })
}

/// The bundled manifest a bare name means: `kits23`, `kits23.toml`, `manifests/kits23.toml` (the path in the
/// repository), with or without a leading `./`; any other path means none.
pub fn find(given: &Path) -> Option<&'static BundledManifest> {
    let parts: Vec<&str> = given
        .components()
        .filter(|c| *c != Component::CurDir)
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let name = match parts.as_slice() {
        [name] | ["manifests", name] => *name,
        _ => return None,
    };
    let name = name.strip_suffix(".toml").unwrap_or(name);
    BUNDLED.iter().find(|b| b.name() == name)
}

/// The names of the bundled manifests, sorted.
pub fn names() -> Vec<&'static str> {
    BUNDLED.iter().map(BundledManifest::name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = env!("CARGO_MANIFEST_DIR");

    #[test]
    fn every_manifest_file_is_bundled_byte_for_byte() {
        let mut on_disk: Vec<(String, String)> =
            std::fs::read_dir(Path::new(REPO).join("manifests"))
                .expect("manifests folder")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .map(|p| {
                    let name = p.file_name().expect("name").to_string_lossy().into_owned();
                    (name, std::fs::read_to_string(&p).expect("read manifest"))
                })
                .collect();
        on_disk.sort();
        let bundled: Vec<(String, String)> = BUNDLED
            .iter()
            .map(|b| (b.file_name.to_string(), b.text.to_string()))
            .collect();
        let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&bundled),
            names(&on_disk),
            "src/manifest/bundled.rs: BUNDLED must list every manifests/*.toml, sorted"
        );
        for ((name, text), (_, disk)) in bundled.iter().zip(&on_disk) {
            assert!(text == disk, "bundled {name} differs from manifests/{name}");
        }
        assert_eq!(BUNDLED.len(), 22);
    }

    #[test]
    fn no_bundled_manifest_names_a_split_file() {
        // A split file is relative to the manifest's folder; a bundled manifest has none.
        for b in BUNDLED {
            let loaded =
                crate::manifest::load_text(Path::new(b.file_name), b.text.to_string(), &|_| {
                    Vec::new()
                })
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                loaded.split_file, None,
                "{} sets split.split_file",
                b.file_name
            );
        }
    }

    #[test]
    fn bare_names_find_the_bundled_manifest_and_paths_do_not() {
        for given in [
            "kits23",
            "kits23.toml",
            "manifests/kits23.toml",
            "manifests/kits23",
            "./kits23.toml",
        ] {
            let found = find(Path::new(given)).map(|b| b.file_name);
            assert_eq!(found, Some("kits23.toml"), "{given}");
        }
        for given in [
            "kits",
            "KITS23",
            "kits23.json",
            "other/kits23.toml",
            "/manifests/kits23.toml",
            "../manifests/kits23.toml",
            "a/manifests/kits23.toml",
            "",
        ] {
            assert_eq!(find(Path::new(given)), None, "{given}");
        }
        assert_eq!(
            find(Path::new("ceph_biometrics_400")).map(|b| b.text.len()),
            Some(include_str!("../../manifests/ceph_biometrics_400.toml").len())
        );
    }

    #[test]
    fn an_existing_file_wins_and_an_unknown_name_lists_the_bundled_ones() {
        // Unit tests run in the repository root, where manifests/kits23.toml is a file.
        let file = Path::new(REPO).join("manifests/kits23.toml");
        assert_eq!(
            resolve(&file).expect("file"),
            ManifestSource::File(file.clone())
        );
        let source = resolve(Path::new("kits23")).expect("bundled");
        assert_eq!(source.path(), Path::new("kits23.toml"));
        assert_eq!(
            source.to_string(),
            format!(
                "kits23.toml (bundled with medvision-build {})",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            source.read().expect("text"),
            include_str!("../../manifests/kits23.toml")
        );
        let message = resolve(Path::new("kits24"))
            .expect_err("unknown")
            .to_string();
        assert!(message.starts_with("kits24: "), "{message}");
        assert!(
            message.contains("abdomenatlas1_0mini, abdomenct_1k, acdc,"),
            "{message}"
        );
        assert!(message.contains("topcow24, totalsegmentator"), "{message}");
    }
}
