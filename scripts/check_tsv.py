#!/usr/bin/env python3
"""Checks GMAI-MMBench-style TSV files the way VLMEvalKit reads them, and scores prediction files.

Usage: check_tsv.py <dataset dir or .tsv files>...   (needs pandas and pillow)

For every TSV (outputs.md §2): raw text is UTF-8 with every field double-quoted; pandas `read_csv(sep='\t')`
(VLMEvalKit's loader) gives exactly the GMAI columns in order; the options present are consecutive from A,
none read as missing, none re-typed as numbers; `answer` is one of them; `category` (the structure asked
about) and `l2-category` (the question family) are non-empty and never the answer's text, so the hidden
copies, which lack only `answer`, keep them; `index` is unique; the image is base64 of a 3-channel PNG; the
file is under 1 GB and its name free of the words that switch VLMEvalKit's scoring mode. The number of
columns VLMEvalKit's per-category accuracy gets (one per distinct `category`, one per `l2-category`) is
printed.

Images are stored once per file: a later item with the same image carries the first item's `index` in its
`image` field. `resolve_images` replays VLMEvalKit's own resolution of such references (copied from
open-compass/VLMEvalKit vlmeval/dataset/image_base.py, ImageBaseDataset.__init__, commit
e8e78f05f3080fe28154f2130321f17951c3be94); the check then asserts that every reference resolved, that no
image is stored twice in one file, and that every resolved image is an RGB PNG.

Then the multiple-choice path of VLMEvalKit is re-implemented minimally: the prompt is built from the question
and options A–E (ImageMCQDataset.build_prompt), predictions are matched to a letter (can_infer_option, then
can_infer_text) and scored. A perfect prediction file must score 100 %; a shuffled one near chance.
English and Arabic files of one split must carry the same letters row by row.
"""
import base64
import io
import os
import random
import string
import sys
from collections import Counter

import pandas as pd
from PIL import Image

COLUMNS = ["index", "question", "A", "B", "C", "D", "E", "answer", "category", "l2-category", "clinical VQA task",
           "department", "perceptual granularity", "modality", "original task", "image"]
FORBIDDEN = ["mmbench", "ccbench", "circular", "mmcr", "openended"]
GRANULARITIES = {"Image level", "Box level", "Mask level", "Contour level"}


def build_prompt(line):
    """VLMEvalKit ImageMCQDataset.build_prompt (text part)."""
    question = line["question"]
    options = {c: line[c] for c in string.ascii_uppercase if c in line and not pd.isna(line[c])}
    prompt = f"Question: {question}\n"
    if options:
        prompt += "Options:\n" + "".join(f"{k}. {v}\n" for k, v in options.items())
        prompt += "Please select the correct answer from the options above. \n"
    return prompt, options


def can_infer_option(answer, choices):
    """VLMEvalKit vlmeval/utils/matching_util.py can_infer_option (without the API-failure strings)."""
    answer_mod = answer
    for c in ".()[],:;!*#{}":
        answer_mod = answer_mod.replace(c, " ")
    splits = [x.strip() for x in answer_mod.split()]
    count = sum(1 for c in choices if c in splits)
    if count == 1:
        for ch in choices:
            if ch in splits:
                return ch
    elif count == 0 and sum(1 for c in ("Z", "") if c in splits) == 1:
        return "Z"
    return False


def can_infer_text(answer, choices):
    answer = answer.lower()
    cands = [k for k, v in choices.items() if str(v).lower() in answer]
    return cands[0] if len(cands) == 1 else False


def can_infer(answer, choices):
    answer = str(answer)
    return can_infer_option(answer, choices) or can_infer_text(answer, choices)


def score(data, predictions):
    hits = 0
    for (_, line), pred in zip(data.iterrows(), predictions):
        _, options = build_prompt(line)
        hits += can_infer(pred, dict(options)) == line["answer"]
    return hits / len(data)


def check_raw(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        for field in line.split("\t"):
            assert len(field) >= 2 and field[0] == '"' and field[-1] == '"', f"{path}:{n}: unquoted field {field[:40]!r}"
    assert text.endswith("\n"), f"{path}: no final newline"
    assert len(raw) < 1_000_000_000, f"{path}: {len(raw)} bytes"
    name = os.path.basename(path).lower()
    assert not any(w in name for w in FORBIDDEN), f"{path}: name switches VLMEvalKit's scoring mode"


def check_file(path):
    check_raw(path)
    data = pd.read_csv(path, sep="\t")
    hidden = path.endswith("_hidden.tsv") or "_hidden_part_" in path
    want = [c for c in COLUMNS if not (hidden and c == "answer")]
    assert list(data.columns) == want, f"{path}: columns {list(data.columns)}"
    assert data["index"].is_unique, f"{path}: duplicate index"
    for col in "ABCDE":
        assert not pd.api.types.is_numeric_dtype(data[col]) or data[col].isna().all(), f"{path}: column {col} re-typed as {data[col].dtype}"
    letters = Counter()
    for _, line in data.iterrows():
        _, options = build_prompt(line)
        present = list(options)
        assert present == list("ABCDE"[: len(present)]) and len(present) >= 2, f"{path}: index {line['index']}: options {present}"
        assert all(isinstance(v, str) for v in options.values())
        assert line["perceptual granularity"] in GRANULARITIES, line["perceptual granularity"]
        for col in ("category", "l2-category", "clinical VQA task", "department", "modality", "original task"):
            assert isinstance(line[col], str) and line[col], f"{path}: empty {col}"
        if not hidden:
            assert line["answer"] in options, f"{path}: answer {line['answer']} not among {present}"
            assert line["category"] != options[line["answer"]], f"{path}: index {line['index']}: category is the answer"
            letters[(len(present), line["answer"])] += 1
    stored = [x for x in data["image"] if isinstance(x, str) and len(x) > 64]
    assert len(stored) == len(set(stored)), f"{path}: an image is stored twice"
    refs = sum(1 for x in data["image"] if 0 < len(str(x)) <= 64)
    data = resolve_images(data)
    assert all(len(x) > 64 for x in data["image"]), f"{path}: an unresolved image field"
    print(f"  {os.path.basename(path)}: {len(stored)} images stored, {refs} short references resolved")
    for b64 in data["image"].unique():
        img = Image.open(io.BytesIO(base64.b64decode(b64, validate=True)))
        assert img.format == "PNG" and img.mode == "RGB", f"{path}: image {img.format} {img.mode}"
    return data, hidden, letters


def resolve_images(data):
    """VLMEvalKit's reading of the `image` column (image_base.py, ImageBaseDataset.__init__, commit
    e8e78f05f3080fe28154f2130321f17951c3be94), verbatim but for the image_path and toliststr parts: `index` is
    turned into strings, an `image` of 1–64 characters is the index of a row whose image is longer than 64."""
    data = data[~pd.isna(data['image'])].copy()
    data['index'] = [str(x) for x in data['index']]
    data['image'] = [str(x) if not pd.isna(x) else '' for x in data['image']]
    image_map = {x: y for x, y in zip(data['index'], data['image'])}
    for k in image_map:
        if len(image_map[k]) <= 64 and len(image_map[k]) > 0:
            idx = image_map[k]
            assert idx in image_map and len(image_map[idx]) > 64
            image_map[k] = image_map[idx]
    data['image'] = [image_map[k] for k in data['index']]
    return data


def chi_square(counts):
    n = sum(counts)
    e = n / len(counts)
    return sum((c - e) ** 2 / e for c in counts)


def main(args):
    paths = []
    for a in args:
        if os.path.isdir(a):
            for root, _, files in os.walk(a):
                paths += [os.path.join(root, f) for f in files if f.endswith(".tsv")]
        else:
            paths.append(a)
    paths.sort()
    assert paths, "no TSV files found"
    rng = random.Random(0)
    answers = {}
    all_letters = Counter()
    for path in paths:
        data, hidden, letters = check_file(path)
        # Letters are counted once per item: other languages repeat the English letters.
        if "_en" in os.path.basename(path) or not any("_en" in os.path.basename(p) for p in paths):
            all_letters.update(letters)
        line = f"{os.path.basename(path)}: {len(data)} rows, columns ok, images RGB PNG"
        if not hidden:
            perfect = score(data, list(data["answer"]))
            perfect_text = score(data, [f"The answer is {l[l['answer']]}" for _, l in data.iterrows()])
            shuffled = list(data["answer"])
            rng.shuffle(shuffled)
            random_score = score(data, shuffled)
            n_opts = [len(build_prompt(l)[1]) for _, l in data.iterrows()]
            chance = sum(1 / n for n in n_opts) / len(n_opts)
            assert perfect == 1.0, f"{path}: perfect predictions score {perfect}"
            line += f"; perfect {perfect:.1%}, perfect as text {perfect_text:.1%}, shuffled {random_score:.1%} (chance {chance:.1%})"
            line += (f"; per-category accuracy: {data['category'].nunique()} categories, "
                     f"{data['l2-category'].nunique()} l2-categories")
            answers[path] = list(data["answer"])
        print(line)
    for path, letters in answers.items():
        if "_en" in os.path.basename(path):
            ar = path.replace("_en", "_ar")
            if ar in answers:
                assert answers[ar] == letters, f"{path} and {ar} differ in letters"
                print(f"{os.path.basename(path)} and {os.path.basename(ar)}: same {len(letters)} letters row by row")
    for n_options in sorted({k[0] for k in all_letters}):
        counts = [all_letters[(n_options, c)] for c in "ABCDE"[:n_options]]
        print(f"{n_options}-option items: correct letters {dict(zip('ABCDE', counts))}, chi2 {chi_square(counts):.2f} "
              f"(df {n_options - 1})")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1:])
