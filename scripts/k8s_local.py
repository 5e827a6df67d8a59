#!/usr/bin/env python3
"""Runs deploy/k8s-indexed-job.yaml's pods on this machine, as Kubernetes would start them, and compares the
merged dataset with a single build file by file. Started by scripts/k8s_local.sh (which installs PyYAML and
kubernetes-validate in a venv and checks the YAML against Kubernetes' own schema first); run as root.

No Kubernetes runs here. What this proves is the part a cluster does not add: every container's command text,
exactly as written in the YAML, run by /bin/sh in its own mount namespace with the Job's volumes bound at their
mountPaths (read-only where the YAML says so: the dataset and the manifests), JOB_COMPLETION_INDEX set as an
Indexed Job sets it, `parallelism` pods at once, a failed pod retried `backoffLimitPerIndex` (parts) or
`backoffLimit` (merge) times, and the merge Job started together with the parts (as `kubectl apply` does) so
that its init container's wait must hold the merge back until every part is complete. What it does not prove:
scheduling, the image, PersistentVolumes shared between nodes.

Volumes: the claim medvision-data is bound to fixtures/, the ConfigMap medvision-manifests to a copy of
manifests/*.toml (what `kubectl create configmap medvision-manifests --from-file=manifests/` holds), the claim
medvision-out to a fresh folder per dataset. A dataset other than the YAML's (kits23) is run by replacing that
name in the containers' text, as a user adapting the file would.
"""

import argparse
import concurrent.futures
import filecmp
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
YAML_PATH = os.path.join(REPO, "deploy", "k8s-indexed-job.yaml")
YAML_DATASET = "kits23"


def load_jobs(dataset):
    """The two Jobs of the YAML (parts: the Indexed one; merge: the other), with `kits23` replaced by
    `dataset` in every container string."""
    with open(YAML_PATH) as f:
        text = f.read()
    docs = [d for d in yaml.safe_load_all(text) if d]
    if dataset != YAML_DATASET:
        docs = [yaml.safe_load(yaml.safe_dump(d).replace(YAML_DATASET, dataset)) for d in docs]
    parts = [d for d in docs if d["kind"] == "Job" and d["spec"].get("completionMode") == "Indexed"]
    merge = [d for d in docs if d["kind"] == "Job" and d["spec"].get("completionMode") != "Indexed"]
    if len(parts) != 1 or len(merge) != 1:
        sys.exit(f"{YAML_PATH}: expected one Indexed Job and one other Job")
    return parts[0], merge[0]


def container_text(container):
    return " ".join(container.get("command", []) + container.get("args", []))


def check_counts(parts, merge):
    """The partition count appears three times in the YAML; all three must agree."""
    completions = parts["spec"]["completions"]
    flags = {int(m) for c in parts["spec"]["template"]["spec"]["containers"]
             for m in re.findall(r"--partition-count[ =](\d+)", container_text(c))}
    env = {int(e["value"]) for c in merge["spec"]["template"]["spec"].get("initContainers", [])
           for e in c.get("env", []) if e["name"] == "PARTS"}
    print(f"  partition count: completions {completions}, --partition-count {sorted(flags)}, PARTS {sorted(env)}")
    if flags != {completions} or env != {completions}:
        sys.exit("  the three partition counts of the YAML disagree")
    return completions


class Volumes:
    """Host folders for the YAML's volumes."""

    def __init__(self, work):
        self.out = os.path.join(work, "out")
        configmap = os.path.join(work, "configmap")
        os.makedirs(self.out)
        os.makedirs(configmap)
        for name in sorted(os.listdir(os.path.join(REPO, "manifests"))):
            if name.endswith(".toml"):
                shutil.copy(os.path.join(REPO, "manifests", name), configmap)
        self.by_source = {
            ("persistentVolumeClaim", "medvision-data"): os.path.join(REPO, "fixtures"),
            ("configMap", "medvision-manifests"): configmap,
            ("persistentVolumeClaim", "medvision-out"): self.out,
        }

    def host_path(self, volume):
        for kind, key in (("persistentVolumeClaim", "claimName"), ("configMap", "name")):
            if kind in volume:
                path = self.by_source.get((kind, volume[kind][key]))
                if path:
                    return path
        sys.exit(f"  volume {volume} has no host folder here")


class Pods:
    """Starts containers the way a kubelet would for this YAML (see the module doc)."""

    def __init__(self, volumes, bin_dir, logs):
        self.volumes = volumes
        self.bin_dir = bin_dir
        self.logs = logs
        self.made_mountpoints = []
        self.lock = threading.Lock()

    def mountpoint(self, path):
        with self.lock:
            if not os.path.exists(path):
                os.makedirs(path)
                self.made_mountpoints.append(path)

    def run(self, pod_spec, container, env, log_name):
        """Runs one container to its end; returns its exit status."""
        volumes = {v["name"]: self.volumes.host_path(v) for v in pod_spec.get("volumes", [])}
        setup = []
        for m in container.get("volumeMounts", []):
            self.mountpoint(m["mountPath"])
            host, target = shlex.quote(volumes[m["name"]]), shlex.quote(m["mountPath"])
            setup.append(f"mount --bind {host} {target}")
            if m.get("readOnly"):
                setup.append(f"mount -o remount,bind,ro {target}")
        variables = {"PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": "/root"}
        variables.update({e["name"]: e["value"] for e in container.get("env", [])})
        variables.update(env)
        argv = container.get("command", []) + container.get("args", [])
        start = "exec env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(variables.items()))
        start += " " + " ".join(shlex.quote(a) for a in argv)
        script = "set -e; " + "; ".join(setup) + f"; cd {shlex.quote(container.get('workingDir', '/'))}; {start}"
        with open(os.path.join(self.logs, log_name), "w") as log:
            return subprocess.run(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script],
                                  stdout=log, stderr=subprocess.STDOUT).returncode

    def run_pod(self, pod_spec, env, name):
        """Init containers in order (each must exit 0), then the containers; True when the pod succeeded."""
        for c in pod_spec.get("initContainers", []):
            status = self.run(pod_spec, c, env, f"{name}.{c['name']}.log")
            print(f"    {time.strftime('%H:%M:%S')} {name} init container {c['name']}: exit {status}")
            if status != 0:
                return False
        statuses = [self.run(pod_spec, c, env, f"{name}.{c['name']}.log") for c in pod_spec["containers"]]
        print(f"    {time.strftime('%H:%M:%S')} {name}: exit {statuses}")
        return all(s == 0 for s in statuses)

    def remove_mountpoints(self):
        for path in reversed(self.made_mountpoints):
            os.rmdir(path)


def run_job(pods, job, index=None):
    """One pod of `job` (one completion index of an Indexed Job), retried on failure as the Job's backoff
    limit allows. Returns (succeeded, attempts, end time)."""
    spec = job["spec"]
    limit = spec.get("backoffLimitPerIndex", spec.get("backoffLimit", 6)) if index is not None \
        else spec.get("backoffLimit", 6)
    env = {} if index is None else {"JOB_COMPLETION_INDEX": str(index)}
    for attempt in range(1 + limit):
        name = job["metadata"]["name"] + ("" if index is None else f"-{index}") + f"-try{attempt}"
        if pods.run_pod(spec["template"]["spec"], env, name):
            return True, attempt + 1, time.monotonic()
    return False, 1 + limit, time.monotonic()


def build_flags(parts):
    """--manifest and --data-root of the parts' command (the single build uses the same paths)."""
    text = container_text(parts["spec"]["template"]["spec"]["containers"][0])
    return [a for flag in ("--manifest", "--data-root") for a in (flag, re.search(flag + r"[ =](\S+)", text)[1])]


def compare(single, merged):
    """Every file of the single build against the merged one; returns (files, differing, extra)."""
    def files(root):
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)

    a, b = files(single), files(merged)
    differ = 0
    images = 0
    for rel in a:
        same = os.path.isfile(os.path.join(merged, rel)) and filecmp.cmp(
            os.path.join(single, rel), os.path.join(merged, rel), shallow=False)
        if not same:
            print(f"    DIFFERS  {rel}")
            differ += 1
        elif rel.startswith("jsonl/images/"):
            images += 1
        else:
            with open(os.path.join(single, rel), "rb") as f:
                print(f"    same  {hashlib.sha256(f.read()).hexdigest()[:16]}  {rel}")
    if images:
        print(f"    same  ({images} PNG files under jsonl/images/)")
    return len(a), differ, len(set(b) - set(a))


def run_dataset(dataset, work, bin_dir):
    print(f"\n== {dataset}: {YAML_PATH} with {YAML_DATASET} -> {dataset}" if dataset != YAML_DATASET
          else f"\n== {dataset}: {YAML_PATH} as written")
    parts, merge = load_jobs(dataset)
    count = check_counts(parts, merge)
    root = os.path.join(work, dataset)
    os.makedirs(os.path.join(root, "logs"))
    volumes = Volumes(root)
    pods = Pods(volumes, bin_dir, os.path.join(root, "logs"))
    try:
        # The single-machine build, at the same paths inside a pod of the parts Job (without the partition).
        single_pod = dict(parts["spec"]["template"]["spec"])
        flags = build_flags(parts)
        single_pod["containers"] = [dict(single_pod["containers"][0], command=[], args=[
            "medvision-build", *flags, "--out", "/out/single", "--threads", "2"])]
        single_status = pods.run(single_pod, single_pod["containers"][0], {}, "single.log")
        print(f"  single build ({' '.join(flags)}): exit {single_status}")

        # `kubectl apply -f`: both Jobs start now.
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=parts["spec"]["parallelism"] + 1) as pool:
            merge_run = pool.submit(run_job, pods, merge)
            part_runs = [pool.submit(run_job, pods, parts, i) for i in range(count)]
            part_results = [r.result() for r in part_runs]
            merge_ok, merge_attempts, merge_end = merge_run.result()
    finally:
        pods.remove_mountpoints()
    failed = [i for i, (ok, _, _) in enumerate(part_results) if not ok]
    retried = [i for i, (_, attempts, _) in enumerate(part_results) if attempts > 1]
    last_part = max(end for _, _, end in part_results)
    print(f"  parts: {count - len(failed)} of {count} indices succeeded (retried: {retried or 'none'}), "
          f"last at {last_part - start:.1f} s; merge: {'succeeded' if merge_ok else 'failed'} after "
          f"{merge_attempts} pod(s), at {merge_end - start:.1f} s")
    with open(os.path.join(root, "logs", "single.log")) as f:
        counts = [line.strip() for line in f if "case(s)" in line]
    if counts:
        print(f"  single build says: {counts[-1]}")
    if failed or not merge_ok:
        print(f"  RESULT {dataset}: the Jobs did not complete (logs in {root}/logs)")
        return False
    if merge_end < last_part:
        print(f"  RESULT {dataset}: the merge finished before the last part")
        return False
    dataset_dirs = os.listdir(os.path.join(volumes.out, "single"))
    name = dataset_dirs[0]
    files, differ, extra = compare(os.path.join(volumes.out, "single", name),
                                   os.path.join(volumes.out, "dataset", name))
    if differ == 0 and extra == 0:
        print(f"  RESULT {name}: all {files} files of the Kubernetes-style build are byte-identical to the "
              f"single build")
        return True
    print(f"  RESULT {name}: {differ} of {files} files differ, {extra} extra file(s)")
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(REPO, "target", "release", "medvision-build"))
    parser.add_argument("datasets", nargs="*", default=["kits23", "brats24", "feta24"],
                        help="fixture stems (fixtures/<stem>, manifests/<stem>.toml)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root (bind mounts in a private mount namespace)")
    work = tempfile.mkdtemp(prefix="k8s-local.")
    print(f"binary: {args.bin}; work folder: {work}")
    ok = all([run_dataset(d, work, os.path.dirname(os.path.abspath(args.bin))) for d in args.datasets])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
