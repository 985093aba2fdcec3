"""The run lock's decisions (module_utils/k8s/lease.py): who holds a Lease when, and the Lease a run
writes. The races themselves run against the lab's apiserver (tests/integration/test_run_lock.py)."""

import datetime
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
