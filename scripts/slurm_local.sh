#!/bin/bash
# Brings up a one-node Slurm cluster (slurmctld + slurmd + munge, slurm-wlm from the Debian registry), runs
# deploy/slurm.sbatch on it (an array of partition builds and the dependent merge job), builds the same
# dataset on this machine in one go, and compares the two file by file. Run by hand (as root), never by
# `cargo test`:
#
#   bash scripts/slurm_local.sh [PARTS] [MANIFEST:DATA_ROOT ...]
#
# Default: 3 partitions of the KiTS23, BraTS24 (patient groups spanning several cases) and FeTA24 (one case
# fails: the partition still completes and the merge reports it, exit 1 like the single build) fixtures; then
# FeTA24 once more with --fail-fast, whose failing task must get the dependent merge cancelled.
# Paths are made absolute so the single build and the jobs (which run in the work folder) name the same files. Exits 0 only when every merged file equals the single build's.
# Stops the daemons it started (by pid) and leaves the cluster state in $WORK/slurm.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PARTS=${1:-3}
shift || true
DATASETS=("$@")
[ ${#DATASETS[@]} -gt 0 ] || DATASETS=(manifests/kits23.toml:fixtures/kits23 manifests/brats24.toml:fixtures/brats24
    manifests/feta24.toml:fixtures/feta24)
WORK=${WORK:-$(mktemp -d /tmp/slurm-local.XXXXXX)}
STATE=$WORK/slurm
BIN=$REPO/target/release/medvision-build

[ "$(id -u)" = 0 ] || { echo "run as root (slurmd and munged need it)" >&2; exit 2; }
if ! command -v slurmctld >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
fi
[ -x "$BIN" ] || cargo build --release
echo "slurm: $(slurmctld -V), binary: $BIN ($("$BIN" --version))"

H=$(hostname -s)
CPUS=$(nproc)
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge "$STATE"/{spool,ctld,log}
[ -f /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 400 /etc/munge/munge.key
export SLURM_CONF=$STATE/slurm.conf
cat > "$SLURM_CONF" <<CONF
ClusterName=local
SlurmctldHost=$H
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldLogFile=$STATE/log/ctld.log
SlurmdLogFile=$STATE/log/d.log
SlurmctldPidFile=$STATE/ctld.pid
SlurmdPidFile=$STATE/d.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=3600
NodeName=$H CPUs=$CPUS State=UNKNOWN
PartitionName=main Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF

PIDS=()
stop() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done; done
}
trap stop EXIT
MUNGE_SOCKET=/run/munge/munge.socket.2
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- /usr/sbin/munged
    sleep 1
    PIDS+=("$(cat /run/munge/munged.pid)")
fi
/usr/sbin/slurmctld -D >"$STATE/log/ctld.stdout" 2>&1 &
PIDS+=($!)
/usr/sbin/slurmd -D >"$STATE/log/d.stdout" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 30); do
    sinfo -h -o %t 2>/dev/null | grep -qx idle && break
    sleep 1
done
echo "cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %t')"

status=0
for pair in "${DATASETS[@]}"; do
    manifest=$(realpath "${pair%%:*}")
    root=$(realpath "${pair#*:}")
    name=$(basename "$manifest" .toml)
    out=$WORK/$name
    rm -rf "$out"
    mkdir -p "$out/jobs"
    echo
    echo "== $manifest ($root), $PARTS partitions"
    single_status=0
    (cd "$out/jobs" && "$BIN" --manifest "$manifest" --data-root "$root" --out "$out/single" \
        >"$out/single.log" 2>&1) || single_status=$?
    start=$(date +%s.%N)
    submitted=$(cd "$out/jobs" && MVB_BIN=$BIN MVB_MANIFEST=$manifest MVB_DATA_ROOT=$root \
        MVB_OUT=$out/cluster MVB_PARTS=$PARTS bash "$REPO/deploy/slurm.sbatch")
    echo "$submitted"
    array=$(sed -E 's/^array job ([0-9]+).*/\1/' <<<"$submitted")
    merge=$(sed -E 's/.*merge job ([0-9]+).*/\1/' <<<"$submitted")
    waited=0
    while squeue -h -j "$array,$merge" 2>/dev/null | grep -q .; do
        if squeue -h -j "$merge" -o %r | grep -q DependencyNeverSatisfied || [ "$waited" -gt 1200 ]; then
            echo "  the merge cannot run (a partition failed, or 600 s passed); cancelling it"
            scancel "$merge"
            status=1
            break
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    end=$(date +%s.%N)
    for task in $(seq 0 $((PARTS - 1))); do
        echo "  task ${array}_$task: $(scontrol show job "${array}_$task" | grep -oE 'JobState=[A-Z]+|ExitCode=[0-9:]+' | tr '\n' ' ')"
    done
    echo "  merge $merge: $(scontrol show job "$merge" | grep -oE 'JobState=[A-Z]+|ExitCode=[0-9:]+' | tr '\n' ' ')"
    awk -v s="$start" -v e="$end" -v x="$single_status" \
        'BEGIN { printf "  submit to merged: %.1f s wall (single build exit code %d)\n", e - s, x }'
    echo "  merge job says: $(grep -h 'case(s) found' "$out"/jobs/slurm-medvision-merge-*.out 2>/dev/null)"
    for part in "$out"/cluster/parts/*.parts/part-*; do
        echo "  $(basename "$part"): $(python3 -c 'import json,sys; i=json.load(open(sys.argv[1])); print(len(i["cases"]), "case(s),", i["rows"], "rows,", i["failed"], "failed,", i["data_bytes"], "bytes")' "$part/part.json")"
    done
    dataset=$(basename "$(ls -d "$out"/single/*/)")
    a=$out/single/$dataset
    b=$out/cluster/$dataset
    files=0
    differ=0
    images=0
    while IFS= read -r rel; do
        files=$((files + 1))
        if [ -f "$b/$rel" ] && cmp -s "$a/$rel" "$b/$rel"; then
            case $rel in
                jsonl/images/*) images=$((images + 1)) ;; # counted, listed as one line below
                *) echo "  same  $(sha256sum "$a/$rel" | cut -c1-16)  $rel" ;;
            esac
        else
            echo "  DIFFERS  $rel"
            differ=$((differ + 1))
        fi
    done < <(cd "$a" && find . -type f | sed 's|^\./||' | sort)
    [ "$images" = 0 ] || echo "  same  ($images PNG files under jsonl/images/)"
    extra=$(comm -13 <(cd "$a" && find . -type f | sort) <(cd "$b" && find . -type f | sort) | wc -l)
    if [ "$differ" = 0 ] && [ "$extra" = 0 ]; then
        echo "  RESULT $dataset: all $files files of the Slurm build are byte-identical to the single build"
    else
        echo "  RESULT $dataset: $differ of $files files differ, $extra extra file(s) in the Slurm build"
        status=1
    fi
done

# A partition that fails (FeTA24's broken case under --fail-fast: exit 2, no part) must fail its task, and the
# merge waiting on the whole array must be cancelled by Slurm (--kill-on-invalid-dep), not left pending.
echo
echo "== a failing partition (FeTA24, --fail-fast), $PARTS partitions"
out=$WORK/failing
rm -rf "$out"
mkdir -p "$out/jobs"
submitted=$(cd "$out/jobs" && MVB_BIN=$BIN MVB_MANIFEST=$REPO/manifests/feta24.toml \
    MVB_DATA_ROOT=$REPO/fixtures/feta24 MVB_OUT=$out/cluster MVB_PARTS=$PARTS MVB_ARGS=--fail-fast \
    bash "$REPO/deploy/slurm.sbatch")
echo "$submitted"
array=$(sed -E 's/^array job ([0-9]+).*/\1/' <<<"$submitted")
merge=$(sed -E 's/.*merge job ([0-9]+).*/\1/' <<<"$submitted")
for _ in $(seq 1 600); do
    squeue -h -j "$array,$merge" 2>/dev/null | grep -q . || break
    sleep 0.5
done
failed=0
for task in $(seq 0 $((PARTS - 1))); do
    state=$(scontrol show job "${array}_$task" | grep -oE 'JobState=[A-Z]+|ExitCode=[0-9:]+' | tr '\n' ' ')
    echo "  task ${array}_$task: $state"
    case $state in *FAILED*) failed=$((failed + 1)) ;; esac
done
merge_state=$(scontrol show job "$merge" | grep -oE 'JobState=[A-Z]+' || true)
echo "  merge $merge: $merge_state"
if [ "$failed" -ge 1 ] && [ "$merge_state" = JobState=CANCELLED ] && [ ! -d "$out/cluster/FeTA24" ]; then
    echo "  RESULT: $failed task(s) failed, the merge was cancelled by Slurm, no dataset written"
else
    echo "  RESULT: expected a failed task and a cancelled merge"
    status=1
fi
echo
echo "work folder: $WORK"
exit $status
