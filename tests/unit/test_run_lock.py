"""The run lock's decisions (module_utils/k8s/lease.py): who holds a Lease when, and the Lease a run
writes. The races themselves run against the lab's apiserver (tests/integration/test_run_lock.py)."""

import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import lease  # noqa: E402

T0 = datetime.datetime(2026, 11, 29, 12, 0, 0, tzinfo=datetime.timezone.utc)


def held(holder, seconds=60, renewed=T0):
    return {"metadata": {"name": "l", "resourceVersion": "7"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds, "acquireTime": lease.micro(T0),
                     "renewTime": lease.micro(renewed), "leaseTransitions": 2}}


def test_a_lease_is_held_by_another_run_until_its_time_is_up():
    other = held("b")
    assert lease.held_by_other(other, "a", T0 + datetime.timedelta(seconds=59)) == "b"
    assert lease.held_by_other(other, "a", T0 + datetime.timedelta(seconds=60)) is None
    assert lease.held_by_other(other, "b", T0) is None, "a run's own lock does not stop it"
    assert lease.held_by_other(None, "a", T0) is None
    assert lease.held_by_other(held(""), "a", T0) is None, "a released (holderless) Lease is free"


def test_the_written_lease_counts_transitions_and_keeps_the_resource_version():
    fresh = lease.desired("l", "ns", "a", 7200, T0)
    assert fresh["spec"]["leaseTransitions"] == 0 and "resourceVersion" not in fresh["metadata"]
    assert fresh["spec"]["acquireTime"] == fresh["spec"]["renewTime"] == "2026-11-29T12:00:00.000000Z"
    taken = lease.desired("l", "ns", "a", 7200, T0, held("b"))
    assert taken["spec"]["leaseTransitions"] == 3 and taken["metadata"]["resourceVersion"] == "7"


def test_the_busy_message_names_the_holder_and_how_to_clear_a_stale_lock():
    msg = lease.busy_message("run", "private-ai", held("deployer@bastion pid 7 abc"), 30)
    assert msg.startswith("Another run holds the lock, Lease private-ai/run: deployer@bastion pid 7 abc, since "
                          "2026-11-29T12:00:00.000000Z, until 2026-11-29T12:01:00.000000Z (waited 30s).")
    assert msg.endswith("`oc delete lease run -n private-ai`.")


# -- the renewer (module_utils/k8s/lease_renewer.py) -----------------------------------------------------

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import lease_renewer  # noqa: E402
from stepclock import StepClock  # noqa: E402


class FakeCluster(object):
    """One Lease in memory, written as the API would (resourceVersion precondition)."""

    def __init__(self, current=None):
        self.current, self.writes, self.fail = current, [], 0

    def get(self, api, kind, name, namespace):
        if self.fail:
            self.fail -= 1
            raise OSError("connection refused")
        return self.current

    def write(self, method, body):
        self.writes.append(body)
        self.current = dict(body, metadata=dict(body["metadata"], resourceVersion=str(len(self.writes) + 7)))

    def delete(self, api, kind, name, namespace, resource_version=None):
        assert resource_version == self.current["metadata"]["resourceVersion"]
        self.current = None


def test_the_renewer_renews_every_third_of_the_lease_while_the_run_lives_then_releases_it():
    cluster, ticks = FakeCluster(held("run-a", seconds=6)), StepClock()
    why = lease_renewer.keep(cluster, "l", "ns", "run-a", 6, alive=lambda: ticks.now < 10.5, clock=ticks,
                             sleep=ticks.sleep, moment=lambda: T0 + datetime.timedelta(seconds=ticks.now))
    assert why == "released" and cluster.current is None
    assert len(cluster.writes) == 5  # at 2, 4, 6, 8 and 10 s
    assert [w["spec"]["renewTime"][17:19] for w in cluster.writes] == ["02", "04", "06", "08", "10"]
    assert {w["spec"]["acquireTime"] for w in cluster.writes} == {lease.micro(T0)}, "the acquire time is kept"


def test_the_renewer_stops_when_the_lock_is_released_or_taken_and_gives_up_when_it_cannot_renew():
    ticks = StepClock()
    taken = FakeCluster(held("run-b"))
    assert lease_renewer.keep(taken, "l", "ns", "run-a", 6, alive=lambda: True, clock=ticks, sleep=ticks.sleep) == \
        "not held" and taken.writes == []
    released = FakeCluster(None)
    assert lease_renewer.keep(released, "l", "ns", "run-a", 6, alive=lambda: True, clock=ticks,
                              sleep=ticks.sleep) == "not held"
    down = FakeCluster(held("run-a"))
    down.fail = 1000
    assert lease_renewer.keep(down, "l", "ns", "run-a", 6, alive=lambda: True, clock=ticks, sleep=ticks.sleep) == "lost"
    assert down.current is not None, "a renewer that lost the API deletes nothing"


def test_a_renewer_ended_by_sigterm_removes_the_client_key_copies_it_holds(tmp_path):
    """The renewer holds copies of an in-memory client certificate and key (CoreClient.after_fork) and
    removes them when it ends. Its pid is returned (renewer_pid), so it may get a SIGTERM: that must
    end it through its cleanup, not past it (the default action, or the Ansible worker's handler it
    inherits in-process, ends it without)."""
    import signal
    import subprocess
    import time as _time

    key = tmp_path / "llm-serving-lock-key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a real one\n-----END PRIVATE KEY-----\n")

    class Client(object):
        def after_fork(self):
            return [str(key)]

    cluster = FakeCluster({"metadata": {"name": "l", "namespace": "ns", "resourceVersion": "7"},
                           "spec": {"holderIdentity": "run-a", "leaseDurationSeconds": 300}})
    cluster.client = Client()
    # a process that reads as the run's ansible-playbook (/proc/<pid>/cmdline), alive throughout
    playbook = subprocess.Popen(["bash", "-c", "exec -a ansible-playbook sleep 60"])
    try:
        _time.sleep(0.2)
        renewer = lease_renewer.start(cluster, "l", "ns", "run-a", 300, playbook.pid)
        assert renewer
        _time.sleep(0.5)
        assert key.exists()  # held while it renews
        os.kill(renewer, signal.SIGTERM)
        deadline = _time.monotonic() + 10
        while key.exists() and _time.monotonic() < deadline:
            _time.sleep(0.05)
        assert not key.exists(), "the renewer ended by SIGTERM left its copy of the client key"
    finally:
        playbook.kill()


def test_a_lock_nothing_can_renew_is_taken_for_a_long_run_with_a_warning():
    """Without an ansible-playbook above the module (no /proc: a macOS controller; or a direct run) no renewer
    starts; a 300 s Lease would lapse in the middle of an hour-long site.yml and let a second run in."""
    from ansible_collections.private_ai.llm_serving.plugins.modules import run_lock

    class Module(object):
        check_mode = False
        params = {"state": "held", "holder": "run-a", "name": "l", "namespace": "ns", "lease_seconds": 300,
                  "wait": 0, "renew": True}
        warnings = []

        def warn(self, msg):
            self.warnings.append(msg)

    cluster = FakeCluster()
    assert run_lock.playbook_pid() is None  # pytest runs under no ansible-playbook
    result = run_lock._run(Module(), cluster)  # pylint: disable=protected-access
    assert result["held"] and result["renewer_pid"] is None
    assert cluster.current["spec"]["leaseDurationSeconds"] == 7200
    assert Module.warnings and "nothing renews the run lock: it is taken for 7200 s" in Module.warnings[0]


def test_without_proc_a_same_host_holder_is_not_taken_for_gone(monkeypatch):
    """On a controller without /proc (macOS) nothing tells whether the holder's ansible-playbook runs:
    its lock must hold until it expires, not be taken over from a run that may well be going on."""
    import socket
    from ansible_collections.private_ai.llm_serving.plugins.modules import run_lock
    holder = "me@%s ansible-playbook pid 999999 abcd1234" % socket.gethostname()
    assert run_lock.gone(holder) is True  # with /proc: no such process, an interrupted run
    real = os.path.isdir
    monkeypatch.setattr(run_lock.os.path, "isdir", lambda path: False if path == "/proc/self" else real(path))
    assert run_lock.gone(holder) is False
