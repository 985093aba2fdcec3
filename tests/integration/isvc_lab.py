"""Fixtures for inference_service_wait against the running lab (.lab/lab.json), with the lab's
simulator doing what KServe, the scheduler and Kueue do. Import the fixtures into a test module.

The lab client (lab, api_client, core, custom, s3, wait_for and the plain functions behind them) is
lab/testing/labclient.py, shared with lab/tests; this module puts lab/ on sys.path and re-exports it
for the integration tests.

Each test gets its own namespace (data connection, vLLM ServingRuntime, weights in its own bucket)
and the session its own pool of 1-GPU nodes (a MachineSet cloned from the lab's g6.4xlarge one),
so nothing here touches what the other engineers deploy.
"""

import sys
import uuid
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parents[2] / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

from testing.labclient import kube_api_client, lab_facts, s3_client, scratch_bucket, wait_for, zero_gpu_cluster_queue  # noqa: E402,F401 pylint: disable=unused-import
from testing.labclient import api_client, core, custom, lab, s3  # noqa: E402,F401 pylint: disable=unused-import

KSERVE = ("serving.kserve.io", "v1beta1")
KUEUE = ("kueue.x-k8s.io", "v1beta1")
MAPI = ("machine.openshift.io", "v1beta1")
MACHINE_NS = "openshift-machine-api"
POOL_LABEL = "lab.private-ai.io/test-pool"


@pytest.fixture(scope="session")
def weights(s3):
    with scratch_bucket(s3, "isvcwait", {"m/bf16/config.json": b'{"model_type": "mistral"}'}) as bucket:
        yield bucket


@pytest.fixture(scope="session")
def gpu_pool(custom, core):
    """Three private 1-GPU (g6.4xlarge) nodes."""
    pool = "w" + uuid.uuid4().hex[:6]
    name = "isvcwait-%s-g6-4xlarge" % pool
    base = None
    for ms in custom.list_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets")["items"]:
        if ms["spec"]["template"]["spec"].get("providerSpec", {}).get("value", {}).get("instanceType") == "g6.4xlarge":
            base = ms
            break
    if base is None:
        pytest.skip("the lab has no g6.4xlarge MachineSet")
    tmpl = base["spec"]["template"]
    labels = dict(tmpl.get("metadata", {}).get("labels") or {})
    labels["machine.openshift.io/cluster-api-machineset"] = name
    spec = dict(tmpl["spec"], metadata={"labels": {POOL_LABEL: pool}})
    custom.create_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", {
        "apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
        "metadata": {"name": name, "namespace": MACHINE_NS, "labels": dict(base["metadata"].get("labels") or {})},
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {k: v for k, v in labels.items()
                                              if k.startswith("machine.openshift.io/cluster-api-")}},
                 "template": {"metadata": {"labels": labels}, "spec": spec}}})

    def nodes():
        return core.list_node(label_selector="%s=%s" % (POOL_LABEL, pool)).items

    def ready(n):
        return any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])

    try:
        wait_for(nodes, lambda ns: len(ns) == 3 and all(ready(n) for n in ns), 120, "3 Ready nodes of %s" % name)
        yield pool
    finally:
        custom.delete_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name)
        wait_for(nodes, lambda ns: not ns, 90, "nodes of %s to go away" % name)


RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
    "metadata": {"name": "vllm-cuda-runtime", "labels": {"opendatahub.io/dashboard": "true"},
                 "annotations": {"opendatahub.io/apiProtocol": "REST"}},
    "spec": {"multiModel": False, "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
             "containers": [{"name": "kserve-container", "image": "quay.io/modh/vllm:lab",
                             "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
                             "args": ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"],
                             "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]},
}


@pytest.fixture
def serving_ns(core, custom, lab, weights):
    ns = "isvcwait-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": ns, "labels": {"lab.private-ai.io/test": "true"}}})
    s3f = lab["s3"]
    core.create_namespaced_secret(ns, {
        "metadata": {"name": "models-s3", "labels": {"opendatahub.io/dashboard": "true"},
                     "annotations": {"opendatahub.io/connection-type-protocol": "s3"}},
        "stringData": {"AWS_ACCESS_KEY_ID": s3f["access_key"], "AWS_SECRET_ACCESS_KEY": s3f["secret_key"],
                       "AWS_S3_ENDPOINT": s3f["endpoint"], "AWS_S3_BUCKET": weights,
                       "AWS_DEFAULT_REGION": s3f.get("region") or "us-east-1"}})
    custom.create_namespaced_custom_object("serving.kserve.io", "v1alpha1", ns, "servingruntimes", RUNTIME)
    yield ns
    core.delete_namespace(ns)


def isvc_manifest(name, pool, path="m/bf16", gpus=1, labels=None):
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name,
                     "labels": dict({"opendatahub.io/dashboard": "true",
                                     "networking.kserve.io/visibility": "exposed"}, **(labels or {})),
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment",
                                     "opendatahub.io/connections": "models-s3"}},
        "spec": {"predictor": {
            "minReplicas": 1, "maxReplicas": 1,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "nodeSelector": {POOL_LABEL: pool},
            "model": {"modelFormat": {"name": "vLLM"}, "runtime": "vllm-cuda-runtime",
                      "storage": {"key": "models-s3", "path": path},
                      "args": ["--dtype=bfloat16", "--max-model-len=4096"] + (
                          ["--tensor-parallel-size=%d" % gpus] if gpus > 1 else []),
                      "resources": {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": str(gpus)},
                                    "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": str(gpus)}}}}},
    }


def create_isvc(custom, ns, body):
    return custom.create_namespaced_custom_object(*KSERVE, ns, "inferenceservices", body)
