"""Golden split sizes for the dataset card (src/sink/arrow_size.rs, tests/integration/datasets.rs).

The card's `dataset_info` gives each split's `num_bytes`: what `datasets` itself records for the split once it
has loaded it (the Arrow table it caches, pyarrow's `Table.nbytes` summed over the batches it reads). This
script asks `datasets` for that number, independently of the Rust code: it builds a few committed fixtures
exactly as the integration test does (`--formats parquet --threads 2`), loads every config of each build
through its card with `datasets.load_dataset_builder(...).download_and_prepare()` into a fresh cache, and
writes the `num_bytes` `datasets` recorded per config and split, with the versions used.

Checked with datasets 3.6.0 and 5.2.0 on pyarrow 26.0.1 (same numbers), and the per-array rule against
pyarrow 15.0.2's `nbytes`. Run from the repository root, in a venv with `datasets` and `pyyaml`:

    cargo build --release
    python3 scripts/arrow_size_golden.py target/release/medvision-build
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import datasets
import pyarrow
import yaml

OUT = "tests/golden/arrow_size"
# Lesions and boxes (CT), MRI with several collections, landmarks on 2D images of two sizes, many labels.
FIXTURES = ["kits23", "brats24", "ceph_biometrics_400", "totalsegmentator"]


def front_matter(readme):
    text = open(readme, encoding="utf-8").read()
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1))


def main():
    binary = os.path.abspath(sys.argv[1])
    datasets.disable_progress_bars()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for stem in FIXTURES:
            out = os.path.join(tmp, stem)
            subprocess.run(
                [binary, "--manifest", f"manifests/{stem}.toml", "--data-root", f"fixtures/{stem}",
                 "--out", out, "--formats", "parquet", "--threads", "2"],
                check=True, stdout=subprocess.DEVNULL)
            (name,) = os.listdir(out)
            dataset_dir = os.path.join(out, name)
            sizes = {}
            for config in front_matter(os.path.join(dataset_dir, "README.md"))["configs"]:
                cache = os.path.join(tmp, "cache")
                shutil.rmtree(cache, ignore_errors=True)
                builder = datasets.load_dataset_builder(dataset_dir, config["config_name"], cache_dir=cache)
                builder.download_and_prepare()
                sizes[config["config_name"]] = {s: info.num_bytes for s, info in builder.info.splits.items()}
            golden = {
                "made_by": "scripts/arrow_size_golden.py",
                "datasets": datasets.__version__,
                "pyarrow": pyarrow.__version__,
                "num_bytes": sizes,
            }
            with open(os.path.join(OUT, f"{stem}.json"), "w", encoding="utf-8") as f:
                json.dump(golden, f, indent=1, sort_keys=True)
                f.write("\n")
            print(stem, sizes)


if __name__ == "__main__":
    main()
