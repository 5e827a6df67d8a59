#!/usr/bin/env bash
# Paired timing of two medvision-build binaries: runs A B A B … on the same build, prints each run's wall
# seconds, CPU seconds (user + system) and peak RSS (GNU time), then the medians and the median of the
# per-pair ratios B/A (CPU time is the steadier measure on a machine shared with other work).
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
run() { # bin label pair build-args… → "label wall_s rss_kb user_s sys_s"
    local bin=$1 label=$2 out=$tmp/out-$2-$3
    shift 3
    /usr/bin/time -f '%e %M %U %S' -o "$tmp/time" "$bin" "$@" --out "$out" >/dev/null 2>"$tmp/err" || true
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
runs = {side: [(float(w), int(r), float(u) + float(s)) for n, w, r, u, s in rows if n == side] for side in ("old", "new")}
med = statistics.median
for side, xs in runs.items():
    print(f"{side}: median wall {med([x[0] for x in xs]):.3f} s, CPU {med([x[2] for x in xs]):.3f} s, "
          f"peak RSS {med([x[1] for x in xs]) / 1024:.0f} MiB")
pairs = list(zip(runs["old"], runs["new"]))
print(f"new/old: median of paired ratios, wall {med([n[0] / o[0] for o, n in pairs]):.3f}, "
      f"CPU {med([n[2] / o[2] for o, n in pairs]):.3f}")
PY
