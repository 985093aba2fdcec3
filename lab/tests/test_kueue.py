"""The lab's real Kueue (v0.14.8, configured as the Red Hat build of Kueue for OpenShift AI 3.0)
with the real KServe: predictor pods gated and admitted per pod, Kueue's own webhooks, and the
opendatahub-operator's queue-name rule for InferenceServices."""

import json
import uuid

import pytest
from kubernetes.client.rest import ApiException

from testing.labclient import wait_for
from testing.serving import (KSERVE, KUEUE, MANAGED, QUEUE_LABEL, chat, condition, create_isvc,
                             get_isvc, isvc_manifest, isvc_ready, kueue_queue, predictor_pods)

pytestmark = pytest.mark.usefixtures("gpu_pool", "current_labsim")

GATE = "kueue.x-k8s.io/admission"


def gated(pod):
    return any(g.name == GATE for g in pod.spec.scheduling_gates or [])


def workloads(custom, ns):
    return custom.list_namespaced_custom_object(*KUEUE, ns, "workloads")["items"]


def quota_message(custom, ns):
    for wl in workloads(custom, ns):
        cond = next((c for c in (wl.get("status") or {}).get("conditions") or []
                     if c["type"] == "QuotaReserved"), {})
        if cond.get("status") == "False":
            return cond.get("message", "")
    return ""


@pytest.mark.parametrize("strategy", [None, "Recreate"])
def test_label_change_rolls_the_predictor_and_the_surge_pod_needs_quota(
        custom, core, apps, serving_ns, gpu_pool, lab, strategy):
    """KServe copies the InferenceService's labels into the pod template: a label change is a
    rollout. With the Deployment's default RollingUpdate the new pod comes up beside the old one
    and needs a GPU the queue does not have; with Recreate the old pod goes first."""
    ns, name = serving_ns, "roll"
    with kueue_queue(custom, core, ns, gpu_pool, gpus=1) as queue:
        create_isvc(custom, ns, isvc_manifest(name, gpu_pool, labels={QUEUE_LABEL: queue},
                                              strategy=strategy))
        wait_for(lambda: get_isvc(custom, ns, name), isvc_ready, 90, "Ready")
        dep = apps.read_namespaced_deployment("%s-predictor" % name, ns)
        assert dep.spec.strategy.type == (strategy or "RollingUpdate")
        first = {p.metadata.name for p in predictor_pods(core, ns, name)}

        custom.patch_namespaced_custom_object(*KSERVE, ns, "inferenceservices", name, {
            "metadata": {"labels": {"modelregistry.opendatahub.io/registered-model-id": "7"}}})
        new_pods = wait_for(lambda: predictor_pods(core, ns, name),
                            lambda pods: any(p.metadata.name not in first for p in pods), 60,
                            "the rollout's new pod")
        if strategy is None:
            surge = [p for p in new_pods if p.metadata.name not in first][0]
            msg = wait_for(lambda: quota_message(custom, ns), lambda m: m, 30, "a pending Workload")
            print("\nsurge pod %s: %s" % (surge.metadata.name, msg))
            assert "insufficient unused quota for nvidia.com/gpu" in msg
            assert gated(core.read_namespaced_pod(surge.metadata.name, ns))
            # ... and KServe keeps reporting Ready: the old pod still serves.
            assert isvc_ready(get_isvc(custom, ns, name))
        else:
            def rolled(pods):
                return len(pods) == 1 and pods[0].metadata.name not in first and \
                    any(c.type == "Ready" and c.status == "True" for c in pods[0].status.conditions or [])
            wait_for(lambda: predictor_pods(core, ns, name), rolled, 90, "the new pod Ready alone")
            isvc = wait_for(lambda: get_isvc(custom, ns, name), isvc_ready, 60, "Ready again")
            assert chat(lab, isvc["status"]["url"], name)[0] == 200


def test_quota_raised_admits_the_waiting_pod(custom, core, serving_ns, gpu_pool):
    ns, name = serving_ns, "waits"
    with kueue_queue(custom, core, ns, gpu_pool, gpus=0) as queue:
        create_isvc(custom, ns, isvc_manifest(name, gpu_pool, labels={QUEUE_LABEL: queue}))
        msg = wait_for(lambda: quota_message(custom, ns), lambda m: m, 60, "a pending Workload")
        print("\n" + msg)
        assert "insufficient quota for nvidia.com/gpu in flavor" in msg
        pod = predictor_pods(core, ns, name)[0]
        assert gated(pod) and condition(get_isvc(custom, ns, name), "Ready").get("status") != "True"
        cq = custom.get_namespaced_custom_object(*KUEUE, ns, "localqueues", queue)["spec"]["clusterQueue"]
        body = custom.get_cluster_custom_object(*KUEUE, "clusterqueues", cq)
        body["spec"]["resourceGroups"][0]["flavors"][0]["resources"][2]["nominalQuota"] = 1
        custom.replace_cluster_custom_object(*KUEUE, "clusterqueues", cq, body)
        wait_for(lambda: get_isvc(custom, ns, name), isvc_ready, 90, "Ready once admitted")
        pod = predictor_pods(core, ns, name)[0]
        assert not gated(pod) and pod.spec.node_selector.get("lab.private-ai.io/test-pool") == gpu_pool


def test_cluster_queue_covering_a_resource_twice_is_refused(custom):
    """Kueue's webhook (pkg/webhooks/clusterqueue_webhook.go validateResourceGroups)."""
    name = "twice-" + uuid.uuid4().hex[:6]
    body = {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue", "metadata": {"name": name},
            "spec": {"namespaceSelector": {}, "resourceGroups": [
                {"coveredResources": ["cpu", "memory"], "flavors": [{"name": "default-flavor", "resources": [
                    {"name": "cpu", "nominalQuota": 8}, {"name": "memory", "nominalQuota": "32Gi"}]}]},
                {"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [
                    {"name": "nvidia-gpu-flavor", "resources": [
                        {"name": "cpu", "nominalQuota": 8}, {"name": "memory", "nominalQuota": "32Gi"},
                        {"name": "nvidia.com/gpu", "nominalQuota": 4}]}]}]}}
    with pytest.raises(ApiException) as err:
        custom.create_cluster_custom_object(*KUEUE, "clusterqueues", body)
    message = json.loads(err.value.body)["message"]
    print("\n" + message)
    assert err.value.status == 403
    assert message.startswith('admission webhook "vclusterqueue.kb.io" denied the request: ')
    assert 'spec.resourceGroups[1].coveredResources[0]: Duplicate value: "cpu"' in message


def test_managed_namespace_without_queue_label(custom, core, serving_ns, gpu_pool):
    """On OpenShift AI the operator gives a Kueue-managed namespace the LocalQueue `default`
    (kueue_support.go), so Kueue's LocalQueueDefaulting puts a plain pod without the queue label
    in that queue (pod_webhook.go) rather than leaving it alone (manageJobsWithoutQueueName is
    false); the operator's webhook refuses an InferenceService without the label
    (internal/webhook/kueue/validating.go)."""
    ns = serving_ns
    core.patch_namespace(ns, {"metadata": {"labels": {MANAGED: "true"}}})
    wait_for(lambda: custom.get_namespaced_custom_object(*KUEUE, ns, "localqueues", "default"),
             lambda lq: lq, 30, "the operator's LocalQueue default")
    pod = core.create_namespaced_pod(ns, {"metadata": {"name": "plain"}, "spec": {
        "containers": [{"name": "c", "image": "registry.access.redhat.com/ubi9/ubi-minimal",
                        "resources": {"requests": {"cpu": "100m"}}}]}})
    labels = pod.metadata.labels or {}
    assert labels.get(QUEUE_LABEL) == "default" and labels.get("kueue.x-k8s.io/managed") == "true"
    assert gated(pod)
    wait_for(lambda: core.read_namespaced_pod("plain", ns), lambda p: not gated(p), 30,
             "admission from ClusterQueue default (the workers' cpu and memory)")
    with pytest.raises(ApiException) as err:
        create_isvc(custom, ns, isvc_manifest("nolabel", gpu_pool))
    assert err.value.status == 403
    assert json.loads(err.value.body)["message"] == (
        'admission webhook "kserve-isvc-kueuelabels-validator.opendatahub.io" denied the request: '
        'Kueue label validation failed: missing required label "kueue.x-k8s.io/queue-name"')
    with pytest.raises(ApiException) as err:
        create_isvc(custom, ns, isvc_manifest("empty", gpu_pool, labels={QUEUE_LABEL: ""}))
    assert 'is set but empty' in err.value.body


def test_the_operator_puts_a_deleted_default_local_queue_back(custom, core, serving_ns):
    """The operator watches LocalQueues and creates its defaults whenever they are missing
    (kueue_controller.go, kueue_controller_actions.go): a teardown cannot delete them for good."""
    ns = serving_ns
    core.patch_namespace(ns, {"metadata": {"labels": {MANAGED: "true"}}})
    first = wait_for(lambda: custom.get_namespaced_custom_object(*KUEUE, ns, "localqueues", "default"),
                     lambda lq: lq, 30, "the operator's LocalQueue default")
    custom.delete_namespaced_custom_object(*KUEUE, ns, "localqueues", "default")
    again = wait_for(lambda: custom.get_namespaced_custom_object(*KUEUE, ns, "localqueues", "default"),
                     lambda lq: lq["metadata"]["uid"] != first["metadata"]["uid"], 30,
                     "the LocalQueue default created again")
    assert again["spec"]["clusterQueue"] == "default"


def test_openshift_ai_default_queue_is_made_from_the_workers(custom):
    """The lab installs OpenShift AI before any GPU node, as the collection's flow has it: the
    operator's ClusterQueue `default` has default-flavor with the three workers' allocatable cpu
    and memory (kept when the collection adds its GPU flavor) and no GPU flavor of its own."""
    cq = custom.get_cluster_custom_object(*KUEUE, "clusterqueues", "default")
    # rendered with opendatahub.io/managed "false" (create once, never modify), which the deploy
    # action strips from the object it creates (pkg/controller/actions/deploy/action_deploy.go)
    assert "opendatahub.io/managed" not in (cq["metadata"].get("annotations") or {})
    first = cq["spec"]["resourceGroups"][0]
    default = first["flavors"][0]
    assert default["name"] == "default-flavor" and first["coveredResources"][:2] == ["cpu", "memory"]
    assert {r["name"]: str(r["nominalQuota"]) for r in default["resources"]}["cpu"] == "12"
