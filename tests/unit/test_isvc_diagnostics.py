"""What inference_service_wait tells a person when an InferenceService is not ready (no cluster).

The objects are shaped like what the apiserver, the scheduler, the kubelet and Kueue write.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.diagnostics import (  # noqa: E402
    Diagnostics,
    explain,
    pod_summary,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.wait import WaitError  # noqa: E402

NS = "private-ai"


def isvc(name, ready="False", reason="PredictorNotReady", message="", model_status=None, generation=1):
    st = {"observedGeneration": generation, "deploymentMode": "RawDeployment",
          "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message}]}
    if model_status:
        st["modelStatus"] = model_status
    return {"metadata": {"name": name, "namespace": NS, "generation": generation}, "status": st,
            "spec": {"predictor": {"model": {"args": ["--dtype=bfloat16"]}}}}


def dep(name, updated=1, total=1, available=1):
    return {"metadata": {"name": name + "-predictor", "generation": 1},
            "spec": {"replicas": 1, "strategy": {"type": "RollingUpdate"}, "template": {"spec": {
                "containers": [{"name": "kserve-container", "args": ["--port=8080", "--dtype=bfloat16"]}]}}},
            "status": {"observedGeneration": 1, "replicas": total, "updatedReplicas": updated,
                       "availableReplicas": available}}


def pod(name, isvc_name, phase="Pending", gates=(), unschedulable=None, waiting=None, last=None):
    p = {"metadata": {"name": name, "labels": {"serving.kserve.io/inferenceservice": isvc_name}},
         "spec": {"schedulingGates": [{"name": g} for g in gates]},
         "status": {"phase": phase, "conditions": []}}
    if unschedulable:
        p["status"]["conditions"].append({"type": "PodScheduled", "status": "False",
                                          "reason": "Unschedulable", "message": unschedulable})
    if waiting:
        cs = {"name": "kserve-container", "ready": False, "restartCount": 4,
              "state": {"waiting": {"reason": waiting, "message": "back-off 40s restarting failed container"}}}
        if last:
            cs["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1, "message": last}}
        p["status"]["containerStatuses"] = [cs]
    return p


class Transport:
    def __init__(self, pods=(), events=(), workloads=(), forbid=()):
        self.pods, self.events, self.workloads, self.forbid = list(pods), list(events), list(workloads), forbid
        self.calls = []

    def get_json(self, path, **params):
        self.calls.append((path, params))
        for word in self.forbid:
            if word in path:
                raise WaitError("GET %s returned HTTP 403: forbidden" % path)
        if path.endswith("/pods"):
            sel = params["label_selector"].split("=", 1)[1]
            return {"items": [p for p in self.pods
                              if p["metadata"]["labels"]["serving.kserve.io/inferenceservice"] == sel]}
        if path.endswith("/events"):
            assert params == {"field_selector": "type=Warning"}
            return {"items": self.events}
        if "/kueue.x-k8s.io/v1beta1/" in path:
            return {"items": self.workloads}
        raise AssertionError(path)


def event(kind, name, reason, message, ts="2026-11-23T03:00:00Z", count=3):
    return {"involvedObject": {"kind": kind, "name": name}, "reason": reason, "message": message,
            "lastTimestamp": ts, "count": count, "type": "Warning"}


def test_insufficient_gpu_is_named():
    msg = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available."
    t = Transport(pods=[pod("big-predictor-abc", "big", unschedulable=msg)],
                  events=[event("Pod", "big-predictor-abc", "FailedScheduling", msg),
                          event("Pod", "unrelated-pod", "FailedScheduling", "other")])
    d = Diagnostics(t, NS).collect("big", isvc("big"))
    assert d["pods"][0]["unschedulable"].startswith("Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu")
    assert [e["object"] for e in d["events"]] == ["Pod/big-predictor-abc"]
    sentence = explain(d, NS, 30)
    assert sentence.startswith("InferenceService private-ai/big cannot be scheduled: pod big-predictor-abc is")
    assert "Insufficient nvidia.com/gpu" in sentence


def test_kueue_quota_message_is_quoted():
    wl = {"metadata": {"name": "pod-q-predictor-abc-1f2e3", "ownerReferences": [
        {"kind": "Pod", "name": "q-predictor-abc"}]},
        "spec": {"queueName": "default"},
        "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                                   "message": "couldn't assign flavors to pod set main: insufficient unused quota "
                                              "for nvidia.com/gpu in flavor nvidia-gpu-flavor, 3 more needed"}]}}
    t = Transport(pods=[pod("q-predictor-abc", "q", gates=["kueue.x-k8s.io/admission"])], workloads=[wl])
    d = Diagnostics(t, NS).collect("q", isvc("q"))
    assert d["kueue_workloads"][0]["admitted"] is False
    assert d["pods"][0]["scheduling_gates"] == ["kueue.x-k8s.io/admission"]
    sentence = explain(d, NS, 30)
    assert "waiting for Kueue admission" in sentence
    assert "insufficient unused quota for nvidia.com/gpu in flavor nvidia-gpu-flavor, 3 more needed" in sentence


def test_workload_matched_by_label_too():
    wl = {"metadata": {"name": "q-predictor", "labels": {"lab.private-ai.io/inferenceservice": "q"}},
          "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "message": "insufficient quota"}]}}
    d = Diagnostics(Transport(workloads=[wl]), NS).collect("q", isvc("q"))
    assert [w["name"] for w in d["kueue_workloads"]] == ["q-predictor"]


def test_crashloop_with_last_termination_message():
    t = Transport(pods=[pod("c-predictor-x", "c", phase="Running", waiting="CrashLoopBackOff",
                            last="ValueError: quantization fp8 does not match compressed-tensors")])
    d = Diagnostics(t, NS).collect("c", isvc("c"))
    c = d["pods"][0]["containers"][0]
    assert c["waiting_reason"] == "CrashLoopBackOff" and c["restart_count"] == 4
    assert c["last_termination"]["exit_code"] == 1
    sentence = explain(d, NS, 30)
    assert "container kserve-container of pod c-predictor-x is CrashLoopBackOff" in sentence
    assert "exit code 1: ValueError: quantization fp8" in sentence


def test_image_pull_backoff():
    p = pod("i-predictor-x", "i", waiting="ImagePullBackOff")
    assert "ImagePullBackOff" in explain(Diagnostics(Transport(pods=[p]), NS).collect("i", isvc("i")), NS, 5)


def test_terminal_failure_wins_and_carries_storage_message():
    ms = {"transitionStatus": "BlockedByFailedLoad",
          "states": {"activeModelState": "FailedToLoad", "targetModelState": "FailedToLoad"},
          "lastFailureInfo": {"reason": "ModelLoadFailed", "exitCode": 1,
                              "message": "storage path s3://models/nope/ has no objects"}}
    d = Diagnostics(Transport(), NS).collect("w", isvc("w", model_status=ms), dep("w", available=0))
    assert d["last_failure_info"]["reason"] == "ModelLoadFailed"
    sentence = explain(d, NS, 3)
    assert sentence.startswith("InferenceService private-ai/w cannot become ready: the model failed to load "
                               "(transitionStatus BlockedByFailedLoad): ModelLoadFailed: ")
    assert "storage path s3://models/nope/ has no objects" in sentence


def test_missing_isvc():
    d = Diagnostics(Transport(), NS).collect("ghost", None)
    assert d["exists"] is False
    assert explain(d, NS, 42) == "InferenceService private-ai/ghost does not exist (waited 42 s for it to appear)."


def test_rollout_in_progress_is_explained():
    obj = isvc("s", ready="True", reason=None)
    d = Diagnostics(Transport(pods=[pod("s-predictor-x", "s", phase="Running")]), NS).collect(
        "s", obj, dep("s", updated=1, total=2))
    sentence = explain(d, NS, 10)
    assert sentence == ("InferenceService private-ai/s is not ready: s-predictor is rolling out: 1 old pod(s) "
                        "still run beside the 1 new one(s) (s-predictor-x Running).")
    assert d["deployment"]["strategy"] == "RollingUpdate" and d["deployment"]["rolled_out"] is False


def test_unreadable_diagnostics_are_listed_not_fatal():
    t = Transport(pods=[pod("f-predictor-x", "f")], forbid=("events", "workloads"))
    d = Diagnostics(t, NS).collect("f", isvc("f", message="pods not ready"), dep("f"))
    assert d["events"] == [] and d["kueue_workloads"] == []
    assert len(d["diagnostic_errors"]) == 2 and "403" in d["diagnostic_errors"][0]
    assert "Ready is False (PredictorNotReady: pods not ready)" in explain(d, NS, 1)


def test_events_and_workloads_are_read_once_for_many_isvcs():
    t = Transport()
    diag = Diagnostics(t, NS)
    for n in ("a", "b", "c"):
        diag.collect(n, isvc(n))
    paths = [c[0] for c in t.calls]
    assert paths.count("/api/v1/namespaces/%s/events" % NS) == 1
    assert sum("workloads" in p for p in paths) == 1
    assert sum(p.endswith("/pods") for p in paths) == 3


def test_pod_summary_keeps_long_messages_short():
    p = pod("x", "x", waiting="CrashLoopBackOff", last="E" * 5000)
    assert len(pod_summary(p)["containers"][0]["last_termination"]["message"]) <= 403
