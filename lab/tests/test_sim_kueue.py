"""Kueue admission simulator against the running lab: gates, quota, Workload conditions."""

import uuid

import pytest

from conftest import condition, get_isvc, isvc_manifest, isvc_ready, wait_for
from testing.labclient import zero_gpu_cluster_queue

KUEUE = ("kueue.x-k8s.io", "v1beta1")
GATE = "kueue.x-k8s.io/admission"


@pytest.fixture
def cluster_queue(custom):
    """A private ResourceFlavor + ClusterQueue with 0 GPUs of nominal quota."""
    with zero_gpu_cluster_queue(custom, "labtest-") as name:
        yield name


def predictor_pods(core, ns, name):
    return core.list_namespaced_pod(
        ns, label_selector="serving.kserve.io/inferenceservice=%s" % name).items


def workload(custom, ns, name):
    return custom.get_namespaced_custom_object(*KUEUE, ns, "workloads", "%s-predictor" % name)


def test_quota_too_small_then_raised(custom, core, serving_ns, gpu_pool, cluster_queue):
    ns, name = serving_ns, "queued"
    custom.create_namespaced_custom_object(*KUEUE, ns, "localqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
        "metadata": {"name": "default"}, "spec": {"clusterQueue": cluster_queue}})
    custom.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                           "inferenceservices", isvc_manifest(
                                               name, gpu_pool,
                                               labels={"kueue.x-k8s.io/queue-name": "default"}))
    wl = wait_for(lambda: workload(custom, ns, name),
                  lambda o: condition(o, "QuotaReserved").get("status") == "False", 30,
                  "Workload %s-predictor pending" % name)
    assert condition(wl, "QuotaReserved")["message"] == (
        "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu "
        "in flavor %s, 1 more needed" % cluster_queue)
    assert wl["spec"]["podSets"][0]["count"] == 1
    pods = wait_for(lambda: predictor_pods(core, ns, name), lambda items: len(items) == 1, 30,
                    "the gated predictor pod")
    assert [g.name for g in pods[0].spec.scheduling_gates] == [GATE]
    assert pods[0].spec.node_name is None
    isvc = wait_for(lambda: get_isvc(custom, ns, name),
                    lambda o: "insufficient unused quota" in condition(o, "Ready").get(
                        "message", ""), 30, "%s Ready=False naming the quota" % name)
    assert condition(isvc, "Ready")["reason"] == "SchedulingGated"
    cq = wait_for(lambda: custom.get_cluster_custom_object(*("kueue.x-k8s.io", "v1beta1"),
                                                           "clusterqueues", cluster_queue),
                  lambda o: (o.get("status") or {}).get("pendingWorkloads") == 1, 30,
                  "ClusterQueue pendingWorkloads 1")

    # raise the quota: admitted, ungated, scheduled, Ready
    flavors = cq["spec"]["resourceGroups"][0]["flavors"]
    flavors[0]["resources"][2]["nominalQuota"] = 1
    custom.patch_cluster_custom_object("kueue.x-k8s.io", "v1beta1", "clusterqueues",
                                       cluster_queue, {"spec": {"resourceGroups": [
                                           dict(cq["spec"]["resourceGroups"][0],
                                                flavors=flavors)]}})
    wl = wait_for(lambda: workload(custom, ns, name),
                  lambda o: condition(o, "Admitted").get("status") == "True", 30,
                  "Workload %s-predictor admitted" % name)
    assert condition(wl, "QuotaReserved")["status"] == "True"
    assert wl["status"]["admission"]["clusterQueue"] == cluster_queue
    assert wl["status"]["admission"]["podSetAssignments"][0]["flavors"]["nvidia.com/gpu"] == \
        cluster_queue
    wait_for(lambda: get_isvc(custom, ns, name), isvc_ready, 90, "%s Ready" % name)
    assert not predictor_pods(core, ns, name)[0].spec.scheduling_gates
    cq = wait_for(lambda: custom.get_cluster_custom_object("kueue.x-k8s.io", "v1beta1",
                                                           "clusterqueues", cluster_queue),
                  lambda o: o["status"].get("admittedWorkloads") == 1, 30,
                  "ClusterQueue admittedWorkloads 1")
    usage = {r["name"]: r["total"] for r in cq["status"]["flavorsUsage"][0]["resources"]}
    assert usage["nvidia.com/gpu"] == "1"
    custom.delete_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                           "inferenceservices", name)
    wait_for(lambda: custom.get_cluster_custom_object("kueue.x-k8s.io", "v1beta1",
                                                      "clusterqueues", cluster_queue),
             lambda o: o["status"].get("admittedWorkloads") == 0, 30,
             "the finished workload to release its quota")


def test_missing_local_queue(custom, serving_ns, gpu_pool):
    ns, name = serving_ns, "no-queue"
    custom.create_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                           "inferenceservices", isvc_manifest(
                                               name, gpu_pool,
                                               labels={"kueue.x-k8s.io/queue-name": "missing"}))
    wl = wait_for(lambda: workload(custom, ns, name),
                  lambda o: condition(o, "QuotaReserved").get("status") == "False", 30,
                  "Workload %s-predictor inadmissible" % name)
    assert condition(wl, "QuotaReserved")["message"] == "LocalQueue missing doesn't exist"


def test_pending_workload_admitted_when_quota_frees(custom, core, serving_ns, gpu_pool,
                                                    cluster_queue):
    ns = serving_ns
    cq = custom.get_cluster_custom_object(*KUEUE, "clusterqueues", cluster_queue)
    group = cq["spec"]["resourceGroups"][0]
    group["flavors"][0]["resources"][2]["nominalQuota"] = 1
    custom.patch_cluster_custom_object(*KUEUE, "clusterqueues", cluster_queue,
                                       {"spec": {"resourceGroups": [group]}})
    custom.create_namespaced_custom_object(*KUEUE, ns, "localqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
        "metadata": {"name": "default"}, "spec": {"clusterQueue": cluster_queue}})
    queued = {"kueue.x-k8s.io/queue-name": "default"}
    for name in ("first", "second"):
        custom.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", ns, "inferenceservices",
            isvc_manifest(name, gpu_pool, labels=queued))
        wait_for(lambda n=name: workload(custom, ns, n), lambda o: condition(
            o, "QuotaReserved").get("status") in ("True", "False"), 30,
            "Workload %s-predictor evaluated" % name)
    assert condition(workload(custom, ns, "first"), "Admitted")["status"] == "True"
    second = workload(custom, ns, "second")
    assert condition(second, "QuotaReserved")["message"].endswith(
        "insufficient unused quota for nvidia.com/gpu in flavor %s, 1 more needed"
        % cluster_queue)
    wait_for(lambda: get_isvc(custom, ns, "first"), isvc_ready, 90, "first Ready")
    custom.delete_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                           "inferenceservices", "first")
    wait_for(lambda: workload(custom, ns, "second"),
             lambda o: condition(o, "Admitted").get("status") == "True", 30,
             "the second Workload admitted once the first finished")
    wait_for(lambda: get_isvc(custom, ns, "second"), isvc_ready, 90, "second Ready")


def test_flavor_node_labels_reach_admitted_pods(current_labsim, custom, core, serving_ns, gpu_pool):
    """Kueue adds the assigned ResourceFlavor's nodeLabels to the pods it ungates."""
    ns, name = serving_ns, "flavored"
    flavor = "labtest-" + uuid.uuid4().hex[:8]
    custom.create_cluster_custom_object(*KUEUE, "resourceflavors", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ResourceFlavor",
        "metadata": {"name": flavor},
        "spec": {"nodeLabels": {"node.kubernetes.io/instance-type": "g6.4xlarge"}}})
    custom.create_cluster_custom_object(*KUEUE, "clusterqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue",
        "metadata": {"name": flavor},
        "spec": {"namespaceSelector": {}, "resourceGroups": [{
            "coveredResources": ["nvidia.com/gpu"],
            "flavors": [{"name": flavor, "resources": [
                {"name": "nvidia.com/gpu", "nominalQuota": 1}]}]}]}})
    try:
        custom.create_namespaced_custom_object(*KUEUE, ns, "localqueues", {
            "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
            "metadata": {"name": "default"}, "spec": {"clusterQueue": flavor}})
        custom.create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", ns, "inferenceservices",
            isvc_manifest(name, gpu_pool, labels={"kueue.x-k8s.io/queue-name": "default"}))
        wait_for(lambda: get_isvc(custom, ns, name), isvc_ready, 90, "%s Ready" % name)
        pod = predictor_pods(core, ns, name)[0]
        assert pod.spec.node_selector["node.kubernetes.io/instance-type"] == "g6.4xlarge"
        assert not pod.spec.scheduling_gates
    finally:
        custom.delete_namespaced_custom_object("serving.kserve.io", "v1beta1", ns,
                                               "inferenceservices", name)
        custom.delete_cluster_custom_object(*KUEUE, "clusterqueues", flavor)
        custom.delete_cluster_custom_object(*KUEUE, "resourceflavors", flavor)
