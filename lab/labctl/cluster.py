"""Cluster objects `up` seeds: the upstream CRDs, the Infrastructure, the GPU MachineSets and the
deployer's RBAC."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import deployer_rbac
import gpu_catalog
import yaml

from .base import (CRD_HASH, DEPLOYER_NS, DEPLOYER_SA, LAB_DIR, MACHINE_API_NS, REGION, ZONE,
                   Lab, LabError, write_private)
from . import openshift_ai
from .kube import Kube

WORKERS = 3


def crd_digest(kube: Kube, name: str) -> str | None:
    status, body = kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    return body["metadata"].get("annotations", {}).get(CRD_HASH) if status == 200 else None


def crd_files(lab: Lab) -> list[Path]:
    """The CRDs OpenShift AI 3.0 serves (../shared/crds), then those the real KServe and Kueue
    managers need besides, from the same upstream versions (their Go module directories)."""
    crd_dir = lab.shared / "crds"
    files = sorted(crd_dir.glob("*.yaml"))
    if not files:
        raise LabError(f"no CRDs found in {crd_dir}: set LAB_SHARED_DIR to the folder holding crds/")
    shared = {f.name for f in files}
    return files + [f for f in openshift_ai.manager_crd_files(lab) if f.name not in shared]


def apply_crds(lab: Lab, kube: Kube) -> list[str]:
    """Server-side apply the upstream CRDs; returns their names (not waited for)."""
    files = crd_files(lab)
    # Parsing and applying the large KServe CRDs costs seconds: files whose digest matches the one
    # recorded on the live CRDs are skipped (a warm `up` only GETs them).
    cache_file = lab.state / "crds-applied.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    names = []
    for path in files:
        text = path.read_text()
        digest = hashlib.sha256(text.encode()).hexdigest()
        cached = cache.get(path.name, {})
        if cached.get("digest") == digest and all(
                crd_digest(kube, name) == digest for name in cached.get("names", [])):
            names.extend(cached["names"])
            continue
        file_names = []
        for doc in yaml.load_all(text, Loader=loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            doc["metadata"].setdefault("annotations", {})[CRD_HASH] = digest
            kube.apply(doc)
            file_names.append(doc["metadata"]["name"])
        cache[path.name] = {"digest": digest, "names": file_names}
        names.extend(file_names)
    write_private(cache_file, json.dumps(cache, indent=1) + "\n", 0o644)
    return names


def wait_crds_established(kube: Kube, names: list[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            status, body = kube.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conds = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions") or []}
            if status == 200 and conds.get("Established") == "True":
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if pending:
        raise LabError(f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}")


def ensure_infrastructure(lab: Lab, kube: Kube) -> str:
    obj = {"apiVersion": "config.openshift.io/v1", "kind": "Infrastructure",
           "metadata": {"name": "cluster"}}
    status, body = kube.get(obj)
    if status == 200 and body.get("status", {}).get("infrastructureName"):
        name = body["status"]["infrastructureName"]
        write_private(lab.state / "infrastructure-name", name + "\n", 0o644)
        return name
    name = lab.infrastructure_name()
    kube.apply({**obj, "spec": {"cloudConfig": {"name": ""}, "platformSpec": {"type": "AWS", "aws": {}}}},
               retry_not_found=30)
    # status is a subresource: it must be written through /status.
    kube.apply({**obj, "status": {
        "infrastructureName": name, "platform": "AWS",
        "platformStatus": {"type": "AWS", "aws": {"region": REGION}},
        "apiServerURL": lab.apiserver_url, "apiServerInternalURI": lab.apiserver_url,
        "etcdDiscoveryDomain": "", "controlPlaneTopology": "HighlyAvailable",
        "infrastructureTopology": "HighlyAvailable", "cpuPartitioning": "None"}}, "status")
    return name


def machineset(infra: str, instance_type: str) -> dict:
    """A MachineSet shaped like the ones OpenShift's installer makes on AWS, for one GPU type."""
    vcpu, memory_gib, gpus, _product, _gpu_mib = gpu_catalog.shape(instance_type)
    memory_mib = memory_gib * 1024
    name = f"{infra}-gpu-{instance_type.replace('.', '-')}-{ZONE}"
    return {
        "apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
        "metadata": {
            "name": name, "namespace": MACHINE_API_NS,
            "labels": {"machine.openshift.io/cluster-api-cluster": infra},
            "annotations": {
                "capacity.cluster-autoscaler.kubernetes.io/labels": "kubernetes.io/arch=amd64",
                "machine.openshift.io/GPU": str(gpus),
                "machine.openshift.io/memoryMb": str(memory_mib),
                "machine.openshift.io/vCPU": str(vcpu),
            },
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {
                "machine.openshift.io/cluster-api-cluster": infra,
                "machine.openshift.io/cluster-api-machineset": name}},
            "template": {
                "metadata": {"labels": {
                    "machine.openshift.io/cluster-api-cluster": infra,
                    "machine.openshift.io/cluster-api-machine-role": "worker",
                    "machine.openshift.io/cluster-api-machine-type": "worker",
                    "machine.openshift.io/cluster-api-machineset": name}},
                "spec": {
                    "lifecycleHooks": {},
                    "metadata": {},
                    "providerSpec": {"value": {
                        "apiVersion": "machine.openshift.io/v1beta1",
                        "kind": "AWSMachineProviderConfig",
                        "ami": {"id": "ami-0c5d3e3b8d5f6a7e1"},
                        "blockDevices": [{"ebs": {"encrypted": True, "iops": 0, "kmsKey": {"arn": ""},
                                                  "volumeSize": 200, "volumeType": "gp3"}}],
                        "credentialsSecret": {"name": "aws-cloud-credentials"},
                        "deviceIndex": 0,
                        "iamInstanceProfile": {"id": f"{infra}-worker-profile"},
                        "instanceType": instance_type,
                        "metadataServiceOptions": {},
                        "placement": {"availabilityZone": ZONE, "region": REGION},
                        "securityGroups": [
                            {"filters": [{"name": "tag:Name", "values": [f"{infra}-node"]}]},
                            {"filters": [{"name": "tag:Name", "values": [f"{infra}-lb"]}]}],
                        "subnet": {"filters": [{"name": "tag:Name",
                                                "values": [f"{infra}-subnet-private-{ZONE}"]}]},
                        "tags": [{"name": f"kubernetes.io/cluster/{infra}", "value": "owned"}],
                        "userDataSecret": {"name": "worker-user-data"},
                    }},
                },
            },
        },
    }


def worker_machineset(infra: str) -> dict:
    """The installer's worker MachineSet (3 x m6i.xlarge): the CPU nodes every cluster has, which
    OpenShift AI sizes its default ClusterQueue from and GPU MachineSets are cloned from."""
    ms = machineset(infra, "g6.4xlarge")
    name = f"{infra}-worker-{ZONE}"
    ms["metadata"]["name"] = name
    ms["metadata"]["annotations"] = {"capacity.cluster-autoscaler.kubernetes.io/labels": "kubernetes.io/arch=amd64",
                                     "machine.openshift.io/memoryMb": "16384", "machine.openshift.io/vCPU": "4"}
    ms["spec"]["replicas"] = WORKERS
    ms["spec"]["selector"]["matchLabels"]["machine.openshift.io/cluster-api-machineset"] = name
    ms["spec"]["template"]["metadata"]["labels"]["machine.openshift.io/cluster-api-machineset"] = name
    ms["spec"]["template"]["spec"]["providerSpec"]["value"]["instanceType"] = "m6i.xlarge"
    ms["spec"]["template"]["spec"]["providerSpec"]["value"]["blockDevices"][0]["ebs"]["volumeSize"] = 120
    return ms


def ensure_machinesets(kube: Kube, infra: str) -> None:
    kube.create_if_absent({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MACHINE_API_NS}})
    kube.create_if_absent(worker_machineset(infra), retry_not_found=30)
    for instance_type in gpu_catalog.SEEDED:
        kube.create_if_absent(machineset(infra, instance_type), retry_not_found=30)


def wait_openshift_ai_queue(kube: Kube, timeout: float = 90.0) -> None:
    """OpenShift AI's default ClusterQueue, made once the worker nodes are up (labsim's operator)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = kube.request("GET", "/apis/kueue.x-k8s.io/v1beta1/clusterqueues/default")
        if status == 200:
            return
        time.sleep(0.5)
    raise LabError(f"ClusterQueue default did not appear within {timeout:.0f}s (are the worker nodes up? "
                   "see .lab/logs/labsim.log)")


def deployer_namespaces() -> list[str]:
    raw = os.environ.get("LAB_DEPLOYER_NAMESPACES", "private-ai")
    return [ns.strip() for ns in raw.split(",") if ns.strip()]


def ensure_rbac(lab: Lab, kube: Kube) -> str:
    """The deployer ServiceAccount with only what the collection needs; returns its token."""
    # The collection's own least-privilege table (plugins/module_utils/k8s/rbac.py, what its
    # deployer_rbac role applies): namespaced rights (secrets above all) only in the namespaces the
    # collection deploys into.
    docs = deployer_rbac.manifests(DEPLOYER_SA, DEPLOYER_NS, deployer_namespaces(), token_secret=True)
    secret = docs.pop()
    for doc in docs:
        if doc["kind"] == "Namespace":
            kube.create_if_absent(doc)
        else:
            kube.apply(doc)
    kube.create_if_absent(secret)
    return wait_token(lab, kube, secret)


def wait_token(lab: Lab, kube: Kube, secret: dict) -> str:
    """The token kube-controller-manager's token controller puts in a ServiceAccount token Secret."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = kube.get(secret)
        token = body.get("data", {}).get("token") if status == 200 else None
        if token:
            return base64.b64decode(token).decode()
        time.sleep(0.2)
    meta = secret["metadata"]
    raise LabError(f"the token controller did not fill Secret {meta['namespace']}/{meta['name']} in 60s "
                   f"(is kube-controller-manager healthy? see {lab.logs / 'kube-controller-manager.log'})")
