//! Deserialization of the manifest tables whose keys may carry a language suffix (`name_<code>`,
//! `image_description_<code>`): serde's derive cannot accept a family of keys and still reject unknown ones,
//! so these four tables are read by hand, with the derive's messages (`unknown field`, `missing field`).

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::lang::{TableKey, TableKeys, Translations};
use super::schema::{DatasetInfo, Label, LandmarkDef, MeasurementDef};

/// A table read key by key: `field` reads one fixed field's value, `finish` builds the value.
trait Table: Sized {
    const NAME: &'static str;
    const KEYS: TableKeys;
    type Partial: Default;

    fn field<'de, A: MapAccess<'de>>(
        partial: &mut Self::Partial,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error>;

    fn finish<E: de::Error>(partial: Self::Partial, translations: Translations) -> Result<Self, E>;
}

struct TableVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Table> Visitor<'de> for TableVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "struct {}", T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut partial = T::Partial::default();
        let mut translations = Translations::default();
        while let Some(key) = map.next_key_seed(&T::KEYS)? {
            match key {
                TableKey::Translation(base, lang) => translations.read(&mut map, base, lang)?,
                TableKey::Field(name) => T::field(&mut partial, name, &mut map)?,
            }
        }
        T::finish(partial, translations)
    }
}

fn read<'de, T: Table, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
    deserializer.deserialize_struct(
        T::NAME,
        T::KEYS.fields,
        TableVisitor::<T>(std::marker::PhantomData),
    )
}

fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

/// `license` must be one of the Hub's ids: the card is what the Hub shows.
fn hub_license<E: de::Error>(license: String) -> Result<String, E> {
    if HUB_LICENSES.contains(&license.as_str()) {
        Ok(license)
    } else {
        Err(E::custom(format!(
            "license `{license}` is not a Hugging Face Hub license id (e.g. `cc-by-4.0`, \
             `cc-by-nc-sa-4.0`, `odc-by`; `other` for custom terms)"
        )))
    }
}

#[derive(Default)]
struct DatasetFields {
    name: Option<String>,
    modality: Option<super::schema::Modality>,
    image_description: Option<String>,
    department: Option<String>,
    license: Option<String>,
    homepage: Option<String>,
    citation: Option<String>,
    layout: Option<String>,
    extract: Vec<String>,
}

/// License ids the Hugging Face Hub accepts in a dataset card's `license` (its license list, 2026).
pub const HUB_LICENSES: &[&str] = &[
    "apache-2.0",
    "mit",
    "openrail",
    "bigscience-openrail-m",
    "creativeml-openrail-m",
    "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m",
    "afl-3.0",
    "artistic-2.0",
    "bsl-1.0",
    "bsd",
    "bsd-2-clause",
    "bsd-3-clause",
    "bsd-3-clause-clear",
    "c-uda",
    "cc",
    "cc0-1.0",
    "cc-by-2.0",
    "cc-by-2.5",
    "cc-by-3.0",
    "cc-by-4.0",
    "cc-by-sa-3.0",
    "cc-by-sa-4.0",
    "cc-by-nc-2.0",
    "cc-by-nc-3.0",
    "cc-by-nc-4.0",
    "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0",
    "cc-by-nc-sa-2.0",
    "cc-by-nc-sa-3.0",
    "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0",
    "cdla-permissive-1.0",
    "cdla-permissive-2.0",
    "wtfpl",
    "ecl-2.0",
    "epl-1.0",
    "epl-2.0",
    "etalab-2.0",
    "eupl-1.1",
    "eupl-1.2",
    "agpl-3.0",
    "gfdl",
    "gpl",
    "gpl-2.0",
    "gpl-3.0",
    "lgpl",
    "lgpl-2.1",
    "lgpl-3.0",
    "isc",
    "h-research",
    "intel-research",
    "lppl-1.3c",
    "ms-pl",
    "apple-ascl",
    "apple-amlr",
    "mpl-2.0",
    "odc-by",
    "odbl",
    "openrail++",
    "osl-3.0",
    "postgresql",
    "ofl-1.1",
    "ncsa",
    "unlicense",
    "zlib",
    "pddl",
    "lgpl-lr",
    "deepfloyd-if-license",
    "fair-noncommercial-research-license",
    "unknown",
    "other",
];

impl Table for DatasetInfo {
    const NAME: &'static str = "DatasetInfo";
    const KEYS: TableKeys = TableKeys {
        fields: &[
            "name",
            "modality",
            "image_description",
            "image_description_ar",
            "department",
            "license",
            "homepage",
            "citation",
            "layout",
            "extract",
        ],
        translated: &["image_description"],
    };
    type Partial = DatasetFields;

    fn field<'de, A: MapAccess<'de>>(
        p: &mut DatasetFields,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            "name" => p.name = Some(map.next_value()?),
            "modality" => p.modality = Some(map.next_value()?),
            "image_description" => p.image_description = Some(map.next_value()?),
            "department" => p.department = Some(map.next_value()?),
            "license" => p.license = Some(map.next_value()?),
            "homepage" => p.homepage = Some(map.next_value()?),
            "citation" => p.citation = Some(map.next_value()?),
            "extract" => p.extract = map.next_value()?,
            "layout" => p.layout = map.next_value()?,
            other => return Err(de::Error::unknown_field(other, Self::KEYS.fields)),
        }
        Ok(())
    }

    fn finish<E: de::Error>(p: DatasetFields, mut t: Translations) -> Result<Self, E> {
        Ok(DatasetInfo {
            name: required(p.name, "name")?,
            modality: required(p.modality, "modality")?,
            image_description: t.localize(
                "image_description",
                required(p.image_description, "image_description")?,
            ),
            department: required(p.department, "department")?,
            license: hub_license(required(p.license, "license")?)?,
            homepage: p.homepage,
            citation: p.citation,
            layout: p.layout,
            extract: p.extract,
        })
    }
}

#[derive(Default)]
struct LabelFields {
    name: Option<String>,
    group: Option<super::schema::WindowGroup>,
    vqa_task: Option<String>,
    file: Option<String>,
    region: Option<Vec<u16>>,
}

impl Table for Label {
    const NAME: &'static str = "Label";
    const KEYS: TableKeys = TableKeys {
        fields: &["name", "name_ar", "group", "vqa_task", "file", "region"],
        translated: &["name"],
    };
    type Partial = LabelFields;

    fn field<'de, A: MapAccess<'de>>(
        p: &mut LabelFields,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            "name" => p.name = Some(map.next_value()?),
            "group" => p.group = map.next_value()?,
            "vqa_task" => p.vqa_task = map.next_value()?,
            "region" => p.region = Some(map.next_value()?),
            _ => p.file = map.next_value()?,
        }
        Ok(())
    }

    fn finish<E: de::Error>(p: LabelFields, mut t: Translations) -> Result<Self, E> {
        Ok(Label {
            name: t.localize("name", required(p.name, "name")?),
            group: p.group,
            vqa_task: p.vqa_task,
            file: p.file,
            region: p.region,
        })
    }
}

#[derive(Default)]
struct LandmarkFields {
    id: Option<String>,
    name: Option<String>,
}

impl Table for LandmarkDef {
    const NAME: &'static str = "LandmarkDef";
    const KEYS: TableKeys = TableKeys {
        fields: &["id", "name", "name_ar"],
        translated: &["name"],
    };
    type Partial = LandmarkFields;

    fn field<'de, A: MapAccess<'de>>(
        p: &mut LandmarkFields,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            "id" => p.id = Some(map.next_value()?),
            _ => p.name = Some(map.next_value()?),
        }
        Ok(())
    }

    fn finish<E: de::Error>(p: LandmarkFields, mut t: Translations) -> Result<Self, E> {
        Ok(LandmarkDef {
            id: required(p.id, "id")?,
            name: t.localize("name", required(p.name, "name")?),
        })
    }
}

#[derive(Default)]
struct MeasurementFields {
    id: Option<String>,
    kind: Option<super::schema::MeasureKind>,
    points: Option<Vec<String>>,
    plane: Option<super::schema::Plane>,
    name: Option<String>,
}

impl Table for MeasurementDef {
    const NAME: &'static str = "MeasurementDef";
    const KEYS: TableKeys = TableKeys {
        fields: &["id", "kind", "points", "plane", "name", "name_ar"],
        translated: &["name"],
    };
    type Partial = MeasurementFields;

    fn field<'de, A: MapAccess<'de>>(
        p: &mut MeasurementFields,
        key: &'static str,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match key {
            "id" => p.id = Some(map.next_value()?),
            "kind" => p.kind = Some(map.next_value()?),
            "points" => p.points = Some(map.next_value()?),
            "plane" => p.plane = Some(map.next_value()?),
            _ => p.name = map.next_value()?,
        }
        Ok(())
    }

    fn finish<E: de::Error>(p: MeasurementFields, mut t: Translations) -> Result<Self, E> {
        Ok(MeasurementDef {
            id: required(p.id, "id")?,
            kind: required(p.kind, "kind")?,
            points: required(p.points, "points")?,
            plane: required(p.plane, "plane")?,
            name: p.name.map(|english| t.localize("name", english)),
        })
    }
}

macro_rules! deserialize_table {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                read(deserializer)
            }
        }
    )*};
}

deserialize_table!(DatasetInfo, Label, LandmarkDef, MeasurementDef);
