#!/usr/bin/env bash
# Paired timing of two medvision-build binaries: runs A B A B … on the same build, prints each run's wall
# seconds and peak RSS (GNU time), then the medians and the median of the per-pair ratios B/A.
#
# Usage: scripts/paired_runs.sh OLD_BIN NEW_BIN PAIRS -- BUILD_ARGS...
# (BUILD_ARGS without --out; each run writes to a fresh temporary folder that is removed afterwards.)
set -euo pipefail
if [[ $# -lt 4 || $4 != -- ]]; then
    echo "usage: $0 OLD_BIN NEW_BIN PAIRS -- BUILD_ARGS..." >&2
    exit 2
fi
OLD=$1 NEW=$2 PAIRS=$3
shift 4
[[ -x /usr/bin/time ]] || { echo "needs GNU time at /usr/bin/time" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/paired-runs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
run() { # bin label pair build-args… → "label wall_s rss_kb"
    local bin=$1 label=$2 out=$tmp/out-$2-$3
    shift 3
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$bin" "$@" --out "$out" >/dev/null 2>"$tmp/err" || true
    rm -rf "$out"
    printf '%s %s\n' "$label" "$(tail -n 1 "$tmp/time")"
}
results=$tmp/results
for ((p = 1; p <= PAIRS; p++)); do
    run "$OLD" old "$p" "$@" | tee -a "$results"
    run "$NEW" new "$p" "$@" | tee -a "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
old = [(float(w), int(r)) for n, w, r in rows if n == "old"]
new = [(float(w), int(r)) for n, w, r in rows if n == "new"]
med = lambda xs: statistics.median(xs)
print(f"old: median {med([w for w, _ in old]):.3f} s, peak RSS median {med([r for _, r in old]) / 1024:.0f} MiB")
print(f"new: median {med([w for w, _ in new]):.3f} s, peak RSS median {med([r for _, r in new]) / 1024:.0f} MiB")
print(f"new/old: median of paired ratios {med([n[0] / o[0] for o, n in zip(old, new)]):.3f}")
PY
