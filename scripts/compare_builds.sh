#!/usr/bin/env bash
# Byte-for-byte comparison of two medvision-build binaries on every committed fixture.
#
# Usage: scripts/compare_builds.sh OLD_BIN NEW_BIN [OUTDIR]
#
# Why: the renovation of src/ must not change a single output byte. This script builds every manifest under
# manifests/ whose fixture folder fixtures/<stem>/ exists (the same pairing as tests/integration/datasets.rs
# and tests/integration/landmarks.rs: the manifest stem names the fixture folder, which is the data root),
# plus the kits23 demo at --threads 1 and at --threads 2, once with each binary, with the default formats.
# Then it compares the two output trees by the sha256 of every file (build-report.json included: it holds no
# elapsed time), the exit codes (0 or 1 are both acceptable — some fixtures hold deliberately broken cases —
# but old and new must agree) and the console output (stdout and stderr; only the "in 0.03 s" elapsed time
# and the output folder path are masked, since they legitimately differ between the two runs).
#
# Two optional environment variables compare across a change that alters manifests or a report field on purpose:
#   OLD_ROOT=DIR           the checkout whose manifests/ and fixtures/ the old binary builds (default: this one;
#                          e.g. a `git worktree` of the commit before the change)
#   NEW_ROOT=DIR           the same for the new binary (default: this one); OLD_ROOT=NEW_ROOT=<old checkout>
#                          shows the new code gives the old output on the old manifests and fixtures
#   REPORT_IGNORE=k1,k2    top-level keys of build-report.json dropped on both sides before comparing (e.g.
#                          `discovery,manifest_sha256` when the report gained a section and the manifests a key)
#
# Output: a table (build, files, bytes, identical, exit codes), then either
#   IDENTICAL: N manifests, M files            (exit 0)
# or the list of differences                   (exit 1).
# Exit 2 on bad arguments or a binary that exits with a code other than 0 or 1.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 OLD_BIN NEW_BIN [OUTDIR]" >&2
    exit 2
fi

abs() { (cd "$(dirname "$1")" && printf '%s/%s\n' "$(pwd)" "$(basename "$1")"); }
OLD_BIN=$(abs "$1")
NEW_BIN=$(abs "$2")
for bin in "$OLD_BIN" "$NEW_BIN"; do
    [[ -x $bin ]] || { echo "not an executable: $bin" >&2; exit 2; }
done
if [[ $# -eq 3 ]]; then
    mkdir -p "$3"
    OUTDIR=$(cd "$3" && pwd)
else
    OUTDIR=$(mktemp -d "${TMPDIR:-/tmp}/compare-builds.XXXXXX")
fi
for side in old new; do
    if [[ -e $OUTDIR/$side ]]; then
        echo "$OUTDIR/$side already exists; pass an empty OUTDIR" >&2
        exit 2
    fi
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OLD_ROOT=$(cd "${OLD_ROOT:-$ROOT}" && pwd)
NEW_ROOT=$(cd "${NEW_ROOT:-$ROOT}" && pwd)
REPORT_IGNORE=${REPORT_IGNORE:-}

# Builds: "<name> <manifest stem> <extra args...>".
builds=()
for manifest in "$NEW_ROOT"/manifests/*.toml; do
    stem=$(basename "$manifest" .toml)
    [[ -d $NEW_ROOT/fixtures/$stem && -d $OLD_ROOT/fixtures/$stem && -f $OLD_ROOT/manifests/$stem.toml ]] &&
        builds+=("$stem $stem")
done
builds+=("kits23-threads1 kits23 --threads 1" "kits23-threads2 kits23 --threads 2")
if [[ ${#builds[@]} -le 2 ]]; then
    echo "no manifest under $ROOT/manifests has a fixtures/<stem>/ folder" >&2
    exit 2
fi

# Masks what legitimately differs between two runs of the console output: elapsed time and output folder.
normalise() {
    sed -E -e 's/ in [0-9]+(\.[0-9]+)? s$/ in <elapsed> s/' -e "s#$2#<out>#g" -e "s#$NEW_ROOT/##g" -e "s#$OLD_ROOT/##g" "$1"
}

# sha256 and size of every file below $1, one "sha256  bytes  path" line per file, sorted by path.
inventory() {
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' f; do
        printf '%s  %s  %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "${f#./}"
    done)
}

differences=()
total_files=0
printf '%-22s %6s %10s %-9s %s\n' build files bytes identical "exit old/new"
for entry in "${builds[@]}"; do
    read -r name stem extra <<<"$entry"
    declare -A rc=()
    for side in old new; do
        bin=$OLD_BIN
        tree=$OLD_ROOT
        [[ $side == new ]] && bin=$NEW_BIN && tree=$NEW_ROOT
        out=$OUTDIR/$side/$name
        logs=$OUTDIR/logs/$side
        mkdir -p "$logs"
        set +e
        # shellcheck disable=SC2086  # $extra is a word list on purpose
        "$bin" --manifest "$tree/manifests/$stem.toml" --data-root "$tree/fixtures/$stem" --out "$out" $extra \
            >"$logs/$name.stdout" 2>"$logs/$name.stderr"
        rc[$side]=$?
        set -e
        if [[ ${rc[$side]} -ne 0 && ${rc[$side]} -ne 1 ]]; then
            echo "$name: $side binary exited ${rc[$side]}; see $logs/$name.stderr" >&2
            exit 2
        fi
        mkdir -p "$out"
        if [[ -n $REPORT_IGNORE ]]; then
            while IFS= read -r -d '' report; do
                python3 - "$report" "$REPORT_IGNORE" <<'PY'
import json, sys
path, keys = sys.argv[1], sys.argv[2].split(",")
with open(path) as f:
    report = json.load(f)
for key in keys:
    report.pop(key, None)
with open(path, "w") as f:
    json.dump(report, f, indent=2, sort_keys=True)
PY
            done < <(find "$out" -name build-report.json -print0)
        fi
        inventory "$out" >"$logs/$name.files"
        normalise "$logs/$name.stdout" "$out" >"$logs/$name.stdout.norm"
        normalise "$logs/$name.stderr" "$out" >"$logs/$name.stderr.norm"
    done

    same=yes
    old_files=$OUTDIR/logs/old/$name.files
    new_files=$OUTDIR/logs/new/$name.files
    if [[ ${rc[old]} -ne ${rc[new]} ]]; then
        same=no
        differences+=("$name: exit code old ${rc[old]}, new ${rc[new]}")
    fi
    # Files on one side only, then files present on both sides with different bytes.
    while IFS= read -r path; do
        same=no
        differences+=("$name: only in old: $path")
    done < <(LC_ALL=C comm -23 <(cut -d' ' -f5- "$old_files") <(cut -d' ' -f5- "$new_files"))
    while IFS= read -r path; do
        same=no
        differences+=("$name: only in new: $path")
    done < <(LC_ALL=C comm -13 <(cut -d' ' -f5- "$old_files") <(cut -d' ' -f5- "$new_files"))
    while IFS= read -r path; do
        same=no
        differences+=("$name: differs: $path")
    done < <(awk '{ p = $0; sub(/^[^ ]+  [^ ]+  /, "", p) }
                  NR == FNR { old[p] = $1; next }
                  (p in old) && old[p] != $1 { print p }' "$old_files" "$new_files")
    for stream in stdout stderr; do
        if ! cmp -s "$OUTDIR/logs/old/$name.$stream.norm" "$OUTDIR/logs/new/$name.$stream.norm"; then
            same=no
            differences+=("$name: console $stream differs (diff $OUTDIR/logs/{old,new}/$name.$stream.norm)")
        fi
    done

    files=$(wc -l <"$new_files")
    bytes=$(awk '{s += $2} END {print s + 0}' "$new_files")
    total_files=$((total_files + files))
    printf '%-22s %6d %10d %-9s %s/%s\n' "$name" "$files" "$bytes" "$same" "${rc[old]}" "${rc[new]}"
    unset rc
done

if [[ ${#differences[@]} -gt 0 ]]; then
    echo "DIFFERENT: ${#differences[@]} difference(s) (outputs in $OUTDIR):"
    printf '  %s\n' "${differences[@]}"
    exit 1
fi
echo "IDENTICAL: ${#builds[@]} manifests, $total_files files"
