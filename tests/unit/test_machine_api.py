"""What the teardown does to GPU MachineSets (module_utils/k8s/machines.py gpu_scale_down): only
Machines whose node runs no workload go, the nodes kept are priced, and one line says what is left
and how to stop it. The lab's Machine API follows the delete priority these rely on
(lab/tests/test_machine_api.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.machines import (  # noqa: E402
    gpu_scale_down,
    gpu_scale_down_summary,
)

NS = "openshift-machine-api"
PRICES = {"g6.12xlarge": 4.6016, "g6e.xlarge": 1.861}


def machineset(name, itype, replicas):
    return {"metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas,
                     "template": {"spec": {"providerSpec": {"value": {"instanceType": itype}}}}}}


def machine(name, ms, node=None, deleting=False):
    meta = {"name": name, "namespace": NS, "labels": {"machine.openshift.io/cluster-api-machineset": ms}}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T10:00:00Z"
    return {"metadata": meta, "status": {"nodeRef": {"name": node}} if node else {}}


def pod(ns, name, node, owner=None, phase="Running", deleting=False):
    meta = {"namespace": ns, "name": name}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": "x"}]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-29T10:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase}}


def test_idle_machines_go_and_busy_nodes_stay():
    sets = [machineset("c-gpu-g6-12xlarge", "g6.12xlarge", 3), machineset("c-worker", "m6i.xlarge", 3)]
    machines = [machine("a", "c-gpu-g6-12xlarge", "n-a"), machine("b", "c-gpu-g6-12xlarge", "n-b"),
                machine("c", "c-gpu-g6-12xlarge"),  # still provisioning: no node, runs nothing
                machine("w", "c-worker", "n-w")]
    pods = [pod("team-x", "trainer", "n-a", owner="ReplicaSet"),
            pod("nvidia-gpu-operator", "dcgm-exporter", "n-b", owner="DaemonSet"),
            pod("private-ai", "old-predictor", "n-b", owner="ReplicaSet", deleting=True),
            pod("batch", "done", "n-b", phase="Succeeded"),
            pod("openshift-etcd", "static", "n-b", owner="Node")]
    [entry] = gpu_scale_down(sets, machines, pods, {"g6.12xlarge"}, PRICES)
    assert entry["replicas"] == 3 and entry["target"] == 1
    assert entry["delete"] == ["b", "c"] and entry["kept"] == ["n-a"]
    assert entry["busy"] == {"n-a": ["team-x/trainer"]}
    assert entry["nodes"] == ["n-a", "n-b"]
    assert entry["hourly_cost"] == 4.6016
    line = gpu_scale_down_summary([entry])
    assert "\n" not in line
    assert "c-gpu-g6-12xlarge 1 x g6.12xlarge ($4.60/h, in use by team-x/trainer)" in line
    assert "oc scale machineset c-gpu-g6-12xlarge -n openshift-machine-api --replicas=0" in line


def test_all_idle_scales_to_zero_and_says_nothing_is_left():
    sets = [machineset("g12", "g6.12xlarge", 2), machineset("g6e", "g6e.xlarge", 1), machineset("zero", "g6.12xlarge", 0)]
    machines = [machine("a", "g12", "n-a"), machine("b", "g12", "n-b"), machine("e", "g6e", "n-e"),
                machine("gone", "g12", "n-g", deleting=True)]
    entries = gpu_scale_down(sets, machines, [pod("nvidia-gpu-operator", "ds", "n-a", owner="DaemonSet")],
                             {"g6.12xlarge", "g6e.xlarge"}, PRICES)
    assert [(e["name"], e["target"], e["delete"]) for e in entries] == [("g12", 0, ["a", "b"]), ("g6e", 0, ["e"])]
    assert gpu_scale_down_summary(entries) == "No GPU node of these models is left running (3 scaled down)."


def test_keeping_the_nodes_prices_all_of_them():
    sets = [machineset("g12", "g6.12xlarge", 2), machineset("odd", "x9.huge", 1)]
    machines = [machine("a", "g12", "n-a"), machine("b", "g12", "n-b"), machine("o", "odd", "n-o")]
    entries = gpu_scale_down(sets, machines, [], {"g6.12xlarge", "x9.huge"}, PRICES, scale_down=False)
    assert [(e["name"], e["target"], e["delete"], e["hourly_cost"]) for e in entries] == [
        ("g12", 2, [], 9.2032), ("odd", 1, [], None)]
    line = gpu_scale_down_summary(entries, scaled_down=False)
    assert line.startswith("GPU nodes still running: g12 2 x g6.12xlarge ($9.20/h); odd 1 x x9.huge (price unknown)")
    assert "$9.20/h in all (some prices unknown); scale them down with: oc scale machineset g12" in line


def test_replicas_not_yet_reflected_in_machines():
    """spec.replicas above the Machines that exist (a scale-up in flight): the replicas drop to the
    busy nodes, and the idle Machines are marked so that the controller removes those."""
    [entry] = gpu_scale_down([machineset("g12", "g6.12xlarge", 3)], [machine("a", "g12", "n-a")],
                             [pod("t", "p", "n-a", owner="ReplicaSet")], {"g6.12xlarge"}, PRICES)
    assert (entry["target"], entry["scale"], entry["delete"]) == (1, True, [])


def test_pods_of_the_inference_services_being_deleted_do_not_keep_a_node():
    """In check mode (and just after the InferenceServices are gone) their predictor pods still
    run: they are going, so their nodes are idle."""
    sets = [machineset("g12", "g6.12xlarge", 1)]
    predictor = pod("private-ai", "m-predictor-1", "n-a", owner="ReplicaSet")
    predictor["metadata"]["labels"] = {"serving.kserve.io/inferenceservice": "m"}
    other_ns = pod("team-x", "m-predictor-2", "n-a", owner="ReplicaSet")
    other_ns["metadata"]["labels"] = {"serving.kserve.io/inferenceservice": "m"}
    machines = [machine("a", "g12", "n-a")]
    [entry] = gpu_scale_down(sets, machines, [predictor], {"g6.12xlarge"}, PRICES, releasing={"private-ai": {"m"}})
    assert (entry["target"], entry["delete"]) == (0, ["a"])
    [entry] = gpu_scale_down(sets, machines, [predictor, other_ns], {"g6.12xlarge"}, PRICES,
                             releasing={"private-ai": {"m"}})
    assert (entry["target"], entry["busy"]) == (1, {"n-a": ["team-x/m-predictor-2"]})
