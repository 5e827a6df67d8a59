#!/usr/bin/env python3
"""Checks chat JSONL files (outputs.md §4) the way trainers read them.

Usage: check_jsonl.py <dataset dir>   (needs datasets and pillow)

`datasets.load_dataset("json", data_files=...)` must read every `jsonl/<split>.jsonl`; each line has one user
turn starting with `<image>` and one assistant turn, one image per `<image>`, and every image path (relative to
the JSONL folder) must exist and open as a PNG. Rows of one fact in several languages (ids differing only in
the last component) must carry the same answer.
"""
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
    multi = [b for b, a in answers.items() if len(a) != 1]
    assert not multi, f"languages disagree on the answer of {multi[:3]}"
    print(f"{len(opened)} distinct images opened; every fact has one answer across languages")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
