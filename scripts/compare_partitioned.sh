#!/usr/bin/env bash
# Builds every manifest whose fixture folder fixtures/<stem>/ exists once as a whole and once as N partitions
# (default 3) + merge, and compares the two dataset folders file by file. No Slurm needed; see
# scripts/slurm_local.sh for the same comparison through a real Slurm array.
#
# Usage: scripts/compare_partitioned.sh [BIN] [N] [BUILD FLAGS...]   (e.g. --profile medvision; exit 0 only
# when every dataset is byte-identical)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/medvision-build}
N=${2:-3}
shift 2 || shift $#
EXTRA=("$@")
OUT=$(mktemp -d /tmp/compare-partitioned.XXXXXX)
status=0
for manifest in manifests/*.toml; do
    stem=$(basename "$manifest" .toml)
    [ -d "fixtures/$stem" ] || continue
    args=(--manifest "$manifest" --data-root "fixtures/$stem" --threads 2 "${EXTRA[@]}")
    single=0
    "$BIN" "${args[@]}" --out "$OUT/$stem/single" >/dev/null 2>&1 || single=$?
    codes=""
    for i in $(seq 0 $((N - 1))); do
        c=0
        "$BIN" "${args[@]}" --out "$OUT/$stem/parts" --partition "$i/$N" >/dev/null 2>&1 || c=$?
        codes="$codes$c"
    done
    merged=0
    "$BIN" merge "$OUT/$stem/parts"/*.parts --out "$OUT/$stem/merged" >/dev/null 2>&1 || merged=$?
    files=$(cd "$OUT/$stem/single" && find . -type f | wc -l)
    if [ "$single" = "$merged" ] && diff -r "$OUT/$stem/single" "$OUT/$stem/merged" >/dev/null; then
        printf '%-22s %4d files identical  exit %d/%d  partitions %s\n' "$stem" "$files" "$single" "$merged" "$codes"
    else
        printf '%-22s DIFFERENT (exit %d/%d, partitions %s)\n' "$stem" "$single" "$merged" "$codes"
        status=1
    fi
done
echo "outputs in $OUT"
exit $status
