//! Dataset card tests: the card the Parquet sink's configs and splits describe (configs, splits, size
//! categories, structure counts and samples), written next to shards from the parent module's helpers.

use super::*;

#[test]
fn card_lists_configs_and_splits() {
    let dir = temp_dir("card");
    let options = ParquetOptions {
        row_group_rows: 10,
        row_group_bytes: 100_000_000,
        shard_bytes: 15_000,
        single_config: None,
    };
    let shards = write_rows(&dir, options, 90);
    // The checksum streamed while writing is the checksum of the file.
    for shard in &shards {
        let bytes = fs::read(&shard.path).unwrap();
        assert_eq!(shard.xxh3_128, xxhash_rust::xxh3::xxh3_128(&bytes));
        assert_eq!(shard.bytes, bytes.len() as u64);
    }
    let configs = CardConfig::from_shards(&shards, &dir).unwrap();
    let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["bbox", "distance", "mask_size"]);
    let sum_of = |config: &str, split: &str, size: fn(&WrittenShard) -> u64| -> u64 {
        shards
            .iter()
            .filter(|s| s.config == config && s.split == split)
            .map(size)
            .sum()
    };
    let bytes_of = |config: &str, split: &str| sum_of(config, split, |s| s.bytes);
    let arrow_of = |config: &str, split: &str| sum_of(config, split, |s| s.arrow_bytes);
    assert_eq!(
        configs[0].splits,
        vec![
            CardSplit {
                split: "train".into(),
                glob: "bbox/train-*.parquet".into(),
                rows: 24,
                bytes: bytes_of("bbox", "train"),
                arrow_bytes: arrow_of("bbox", "train"),
            },
            CardSplit {
                split: "test".into(),
                glob: "bbox/test-*.parquet".into(),
                rows: 6,
                bytes: bytes_of("bbox", "test"),
                arrow_bytes: arrow_of("bbox", "test"),
            },
        ]
    );
    // The fingerprint follows every shard's checksum.
    let mut changed = shards.clone();
    changed[1].xxh3_128 ^= 1;
    let other = CardConfig::from_shards(&changed, &dir).unwrap();
    assert_ne!(other[0].fingerprint, configs[0].fingerprint);
    assert_eq!(other[1..], configs[1..]);
    let card = card_info(configs.clone());
    let text = render_card(&card);
    let front = text.split("---\n").nth(1).unwrap();
    assert!(front.starts_with(concat!(
        "pretty_name: \"Synth: phantoms\"\n",
        "license: \"cc-by-4.0\"\n",
        "language:\n- \"en\"\n- \"ar\"\n",
        "size_categories:\n- \"n<1K\"\n",
        "task_categories:\n- \"visual-question-answering\"\n",
        "tags:\n- \"medical\"\n",
        "dataset_info:\n- config_name: \"bbox\"\n  features:\n  - name: id\n    dtype: string\n",
    )));
    assert!(front.contains("  - name: image\n    dtype: image\n"));
    assert!(front.contains("  - name: landmarks_px\n    sequence:\n      sequence: float64\n"));
    let (train, test) = (bytes_of("bbox", "train"), bytes_of("bbox", "test"));
    let (train_loaded, test_loaded) = (arrow_of("bbox", "train"), arrow_of("bbox", "test"));
    assert!(front.contains(&format!(
        "  splits:\n  - name: \"train\"\n    num_bytes: {train_loaded}\n    num_examples: 24\n  - name: \"test\"\n    \
         num_bytes: {test_loaded}\n    num_examples: 6\n  download_size: {}\n  dataset_size: {}\n- config_name: \"distance\"\n",
        train + test,
        train_loaded + test_loaded
    )));
    let configs_block = front.split("configs:\n").nth(1).unwrap();
    let mut expected = String::new();
    for (i, c) in configs.iter().enumerate() {
        expected += &format!("- config_name: \"{}\"\n", c.name);
        if i == 0 {
            expected += "  default: true\n";
        }
        expected += &format!(
            "  description: \"Synth {}; content xxh3-128 {:032x}\"\n  data_files:\n",
            c.name, c.fingerprint
        );
        for split in ["train", "test"] {
            expected += &format!(
                "  - split: \"{split}\"\n    path: \"{}/{split}-*.parquet\"\n",
                c.name
            );
        }
    }
    assert_eq!(configs_block, expected);
    assert!(text.contains("| `pixel_count` | int64 |"));
    assert!(text.contains(&format!(
        "| bbox | train | 24 | {train} | {train_loaded} | `bbox/train-*.parquet` |"
    )));
    assert!(text
        .contains("Derived from [Synth](https://example.org/synth), whose license is `cc-by-4.0`"));
    assert!(text.contains("```bibtex\n@misc{synth, title={Synth}}\n```"));
    assert!(text.contains(
        "| label id | name (en) | name (ar) | bbox | mask_size |\n|---|---|---|---|---|\n\
         | 2 | liver \\| left | الكبد | 24 | 0 |\n| 3 | kidney | الكلية | 0 | 5 |\n"
    ));
    assert!(text.contains("![bbox: first row](samples/bbox.png)"));
    assert!(text.contains("loads the default config (`bbox`)"));
    write_card(&dir, &card).unwrap();
    assert_eq!(fs::read_to_string(dir.join("README.md")).unwrap(), text);
    assert_eq!(
        fs::read(dir.join("samples/bbox.png")).unwrap(),
        tiny_png(2, 2, 9)
    );
    assert!(!dir.join("README.md.partial").exists());
    // A card without samples removes the old sample images.
    let mut bare = card.clone();
    bare.samples.clear();
    write_card(&dir, &bare).unwrap();
    assert!(!dir.join("samples/bbox.png").exists());
    // A shard outside the dataset dir is an error naming it.
    let outside = WrittenShard {
        path: PathBuf::from("/elsewhere/bbox/train-00000-of-00001.parquet"),
        ..shards[0].clone()
    };
    assert!(matches!(
        CardConfig::from_shards(&[outside], &dir),
        Err(SinkError::ShardOutsideDataset { .. })
    ));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn size_categories_follow_the_hub_buckets() {
    assert_eq!(size_category(0), "n<1K");
    assert_eq!(size_category(999), "n<1K");
    assert_eq!(size_category(1_000), "1K<n<10K");
    assert_eq!(size_category(659_000), "100K<n<1M");
    assert_eq!(size_category(5_000_000_000), "1B<n<10B");
    assert_eq!(size_category(2_000_000_000_000), "n>1T");
}

#[test]
fn card_rows_count_structures_in_the_first_language_and_keep_first_samples() {
    let row = |id: &str, config: &str, lang: &str, label: Option<i32>, name: &str, v: u32| Row {
        id: format!("ds/c/case/{config}/T01/axial/3/{id}/{lang}"),
        config: config.into(),
        lang: lang.into(),
        label_id: label,
        label_name: Some(name.into()),
        question: format!("q{v}"),
        answer: format!("a{v}"),
        image_png: tiny_png(2, 2, v).into(),
        ..Row::default()
    };
    let mut rows = CardRows::new(vec!["en".into(), "ar".into()]);
    for r in [
        row("SNB", "distance", "en", None, "SNB", 1),
        row("SNB", "distance", "ar", None, "SNB ar", 2),
        row("2", "bbox", "en", Some(2), "kidney tumor", 3),
        row("2", "bbox", "ar", Some(2), "الورم", 4),
        row("1", "bbox", "en", Some(1), "kidney", 5),
        row("1", "mask_size", "en", Some(1), "kidney", 6),
        row("1", "bbox", "fr", Some(1), "rein", 7),
    ] {
        rows.row(&r);
    }
    let (structures, samples) = rows.finish();
    /// (label id, names per language, rows per config).
    type Summary = (Option<i32>, Vec<String>, Vec<(String, u64)>);
    let summary: Vec<Summary> = structures
        .into_iter()
        .map(|s| (s.label_id, s.names, s.rows.into_iter().collect()))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        summary,
        vec![
            (
                Some(1),
                s(&["kidney", ""]),
                vec![("bbox".into(), 1), ("mask_size".into(), 1)]
            ),
            (
                Some(2),
                s(&["kidney tumor", "الورم"]),
                vec![("bbox".into(), 1)]
            ),
            (None, s(&["SNB", "SNB ar"]), vec![("distance".into(), 1)]),
        ]
    );
    let firsts: Vec<(&str, &str)> = samples
        .iter()
        .map(|s| (s.config.as_str(), s.question.as_str()))
        .collect();
    assert_eq!(
        firsts,
        [("bbox", "q3"), ("distance", "q1"), ("mask_size", "q6")]
    );
    assert_eq!(*samples[0].png, *tiny_png(2, 2, 3));
}

#[test]
fn a_custom_license_gets_the_hubs_name_and_link() {
    let mut card = card_info(Vec::new());
    let front = |card: &CardInfo| render_card(card).split("---\n").nth(1).unwrap().to_string();
    // A Hub license id needs neither.
    assert!(!front(&card).contains("license_name"));
    card.license = "other".into();
    card.source.name = "autoPET-III (2024)".into();
    assert!(front(&card).starts_with(concat!(
        "pretty_name: \"Synth: phantoms\"\n",
        "license: \"other\"\n",
        "license_name: \"autopet-iii-2024-terms\"\n",
        "license_link: \"https://example.org/synth\"\n",
        "language:\n",
    )));
    // Without a homepage there is nothing to link to.
    card.source.homepage = None;
    card.source.name = "--".into();
    let text = front(&card);
    assert!(text.contains("license: \"other\"\nlicense_name: \"terms\"\nlanguage:\n"));
}
