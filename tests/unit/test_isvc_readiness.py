"""Readiness and terminal-failure decisions of inference_service_wait in KServe raw mode (no
cluster): the InferenceService, its predictor Deployment and pods shaped as KServe v0.15,
kube-controller-manager and the kubelet write them (the lab's real KServe shows the same:
lab/tests/test_kserve.py, lab/tests/test_kueue.py)."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.quantity import quantity  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.readiness import (  # noqa: E402
    internal_url,
    readiness,
    reflects,
    rollout,
    summary,
    terminal_failure,
)

ARGS = ["--dtype=bfloat16", "--max-model-len=16384"]
RESOURCES = {"requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4"},
             "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4"}}
LABELS = {"opendatahub.io/dashboard": "true", "kueue.x-k8s.io/queue-name": "default"}


def isvc(ready="True", generation=1, observed=1, model_status=None, labels=None, args=None,
         strategy="Recreate", mode="RawDeployment"):
    cond = {"type": "Ready", "status": ready}
    if ready != "True":
        cond.update(reason="MinimumReplicasUnavailable", message="Deployment does not have minimum availability.")
    predictor = {"minReplicas": 1, "maxReplicas": 1,
                 "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
                 "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 "model": {"modelFormat": {"name": "vLLM"}, "args": list(args or ARGS),
                           "resources": copy.deepcopy(RESOURCES)}}
    if strategy:
        predictor["deploymentStrategy"] = {"type": strategy}
    obj = {"metadata": {"name": "m", "namespace": "ns", "generation": generation,
                        "labels": dict(labels if labels is not None else LABELS)},
           "spec": {"predictor": predictor},
           "status": {"observedGeneration": observed, "deploymentMode": mode,
                      "url": "https://m-ns.apps.example.com",
                      "address": {"url": "http://m-predictor.ns.svc.cluster.local"},
                      "conditions": [{"type": "PredictorReady", "status": ready}, cond]}}
    if model_status:
        obj["status"]["modelStatus"] = model_status
    return obj


def deployment(args=None, labels=None, resources=None, generation=1, observed=1, replicas=1,
               updated=1, total=1, available=1, strategy="Recreate", conditions=()):
    template_labels = dict(labels if labels is not None else LABELS,
                           **{"serving.kserve.io/inferenceservice": "m", "component": "predictor"})
    container = {"name": "kserve-container",
                 "args": ["--port=8080", "--model=/mnt/models", "--served-model-name=m"] + list(args or ARGS),
                 "resources": resources or copy.deepcopy(RESOURCES)}
    pod_spec = {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [container]}
    return {"metadata": {"name": "m-predictor", "generation": generation,
                         "labels": {"serving.kserve.io/inferenceservice": "m"}},
            "spec": {"replicas": replicas, "strategy": {"type": strategy},
                     "template": {"metadata": {"labels": template_labels}, "spec": pod_spec}},
            "status": {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
                       "readyReplicas": available, "availableReplicas": available,
                       "conditions": list(conditions)}}


def pod(args=None, init=None, main=None, deleting=False):
    p = {"metadata": {"name": "m-predictor-abc-12345",
                      "labels": {"serving.kserve.io/inferenceservice": "m"}},
         "spec": {"containers": [{"name": "kserve-container", "args": [
             "--port=8080", "--model=/mnt/models", "--served-model-name=m"] + list(args or ARGS)}]},
         "status": {"phase": "Pending"}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2026-11-29T00:00:00Z"
    if init:
        p["status"]["initContainerStatuses"] = [dict({"name": "storage-initializer", "restartCount": 1}, **init)]
    if main:
        p["status"]["containerStatuses"] = [dict({"name": "kserve-container", "restartCount": 3}, **main)]
    return p


# -- ready ---------------------------------------------------------------------------------------

def test_unchanged_spec_is_ready_at_once():
    assert readiness(isvc(), deployment()) == (True, "Ready")


def test_observed_generation_is_the_deployments_and_does_not_decide():
    # An InferenceService-only change (generation 2) that leaves the Deployment at generation 1:
    # KServe's status.observedGeneration stays 1 for ever. Before, the wait timed out "stale".
    assert readiness(isvc(generation=2, observed=1), deployment())[0]
    # A Deployment-only change: its generation (3) is copied, above the InferenceService's (1).
    assert readiness(isvc(generation=1, observed=3), deployment(generation=3, observed=3))[0]


def test_ready_true_during_a_rolling_update_is_not_ready():
    # kserve/kserve#4626: Available stays True while the new pod comes up beside the old one.
    ready, why = readiness(isvc(), deployment(generation=2, observed=2, updated=1, total=2, available=1))
    assert not ready and why == "m-predictor is rolling out: 1 old pod(s) still run beside the 1 new one(s)"
    ready, why = readiness(isvc(), deployment(generation=2, observed=1))
    assert not ready and "has not seen generation 2 of m-predictor" in why
    ready, why = readiness(isvc(), deployment(updated=1, total=1, available=0))
    assert not ready and why == "0 of 1 new pods of m-predictor are available"


def test_a_changed_spec_waits_until_kserve_writes_it_into_the_deployment():
    new_args = ARGS + ["--enable-auto-tool-choice"]
    ready, why = readiness(isvc(args=new_args), deployment())
    assert not ready and why.startswith("KServe has not applied its current spec to m-predictor yet "
                                        "(its container args are")
    assert readiness(isvc(args=new_args), deployment(args=new_args))[0]
    labelled = dict(LABELS, **{"modelregistry.opendatahub.io/registered-model-id": "7"})
    ready, why = readiness(isvc(labels=labelled), deployment())
    assert not ready and "modelregistry.opendatahub.io/registered-model-id" in why
    ready, why = readiness(isvc(strategy="Recreate"), deployment(strategy="RollingUpdate"))
    assert not ready and "its strategy is RollingUpdate, the InferenceService asks Recreate" in why


def test_resources_compare_as_quantities():
    same = {"requests": {"cpu": "8000m", "memory": str(64 * 2 ** 30), "nvidia.com/gpu": 4},
            "limits": {"cpu": 8, "memory": "65536Mi", "nvidia.com/gpu": "4"}}
    assert reflects(isvc(), deployment(resources=same)) == (True, "")
    assert quantity("500m") == quantity("0.5") and quantity("1Gi") == 2 ** 30 and quantity("x") is None


def test_not_ready_reasons():
    assert readiness(None) == (False, "it does not exist")
    assert readiness(isvc(), None) == (False, "its predictor Deployment m-predictor does not exist yet")
    ready, why = readiness(isvc(ready="False"), deployment(available=0))
    assert not ready
    ready, why = readiness(isvc(ready="False"), deployment())
    assert why == "Ready is False (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"
    no_status = isvc()
    del no_status["status"]
    assert readiness(no_status, deployment()) == (False, "it has no status yet (KServe has not reconciled it)")


def test_serverless_mode_keeps_the_generation_rule():
    assert not readiness(isvc(mode="Serverless", generation=2, observed=1), None)[0]
    assert readiness(isvc(mode="Serverless", generation=2, observed=2), None)[0]


def test_rollout_of_a_scaled_deployment():
    assert rollout(deployment(replicas=2, updated=2, total=2, available=2)) == (True, "")
    assert not rollout(deployment(replicas=2, updated=1, total=1, available=1))[0]


# -- terminal ------------------------------------------------------------------------------------

FAILED_LOAD = {"transitionStatus": "BlockedByFailedLoad",
               "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
               "lastFailureInfo": {"reason": "ModelLoadFailed", "exitCode": 1,
                                   "message": "RuntimeError: Failed to fetch model. No model found in m/bf16.\n"}}


def test_invalid_spec_is_terminal():
    ms = {"transitionStatus": "InvalidSpec", "lastFailureInfo": {
        "reason": "NoSupportingRuntime", "message": "Specified runtime does not support specified framework/version"}}
    assert terminal_failure(isvc(model_status=ms), None) == (
        "KServe finds its spec invalid (transitionStatus InvalidSpec): NoSupportingRuntime: "
        "Specified runtime does not support specified framework/version")


def test_load_failure_is_terminal_only_for_the_current_spec():
    assert terminal_failure(isvc(model_status=FAILED_LOAD), deployment()) == (
        "the model failed to load (transitionStatus BlockedByFailedLoad): ModelLoadFailed: RuntimeError: "
        "Failed to fetch model. No model found in m/bf16. (exit code 1)")
    # recorded for the previous spec, which KServe has not replaced yet: the new one may load
    assert terminal_failure(isvc(model_status=FAILED_LOAD, args=ARGS + ["--x"]), deployment()) is None


def test_pods_that_cannot_be_created_are_terminal():
    refused = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
               "message": 'admission webhook "inferenceservice.kserve-webhook-server.pod-mutator" denied the '
                          "request: storage type must be one of [s3, hdfs, webhdfs]. storage type [] is not supported"}
    sentence = terminal_failure(isvc(ready="False"), deployment(available=0, updated=0, total=0,
                                                                conditions=[refused]))
    assert sentence == ("its predictor pods cannot be created: FailedCreate: admission webhook "
                        '"inferenceservice.kserve-webhook-server.pod-mutator" denied the request: storage type '
                        "must be one of [s3, hdfs, webhdfs]. storage type [] is not supported")


def test_failed_storage_initializer_is_terminal_before_kserve_notices():
    failed = {"state": {"terminated": {"reason": "Error", "exitCode": 1,
                                       "message": "RuntimeError: Failed to fetch model. No model found in m/x.\n"}}}
    sentence = terminal_failure(isvc(ready="False"), deployment(available=0), [pod(init=failed)])
    assert sentence == ("the storage initializer of pod m-predictor-abc-12345 is terminated (exit code 1: "
                        "RuntimeError: Failed to fetch model. No model found in m/x.)")
    looping = {"state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
               "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "message": "NoSuchBucket"}}}
    assert "is CrashLoopBackOff (exit code 1: NoSuchBucket)" in terminal_failure(
        isvc(ready="False"), deployment(available=0), [pod(init=looping)])


def test_crash_looping_vllm_is_terminal_but_not_an_old_or_deleting_pod():
    crash = {"state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
                                          "message": "ValueError: Unknown quantization method: fp9"}}}
    assert terminal_failure(isvc(ready="False"), deployment(available=0), [pod(main=crash)]) == (
        "container kserve-container of pod m-predictor-abc-12345 is CrashLoopBackOff (exit code 1: "
        "ValueError: Unknown quantization method: fp9)")
    assert terminal_failure(isvc(), deployment(), [pod(args=["--old"], main=crash)]) is None
    assert terminal_failure(isvc(), deployment(), [pod(main=crash, deleting=True)]) is None


@pytest.mark.parametrize("reason", ["ContainerCreating", "PodInitializing", "ImagePullBackOff"])
def test_waiting_that_may_resolve_is_not_terminal(reason):
    assert terminal_failure(isvc(ready="False"), deployment(available=0),
                            [pod(main={"state": {"waiting": {"reason": reason}}})]) is None


def test_summary_entry():
    entry = summary("m", isvc(generation=2, observed=1), 12.5, True)
    assert entry == {"name": "m", "ready": True, "url": "https://m-ns.apps.example.com",
                     "internal_url": "http://m-predictor.ns.svc.cluster.local",
                     "address_url": "http://m-predictor.ns.svc.cluster.local", "seconds_to_ready": 12.5,
                     "generation": 2, "observed_generation": 1}
    assert summary("gone", None)["ready"] is False


def service(cluster_ip, target=8080, name=None):
    port = {"port": 80, "targetPort": target, "protocol": "TCP"}
    if name:
        port["name"] = name
    return {"spec": {"clusterIP": cluster_ip, "ports": [port]}}


def test_internal_url_reaches_the_pod_port_of_a_headless_service():
    """kserve odh-v3.0: the predictor Service is headless and status.address.url has no port."""
    obj = isvc()
    assert internal_url(obj, service("None")) == "http://m-predictor.ns.svc.cluster.local:8080"
    assert internal_url(obj, service("172.30.4.5")) == "http://m-predictor.ns.svc.cluster.local:80"
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8080}]
    assert internal_url(obj, service("None", target="http"), dep) == "http://m-predictor.ns.svc.cluster.local:8080"
    assert internal_url(obj, service("None", target=8443, name="https")) == \
        "https://m-predictor.ns.svc.cluster.local:8443"
    obj["status"]["address"]["url"] = "https://m-predictor.ns.svc.cluster.local"  # upstream's urlScheme
    assert internal_url(obj, service("None")) == "http://m-predictor.ns.svc.cluster.local:8080"
    assert internal_url(obj, None) == "https://m-predictor.ns.svc.cluster.local"
