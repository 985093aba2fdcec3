"""k8s_apply against the lab's real kube-apiserver and CRDs, through ansible-playbook.

What a user would notice: a misspelled field fails instead of being dropped, a second run changes
nothing, check mode writes nothing, and a Secret's value never reaches the output, even at -vvv.
"""

import json
import os
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")
pytestmark = pytest.mark.skipif(not (LAB / "lab.json").exists(), reason="the lab is not running (make lab-up)")

SECRET = "s3cr3t-" + uuid.uuid4().hex


def kubeconfig():
    return json.loads((LAB / "lab.json").read_text())["kubeconfig"]


def run_play(tmp_path, tasks, *flags):
    play = [{
        "hosts": "localhost", "gather_facts": False,
        "module_defaults": {"group/private_ai.llm_serving.k8s": {"kubeconfig": kubeconfig()}},
        "tasks": tasks,
    }]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}", str(path), *flags],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc


def task_results(proc):
    start = proc.stdout.index("{")
    doc = json.loads(proc.stdout[start:])
    return [t["hosts"]["localhost"] for t in doc["plays"][0]["tasks"]]


def get(kind_path):
    out = subprocess.run(
        [str(REPO / ".venv/bin/python"), "-c", textwrap.dedent("""
            import json, sys
            from kubernetes import config, dynamic, client
            api = client.ApiClient(config.new_client_from_config(sys.argv[1]).configuration)
            try:
                print(json.dumps(api.call_api(sys.argv[2], 'GET', response_type='object',
                                              auth_settings=['BearerToken'], _return_http_data_only=True)))
            except client.ApiException as e:
                print(json.dumps({'status': e.status}))
        """), kubeconfig(), kind_path],
        capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.fixture
def namespace(tmp_path):
    name = "kt-" + uuid.uuid4().hex[:8]
    yield name
    run_play(tmp_path, [{"kubernetes.core.k8s": {"kind": "Namespace", "name": name, "state": "absent"}}])


def manifests(ns, label="one"):
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"t": label}}},
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "conn", "namespace": ns}, "stringData": {"AWS_SECRET_ACCESS_KEY": SECRET}},
    ]


def test_converges_then_reports_no_change(tmp_path, namespace):
    task = {"private_ai.llm_serving.k8s_apply": {"definition": manifests(namespace)}}
    first = run_play(tmp_path, [task])
    assert first.returncode == 0, first.stdout[-3000:]
    assert task_results(first)[0]["changed"] is True
    second = run_play(tmp_path, [task])
    assert second.returncode == 0, second.stdout[-3000:]
    assert task_results(second)[0]["changed"] is False


def test_misspelled_field_is_refused_by_the_api_server(tmp_path, namespace):
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": "typo", "namespace": namespace},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "runtme": "vllm"}}},
    }
    proc = run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": [manifests(namespace)[0], isvc]}}])
    assert proc.returncode != 0
    msg = task_results(proc)[0]["msg"]
    assert "InferenceService %s/typo" % namespace in msg
    assert "runtme" in msg and "not declared in schema" in msg
    assert get("/apis/serving.kserve.io/v1beta1/namespaces/%s/inferenceservices/typo" % namespace)["status"] == 404


def test_check_mode_writes_nothing_and_diffs_without_secret_values(tmp_path, namespace):
    task = {"private_ai.llm_serving.k8s_apply": {"definition": manifests(namespace)}}
    proc = run_play(tmp_path, [task], "--check", "--diff", "-vvv")
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = task_results(proc)[0]
    assert result["changed"] is True
    assert "AWS_SECRET_ACCESS_KEY" in result["diff"]["after"]
    assert SECRET not in proc.stdout + proc.stderr
    assert get("/api/v1/namespaces/%s" % namespace)["status"] == 404


def test_a_changed_secret_value_is_marked_not_shown(tmp_path, namespace):
    assert run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": manifests(namespace)}}]).returncode == 0
    changed = manifests(namespace)
    changed[1]["stringData"]["AWS_SECRET_ACCESS_KEY"] = SECRET + "-rotated"
    proc = run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": changed}}], "--diff", "-vvv")
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = task_results(proc)[0]
    assert "REDACTED (changed)" in result["diff"]["after"]
    assert SECRET not in proc.stdout + proc.stderr


def test_owner_references_without_uid_get_the_owner_applied_before_them(tmp_path, namespace):
    """The inference_services role applies each InferenceService and the dashboard's objects it owns
    in one task: an ownerReference without a uid gets the owner's, from the same apply (a new owner)
    or from the cluster. Check mode with a new owner that is only shown shows its dependents too."""
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner", "namespace": namespace}}
    dependent = {"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": {"name": "dep", "namespace": namespace,
                              "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                                                   "blockOwnerDeletion": False}]}}
    ns = manifests(namespace)[:1]
    shown = run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": ns + [owner, dependent],
                                                                      "dry_run_new": False}}], "--check")
    assert shown.returncode == 0, shown.stdout[-3000:]
    result = task_results(shown)[0]
    assert [o["created"] for o in result["objects"]] == [True, True, True]
    assert get("/api/v1/namespaces/%s" % namespace) == {"status": 404}

    proc = run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": ns + [owner, dependent]}}])
    assert proc.returncode == 0, proc.stdout[-3000:]
    uid = get("/api/v1/namespaces/%s/configmaps/owner" % namespace)["metadata"]["uid"]
    sa = get("/api/v1/namespaces/%s/serviceaccounts/dep" % namespace)
    assert [r["uid"] for r in sa["metadata"]["ownerReferences"]] == [uid]

    # the owner already there (read from the cluster), the dependent alone: unchanged
    again = run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": dependent}}])
    assert again.returncode == 0 and task_results(again)[0]["changed"] is False, again.stdout[-3000:]

    orphan = dict(dependent, metadata=dict(dependent["metadata"], name="orphan", ownerReferences=[
        dict(dependent["metadata"]["ownerReferences"][0], name="missing")]))
    failed = run_play(tmp_path, [{"private_ai.llm_serving.k8s_apply": {"definition": orphan}}])
    assert failed.returncode != 0
    assert "ServiceAccount %s/orphan names its owner ConfigMap missing, which does not exist." % namespace \
        in task_results(failed)[0]["msg"]
