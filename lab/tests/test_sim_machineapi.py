"""Machine API simulator against the running lab: MachineSet replicas -> Machines -> GPU Nodes."""

import time
import uuid

from testing.labclient import wait_for
from testing.serving import (MACHINE_NS, MAPI, POOL_LABEL, clone_machineset, node_ready,
                             pool_nodes)


def test_machineset_scale_up_and_down(custom, core):
    pool = "m" + uuid.uuid4().hex[:6]
    name = "labtest-%s-g6e-xlarge" % pool
    clone_machineset(custom, "g6e.xlarge", name, pool, 0)
    try:
        custom.patch_namespaced_custom_object_scale(*MAPI, MACHINE_NS, "machinesets", name,
                                                    {"spec": {"replicas": 1}})
        nodes = wait_for(lambda: pool_nodes(core, pool),
                         lambda ns: len(ns) == 1 and node_ready(ns[0]), 60,
                         "a Ready node for MachineSet %s" % name)
        node = nodes[0]
        labels = node.metadata.labels
        assert node.metadata.name.startswith("ip-10-0-") and \
            node.metadata.name.endswith(".ec2.internal")
        assert labels["type"] == "kwok"
        assert labels["node.kubernetes.io/instance-type"] == "g6e.xlarge"
        assert "node-role.kubernetes.io/worker" in labels
        assert labels["nvidia.com/gpu.present"] == "true"
        assert labels["nvidia.com/gpu.product"] == "NVIDIA-L40S"
        assert labels["nvidia.com/gpu.count"] == "1"
        assert labels["nvidia.com/gpu.memory"] == "46068"
        assert labels[POOL_LABEL] == pool
        assert node.status.allocatable["nvidia.com/gpu"] == "1"
        assert node.status.allocatable["cpu"] == "4"
        assert node.status.capacity["memory"] == "32Gi"
        assert [(t.key, t.effect) for t in node.spec.taints] == [("nvidia.com/gpu", "NoSchedule")]
        machine_ref = node.metadata.annotations["machine.openshift.io/machine"]
        assert machine_ref.startswith("%s/%s-" % (MACHINE_NS, name))
        # As on OpenShift, the Machine turns Running once it has seen its Node: that can come a
        # moment after the Node is Ready, so wait for it rather than read it once.
        machine = wait_for(
            lambda: custom.get_namespaced_custom_object(*MAPI, MACHINE_NS, "machines",
                                                        machine_ref.split("/")[1]),
            lambda m: (m.get("status") or {}).get("phase") == "Running", 30,
            "Machine %s Running" % machine_ref)
        assert len(machine["metadata"]["name"]) == len(name) + 6
        assert machine["status"]["nodeRef"]["name"] == node.metadata.name
        assert machine["spec"]["providerID"].startswith("aws:///")
        assert node.spec.provider_id == machine["spec"]["providerID"]
        ms = wait_for(
            lambda: custom.get_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name),
            lambda o: (o.get("status") or {}).get("readyReplicas") == 1, 30,
            "MachineSet %s readyReplicas 1" % name)
        st = ms["status"]
        assert st["replicas"] == st["availableReplicas"] == st["fullyLabeledReplicas"] == 1
        assert st["observedGeneration"] == ms["metadata"]["generation"]

        custom.patch_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name,
                                              {"spec": {"replicas": 0}})
        wait_for(lambda: pool_nodes(core, pool), lambda ns: not ns, 30,
                 "the node of %s to be removed" % name)
        wait_for(lambda: custom.list_namespaced_custom_object(
            *MAPI, MACHINE_NS, "machines",
            label_selector="machine.openshift.io/cluster-api-machineset=%s" % name)["items"],
            lambda items: not items, 30, "Machines of %s to be removed" % name)
        wait_for(
            lambda: custom.get_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name),
            lambda o: (o.get("status") or {}).get("replicas") == 0
            and o["status"].get("readyReplicas") == 0, 30, "MachineSet %s status at 0" % name)
    finally:
        custom.delete_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name)
        wait_for(lambda: pool_nodes(core, pool), lambda ns: not ns, 30, "cleanup of %s" % name)


def test_scale_down_deletes_the_machine_marked_for_deletion(custom, core):
    """machine-api-operator pkg/controller/machineset/delete_policy.go: a Machine annotated
    machine.openshift.io/delete-machine goes first when its MachineSet scales down (the teardown
    playbook marks the idle ones); without it the lab deletes the newest."""
    pool = "m" + uuid.uuid4().hex[:6]
    name = "labtest-%s-g6-4xlarge" % pool
    clone_machineset(custom, "g6.4xlarge", name, pool, 0)

    def machines():
        items = custom.list_namespaced_custom_object(
            *MAPI, MACHINE_NS, "machines",
            label_selector="machine.openshift.io/cluster-api-machineset=%s" % name)["items"]
        return sorted((m for m in items if not m["metadata"].get("deletionTimestamp")),
                      key=lambda m: m["metadata"]["creationTimestamp"] + m["metadata"]["name"])

    try:
        for n in (1, 2, 3):  # one at a time: distinct creation timestamps
            custom.patch_namespaced_custom_object_scale(*MAPI, MACHINE_NS, "machinesets", name,
                                                        {"spec": {"replicas": n}})
            wait_for(machines, lambda ms, n=n: len(ms) == n, 30, "%d Machines of %s" % (n, name))
            if n < 3:
                time.sleep(1.1)
        first, second, third = [m["metadata"]["name"] for m in machines()]
        custom.patch_namespaced_custom_object(*MAPI, MACHINE_NS, "machines", first, {
            "metadata": {"annotations": {"machine.openshift.io/delete-machine": "true"}}})
        custom.patch_namespaced_custom_object_scale(*MAPI, MACHINE_NS, "machinesets", name,
                                                    {"spec": {"replicas": 2}})
        left = wait_for(machines, lambda ms: len(ms) == 2, 30, "2 Machines of %s" % name)
        assert [m["metadata"]["name"] for m in left] == [second, third]
        custom.patch_namespaced_custom_object_scale(*MAPI, MACHINE_NS, "machinesets", name,
                                                    {"spec": {"replicas": 1}})
        left = wait_for(machines, lambda ms: len(ms) == 1, 30, "1 Machine of %s" % name)
        assert [m["metadata"]["name"] for m in left] == [second]
    finally:
        custom.delete_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets", name)
        wait_for(lambda: pool_nodes(core, pool), lambda ns: not ns, 30, "the nodes of %s to go" % name)
