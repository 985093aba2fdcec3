"""Integration tests of the model_registry module and the registry_seed role against the lab.

The lab runs the real Kubeflow model-registry server (embedmd datastore on MariaDB) on loopback,
without an authenticating proxy. (v0.2.19's embedmd REST service is a stub that panics on every
call; the lab runs a later release.) Every test uses names unique to the run, so reruns start clean.
Skipped, with the reason, when the lab is not up (`make lab-up`).
"""

import json
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAB_JSON = ROOT / ".lab" / "lab.json"
PY = ROOT / ".venv" / "bin" / "python"
API = "/api/model_registry/v1alpha3"
MODULE = "ansible_collections.private_ai.llm_serving.plugins.modules.model_registry"
TOKEN = "sha256~integration-secret-" + uuid.uuid4().hex


def _lab():
    lab = json.loads(LAB_JSON.read_text()) if LAB_JSON.exists() else {}
    # LAB_REGISTRY_URL (exported by .lab/env) points the tests at another registry server.
    if os.environ.get("LAB_REGISTRY_URL"):
        lab["registry_url"] = os.environ["LAB_REGISTRY_URL"]
        if "kubeconfig" not in lab and (ROOT / ".lab" / "kubeconfig").exists():
            lab["kubeconfig"] = str(ROOT / ".lab" / "kubeconfig")
    elif not lab:
        return None, "lab not running: %s missing (make lab-up)" % LAB_JSON
    url = lab.get("registry_url")
    if not url:
        return None, "lab.json has no registry_url"
    try:
        with urllib.request.urlopen(url + API + "/registered_models?pageSize=1", timeout=5) as r:
            r.read()
    except (OSError, urllib.error.URLError) as e:
        return None, "lab Model Registry at %s not answering: %s" % (url, e)
    return lab, None


LAB, SKIP_REASON = _lab()
pytestmark = pytest.mark.skipif(LAB is None, reason=SKIP_REASON or "")


@pytest.fixture()
def reg():
    return LAB["registry_url"]


@pytest.fixture()
def run_id():
    return uuid.uuid4().hex[:8]


def rest(base, method, path, body=None):
    """Direct REST call to the registry (to verify, or to make drift)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + API + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def module(args, check=False, diff=False):
    """Run the module the way Ansible does (an args file), return its JSON result."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / ("mr-args-%s.json" % uuid.uuid4().hex)
    tmp.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": payload}))
    try:
        proc = subprocess.run([str(PY), "-m", MODULE, str(tmp)], capture_output=True, text=True,
                              env=env, timeout=120, check=False)
    finally:
        tmp.unlink()
    return json.loads(proc.stdout)


def spec(url, rid, **over):
    args = {
        "url": url,
        "registered_model": {"name": "it-model-%s" % rid, "description": "Integration model",
                             "owner": "platform-team", "custom_properties": {"approved": True, "tier": "gold"}},
        "version": {"name": "v1-bf16", "author": "Mistral AI", "description": "BF16 TP=4",
                    "custom_properties": {"dtype": "bfloat16"}},
        "artifact": {"uri": "s3://models/it/%s?endpoint=http%%3A%%2F%%2F127.0.0.1%%3A19000&defaultRegion=us-east-1" % rid,
                     "model_format_name": "vLLM", "model_format_version": "1",
                     "storage_key": "models-s3", "storage_path": "it/%s" % rid},
    }
    args.update(over)
    return args


def test_fresh_seed_creates_model_version_and_artifact(reg, run_id):
    res = module(spec(reg, run_id))
    assert res.get("changed") is True, res
    assert len(res["actions"]) == 3
    rm_id, mv_id, ma_id = res["registered_model_id"], res["model_version_id"], res["model_artifact_id"]
    assert all((rm_id, mv_id, ma_id))

    status, rm = rest(reg, "GET", "/registered_models/%s" % rm_id)
    assert status == 200 and rm["name"] == "it-model-%s" % run_id and rm["state"] == "LIVE"
    assert rm["owner"] == "platform-team"
    assert rm["customProperties"]["approved"] == {"metadataType": "MetadataStringValue", "string_value": "true"}
    status, mv = rest(reg, "GET", "/model_versions/%s" % mv_id)
    assert mv["registeredModelId"] == rm_id and mv["author"] == "Mistral AI" and mv["state"] == "LIVE"
    status, ma = rest(reg, "GET", "/model_artifacts/%s" % ma_id)
    assert ma["uri"].startswith("s3://models/it/%s?endpoint=" % run_id)
    assert (ma["modelFormatName"], ma["modelFormatVersion"]) == ("vLLM", "1")
    assert (ma["storageKey"], ma["storagePath"], ma["state"]) == ("models-s3", "it/%s" % run_id, "LIVE")
    assert ma["name"] == "it-model-%s" % run_id


def test_rerun_changes_nothing_and_returns_the_same_ids(reg, run_id):
    first = module(spec(reg, run_id))
    second = module(spec(reg, run_id), diff=True)
    assert second["changed"] is False and second["actions"] == [], second
    ids = ("registered_model_id", "model_version_id", "model_artifact_id")
    assert [second[k] for k in ids] == [first[k] for k in ids]
    assert second["diff"]["before"] == second["diff"]["after"]


def test_entries_ensure_several_models_in_one_run(reg, run_id):
    """One process for a models list: each entry ensured in order, one result each, the check-mode run
    writes nothing, a re-run changes nothing, and a bad entry fails before any request naming its index."""
    one, two = spec(reg, run_id), spec(reg, run_id + "b")
    entries = [{k: one[k] for k in ("registered_model", "version", "artifact")},
               {k: two[k] for k in ("registered_model", "version", "artifact")}]
    check = module({"url": reg, "entries": entries}, check=True, diff=True)
    assert check["changed"] is True and [len(r["actions"]) for r in check["results"]] == [3, 3], check
    assert set(check["diff"]["after"]) == {"it-model-%s/v1-bf16" % run_id, "it-model-%sb/v1-bf16" % run_id}
    status, found = rest(reg, "GET", "/registered_model?name=it-model-%s" % run_id)
    assert status == 404, found
    first = module({"url": reg, "entries": entries})
    assert first["changed"] is True and all(r["model_artifact_id"] for r in first["results"]), first
    again = module({"url": reg, "entries": entries})
    assert again["changed"] is False and [r["model_version_id"] for r in again["results"]] == \
        [r["model_version_id"] for r in first["results"]]
    bad = module({"url": reg, "entries": entries + [{"registered_model": {"name": "x"}, "artifact": {"uri": "s3://b/p"}}]})
    assert bad.get("failed") and bad["msg"].startswith("entries[2]: ") and "version" in bad["msg"], bad


def test_check_mode_reports_creations_and_writes_nothing(reg, run_id):
    res = module(spec(reg, run_id), check=True, diff=True)
    assert res["changed"] is True and len(res["actions"]) == 3
    assert res["registered_model_id"] is None
    assert res["diff"]["after"]["registered_model"]["description"] == "Integration model"
    status = rest(reg, "GET", "/registered_model?name=it-model-%s" % run_id)[0]
    assert status == 404


def test_drift_is_corrected(reg, run_id):
    first = module(spec(reg, run_id))
    rm_id, mv_id, ma_id = first["registered_model_id"], first["model_version_id"], first["model_artifact_id"]
    # Drift made by someone else through the REST API (as the dashboard would).
    assert rest(reg, "PATCH", "/registered_models/%s" % rm_id, {
        "description": "edited by hand",
        "customProperties": {"approved": {"metadataType": "MetadataStringValue", "string_value": "false"},
                             "tier": {"metadataType": "MetadataStringValue", "string_value": "gold"},
                             "hand-label": {"metadataType": "MetadataStringValue", "string_value": ""}}})[0] == 200
    assert rest(reg, "PATCH", "/model_versions/%s" % mv_id, {"author": "someone else"})[0] == 200
    assert rest(reg, "PATCH", "/model_artifacts/%s" % ma_id,
                {"artifactType": "model-artifact", "uri": "s3://other/place"})[0] == 200

    check = module(spec(reg, run_id), check=True)
    assert check["changed"] is True and len(check["actions"]) == 3
    assert rest(reg, "GET", "/model_artifacts/%s" % ma_id)[1]["uri"] == "s3://other/place"

    fixed = module(spec(reg, run_id), diff=True)
    assert fixed["changed"] is True, fixed
    assert fixed["actions"] == [
        "update RegisteredModel 'it-model-%s': customProperties, description" % run_id,
        "update ModelVersion 'v1-bf16' of 'it-model-%s': author" % run_id,
        # The server resets an artifact's state to UNKNOWN on a PATCH without state: drift too.
        "update ModelArtifact 'it-model-%s' of version 'v1-bf16': state, uri" % run_id,
    ]
    assert fixed["diff"]["before"]["model_artifact"]["uri"] == "s3://other/place"
    assert [fixed[k] for k in ("registered_model_id", "model_version_id", "model_artifact_id")] == [rm_id, mv_id, ma_id]

    rm = rest(reg, "GET", "/registered_models/%s" % rm_id)[1]
    assert rm["description"] == "Integration model"
    assert rm["customProperties"]["approved"]["string_value"] == "true"
    assert "hand-label" in rm["customProperties"]  # properties we do not manage are kept
    assert rest(reg, "GET", "/model_versions/%s" % mv_id)[1]["author"] == "Mistral AI"
    ma = rest(reg, "GET", "/model_artifacts/%s" % ma_id)[1]
    assert (ma["uri"], ma["state"]) == (spec(reg, run_id)["artifact"]["uri"], "LIVE")
    assert module(spec(reg, run_id))["changed"] is False


def test_new_version_of_an_existing_model(reg, run_id):
    first = module(spec(reg, run_id))
    other = spec(reg, run_id)
    other["version"] = dict(other["version"], name="v2-fp8")
    res = module(other)
    assert res["changed"] is True
    assert res["registered_model_id"] == first["registered_model_id"]
    assert res["model_version_id"] != first["model_version_id"]
    assert res["actions"] == ["create ModelVersion 'v2-fp8' of 'it-model-%s'" % run_id,
                              "create ModelArtifact 'it-model-%s' of version 'v2-fp8'" % run_id]


def test_registry_down_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = module(spec("http://127.0.0.1:%d" % port, "down", token=TOKEN))
    assert res["failed"] is True
    assert res["msg"] == ("Cannot reach the Model Registry at http://127.0.0.1:%d%s: connection refused "
                          "(is the registry running and the url right?)." % (port, API))
    assert TOKEN not in json.dumps(res)


class _Unauthorized(BaseHTTPRequestHandler):
    """Answers like the OAuth / kube-rbac proxy in front of an OpenShift AI registry."""

    def do_GET(self):
        body = b"Unauthorized\n"
        self.send_response(401)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PATCH = do_GET

    def log_message(self, *args):
        pass


def test_401_is_one_clear_error():
    """The lab registry has no auth (no proxy in front of it), so a tiny local server plays the
    proxy that rejects the token."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d" % httpd.server_address[1]
        res = module(spec(url, "auth", token=TOKEN))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert res["failed"] is True and res["status"] == 401
    assert res["msg"] == ("Model Registry authentication failed at %s%s: the registry rejected the token "
                          "(HTTP 401); set a valid token (llm_serving_registry_token) with access to this "
                          "registry." % (url, API))
    assert TOKEN not in json.dumps(res)


def _playbook(tmp_path, play, *args, extra_env=None):
    pb = tmp_path / "play.yml"
    pb.write_text(yaml.safe_dump(play, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", **(extra_env or {}))
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter=%s" % PY, str(pb)] + list(args)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600, check=False)


def test_playbook_hides_the_token_and_validates_arguments(reg, run_id, tmp_path):
    args = spec(reg, run_id, token=TOKEN)
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "register", "private_ai.llm_serving.model_registry": args, "register": "r"},
        {"name": "again", "private_ai.llm_serving.model_registry": args, "register": "r2"},
        {"ansible.builtin.assert": {"that": ["r is changed", "r2 is not changed",
                                             "r.model_artifact_id == r2.model_artifact_id"]}},
    ]}]
    proc = _playbook(tmp_path, play, "-vvv")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert TOKEN not in out
    assert "changed=1" in out

    bad = dict(args, artifact=dict(args["artifact"], modelFormatName="vLLM"))
    proc = _playbook(tmp_path, [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "bad", "private_ai.llm_serving.model_registry": bad}]}], "-vvv")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "modelFormatName" in out and "artifact" in out
    assert TOKEN not in out


def test_token_from_environment(reg, run_id, tmp_path):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "register", "private_ai.llm_serving.model_registry": spec(reg, run_id)}]}]
    proc = _playbook(tmp_path, play, "-vvv", extra_env={"MODEL_REGISTRY_TOKEN": TOKEN})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert TOKEN not in out


# -- the registry_seed role ----------------------------------------------------------------------

S3_ENDPOINT = "http://127.0.0.1:19000"


def _models(rid):
    return [
        {"name": "reg-full-%s" % rid, "weights": {"bucket": "models", "path": "it/%s/bf16" % rid},
         "hardware": {"instance_type": "g6.12xlarge"},
         "registry": {"model_name": "It-Full-%s" % rid, "version": "2501-bf16", "description": "full entry",
                      "owner": "platform-team", "author": "Mistral AI", "format_name": "vLLM",
                      "format_version": "1", "custom_properties": {"approved": "yes"}}},
        # Only what a minimal models entry carries: registry defaults apply.
        {"name": "reg-min-%s" % rid, "weights": {"path": "it/%s/fp8" % rid}, "hardware": {"instance_type": "g6e.xlarge"}},
    ]


def _role_play(tmp_path, extra_vars, *args, tasks_from=None):
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    role = {"role": "private_ai.llm_serving.registry_seed"}
    play = {"hosts": "localhost", "gather_facts": False,
            "module_defaults": {"group/private_ai.llm_serving.k8s": {
                "kubeconfig": "{{ llm_serving_kubeconfig | default(omit) }}"}},
            "tasks": [
                # The roles read the plan the preflight makes from the inventory's variables.
                {"name": "plan", "ansible.builtin.include_role": {"name": "private_ai.llm_serving.preflight"},
                 "vars": {"llm_serving_preflight_read_checkpoints": False}},
                {"name": "registry_seed", "ansible.builtin.include_role": dict(
                    {"name": role["role"]}, **({"tasks_from": tasks_from} if tasks_from else {}))},
                # The test reads the published fact from a file (changed_when: false keeps the recap honest).
                {"name": "ids", "changed_when": False, "ansible.builtin.copy": {
                    "dest": str(tmp_path / "ids.json"),
                    "content": "{{ llm_serving_registry_ids | default({}) | to_json }}"}}]}
    if tasks_from:
        play["tasks"][2] = {"name": "url", "ansible.builtin.debug": {"var": "__registry_seed_discovered_url"}}
    return _playbook(tmp_path, [play], "-e", "@%s" % vars_file, *args)


def _ids(tmp_path):
    """llm_serving_registry_ids as the last play published it."""
    return json.loads((tmp_path / "ids.json").read_text())


def _recap(out):
    line = [l for l in out.splitlines() if l.startswith("localhost") and "ok=" in l][-1]
    return dict(kv.split("=") for kv in line.split(":", 1)[1].split())


def test_role_registers_every_model_idempotently_and_check_mode_is_safe(reg, run_id, tmp_path):
    extra = {"llm_serving_models": _models(run_id), "llm_serving_registry_url": reg,
             "llm_serving_registry_token": TOKEN, "llm_serving_s3_endpoint": S3_ENDPOINT}

    check = _role_play(tmp_path, extra, "--check", "--diff", "-vvv")
    out = check.stdout + check.stderr
    assert check.returncode == 0, out[-3000:]
    assert TOKEN not in out
    assert rest(reg, "GET", "/registered_model?name=It-Full-%s" % run_id)[0] == 404  # nothing written

    first = _role_play(tmp_path, extra)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    assert _recap(first.stdout)["changed"] != "0"

    status, rm = rest(reg, "GET", "/registered_model?name=It-Full-%s" % run_id)
    assert status == 200 and rm["owner"] == "platform-team" and rm["description"] == "full entry"
    status, mv = rest(reg, "GET", "/model_version?name=2501-bf16&parentResourceId=%s" % rm["id"])
    assert status == 200 and mv["author"] == "Mistral AI"
    arts = rest(reg, "GET", "/model_versions/%s/artifacts" % mv["id"])[1]["items"]
    assert [a["uri"] for a in arts] == [
        "s3://models/it/%s/bf16?endpoint=http%%3A%%2F%%2F127.0.0.1%%3A19000&defaultRegion=us-east-1" % run_id]
    assert (arts[0]["storageKey"], arts[0]["storagePath"]) == ("models-s3", "it/%s/bf16" % run_id)
    # A model without a registry entry: its own name, version "1", format vLLM 1.
    status, rm_min = rest(reg, "GET", "/registered_model?name=reg-min-%s" % run_id)
    assert status == 200
    mv_min = rest(reg, "GET", "/model_version?name=1&parentResourceId=%s" % rm_min["id"])[1]
    art_min = rest(reg, "GET", "/model_versions/%s/artifacts" % mv_min["id"])[1]["items"][0]
    assert (art_min["modelFormatName"], art_min["modelFormatVersion"]) == ("vLLM", "1")
    assert art_min["uri"].startswith("s3://models/it/%s/fp8?" % run_id)

    first_ids = _ids(tmp_path)
    assert first_ids["reg-full-%s" % run_id] == {"registered_model_id": rm["id"], "model_version_id": mv["id"],
                                                 "model_artifact_id": arts[0]["id"]}
    second = _role_play(tmp_path, extra)
    assert second.returncode == 0
    assert _recap(second.stdout)["changed"] == "0"
    assert _ids(tmp_path) == first_ids


def _kube():
    if "kubeconfig" not in LAB or not Path(LAB["kubeconfig"]).exists():
        pytest.skip("lab Kubernetes API not available (no kubeconfig in lab.json)")
    kubernetes = pytest.importorskip("kubernetes")
    api = kubernetes.config.new_client_from_config(config_file=LAB["kubeconfig"])
    return kubernetes, api


@pytest.fixture()
def namespace(run_id):
    kubernetes, api = _kube()
    core = kubernetes.client.CoreV1Api(api)
    name = "it-registry-%s" % run_id
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_role_registers_before_any_inference_service_exists(reg, run_id, namespace, tmp_path):
    """site.yml registers the models first; the inference_services role creates each
    InferenceService with the registry labels (a label added later would roll the predictor).
    The role touches no InferenceService and needs none (Molecule's verify checks the labels)."""
    extra = {"llm_serving_models": _models(run_id)[:1], "llm_serving_registry_url": reg,
             "llm_serving_namespace": namespace, "llm_serving_s3_endpoint": S3_ENDPOINT,
             "llm_serving_kubeconfig": LAB.get("deployer_kubeconfig") or LAB["kubeconfig"]}
    proc = _role_play(tmp_path, extra)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert set(_ids(tmp_path)["reg-full-%s" % run_id]) == {"registered_model_id", "model_version_id",
                                                           "model_artifact_id"}


def test_role_discovers_the_registry_url_from_its_service_and_route(run_id, namespace, tmp_path):
    kubernetes, api = _kube()
    core = kubernetes.client.CoreV1Api(api)
    core.create_namespaced_service(namespace, {
        "metadata": {"name": "it-registry", "labels": {"component": "model-registry"}},
        "spec": {"ports": [{"name": "https-api", "port": 8443}, {"name": "grpc-api", "port": 9090}]}})
    extra = {"llm_serving_models": _models(run_id)[:1], "llm_serving_registry_namespace": namespace,
             "llm_serving_registry_name": "it-registry", "llm_serving_s3_endpoint": S3_ENDPOINT,
             "llm_serving_kubeconfig": LAB.get("deployer_kubeconfig") or LAB["kubeconfig"]}
    proc = _role_play(tmp_path, extra, tasks_from="discover.yml")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "https://it-registry.%s.svc:8443" % namespace in proc.stdout

    custom = kubernetes.client.CustomObjectsApi(api)
    try:
        custom.create_namespaced_custom_object("route.openshift.io", "v1", namespace, "routes", {
            "apiVersion": "route.openshift.io/v1", "kind": "Route",
            "metadata": {"name": "it-registry-https"},
            "spec": {"host": "it-registry-rest.apps.example.com", "to": {"kind": "Service", "name": "it-registry"},
                     "tls": {"termination": "reencrypt"}}})
    except kubernetes.client.exceptions.ApiException as e:
        pytest.skip("no Route API in the lab: %s" % e.reason)
    proc = _role_play(tmp_path, extra, tasks_from="discover.yml")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "https://it-registry-rest.apps.example.com" in proc.stdout

    proc = _role_play(tmp_path, dict(extra, llm_serving_registry_name="other"), tasks_from="discover.yml")
    assert proc.returncode != 0
    assert "No Service other labelled component=model-registry in namespace %s (found: it-registry)" % namespace \
        in proc.stdout


# -- through the lab's kube-rbac-proxy (what site.yml uses) ---------------------------------------

def _proxy():
    proxy = (LAB or {}).get("registry_proxy")
    if not proxy:
        pytest.skip("this lab predates the registry's proxy: make lab-down lab-up")
    return proxy


@pytest.fixture()
def outsider_token():
    """A valid ServiceAccount token whose account is not bound to the registry's Role."""
    kubernetes, api = _kube()
    core = kubernetes.client.CoreV1Api(api)
    ns, name = LAB["deployer"]["namespace"], "registry-outsider-" + uuid.uuid4().hex[:6]
    core.create_namespaced_service_account(ns, {"metadata": {"name": name}})
    try:
        yield core.create_namespaced_service_account_token(name, ns, {"spec": {}}).status.token
    finally:
        core.delete_namespaced_service_account(name, ns)


def test_the_real_proxy_401_and_403_are_one_sentence_each(run_id, outsider_token):
    proxy = _proxy()
    base = proxy["url"] + API
    res = module(spec(proxy["url"], run_id, token=TOKEN, ca_path=proxy["ca"]))
    assert res["failed"] is True and res["status"] == 401
    assert res["msg"] == ("Model Registry authentication failed at %s: the registry rejected the token "
                          "(HTTP 401); set a valid token (llm_serving_registry_token) with access to this "
                          "registry." % base)
    res = module(spec(proxy["url"], run_id, token=outsider_token, ca_path=proxy["ca"]))
    assert res["failed"] is True and res["status"] == 403
    assert res["msg"] == ("Model Registry authorization failed at %s: the token is valid but its identity may "
                          "not use this registry (HTTP 403); grant it access (on OpenShift AI: the "
                          "registry's Manage permissions, a RoleBinding to the Role registry-user-<registry "
                          "name>) or set llm_serving_registry_token to a token that has it." % base)
    for secret in (TOKEN, outsider_token):
        assert secret not in json.dumps(res)


def test_role_through_the_real_proxy_with_the_labs_token(run_id, tmp_path):
    """registry_seed as site.yml runs it on the lab: the proxied https URL, the lab CA and the
    collection's ServiceAccount token; the token never printed at -vvv; a re-run changes nothing."""
    proxy = _proxy()
    extra = {"llm_serving_models": _models(run_id)[:1], "llm_serving_registry_url": proxy["url"],
             "llm_serving_registry_token": proxy["token"], "llm_serving_registry_ca_bundle": proxy["ca"],
             "llm_serving_s3_endpoint": S3_ENDPOINT}
    first = _role_play(tmp_path, extra, "-vvv")
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-3000:]
    assert proxy["token"] not in out and proxy["token"][-40:] not in out
    assert _recap(first.stdout)["changed"] != "0"
    # what the proxy let through is in the registry itself
    assert rest(LAB["registry_url"], "GET", "/registered_model?name=It-Full-%s" % run_id)[0] == 200
    second = _role_play(tmp_path, extra)
    assert second.returncode == 0 and _recap(second.stdout)["changed"] == "0"
    without = _role_play(tmp_path, dict(extra, llm_serving_registry_token=""))
    assert without.returncode != 0
    assert "the registry requires a bearer token and none was given (HTTP 401)" in without.stdout
