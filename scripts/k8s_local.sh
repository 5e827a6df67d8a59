#!/bin/bash
# Checks deploy/k8s-indexed-job.yaml against Kubernetes' own API schema (kubernetes-validate from PyPI, strict:
# unknown fields are errors) for 1.29, the first release whose Indexed Jobs take backoffLimitPerIndex by
# default, and for the newest release it knows; then runs the YAML's pods on this machine as Kubernetes would
# start them (scripts/k8s_local.py: each container's command text as written, in its own mount namespace with
# the Job's volumes, JOB_COMPLETION_INDEX set, retries, the merge Job started beside the parts) and compares the
# merged dataset with a single build file by file. No Kubernetes cluster is involved. Run by hand (as root),
# never by `cargo test`:
#
#   bash scripts/k8s_local.sh [DATASET ...]     # fixture stems; default: kits23 brats24 feta24
#
# Exits 0 only when the YAML validates and every merged file equals the single build's.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "run as root (bind mounts need it)" >&2; exit 2; }
VENV=${VENV:-/tmp/k8s-local-venv}
[ -x "$VENV/bin/kubernetes-validate" ] || {
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q pyyaml kubernetes-validate
}
[ -x target/release/medvision-build ] || cargo build --release
for version in 1.29.0 ""; do
    "$VENV/bin/kubernetes-validate" --strict ${version:+-k "$version"} deploy/k8s-indexed-job.yaml
done
exec "$VENV/bin/python" scripts/k8s_local.py "$@"
