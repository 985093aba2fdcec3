"""The modules' action plugin (plugins/plugin_utils/in_process.py) on the lab: on a local connection a
module runs inside the controller's worker, otherwise (llm_serving_in_process false, a task
environment, become, another connection) as a module process; either way the task's result is the
same, argument errors and failures included, and no_log values stay masked at -vvv."""

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")
pytestmark = pytest.mark.skipif(not (LAB / "lab.json").exists(), reason="the lab is not running (make lab-up)")
SECRET = "in-process-" + uuid.uuid4().hex


def kubeconfig():
    return json.loads((LAB / "lab.json").read_text())["kubeconfig"]


def play(tmp_path, tasks, *flags, in_process=True):
    doc = [{"hosts": "localhost", "gather_facts": False,
            "module_defaults": {"group/private_ai.llm_serving.k8s": {"kubeconfig": kubeconfig()}},
            "tasks": tasks}]
    path = tmp_path / "play.yml"
    path.write_text(json.dumps(doc))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}",
         "-e", "llm_serving_in_process=%s" % str(in_process).lower(), str(path)] + list(flags),
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    start = proc.stdout.index("{")
    results = [t["hosts"]["localhost"] for t in json.loads(proc.stdout[start:])["plays"][0]["tasks"]]
    return proc, results


def comparable(result):
    """A task result without what differs between two runs of the same task."""
    out = json.loads(json.dumps(result))
    for key in ("invocation", "_ansible_no_log", "warnings", "deprecations"):
        out.pop(key, None)
    for side, text in (out.get("diff") or {}).items():
        out["diff"][side] = "\n".join(line for line in text.splitlines()
                                      if not line.strip().startswith(("uid:", "creationTimestamp:", "resourceVersion:")))
    for obj in out.get("result") or []:
        meta = obj.get("metadata") or {}
        for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
            meta.pop(key, None)
    return out


@pytest.fixture
def namespace(tmp_path):
    name = "ip-" + uuid.uuid4().hex[:8]
    yield name
    play(tmp_path, [{"kubernetes.core.k8s": {"kind": "Namespace", "name": name, "state": "absent"}}])


def secret_tasks(ns, port):
    definition = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                  {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "conn", "namespace": ns},
                   "stringData": {"AWS_SECRET_ACCESS_KEY": SECRET}}]
    return [{"name": "apply", "private_ai.llm_serving.k8s_apply": {"definition": definition}},
            {"name": "read", "private_ai.llm_serving.k8s_read": {"kind": "Secret", "namespace": ns, "name": "conn"},
             "no_log": True},
            {"name": "missing option", "private_ai.llm_serving.k8s_read": {"namespace": ns}, "ignore_errors": True},
            {"name": "unknown option", "private_ai.llm_serving.k8s_read": {"kind": "Secret", "nmae": "x"},
             "ignore_errors": True},
            {"name": "unreachable", "private_ai.llm_serving.k8s_read": {
                "kind": "Secret", "host": "https://127.0.0.1:%d" % port, "api_key": SECRET,
                "validate_certs": False}, "ignore_errors": True}]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_same_results_in_the_worker_and_as_a_module_process(tmp_path, namespace):
    runs = {}
    port = free_port()  # nothing listens there
    for in_process in (True, False):
        for flags in (("--check", "--diff", "-vvv"), ("--diff", "-vvv")):
            proc, results = play(tmp_path, secret_tasks(namespace, port), *flags, in_process=in_process)
            assert SECRET not in proc.stdout + proc.stderr, "a no_log value was shown (in_process=%s %s)" % (in_process, flags)
            runs[(in_process, flags)] = [comparable(r) for r in results]
            processes = [n for n in ("AnsiballZ_k8s_apply", "AnsiballZ_k8s_read") if n in proc.stdout + proc.stderr]
            assert bool(processes) is not in_process, (in_process, processes)
        play(tmp_path, [{"kubernetes.core.k8s": {"kind": "Namespace", "name": namespace, "state": "absent",
                                                 "wait": True}}])
    for flags in (("--check", "--diff", "-vvv"), ("--diff", "-vvv")):
        worker, process = runs[(True, flags)], runs[(False, flags)]
        for name, a, b in zip(("apply", "read", "missing option", "unknown option", "unreachable"), worker, process):
            assert a == b, "%s %s differs:\nworker  %s\nprocess %s" % (name, flags, a, b)
    apply_result, read, missing, unknown, unreachable = runs[(True, ("--diff", "-vvv"))]
    assert apply_result["changed"] and "**REDACTED" in apply_result["diff"]["after"]
    assert read["censored"].startswith("the output has been hidden")
    assert missing["failed"] and "missing required arguments: kind" in missing["msg"]
    assert unknown["failed"] and "nmae" in unknown["msg"]
    assert unreachable["failed"] and unreachable["msg"].startswith("Cannot reach the Kubernetes API at https://127.0.0.1:")


def test_a_task_environment_runs_the_module_as_a_process(tmp_path):
    """A task's environment reaches only a module process (here: the connection, by K8S_AUTH_*)."""
    task = {"private_ai.llm_serving.k8s_read": {"kind": "Namespace", "name": "default"},
            "environment": {"K8S_AUTH_KUBECONFIG": kubeconfig()}}
    doc = [{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]
    path = tmp_path / "env.yml"
    path.write_text(json.dumps(doc))
    proc = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local", "-vvv",
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}", str(path)],
        cwd=REPO, env=dict(os.environ, KUBECONFIG="/nonexistent"), capture_output=True, text=True, timeout=300,
        check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "runs as a module process: the task sets environment" in proc.stdout


def test_an_async_task_runs_as_a_module_process(tmp_path):
    """Ansible's async wrapper runs module processes: an action that does not declare async support is
    refused before it runs ("does not support async operations")."""
    tasks = [{"name": "async read", "private_ai.llm_serving.k8s_read": {"kind": "Namespace", "name": "default"},
              "async": 60, "poll": 1, "register": "read"},
             {"ansible.builtin.assert": {"that": ["read.resources | length == 1"]}}]
    proc, results = play(tmp_path, tasks, "-vvv")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "runs as a module process: the task is async" in proc.stdout
    assert results[0]["resources"][0]["metadata"]["name"] == "default"


def test_another_python_interpreter_runs_the_module_as_a_process(tmp_path):
    """ansible_python_interpreter names the Python whose packages the module gets (boto3 for the upload);
    the worker has the controller's, so another interpreter means a module process."""
    import sys
    other = sys._base_executable  # pylint: disable=protected-access
    task = {"private_ai.llm_serving.k8s_read": {"kind": "Namespace", "name": "default",
                                                "kubeconfig": kubeconfig()}}
    path = tmp_path / "interpreter.yml"
    path.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    for interpreter, expected in ((other, "runs as a module process: ansible_python_interpreter is %s" % other),
                                  ("{{ ansible_playbook_python }}", None)):
        proc = subprocess.run(
            [str(REPO / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local", "-vvv",
             "-e", "ansible_python_interpreter=%s" % interpreter, str(path)],
            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:]
        if expected:
            assert expected in proc.stdout, proc.stdout[-3000:]
        else:  # the controller's own: in the worker
            assert "runs as a module process" not in proc.stdout, proc.stdout[-3000:]
