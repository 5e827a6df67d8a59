//! Languages as data: a [`Lang`] is a language code, and a [`Localized`] value is an English text plus the
//! manifest's `<key>_<code>` translations. Which languages exist, and what they need, comes from the template
//! files and the manifest, never from code.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, MapAccess};
use serde::Deserialize;
use toml::Spanned;

/// A language code as written in `output.languages`, template tables and `<key>_<code>` manifest keys,
/// e.g. `en`, `ar`: 2–8 ASCII lowercase letters (a code no template file knows is reported when templates load).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lang(Cow<'static, str>);

impl Lang {
    /// English: the language of every manifest's unsuffixed keys (`name`, `image_description`).
    pub const EN: Lang = Lang(Cow::Borrowed("en"));

    /// The code, when it is 2–8 ASCII lowercase letters.
    pub fn parse(code: &str) -> Option<Lang> {
        let valid = (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase());
        valid.then(|| Lang(Cow::Owned(code.to_string())))
    }

    /// The language code, e.g. `en`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Lang {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Lang {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::ops::Deref for Lang {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// `output.languages` entries: any string is kept, so an unknown code gets the loader's "not supported"
/// diagnostic rather than a parse error.
impl<'de> Deserialize<'de> for Lang {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Lang, D::Error> {
        String::deserialize(deserializer).map(|code| Lang(Cow::Owned(code)))
    }
}

/// An English value and its translations, each translation with the byte span of its manifest value.
#[derive(Debug, Clone, PartialEq)]
pub struct Localized<T> {
    english: T,
    translations: BTreeMap<Lang, Spanned<T>>,
}

impl<T> Localized<T> {
    /// A value with no translations.
    pub fn new(english: T) -> Localized<T> {
        Localized {
            english,
            translations: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the value in `lang`.
    pub fn with(mut self, lang: Lang, value: T) -> Localized<T> {
        self.translations.insert(lang, Spanned::new(0..0, value));
        self
    }

    /// The English value.
    pub fn english(&self) -> &T {
        &self.english
    }

    /// The value in `lang` (English for [`Lang::EN`]); `None` when the manifest gives no translation.
    pub fn get(&self, lang: &Lang) -> Option<&T> {
        if *lang == Lang::EN {
            Some(&self.english)
        } else {
            self.translations.get(lang).map(Spanned::get_ref)
        }
    }

    /// The value in `lang`, or the English one when there is no translation.
    pub fn or_english(&self, lang: &Lang) -> &T {
        self.get(lang).unwrap_or(&self.english)
    }

    /// Languages with a translation and the byte span of each translated value.
    pub fn translations(&self) -> impl Iterator<Item = (&Lang, Range<usize>)> {
        self.translations.iter().map(|(l, v)| (l, v.span()))
    }
}

/// Which keys a table with translated fields accepts: fixed `fields` (their names also make the unknown-field
/// message, `name_ar` included) and `<base>_<code>` translations of each `translated` base.
pub(crate) struct TableKeys {
    pub fields: &'static [&'static str],
    pub translated: &'static [&'static str],
}

/// A key of such a table: a fixed field, or a translation of a base field into a language.
pub(crate) enum TableKey {
    Field(&'static str),
    Translation(&'static str, Lang),
}

impl<'de> DeserializeSeed<'de> for &TableKeys {
    type Value = TableKey;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<TableKey, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> de::Visitor<'de> for &TableKeys {
    type Value = TableKey;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("field identifier")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<TableKey, E> {
        for base in self.translated {
            let code = key.strip_prefix(base).and_then(|r| r.strip_prefix('_'));
            if let Some(lang) = code.and_then(Lang::parse).filter(|l| *l != Lang::EN) {
                return Ok(TableKey::Translation(base, lang));
            }
        }
        match self.fields.iter().find(|f| **f == key) {
            Some(field) => Ok(TableKey::Field(field)),
            None => Err(E::unknown_field(key, self.fields)),
        }
    }
}

/// Translations read from one table, per base field, until the English values are known.
#[derive(Default)]
pub(crate) struct Translations(BTreeMap<&'static str, BTreeMap<Lang, Spanned<String>>>);

impl Translations {
    /// Reads the value of a `<base>_<code>` key.
    pub fn read<'de, A: MapAccess<'de>>(
        &mut self,
        map: &mut A,
        base: &'static str,
        lang: Lang,
    ) -> Result<(), A::Error> {
        let value: Spanned<String> = map.next_value()?;
        self.0.entry(base).or_default().insert(lang, value);
        Ok(())
    }

    /// The English value of `base` with its translations.
    pub fn localize(&mut self, base: &str, english: String) -> Localized<String> {
        Localized {
            english,
            translations: self.0.remove(base).unwrap_or_default(),
        }
    }
}
