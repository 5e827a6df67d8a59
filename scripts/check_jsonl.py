#!/usr/bin/env python3
"""Checks chat JSONL files (outputs.md §4) the way trainers read them.

Usage: check_jsonl.py <dataset dir>   (needs datasets and pillow)

`datasets.load_dataset("json", data_files=...)` must read every `jsonl/<split>.jsonl`; each line has one user
turn starting with `<image>` and one assistant turn, one image per `<image>`, and every image path (relative to
the JSONL folder) must exist and open as a PNG. Rows of one fact in several languages (ids differing only in
the last component) must carry the same answer.

`jsonl/dataset_info.json` is read the way LLaMA-Factory reads its registry (data/parser.py `get_dataset_list`,
data/converter.py `SharegptDatasetConverter`, `_find_medias`; checked against hiyouga/LLaMA-Factory at commit
01d3ac67e604447345b01dfb2bc318200a135d8e, re-implemented minimally here): every JSONL file has one entry
`<dataset>_<split>` with `file_name`, `formatting: sharegpt`, the `messages`/`images` columns and the
role/content/user/assistant tags the lines use, and every image path, joined to `media_dir` (= `dataset_dir`,
the JSONL folder) as LLaMA-Factory does, is a file. Absolute image paths (`--jsonl-image-paths absolute`) pass
the same join unchanged.
"""
import json
import os
import sys
from collections import defaultdict

import datasets
from PIL import Image


def main(dataset_dir):
    jsonl_dir = os.path.join(dataset_dir, "jsonl")
    files = {f[: -len(".jsonl")]: os.path.join(jsonl_dir, f) for f in sorted(os.listdir(jsonl_dir)) if f.endswith(".jsonl")}
    assert files, f"no JSONL files in {jsonl_dir}"
    ds = datasets.load_dataset("json", data_files=files)
    answers = defaultdict(set)
    opened = set()
    for split, rows in ds.items():
        assert {"id", "images", "messages", "lang"} <= set(rows.column_names), rows.column_names
        for row in rows:
            msgs = row["messages"]
            assert [m["role"] for m in msgs] == ["user", "assistant"], msgs
            assert msgs[0]["content"].count("<image>") == len(row["images"]) == 1, row["id"]
            assert msgs[0]["content"].startswith("<image>")
            for rel in row["images"]:
                path = os.path.join(jsonl_dir, rel)
                assert os.path.isfile(path), f"{row['id']}: missing image {path}"
                if path not in opened:
                    with Image.open(path) as img:
                        assert img.format == "PNG", path
                    opened.add(path)
            base, lang = row["id"].rsplit("/", 1)
            assert lang == row["lang"], row["id"]
            answers[base].add(msgs[1]["content"])
        print(f"{split}: {len(rows)} rows, languages {sorted(set(rows['lang']))}, every image exists")
    check_registry(jsonl_dir, ds)
    multi = [b for b, a in answers.items() if len(a) != 1]
    assert not multi, f"languages disagree on the answer of {multi[:3]}"
    print(f"{len(opened)} distinct images opened; every fact has one answer across languages")
    print("ok")


def check_registry(jsonl_dir, ds):
    with open(os.path.join(jsonl_dir, "dataset_info.json"), encoding="utf-8") as f:
        registry = json.load(f)
    files = {e["file_name"]: name for name, e in registry.items()}
    assert set(files) == {f"{split}.jsonl" for split in ds}, f"registry names {sorted(files)}, splits {sorted(ds)}"
    for name, entry in registry.items():
        assert "hf_hub_url" not in entry and "script_url" not in entry, name  # load_from = "file"
        assert entry["formatting"] == "sharegpt", name
        columns, tags = entry["columns"], entry["tags"]
        rows = ds[entry["file_name"][: -len(".jsonl")]]
        for row in rows:
            messages = row[columns["messages"]]
            roles = [m[tags["role_tag"]] for m in messages]
            # The converter wants user/assistant turns in alternation, starting with the user.
            assert roles == [tags["user_tag"], tags["assistant_tag"]], (name, roles)
            assert all(isinstance(m[tags["content_tag"]], str) for m in messages)
            for media in row[columns["images"]]:
                path = os.path.join(jsonl_dir, media)  # media_dir defaults to dataset_dir
                assert os.path.isfile(path), f"{name}: LLaMA-Factory would not find {media}"
        print(f"dataset_info.json: {name} -> {entry['file_name']}, {len(rows)} rows, every image found from dataset_dir")


if __name__ == "__main__":
    main(sys.argv[1])
