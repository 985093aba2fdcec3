"""Tests of the running lab itself (`make lab-up` first; skipped when .lab/lab.json is absent).

They check what the collection relies on: authentication and RBAC really enforced, TLS verified
with the lab CA, strict field validation on the CRDs, the seeded Machine API objects, MinIO and the
Model Registry answering, and every lab socket bound to loopback only.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from testing.labclient import STATE_DIR

STATE = STATE_DIR.resolve()
LAB_JSON = STATE / "lab.json"

if not LAB_JSON.exists():
    pytest.skip(f"the lab is not running ({LAB_JSON} is absent): run `make lab-up`",
                allow_module_level=True)

LAB = json.loads(LAB_JSON.read_text())
INSTANCE_TYPES = {"g6.4xlarge", "g6.12xlarge", "g6e.xlarge"}


def kubeconfig_token(path: str) -> str:
    config = yaml.safe_load(Path(path).read_text())
    return config["users"][0]["user"]["token"]


ADMIN = kubeconfig_token(LAB["kubeconfig"])
DEPLOYER = kubeconfig_token(LAB["deployer_kubeconfig"])
CA_CTX = ssl.create_default_context(cafile=LAB["ca"])


def call(method: str, path: str, token: str | None = None, body=None,
         content_type: str = "application/json", base: str | None = None, ctx=CA_CTX):
    """(status, parsed body) of one request to the lab apiserver (or `base`)."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request((base or LAB["apiserver"]) + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=15, context=ctx) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {"raw": raw.decode(errors="replace")}


# -- authentication, TLS ------------------------------------------------------------------------

def test_anonymous_request_is_refused():
    status, _ = call("GET", "/api/v1/namespaces")
    assert status in (401, 403)


def test_unknown_token_is_unauthorized():
    status, _ = call("GET", "/api/v1/namespaces", token="not-a-lab-token")
    assert status == 401


def test_admin_token_lists_namespaces():
    status, body = call("GET", "/api/v1/namespaces", token=ADMIN)
    assert status == 200
    names = {item["metadata"]["name"] for item in body["items"]}
    assert {"kube-system", "openshift-machine-api", "llm-serving-system"} <= names


def test_tls_is_verified_with_the_lab_ca_only():
    # Without the lab CA the system trust store must reject the apiserver's certificate.
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(LAB["apiserver"] + "/readyz", timeout=5, context=ssl.create_default_context())
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)
    # With it, both the IP and the name in the serving certificate verify.
    for base in (LAB["apiserver"], LAB["apiserver"].replace("127.0.0.1", "localhost")):
        status, _ = call("GET", "/readyz", token=ADMIN, base=base)
        assert status == 200, base


def test_kubeconfigs_embed_the_lab_ca():
    ca = Path(LAB["ca"]).read_bytes()
    for path in (LAB["kubeconfig"], LAB["deployer_kubeconfig"]):
        cluster = yaml.safe_load(Path(path).read_text())["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]) == ca
        assert cluster["server"] == LAB["apiserver"]


def test_secret_files_are_private():
    for name in ("lab.json", "env", "kubeconfig", "deployer.kubeconfig", "minio-user", "minio-password"):
        assert (STATE / name).stat().st_mode & 0o077 == 0, name


# -- RBAC of the deployer ------------------------------------------------------------------------

def test_deployer_cannot_delete_nodes():
    status, body = call("DELETE", "/api/v1/nodes/lab-rbac-probe", token=DEPLOYER)
    assert status == 403, body


def test_deployer_cannot_read_kube_system_secrets():
    status, _ = call("GET", "/api/v1/namespaces/kube-system/secrets", token=DEPLOYER)
    assert status == 403


def test_deployer_cannot_grant_itself_rights():
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "lab-rbac-probe"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                           "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "llm-serving-deployer",
                             "namespace": "llm-serving-system"}]}
    status, _ = call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?dryRun=All",
                     token=DEPLOYER, body=binding)
    assert status == 403


def test_deployer_reads_what_the_collection_needs():
    ns = LAB["deployer"]["namespaces"][0]
    for path in ("/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machinesets",
                 "/apis/config.openshift.io/v1/infrastructures/cluster",
                 "/api/v1/nodes",
                 "/apis/kueue.x-k8s.io/v1beta1/clusterqueues",
                 f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices",
                 f"/api/v1/namespaces/{ns}/secrets"):
        status, body = call("GET", path, token=DEPLOYER)
        assert status == 200, f"{path}: {status} {body.get('message')}"


# -- API server behaviour the collection relies on ---------------------------------------------

def _isvc(extra_spec: dict) -> dict:
    ns = LAB["deployer"]["namespaces"][0]
    spec = {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtime": "vllm",
                                    "storageUri": "s3://models/probe"}}}
    spec.update(extra_spec)
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "lab-validation-probe", "namespace": ns,
                         # the namespace may be Kueue-managed: OpenShift AI then requires the label
                         "labels": {"kueue.x-k8s.io/queue-name": "default"}},
            "spec": spec}


def _apply_isvc(obj: dict):
    ns = obj["metadata"]["namespace"]
    path = (f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices/lab-validation-probe"
            "?fieldManager=lab-tests&fieldValidation=Strict&dryRun=All")
    return call("PATCH", path, token=DEPLOYER, body=obj, content_type="application/apply-patch+yaml")


def test_strict_field_validation_rejects_unknown_inference_service_field():
    # Server-side apply refuses a field the CRD schema does not declare (kube-apiserver answers
    # 500 "field not declared in schema" for apply patches, whatever fieldValidation says).
    status, body = _apply_isvc(_isvc({"notAField": True}))
    assert status >= 400, body
    assert "notAField" in body.get("message", "")
    # A plain create with fieldValidation=Strict is a 400 "strict decoding error".
    obj = _isvc({"notAField": True})
    ns = obj["metadata"]["namespace"]
    status, body = call("POST", f"/apis/serving.kserve.io/v1beta1/namespaces/{ns}/inferenceservices"
                        "?fieldValidation=Strict&dryRun=All", token=DEPLOYER, body=obj)
    assert status == 400, body
    assert 'unknown field "spec.notAField"' in body.get("message", "")


def test_valid_inference_service_passes_strict_validation():
    status, body = _apply_isvc(_isvc({}))
    assert status in (200, 201), body.get("message")


# -- seeded OpenShift objects ------------------------------------------------------------------

def test_infrastructure_name():
    status, body = call("GET", "/apis/config.openshift.io/v1/infrastructures/cluster", token=ADMIN)
    assert status == 200
    assert body["status"]["infrastructureName"] == LAB["infrastructure_name"]
    assert re.fullmatch(r"lab-[a-z0-9]{5}", LAB["infrastructure_name"])
    assert body["status"]["platformStatus"]["type"] == "AWS"


def test_gpu_machinesets_seeded():
    infra = LAB["infrastructure_name"]
    status, body = call("GET", "/apis/machine.openshift.io/v1beta1/namespaces/openshift-machine-api/machinesets",
                        token=ADMIN)
    assert status == 200
    seeded = {}
    for ms in body["items"]:
        value = ms["spec"]["template"]["spec"]["providerSpec"]["value"]
        name = ms["metadata"]["name"]
        if name == f"{infra}-gpu-{value['instanceType'].replace('.', '-')}-us-east-1a":
            seeded[value["instanceType"]] = ms
    assert set(seeded) == INSTANCE_TYPES
    for instance_type, ms in seeded.items():
        name = ms["metadata"]["name"]
        assert ms["metadata"]["labels"]["machine.openshift.io/cluster-api-cluster"] == infra
        assert ms["spec"]["selector"]["matchLabels"]["machine.openshift.io/cluster-api-machineset"] == name
        assert ms["spec"]["template"]["metadata"]["labels"]["machine.openshift.io/cluster-api-machineset"] == name
        value = ms["spec"]["template"]["spec"]["providerSpec"]["value"]
        assert value["kind"] == "AWSMachineProviderConfig"
        assert value["placement"] == {"availabilityZone": "us-east-1a", "region": "us-east-1"}
        # Seeded at 0 replicas; only someone else's scale (the collection's) may change that.
        managers = {m["manager"] for m in ms["metadata"].get("managedFields", [])}
        if managers == {"private-ai-lab"}:
            assert ms["spec"]["replicas"] == 0, instance_type


# -- MinIO and the Model Registry ---------------------------------------------------------------

def test_minio_answers_with_the_lab_credentials():
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    s3 = LAB["s3"]

    def client(secret):
        return boto3.client("s3", endpoint_url=s3["endpoint"], region_name=s3["region"],
                            aws_access_key_id=s3["access_key"], aws_secret_access_key=secret,
                            config=Config(retries={"max_attempts": 1}))

    assert client(s3["secret_key"]).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as err:
        client("wrong-" + s3["secret_key"]).list_buckets()
    assert err.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")


def test_model_registry_creates_and_lists_a_registered_model():
    api = "/api/model_registry/v1alpha3"
    name = f"lab-test-{uuid.uuid4().hex[:8]}"
    status, created = call("POST", f"{api}/registered_models", base=LAB["registry_url"], ctx=None,
                           body={"name": name, "description": "created by lab/tests/test_infra.py"})
    assert status == 201, created
    status, listed = call("GET", f"{api}/registered_models?pageSize=1000", base=LAB["registry_url"], ctx=None)
    assert status == 200
    assert name in {item["name"] for item in listed["items"]}
    status, found = call("GET", f"{api}/registered_model?name={name}", base=LAB["registry_url"], ctx=None)
    assert status == 200 and found["id"] == created["id"]


# -- loopback only -----------------------------------------------------------------------------

def _lab_pids() -> list[int]:
    needle = f"PRIVATE_AI_LAB_STATE={STATE}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _listening_sockets() -> dict[int, tuple[str, int]]:
    """inode -> (local address hex, port) of every LISTEN TCP socket on the machine."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":
                addr, port = fields[1].split(":")
                out[int(fields[9])] = (addr, int(port, 16))
    return out


def test_every_lab_socket_listens_on_loopback_only():
    """All but one: KServe's webhook server, whose listen host has no flag (kserve
    cmd/manager/main.go builds webhook.Options with the port alone), listens on every interface."""
    kserve_webhook = LAB.get("kserve_webhook_port")
    pids = _lab_pids()
    if not pids:
        pytest.skip("cannot read the lab processes' environment (not the same user?)")
    listening = _listening_sockets()
    loopback4 = "0100007F"                         # 127.0.0.1, little-endian hex
    loopback6 = ("00000000000000000000000001000000", "0000000000000000FFFF00000100007F")
    found = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            match = re.fullmatch(r"socket:\[(\d+)\]", target)
            if match and int(match.group(1)) in listening:
                addr, port = listening[int(match.group(1))]
                found.append((pid, port))
                if port == kserve_webhook:
                    continue
                assert addr == loopback4 or addr in loopback6, f"pid {pid} listens on {addr}:{port}"
    assert found, "no listening socket found for the lab processes"

