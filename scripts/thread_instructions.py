#!/usr/bin/env python3
"""Where a build's instructions run, thread by thread, counted by valgrind's callgrind (docs/measurements.md §14).

Wall and CPU seconds on the shared 2-core machines move by ±15 % between runs; instruction counts do not (the
same binary, input and flags give the same count to a few parts in 10,000, whatever else the machine does).
This script runs one build under `valgrind --tool=callgrind --separate-threads=yes` and prints one Markdown
row: the instructions (user space only) of the main thread (discovery, the writer, the outputs' finish), the
case workers (`stream::work_cases`), the rayon pool (a big case's slices, Parquet row groups, JSONL images)
and any other thread (the image's converter beside its inflate), and two ratios:

- share of the busiest thread: what one thread has to run;
- `2 × busiest / total`: the `--threads 2` vs `--threads 1` speedup this split allows on a machine where an
  instruction costs the same on every thread at any load, if the busiest thread sets the 1-thread time (true
  when it never waits for the others, as a many-case build's one case worker) and two threads share the total
  evenly. Only for a `--threads 1` build: valgrind runs one thread at a time, so how a pool shares its work
  under it says nothing about a real run; for other builds the two columns are "–" and only the totals count
  (the same input gives the same total at any thread count when the build does the same work).

Usage:
    python3 scripts/thread_instructions.py --header
    python3 scripts/thread_instructions.py --name "16 cases, parquet" -- \\
        target/release/medvision-build --manifest manifests/kits23.toml --data-root D --out O \\
        --formats parquet --threads 1

Needs valgrind (Debian package `valgrind`); a build runs ~50–100× slower under it.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

ROLES = [
    ("case workers", "medvision_build::pipeline::stream::work_cases"),
    ("pool", "rayon_core::registry::ThreadBuilder::run"),
    ("main", "medvision_build::main"),
]
COLUMNS = ["main", "case workers", "pool", "other"]


def role_of(text):
    for role, function in ROLES:
        if re.search(r"^fn=" + re.escape(function) + r"$", text, re.M):
            return role
    return "other"


def run(command):
    with tempfile.TemporaryDirectory(prefix="thread-instr-") as tmp:
        out = os.path.join(tmp, "callgrind.out")
        log = os.path.join(tmp, "valgrind.log")
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--compress-strings=no",
             f"--callgrind-out-file={out}", f"--log-file={log}"] + command,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            sys.exit(f"build failed under valgrind (exit {result.returncode}):\n{result.stderr}"
                     + open(log).read())
        per_role = {c: 0 for c in COLUMNS}
        threads = {c: 0 for c in COLUMNS}
        busiest = 0
        files = sorted(glob.glob(out + "-*"))
        if not files:
            sys.exit(f"callgrind wrote no per-thread files under {tmp}")
        for path in files:
            text = open(path).read()
            m = re.search(r"^summary: (\d+)$", text, re.M)
            if not m:
                sys.exit(f"{path}: no 'summary:' line (callgrind output format changed?)")
            count = int(m.group(1))
            role = role_of(text)
            per_role[role] += count
            threads[role] += 1
            busiest = max(busiest, count)
        return per_role, threads, busiest


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--header", action="store_true", help="print the table header and exit")
    parser.add_argument("--name", default="", help="the row's label")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the build command")
    args = parser.parse_args()
    if args.header:
        print("| build | main M instr | case workers M instr | pool M instr | other threads M instr "
              "| total M instr | busiest thread share | 2 × busiest / total |")
        print("|---|---|---|---|---|---|---|---|")
        return
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no build command (put it after --)")
    per_role, threads, busiest = run(command)
    total = sum(per_role.values())
    one_thread = "--threads=1" in command or any(
        a == "--threads" and b == "1" for a, b in zip(command, command[1:]))
    cells = []
    for c in COLUMNS:
        n = threads[c]
        cells.append(f"{per_role[c] / 1e6:,.0f}" + (f" ({n} threads)" if n > 1 else "")
                     if n else "–")
    ratios = (f"{100 * busiest / total:.1f} % | {min(2.0, 2 * busiest / total):.2f}×"
              if one_thread else "– | –")
    print(f"| {args.name} | " + " | ".join(cells) + f" | {total / 1e6:,.0f} | {ratios} |")


if __name__ == "__main__":
    main()
