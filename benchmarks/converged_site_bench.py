#!/usr/bin/env python3
"""A converged site.yml against kubectl: the same objects, applied and waited for, in one run.

On the running lab (`make lab-up`), with a profile already deployed once (the script deploys it
first if needed), the benchmark alternates, --runs times each:

- ``ansible-playbook site.yml`` with the profile, converged (it must report changed=0);
- ``ansible-playbook site.yml --check --diff``;
- ``kubectl apply --server-side`` of the Kubernetes objects site.yml manages (read back from the
  cluster: the namespace, the GPU MachineSets, the Kueue ResourceFlavors, ClusterQueue and
  LocalQueue, the data connection Secret, the ServingRuntime and the InferenceServices), given on
  stdin so the Secret never touches the disk, followed by ``kubectl wait`` for the GPU nodes and
  the InferenceServices to be Ready.

kubectl is upstream kubectl at the lab's Kubernetes pin (`lab/build.sh kubectl`, built if missing),
using the deployer kubeconfig the collection uses. It does only the Kubernetes part: site.yml also
validates and plans, compares the weights in S3, checks the Model Registry entries and smoke-tests
every endpoint; the ratio is the price of all that over the bare apply and wait.

Usage: .venv/bin/python benchmarks/converged_site_bench.py [--profile triple_play] [--runs 3]
Prints the medians and the ratios; asserts nothing about time (see docs/development.md).
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")
NAMESPACED = [
    ("kueue.x-k8s.io/v1beta1", "LocalQueue"),
    ("v1", "Secret"),
    ("serving.kserve.io/v1alpha1", "ServingRuntime"),
    ("serving.kserve.io/v1beta1", "InferenceService"),
]
CLUSTER_SCOPED = [("kueue.x-k8s.io/v1beta1", "ResourceFlavor"), ("kueue.x-k8s.io/v1beta1", "ClusterQueue")]
KEEP_METADATA = ("name", "namespace", "labels", "annotations")


def lab_env():
    env_file = REPO / ".lab" / "env"
    if not env_file.exists():
        sys.exit("the lab is not running: run `make lab-up` first")
    env = dict(os.environ)
    for line in env_file.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    env["PATH"] = "%s:%s" % (REPO / ".venv" / "bin", env.get("PATH", ""))
    env["ANSIBLE_FORCE_COLOR"] = "0"
    return env


def kubectl_binary():
    versions = dict(line.split("=", 1) for line in (REPO / "lab" / "versions.env").read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    cache = Path(os.environ.get("LAB_CACHE", Path.home() / ".cache" / "private-ai-lab"))
    path = cache / "bin" / ("kubectl-" + versions["KUBERNETES_VERSION"])
    if not path.exists():
        subprocess.run(["bash", str(REPO / "lab" / "build.sh"), "kubectl"], check=True)
    return str(path)


def site(env, profile, *extra):
    cmd = ["ansible-playbook", "site.yml", "-i", "inventories/" + profile, "-i", "inventories/lab"] + list(extra)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    recap = RECAP.search(proc.stdout)
    if proc.returncode or not recap:
        sys.exit("site.yml failed (%s):\n%s" % (" ".join(cmd), proc.stdout[-3000:] + proc.stderr[-2000:]))
    ok, changed = int(recap.group(1)), int(recap.group(2))
    return seconds, ok, changed


def kubectl(binary, env, *args, stdin=None):
    proc = subprocess.run([binary, "--kubeconfig", env["K8S_AUTH_KUBECONFIG"]] + list(args),
                          input=stdin, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit("kubectl %s failed: %s" % (" ".join(args), proc.stderr.strip()))
    return proc.stdout


def managed_objects(binary, env, namespace):
    """The objects site.yml applies, as apply-able manifests (no status or server-owned metadata)."""
    items = []

    def get(api_version, kind, *scope):
        resource = "%s.%s" % (kind.lower() + "s", api_version.split("/")[0]) if "/" in api_version else kind.lower() + "s"
        for obj in json.loads(kubectl(binary, env, "get", resource, *scope, "-o", "json"))["items"]:
            meta = {k: v for k, v in obj["metadata"].items() if k in KEEP_METADATA}
            body = {"apiVersion": api_version, "kind": kind, "metadata": meta}
            body.update({k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")})
            items.append(body)

    items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": namespace, "labels": {"opendatahub.io/dashboard": "true", "kueue.openshift.io/managed": "true"}}})
    for api_version, kind in CLUSTER_SCOPED:
        get(api_version, kind)
    get("machine.openshift.io/v1beta1", "MachineSet", "-n", "openshift-machine-api", "-l",
        "machine.openshift.io/cluster-api-machine-type=worker")
    for api_version, kind in NAMESPACED:
        get(api_version, kind, "-n", namespace)
    return {"apiVersion": "v1", "kind": "List", "items": items}


def kubectl_round(binary, env, manifest, namespace):
    start = time.monotonic()
    kubectl(binary, env, "apply", "--server-side", "--force-conflicts", "--field-manager", "kubectl-bench",
            "-f", "-", stdin=manifest)
    kubectl(binary, env, "wait", "--for=condition=Ready", "node", "-l", "nvidia.com/gpu.product", "--timeout=60s")
    kubectl(binary, env, "wait", "--for=condition=Ready", "inferenceservices.serving.kserve.io", "--all",
            "-n", namespace, "--timeout=60s")
    return time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="triple_play")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = lab_env()
    binary = kubectl_binary()

    first, _, _ = site(env, args.profile)
    namespace = "private-ai"
    manifest = json.dumps(managed_objects(binary, env, namespace))
    print("profile %s: first site.yml run (converging) %.1f s; %d objects for kubectl"
          % (args.profile, first, len(json.loads(manifest)["items"])))

    converged, checked, bare = [], [], []
    for _ in range(args.runs):
        seconds, ok, changed = site(env, args.profile)
        if changed:
            sys.exit("the converged site.yml run reported changed=%d: it is not idempotent" % changed)
        converged.append(seconds)
        check_seconds, check_ok, _ = site(env, args.profile, "--check", "--diff")
        checked.append(check_seconds)
        bare.append(kubectl_round(binary, env, manifest, namespace))

    site_s, check_s, kubectl_s = (statistics.median(v) for v in (converged, checked, bare))
    print("converged site.yml:        median %5.2f s over %d runs (%s), %d task results"
          % (site_s, args.runs, ", ".join("%.2f" % s for s in converged), ok))
    print("site.yml --check --diff:   median %5.2f s (%s), %d task results"
          % (check_s, ", ".join("%.2f" % s for s in checked), check_ok))
    print("kubectl apply + wait:      median %5.2f s (%s)" % (kubectl_s, ", ".join("%.2f" % s for s in bare)))
    print("ratio converged / kubectl: %.2f (target <= 3, and converged < 8 s)" % (site_s / kubectl_s))
    print("ratio check / converged:   %.2f (target <= 1)" % (check_s / site_s))


if __name__ == "__main__":
    main()
