"""Serving fixtures for the tests that deploy InferenceServices on the lab (lab/tests and
tests/integration): a private pool of GPU nodes, a namespace with an OpenShift AI data connection
and the vLLM ServingRuntime, a Kueue queue of its own, InferenceService manifests, and the
lab's cluster network (its proxy) to reach what they serve.

The manifests are what OpenShift AI 3.0 users write: the data connection as odh-dashboard v3.0.0
writes it (frontend/src/concepts/connectionTypes/utils.ts), the runtime as the
vllm-cuda-runtime-template ships it (odh-model-controller config/runtimes/vllm-cuda-template.yaml).
Import the fixtures into a test tree's conftest.py.
"""

import contextlib
import json
import ssl
import urllib.error
import urllib.request
import uuid

import pytest

from testing.labclient import scratch_bucket, wait_for

KSERVE = ("serving.kserve.io", "v1beta1")
KUEUE = ("kueue.x-k8s.io", "v1beta1")
MAPI = ("machine.openshift.io", "v1beta1")
MACHINE_NS = "openshift-machine-api"
POOL_LABEL = "lab.private-ai.io/test-pool"
MANAGED = "kueue.openshift.io/managed"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

RUNTIME = {
    "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
    "metadata": {"name": "vllm-cuda-runtime", "labels": {"opendatahub.io/dashboard": "true"},
                 "annotations": {"opendatahub.io/apiProtocol": "REST"}},
    "spec": {
        "multiModel": False,
        "annotations": {"prometheus.io/port": "8080", "prometheus.io/path": "/metrics",
                        "opendatahub.io/kserve-runtime": "vllm"},
        "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
        "containers": [{
            "name": "kserve-container", "image": "registry.redhat.io/rhaiis/vllm-cuda-rhel9:lab",
            "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
            "args": ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"],
            "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}]}],
    },
}


# -- GPU nodes --------------------------------------------------------------------------------

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


@contextlib.contextmanager
def gpu_nodes(custom, core, prefix, count, instance_type="g6.4xlarge"):
    """`count` private nodes of instance_type (default: 1 NVIDIA-L4 each); yields the pool name."""
    pool = "p" + uuid.uuid4().hex[:6]
    name = "%s-%s-%s" % (prefix, pool, instance_type.replace(".", "-"))
    clone_machineset(custom, instance_type, name, pool, count)
    try:
        wait_for(lambda: pool_nodes(core, pool),
                 lambda nodes: len(nodes) == count and all(node_ready(n) for n in nodes),
                 120, "%d Ready nodes of MachineSet %s" % (count, name))
        yield pool
    finally:
        custom.delete_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name)
        wait_for(lambda: pool_nodes(core, pool), lambda nodes: not nodes, 90,
                 "nodes of %s to go away" % name)


@pytest.fixture(scope="session")
def gpu_pool(custom, core):
    """Three private 1-GPU (g6.4xlarge, NVIDIA-L4) nodes for the session's InferenceServices."""
    with gpu_nodes(custom, core, "labtest", 3) as pool:
        yield pool


# -- weights, namespace, data connection --------------------------------------------------------

@pytest.fixture(scope="session")
def weights(s3):
    """A bucket holding one small 'model' at m/bf16/."""
    with scratch_bucket(s3, "labtest", {"m/bf16/config.json": b'{"model_type": "mistral"}',
                                        "m/bf16/model.safetensors": b"\0" * 64}) as bucket:
        yield bucket


def data_connection(lab, bucket, name="models-s3", connection_type=True, **overrides):
    """An S3 data connection Secret as odh-dashboard v3.0.0 writes it; connection_type=False
    leaves out the `opendatahub.io/connection-type` annotation (older tools did)."""
    s3 = lab["s3"]
    annotations = {"openshift.io/display-name": name, "opendatahub.io/connection-type-ref": "s3",
                   "opendatahub.io/connection-type-protocol": "s3"}
    if connection_type:
        annotations["opendatahub.io/connection-type"] = "s3"
    data = {"AWS_ACCESS_KEY_ID": s3["access_key"], "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
            "AWS_S3_ENDPOINT": s3["endpoint"], "AWS_S3_BUCKET": bucket,
            "AWS_DEFAULT_REGION": s3.get("region") or "us-east-1"}
    data.update(overrides)
    return {"metadata": {"name": name, "annotations": annotations,
                         "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/managed": "true"}},
            "stringData": data}


def new_namespace(core, prefix, managed=False):
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    labels = {"lab.private-ai.io/test": "true"}
    if managed:
        labels[MANAGED] = "true"
    core.create_namespace({"metadata": {"name": name, "labels": labels}})
    return name


@pytest.fixture
def serving_ns(core, custom, lab, weights):
    """A namespace (not managed by Kueue) with the data connection `models-s3` (bucket `weights`)
    and the vLLM runtime; deleted afterwards."""
    ns = new_namespace(core, "labtest")
    core.create_namespaced_secret(ns, data_connection(lab, weights))
    custom.create_namespaced_custom_object("serving.kserve.io", "v1alpha1", ns, "servingruntimes",
                                           RUNTIME)
    yield ns
    core.delete_namespace(ns)


@contextlib.contextmanager
def kueue_queue(custom, core, namespace, pool, gpus, name=None):
    """A ResourceFlavor for the pool's nodes, a ClusterQueue with `gpus` GPUs (and room for CPU and
    memory) selecting `namespace`, the namespace labelled Kueue-managed, and LocalQueue `name`
    (default: the ClusterQueue's name) in it. Yields the LocalQueue's name."""
    cq = "lq-" + uuid.uuid4().hex[:8]
    name = name or cq
    custom.create_cluster_custom_object(*KUEUE, "resourceflavors", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ResourceFlavor",
        "metadata": {"name": cq}, "spec": {"nodeLabels": {POOL_LABEL: pool}}})
    custom.create_cluster_custom_object(*KUEUE, "clusterqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue", "metadata": {"name": cq},
        "spec": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                 "resourceGroups": [{"coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
                                     "flavors": [{"name": cq, "resources": [
                                         {"name": "cpu", "nominalQuota": 64},
                                         {"name": "memory", "nominalQuota": "512Gi"},
                                         {"name": "nvidia.com/gpu", "nominalQuota": gpus}]}]}]}})
    core.patch_namespace(namespace, {"metadata": {"labels": {MANAGED: "true"}}})
    custom.create_namespaced_custom_object(*KUEUE, namespace, "localqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
        "metadata": {"name": name}, "spec": {"clusterQueue": cq}})
    try:
        yield name
    finally:
        for plural, obj in (("clusterqueues", cq), ("resourceflavors", cq)):
            try:
                custom.delete_cluster_custom_object(*KUEUE, plural, obj)
            except Exception:  # noqa: BLE001 - best effort: the namespace goes anyway
                pass


# -- InferenceServices ----------------------------------------------------------------------

def isvc_manifest(name, pool, path="m/bf16", gpus=1, args=None, labels=None, fmt="vLLM",
                  strategy=None, runtime="vllm-cuda-runtime"):
    predictor = {
        "minReplicas": 1, "maxReplicas": 1,
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "nodeSelector": {POOL_LABEL: pool},
        "model": {"modelFormat": {"name": fmt},
                  "storage": {"key": "models-s3", "path": path},
                  "args": args or ["--dtype=bfloat16", "--max-model-len=4096"],
                  "resources": {
                      "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": str(gpus)},
                      "limits": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": str(gpus)}}}}
    if runtime:
        predictor["model"]["runtime"] = runtime
    if strategy:
        predictor["deploymentStrategy"] = {"type": strategy}
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name,
                     "labels": dict({"opendatahub.io/dashboard": "true",
                                     "networking.kserve.io/visibility": "exposed"},
                                    **(labels or {})),
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment",
                                     "opendatahub.io/connections": "models-s3",
                                     "security.opendatahub.io/enable-auth": "false"}},
        "spec": {"predictor": predictor},
    }


def create_isvc(custom, ns, body):
    return custom.create_namespaced_custom_object(*KSERVE, ns, "inferenceservices", body)


def get_isvc(custom, ns, name):
    return custom.get_namespaced_custom_object(*KSERVE, ns, "inferenceservices", name)


def condition(obj, ctype):
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return cond
    return {}


def isvc_ready(obj):
    """Ready=True as KServe reports it (in raw mode status.observedGeneration is the predictor
    Deployment's, not the InferenceService's: it says nothing about the spec)."""
    return condition(obj, "Ready").get("status") == "True"


def predictor_pods(core, ns, name):
    return [p for p in core.list_namespaced_pod(
        ns, label_selector="serving.kserve.io/inferenceservice=%s" % name).items
        if not p.metadata.deletion_timestamp]


def events(core, ns, kind=None):
    """Event lines `Kind/name Reason: message` of a namespace, oldest first."""
    items = core.list_namespaced_event(ns).items
    items.sort(key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp))
    return ["%s/%s %s: %s" % (e.involved_object.kind, e.involved_object.name, e.reason, e.message)
            for e in items if kind is None or e.involved_object.kind == kind]


# -- the cluster network ----------------------------------------------------------------------

def via_proxy(lab, url, body=None, timeout=30, headers=None):
    """(status, body text) of a request through the lab's cluster network proxy, TLS verified
    with the lab CA; ``headers`` are added to the request."""
    handler = urllib.request.ProxyHandler({"http": lab["proxy_url"], "https": lab["proxy_url"]})
    ctx = ssl.create_default_context(cafile=lab["ca"])
    opener = urllib.request.build_opener(handler, urllib.request.HTTPSHandler(context=ctx))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=dict({"Content-Type": "application/json"},
                                                              **(headers or {})))
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def chat(lab, url, model, timeout=30):
    """One non-streamed chat completion through the proxy: (status, parsed body or text)."""
    status, text = via_proxy(lab, url.rstrip("/") + "/v1/chat/completions", {
        "model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "Say hello"}]},
        timeout=timeout)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text
