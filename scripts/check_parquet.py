#!/usr/bin/env python3
"""Manual check of a medvision-build dataset directory with real readers (not run in CI).

    python3 scripts/check_parquet.py <dataset_dir>

For every `<config>/<split>-NNNNN-of-MMMMM.parquet` shard:
  * pyarrow: image column is struct<bytes: binary, path: string>, huggingface metadata in the Arrow
    schema, identical schema across all shards, row groups <= 100 rows, image column uncompressed and
    the rest zstd, page index present;
  * DuckDB: SELECT task_type, count(*) FROM '<shard>' GROUP BY 1 sums to the shard's row count;
  * `image.bytes` is dictionary-encoded (a dictionary page, every data page RLE_DICTIONARY) so each distinct
    PNG is stored once per row group, and pyarrow, DuckDB and polars (when installed) return the same PNG
    bytes for every row (sha256 per row); the stored image bytes vs the distinct PNG bytes are printed.
For every config:
  * datasets.load_dataset("parquet", data_files=...), datasets.load_dataset(<dataset_dir>/<config>)
    (splits discovered from the file names, no card) and datasets.load_dataset(<dataset_dir>, <config>)
    (through the README.md `configs:` block): the `image` feature is `Image`, the first row decodes to a
    PIL image of image_width × image_height, columns come in file order, row counts match, and every row's
    image bytes (read with decode=False) equal pyarrow's.
For the dataset card (README.md):
  * `huggingface_hub.DatasetCard` parses it; it has `license` (with `license_name` when it is `other`),
    `size_categories`, `dataset_info` (features equal to the shards' own `huggingface` features, split row
    counts equal to the shards', each split's `num_bytes` equal to what `datasets` records when it loads the
    split, `dataset_size` their sum, `download_size` the config's Parquet bytes) and exactly one
    config marked `default: true`, which `datasets.load_dataset(<dataset_dir>)` loads without a config name;
  * every `samples/<task family>.png` the card shows exists and opens as a PNG.
With `--rebuild "<command>"`: loads every config into a fresh cache, runs the command (a build into the same
folder with different content, e.g. another `--profile`), loads again with the same cache and checks that
`datasets` returns the new rows, not the cached old ones.
DuckDB and polars are optional (the `datasets==3.6.0` check venv may lack them).
Exits non-zero on the first failed check.

    python3 scripts/check_parquet.py <dataset_dir> [--rebuild "<command>"]
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

import hashlib

import datasets
import PIL.Image
import pyarrow as pa
import pyarrow.parquet as pq

try:
    import duckdb
except ImportError:
    duckdb = None
try:
    import polars
except ImportError:
    polars = None

# sha256 of every row's PNG as pyarrow reads it, per shard path.
PNG_HASHES = {}

SHARD_RE = re.compile(r"^(\w+(?:\.\w+)*)-(\d{5})-of-(\d{5})\.parquet$")


def check(cond, msg):
    if not cond:
        print(f"FAIL: {msg}")
        sys.exit(1)


def check_shard(path, reference_schema):
    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    image = schema.field("image")
    expected_image = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    check(image.type == expected_image, f"{path}: image type {image.type}")
    check(all(f.nullable for f in schema), f"{path}: a non-nullable field")
    check(all(f.nullable for f in image.type), f"{path}: a non-nullable image child")
    meta = json.loads(schema.metadata[b"huggingface"])
    features = meta["info"]["features"]
    check(features["image"] == {"_type": "Image"}, f"{path}: image feature {features['image']}")
    check(list(features) == schema.names, f"{path}: feature order differs from columns")
    check('"List"' not in schema.metadata[b"huggingface"].decode(), f"{path}: uses List")
    for f in schema:
        check(f.type not in (pa.large_binary(), pa.large_string(), pa.float16()), f"{path}: {f}")
    if reference_schema is not None:
        check(schema.equals(reference_schema, check_metadata=True), f"{path}: schema differs")
    md = pf.metadata
    for rg in range(md.num_row_groups):
        group = md.row_group(rg)
        check(group.num_rows <= 100, f"{path}: row group {rg} has {group.num_rows} rows")
        for c in range(group.num_columns):
            col = group.column(c)
            if col.path_in_schema.startswith("image."):
                check(col.compression == "UNCOMPRESSED", f"{path}: {col.path_in_schema} {col.compression}")
            else:
                check(col.compression == "ZSTD", f"{path}: {col.path_in_schema} {col.compression}")
            check(col.has_offset_index, f"{path}: no offset index for {col.path_in_schema}")
    table = pq.read_table(path)
    stored = 0
    for rg in range(md.num_row_groups):
        group = md.row_group(rg)
        col = next(group.column(c) for c in range(group.num_columns)
                   if group.column(c).path_in_schema == "image.bytes")
        check(col.has_dictionary_page, f"{path}: row group {rg}: image.bytes has no dictionary page")
        data_encodings = {e for e in col.encodings if e not in ("PLAIN", "RLE")}
        check(data_encodings == {"RLE_DICTIONARY"}, f"{path}: row group {rg}: image.bytes {col.encodings}")
        stored += col.total_uncompressed_size
    pngs = [x["bytes"] for x in table.column("image").to_pylist()]
    hashes = [hashlib.sha256(b).hexdigest() for b in pngs]
    PNG_HASHES[path] = hashes
    distinct = sum(len(b) for b in {h: b for h, b in zip(hashes, pngs)}.values())
    readers = ["pyarrow"]
    if duckdb is not None:
        rows = duckdb.sql(f"SELECT task_type, count(*) FROM '{path}' GROUP BY 1 ORDER BY 1").fetchall()
        check(sum(n for _, n in rows) == table.num_rows, f"{path}: duckdb count {rows} vs {table.num_rows}")
        got = [hashlib.sha256(r[0]).hexdigest()
               for r in duckdb.sql(f"SELECT image.bytes FROM '{path}'").fetchall()]
        check(got == hashes, f"{path}: duckdb image bytes differ from pyarrow's")
        readers.append("duckdb")
    if polars is not None:
        frame = polars.read_parquet(path)
        got = [hashlib.sha256(b).hexdigest() for b in frame["image"].struct.field("bytes").to_list()]
        check(got == hashes, f"{path}: polars image bytes differ from pyarrow's")
        readers.append("polars")
    print(f"  {os.path.relpath(path)}: {table.num_rows} rows, {md.num_row_groups} row groups, "
          f"{len(set(hashes))} distinct PNGs ({distinct} bytes), image.bytes chunks {stored} bytes "
          f"({stored / max(distinct, 1):.3f}x), same bytes in {', '.join(readers)}")
    return schema, table.num_rows


def check_dataset_bytes(ds, name, shard_paths):
    """Every row's image bytes as `datasets` returns them (decode=False) equal pyarrow's."""
    want = [h for p in shard_paths for h in PNG_HASHES[p]]
    raw = ds.cast_column("image", datasets.Image(decode=False))
    got = [hashlib.sha256(x["bytes"]).hexdigest() for x in raw["image"]]
    check(got == want, f"{name}: datasets image bytes differ from pyarrow's")


def check_dataset(ds, name, expected_rows, column_order):
    feature = ds.features["image"]
    check(isinstance(feature, datasets.Image), f"{name}: image feature is {feature!r}")
    check(ds.num_rows == expected_rows, f"{name}: {ds.num_rows} rows, expected {expected_rows}")
    check(list(ds.column_names) == column_order, f"{name}: column order {ds.column_names}")
    row = ds[0]
    img = row["image"]
    check(isinstance(img, PIL.Image.Image), f"{name}: image decodes to {type(img)}")
    check(img.size == (row["image_width"], row["image_height"]), f"{name}: size {img.size}")
    print(f"  {name}: {ds.num_rows} rows, image={feature!r}, first image {img.mode} {img.size}, "
          f"landmarks feature {ds.features['landmarks_px']!r}")


def check_card(root, reference_schema, per_split):
    """The card's metadata as the Hub and `datasets` read it."""
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(os.path.join(root, "README.md"))
    data = card.data.to_dict()
    for key in ("license", "size_categories", "dataset_info", "configs"):
        check(data.get(key), f"card: no {key}")
    defaults = [c["config_name"] for c in data["configs"] if c.get("default")]
    check(len(defaults) == 1, f"card: default configs {defaults}")
    want_features = datasets.Features.from_arrow_schema(reference_schema)
    from datasets.info import DatasetInfosDict

    infos = DatasetInfosDict.from_dataset_card_data(card.data)
    for config, info in infos.items():
        check(info.features == want_features, f"card: {config} features differ from the shards'")
        for split, split_info in info.splits.items():
            rows = sum(n for *_, n in per_split[(config, split)])
            check(split_info.num_examples == rows, f"card: {config}/{split} num_examples {split_info.num_examples} vs {rows}")
        # The sizes: num_bytes is what `datasets` records once it has loaded the split (the Arrow table it
        # caches), dataset_size their sum, download_size the Parquet files.
        with tempfile.TemporaryDirectory() as cache:
            builder = datasets.load_dataset_builder(root, config, cache_dir=cache)
            builder.download_and_prepare()
            for split, loaded in builder.info.splits.items():
                said = info.splits[split].num_bytes
                check(said == loaded.num_bytes, f"card: {config}/{split} num_bytes {said} vs {loaded.num_bytes} loaded")
        check(info.dataset_size == sum(s.num_bytes for s in info.splits.values()), f"card: {config} dataset_size")
        files = sum(os.path.getsize(p) for (c, _), fs in per_split.items() if c == config for p, *_ in fs)
        check(info.download_size == files, f"card: {config} download_size {info.download_size} vs {files} file bytes")
    if data["license"] == "other":
        check(data.get("license_name"), "card: license other without license_name")
    # One sample per task family (the rows' `config` column), whatever configs the shards are grouped in.
    families = set()
    for files in per_split.values():
        for path, *_ in files:
            families.update(pq.read_table(path, columns=["config"]).column("config").to_pylist())
    for family in sorted(families):
        path = os.path.join(root, "samples", f"{family}.png")
        check(f"(samples/{family}.png)" in card.text, f"card: no sample image for {family}")
        with PIL.Image.open(path) as img:
            check(img.format == "PNG", f"{path}: {img.format}")
    default = datasets.load_dataset(root)
    for split, ds in default.items():
        rows = sum(n for *_, n in per_split[(defaults[0], split)])
        check(ds.num_rows == rows, f"default config {defaults[0]}/{split}: {ds.num_rows} rows vs {rows}")
    print(f"  card: license {data['license']}, size {data['size_categories']}, {len(infos)} dataset_info entries "
          f"with the shards' features and the sizes datasets records, default config {defaults[0]} loads "
          f"without a name, samples open")


def answers_by_pyarrow(root, config):
    return {split: [a for p in sorted(glob.glob(os.path.join(root, config, f"{split}-*.parquet")))
                    for a in pq.read_table(p, columns=["answer"]).column("answer").to_pylist()]
            for split in sorted({SHARD_RE.match(os.path.basename(p)).group(1)
                                 for p in glob.glob(os.path.join(root, config, "*.parquet"))})}


def check_rebuild(root, command, configs):
    """A rebuild in place must not be served from `datasets`' cache."""
    cache = tempfile.mkdtemp(prefix="mvb-hf-cache-")
    before = {c: {s: list(ds["answer"]) for s, ds in datasets.load_dataset(root, c, cache_dir=cache).items()}
              for c in configs}
    subprocess.run(shlex.split(command), check=True, stdout=subprocess.DEVNULL)
    changed = 0
    for c in configs:
        after = {s: list(ds["answer"]) for s, ds in datasets.load_dataset(root, c, cache_dir=cache).items()}
        check(after == answers_by_pyarrow(root, c), f"rebuild: {c} loads stale rows from the cache")
        changed += after != before[c]
    check(changed, "rebuild: the command changed no config's answers, so it proves nothing")
    print(f"  rebuild in place: {changed} of {len(configs)} configs changed, and datasets returned the new rows")


def main():
    args = sys.argv[1:]
    rebuild = None
    if "--rebuild" in args:
        i = args.index("--rebuild")
        rebuild = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        sys.exit(2)
    root = os.path.abspath(args[0])
    print(f"datasets {datasets.__version__}, pyarrow {pa.__version__}, "
          f"duckdb {duckdb.__version__ if duckdb else 'absent'}, polars {polars.__version__ if polars else 'absent'}")
    shards = sorted(glob.glob(os.path.join(root, "*", "*.parquet")))
    check(shards, f"no shards under {root}")
    reference = None
    per_split = {}
    for path in shards:
        m = SHARD_RE.match(os.path.basename(path))
        check(m, f"{path}: bad shard name")
        schema, n = check_shard(path, reference)
        reference = reference or schema
        config = os.path.basename(os.path.dirname(path))
        per_split.setdefault((config, m.group(1)), []).append((path, int(m.group(2)), int(m.group(3)), n))
    for (config, split), files in per_split.items():
        totals = {t for _, _, t, _ in files}
        check(totals == {len(files)}, f"{config}/{split}: -of- totals {totals} for {len(files)} files")
        check(sorted(i for _, i, _, _ in files) == list(range(len(files))), f"{config}/{split}: gaps")
    column_order = reference.names
    configs = sorted({c for c, _ in per_split})
    for config in configs:
        data_files = {split: [p for p, *_ in files] for (c, split), files in per_split.items() if c == config}
        direct = datasets.load_dataset("parquet", data_files=data_files)
        for split, files in data_files.items():
            rows = sum(n for (c, s), fs in per_split.items() if (c, s) == (config, split) for *_, n in fs)
            check_dataset(direct[split], f"parquet:{config}/{split}", rows, column_order)
            check_dataset_bytes(direct[split], f"parquet:{config}/{split}", files)
        # Without a card: split names are discovered from `<split>-NNNNN-of-MMMMM.parquet` file names.
        discovered = datasets.load_dataset(os.path.join(root, config))
        check(set(discovered) == set(data_files), f"{config}: discovered splits {list(discovered)}")
        for split in data_files:
            rows = sum(n for *_, n in per_split[(config, split)])
            check_dataset(discovered[split], f"discovered:{config}/{split}", rows, column_order)
        if os.path.exists(os.path.join(root, "README.md")):
            via_card = datasets.load_dataset(root, config)
            check(set(via_card) == set(data_files), f"card {config}: splits {list(via_card)}")
            for split in data_files:
                rows = sum(n for *_, n in per_split[(config, split)])
                check_dataset(via_card[split], f"card:{config}/{split}", rows, column_order)
    if os.path.exists(os.path.join(root, "README.md")):
        check_card(root, reference, per_split)
    if rebuild:
        check_rebuild(root, rebuild, configs)
    print(f"OK: {len(shards)} shards in {len(configs)} configs")


if __name__ == "__main__":
    main()
