# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run lock (plugins/modules/run_lock.py) on the lab's real apiserver: of two runs that start
together exactly one holds the Lease; a run that finds it held stops (or waits) naming the holder and
changes nothing; a release never deletes a lock another run took since."""

import json
import subprocess
import threading
import uuid

import pytest

import module_runner
from isvc_lab import api_client, core, custom, lab  # noqa: F401 pylint: disable=unused-import
from test_bad_input import INVENTORY, PLAYBOOK, REPO, failure_messages
from test_site_faults import torn_down_after  # noqa: F401 pylint: disable=unused-import

MODULE = "private_ai.llm_serving.run_lock"
NAMESPACE = "private-ai"  # inventories/triple_play


@pytest.fixture()
def lock_name():
    return "it-lock-%s" % uuid.uuid4().hex[:8]


def run(lab, **args):
    return module_runner.run(MODULE, dict(args, kubeconfig=lab["kubeconfig"]), timeout=120)


def ensure_namespace(core):
    from kubernetes.client.rest import ApiException
    try:
        core.create_namespace({"metadata": {"name": NAMESPACE}})
    except ApiException as exc:
        assert exc.status == 409


def test_two_runs_at_once_exactly_one_holds_the_lock(lab, core, custom, lock_name):
    ensure_namespace(core)
    results = [None] * 4
    start = threading.Barrier(4)

    def take(i):
        start.wait()
        results[i] = run(lab, namespace=NAMESPACE, name=lock_name)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [r for r in results if r.get("held")]
    refused = [r for r in results if r.get("failed")]
    assert len(held) == 1 and len(refused) == 3, results
    assert all(r["changed"] is False for r in held)
    for r in refused:
        assert r["msg"].startswith("Another run holds the lock, Lease %s/%s: %s, since " % (NAMESPACE, lock_name, held[0]["holder"]))
        assert "`oc delete lease %s -n %s`" % (lock_name, NAMESPACE) in r["msg"]
    lease = custom.get_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", lock_name)
    assert lease["spec"]["holderIdentity"] == held[0]["holder"]
    # a release by someone else deletes nothing; the holder's release does
    assert run(lab, namespace=NAMESPACE, name=lock_name, state="released", holder="someone else")["released"] is False
    assert run(lab, namespace=NAMESPACE, name=lock_name, state="released", holder=held[0]["holder"])["released"] is True
    assert run(lab, namespace=NAMESPACE, name=lock_name)["held"] is True
    run(lab, namespace=NAMESPACE, name=lock_name, state="released", holder="x")


def test_an_expired_lock_is_taken_over_and_check_mode_only_warns(lab, core, custom, lock_name):
    ensure_namespace(core)
    # renew=false: a run whose lock nothing renews (run here, not under ansible-playbook, it would be taken
    # for 7200 s so that it does not lapse mid-run)
    first = run(lab, namespace=NAMESPACE, name=lock_name, lease_seconds=1, renew=False)
    import time
    time.sleep(1.5)  # the lock's own expiry, not a timing assertion
    second = run(lab, namespace=NAMESPACE, name=lock_name)
    assert second["held"] is True and second["holder"] != first["holder"], second
    lease = custom.get_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", lock_name)
    assert lease["spec"]["leaseTransitions"] == 1
    check = module_runner.run(MODULE, dict(namespace=NAMESPACE, name=lock_name, kubeconfig=lab["kubeconfig"],
                                           _ansible_check_mode=True), timeout=120)
    assert check["held"] is False and "Another run holds the lock" in json.dumps(check.get("warnings", [])), check
    assert run(lab, namespace=NAMESPACE, name=lock_name, state="released", holder=second["holder"])["released"]


def test_site_yml_stops_before_any_change_while_another_run_holds_the_lock(lab, core, tmp_path):
    ensure_namespace(core)
    other = run(lab, namespace=NAMESPACE, name="private-ai-llm-serving-run")
    assert other["held"], other
    try:
        proc = subprocess.run([PLAYBOOK, "site.yml"] + INVENTORY + ["-e", json.dumps({"llm_serving_lock_wait": 1})],
                              cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        msgs = failure_messages(out)
        assert len(msgs) == 1 and msgs[0].startswith("Another run holds the lock, Lease %s/private-ai-llm-serving-run: %s"
                                                     % (NAMESPACE, other["holder"])), msgs
        assert "(waited 1s)" in msgs[0]
        # the roles never ran: the next task after the lock is the release, skipped (this run held nothing)
        assert "TASK [private_ai.llm_serving.gpu_machinesets" not in out, out[-3000:]
    finally:
        run(lab, namespace=NAMESPACE, name="private-ai-llm-serving-run", state="released", holder=other["holder"])


# An interrupted site.yml (SIGINT, SIGTERM, SIGKILL with or without its lock's renewer) and the run after it,
# with the modules as module processes: tests/integration/test_site_faults.py. Here, the default: run_lock in
# the task's worker (plugins/plugin_utils/in_process.py), its renewer forked from there.
def _detached_child(parent):
    """A child of ``parent`` in a session of its own: an ansible-playbook worker past its setsid()."""
    import os
    for pid in os.listdir("/proc"):
        try:
            if not pid.isdigit():
                continue
            fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
            if int(fields[1]) == parent and int(fields[3]) == int(pid):
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False


def test_site_yml_interrupted_in_a_worker_its_renewer_releases_the_lock(lab, core, tmp_path):
    """Ctrl-C does not run the release in always:; the Lease's renewer, started by run_lock inside the
    worker, sees ansible-playbook gone and deletes the Lease, so the next run starts at once."""
    import os
    import signal
    import time

    ensure_namespace(core)
    proc = subprocess.Popen([PLAYBOOK, "site.yml"] + INVENTORY, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = ""
    try:
        for line in proc.stdout:
            out += line
            if "TASK [private_ai.llm_serving.gpu_machinesets" in line:
                break
        # A SIGINT while ansible-playbook is still forking the worker, before the worker leaves the
        # process group, can be lost: wait for a worker in its own session.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _detached_child(proc.pid):
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        out += proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0 and "Take the run lock" in out, out[-2000:]
    path = "/apis/coordination.k8s.io/v1/namespaces/%s/leases/private-ai-llm-serving-run" % NAMESPACE
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            core.api_client.call_api(path, "GET", response_type="object", _return_http_data_only=True,
                                     auth_settings=["BearerToken"])
        except Exception as exc:  # pylint: disable=broad-except
            if getattr(exc, "status", None) == 404:
                break
        time.sleep(0.5)
    else:
        raise AssertionError("the Lease of the interrupted run is still there after 20 s")
    again = subprocess.run([PLAYBOOK, "site.yml"] + INVENTORY, cwd=REPO, capture_output=True, text=True,
                           timeout=900, check=False)
    text = again.stdout + again.stderr
    assert again.returncode == 0 and "Another run holds the lock" not in text, text[-3000:]
