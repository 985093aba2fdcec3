"""Shared fixtures for the lab's own tests: the running lab's facts and admin API clients.

Tests that need the lab skip (with the reason) when `.lab/lab.json` or `.lab/labsim.ready` is
absent; start the lab with `make lab-up`. LAB_STATE_DIR points at another state directory. The lab
client fixtures (lab, api_client, core, apps, custom, s3), wait_for and scratch_bucket live in
lab/testing/labclient.py, shared with tests/integration.
"""

import json
import sys
import uuid
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parents[1]
if str(LAB_DIR) not in sys.path:  # labsim is imported by the unit tests; testing by this file
    sys.path.insert(0, str(LAB_DIR))

from testing.labclient import STATE_DIR, scratch_bucket, wait_for  # noqa: E402
from testing.labclient import (  # noqa: E402,F401 pylint: disable=unused-import
    api_client, apps, core, custom, lab, s3)


@pytest.fixture
def namespace(core):
    """A fresh namespace for one test, deleted afterwards."""
    name = "labtest-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name, "labels": {"lab.private-ai.io/test": "true"}}})
    yield name
    core.delete_namespace(name)


# -- shared building blocks for the simulator's lab tests ---------------------------------------
MACHINE_NS = "openshift-machine-api"
MAPI = ("machine.openshift.io", "v1beta1")
KSERVE = ("serving.kserve.io", "v1beta1")
POOL_LABEL = "lab.private-ai.io/test-pool"


def machinesets_by_type(custom):
    out = {}
    for ms in custom.list_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets")["items"]:
        itype = ms["spec"]["template"]["spec"].get("providerSpec", {}).get("value", {}).get(
            "instanceType")
        out.setdefault(itype, ms)
    return out


def clone_machineset(custom, instance_type, name, pool, replicas):
    """A private MachineSet cloned from the lab's one for instance_type; its Nodes carry
    POOL_LABEL=pool so the tests' pods land only there."""
    base = machinesets_by_type(custom).get(instance_type)
    if base is None:
        pytest.skip("the lab has no MachineSet for %s" % instance_type)
    tmpl = base["spec"]["template"]
    labels = dict(tmpl.get("metadata", {}).get("labels") or {})
    labels["machine.openshift.io/cluster-api-machineset"] = name
    spec = dict(tmpl["spec"])
    spec["metadata"] = {"labels": {POOL_LABEL: pool}}
    body = {"apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
            "metadata": {"name": name, "namespace": MACHINE_NS,
                         "labels": dict(base["metadata"].get("labels") or {})},
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {
                         k: v for k, v in labels.items()
                         if k.startswith("machine.openshift.io/cluster-api-")}},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}
    return custom.create_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", body)


def pool_nodes(core, pool):
    return core.list_node(label_selector="%s=%s" % (POOL_LABEL, pool)).items


def node_ready(node):
    """Ready, and the node lifecycle controller has lifted its not-ready taint."""
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or []) \
        and not any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or [])


@pytest.fixture(scope="session")
def gpu_pool(custom, core):
    """Two private 1-GPU (g6.4xlarge, NVIDIA-L4) nodes for the session's InferenceServices."""
    pool = "p" + uuid.uuid4().hex[:6]
    name = "labtest-%s-g6-4xlarge" % pool
    clone_machineset(custom, "g6.4xlarge", name, pool, 2)
    try:
        wait_for(lambda: pool_nodes(core, pool),
                 lambda nodes: len(nodes) == 2 and all(node_ready(n) for n in nodes),
                 90, "2 Ready nodes of MachineSet %s" % name)
        yield pool
    finally:
        custom.delete_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name)
        wait_for(lambda: pool_nodes(core, pool), lambda nodes: not nodes, 60,
                 "nodes of %s to go away" % name)


@pytest.fixture(scope="session")
def weights(s3):
    """A bucket holding one small 'model' at m/bf16/."""
    with scratch_bucket(s3, "labtest", {"m/bf16/config.json": b'{"model_type": "mistral"}'}) as bucket:
        yield bucket


RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
    "metadata": {"name": "vllm-cuda-runtime", "labels": {"opendatahub.io/dashboard": "true"},
                 "annotations": {"opendatahub.io/apiProtocol": "REST"}},
    "spec": {
        "multiModel": False,
        "annotations": {"prometheus.io/port": "8080", "prometheus.io/path": "/metrics"},
        "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
        "containers": [{
            "name": "kserve-container", "image": "quay.io/modh/vllm:lab",
            "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
            "args": ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"],
            "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}]}],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}],
    },
}


@pytest.fixture
def serving_ns(namespace, core, custom, lab, weights):
    """A namespace with the data connection Secret (bucket `weights`) and the vLLM runtime."""
    s3 = lab["s3"]
    core.create_namespaced_secret(namespace, {
        "metadata": {"name": "models-s3", "labels": {"opendatahub.io/dashboard": "true"},
                     "annotations": {"opendatahub.io/connection-type-protocol": "s3"}},
        "stringData": {"AWS_ACCESS_KEY_ID": s3["access_key"],
                       "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
                       "AWS_S3_ENDPOINT": s3["endpoint"], "AWS_S3_BUCKET": weights,
                       "AWS_DEFAULT_REGION": s3.get("region") or "us-east-1"}})
    custom.create_namespaced_custom_object("serving.kserve.io", "v1alpha1", namespace,
                                           "servingruntimes", RUNTIME)
    return namespace


def isvc_manifest(name, pool, path="m/bf16", gpus=1, args=None, labels=None, fmt="vLLM"):
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name,
                     "labels": dict({"opendatahub.io/dashboard": "true",
                                     "networking.kserve.io/visibility": "exposed"},
                                    **(labels or {})),
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment",
                                     "opendatahub.io/connections": "models-s3"}},
        "spec": {"predictor": {
            "minReplicas": 1, "maxReplicas": 1,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                             "effect": "NoSchedule"}],
            "nodeSelector": {POOL_LABEL: pool},
            "model": {"modelFormat": {"name": fmt},
                      "storage": {"key": "models-s3", "path": path},
                      "args": args or ["--dtype=bfloat16", "--max-model-len=4096"],
                      "resources": {
                          "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": str(gpus)},
                          "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": str(gpus)}}},
        }},
    }


def get_isvc(custom, ns, name):
    return custom.get_namespaced_custom_object(*KSERVE, ns, "inferenceservices", name)


def condition(obj, ctype):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return {}


def isvc_ready(obj):
    st = obj.get("status") or {}
    return (st.get("observedGeneration") == obj["metadata"]["generation"]
            and condition(obj, "Ready").get("status") == "True")


@pytest.fixture(scope="session")
def current_labsim(lab):
    """Skip unless the running labsim runs the labsim code of this checkout."""
    from labsim.__main__ import code_digest
    try:
        ready = json.loads((STATE_DIR / "labsim.ready").read_text())
    except (OSError, ValueError):
        ready = None
    running = ready.get("code_digest") if isinstance(ready, dict) else None
    if running != code_digest():
        pytest.skip("the running labsim predates lab/labsim/ of this checkout: restart it "
                    "(make lab-down && make lab-up)")
