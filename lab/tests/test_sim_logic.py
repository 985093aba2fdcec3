"""Unit tests of labsim's pure logic (no lab needed): latency profile, runtime selection,
predictor Deployment, Kueue flavor assignment, Machine API node shape."""

from decimal import Decimal

import pytest

from labsim import kueue, machineapi, predictor, profile

RUNTIME = {
    "metadata": {"name": "vllm-cuda-runtime", "namespace": "ns"},
    "spec": {
        "supportedModelFormats": [{"name": "vLLM", "autoSelect": True}],
        "annotations": {"prometheus.io/port": "8080"},
        "containers": [{
            "name": "kserve-container", "image": "quay.io/modh/vllm:lab",
            "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
            "args": ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"],
            "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
            "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
        }],
        "volumes": [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}],
    },
}


def isvc(name="m1", runtime=None, fmt="vLLM", labels=None, args=None, gpus=1):
    model = {"modelFormat": {"name": fmt}, "args": args or ["--dtype=bfloat16"],
             "storage": {"key": "models-s3", "path": "m1/bf16"},
             "resources": {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": gpus},
                           "limits": {"cpu": "8", "memory": "24Gi", "nvidia.com/gpu": gpus}}}
    if runtime:
        model["runtime"] = runtime
    return {"metadata": {"name": name, "namespace": "ns", "uid": "u-1", "generation": 1,
                         "labels": labels or {}},
            "spec": {"predictor": {"minReplicas": 1, "model": model,
                                   "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                    "effect": "NoSchedule"}],
                                   "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}}}


def test_profile_fp8_and_tp_are_faster_and_overridable(tmp_path):
    bf16 = profile.compute(["--dtype=bfloat16"])
    fp8 = profile.compute(["--dtype=bfloat16", "--quantization", "fp8"])
    tp4 = profile.compute(["--dtype=bfloat16", "--tensor-parallel-size=4", "--max-model-len=32768"])
    assert (bf16["ttft_ms"], bf16["itl_ms"]) == (120.0, 25.0)
    assert fp8["itl_ms"] == pytest.approx(25 * 0.65, abs=0.1) and fp8["fp8"]
    assert tp4["itl_ms"] < bf16["itl_ms"] and tp4["ready_delay_s"] > bf16["ready_delay_s"]
    assert tp4["max_model_len"] == 32768 and tp4["tensor_parallel_size"] == 4
    assert 2 <= bf16["ready_delay_s"] <= 5 and tp4["ready_delay_s"] <= 5
    (tmp_path / "latency.yaml").write_text("base: {ttft_ms: 200}\n")
    cfg = profile.load_config(str(tmp_path), environ={"LABSIM_ITL_MS": "10"})
    assert profile.compute([], cfg)["ttft_ms"] == 200 and profile.compute([], cfg)["itl_ms"] == 10


def test_runtime_selection():
    assert predictor.select_runtime(isvc(), [RUNTIME]) is RUNTIME
    assert predictor.select_runtime(isvc(runtime="vllm-cuda-runtime"), [RUNTIME]) is RUNTIME
    with pytest.raises(predictor.RuntimeError_) as err:
        predictor.select_runtime(isvc(fmt="onnx"), [RUNTIME])
    assert err.value.reason == "NoSupportingRuntime" and "onnx" in str(err.value)
    with pytest.raises(predictor.RuntimeError_) as err:
        predictor.select_runtime(isvc(runtime="nope"), [RUNTIME])
    assert err.value.reason == "RuntimeNotRecognized"


def test_predictor_deployment_merges_runtime_and_isvc():
    dep = predictor.deployment(isvc(labels={"kueue.x-k8s.io/queue-name": "default"},
                                    args=["--dtype=bfloat16", "--tensor-parallel-size=4"]),
                               RUNTIME, "s3://models/m1/bf16")
    pod = dep["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["args"] == ["--port=8080", "--model=/mnt/models", "--served-model-name=m1",
                            "--dtype=bfloat16", "--tensor-parallel-size=4"]
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "shm", "mountPath": "/dev/shm"} in main["volumeMounts"]
    assert pod["schedulingGates"] == [{"name": "kueue.x-k8s.io/admission"}]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-L4"}
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["serving.kserve.io/inferenceservice"] == "m1"
    assert labels["app"] == "isvc.m1-predictor" and labels["kueue.x-k8s.io/queue-name"] == "default"
    assert dep["metadata"]["ownerReferences"][0]["kind"] == "InferenceService"
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    plain = predictor.deployment(isvc(), RUNTIME, "s3://models/m1/bf16")
    assert "schedulingGates" not in plain["spec"]["template"]["spec"]
    assert plain["metadata"]["annotations"][predictor.HASH_ANN] != \
        dep["metadata"]["annotations"][predictor.HASH_ANN]


CQ = {"metadata": {"name": "cq"}, "spec": {"resourceGroups": [{
    "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
    "flavors": [{"name": "nvidia-gpu-flavor", "resources": [
        {"name": "cpu", "nominalQuota": 64}, {"name": "memory", "nominalQuota": "256Gi"},
        {"name": "nvidia.com/gpu", "nominalQuota": 4}]}]}]}}


def test_kueue_flavor_assignment_and_message():
    need = kueue.workload_usage(kueue.desired_workload(isvc(
        labels={"kueue.x-k8s.io/queue-name": "q"}, gpus=4)))
    assert need["nvidia.com/gpu"] == 4 and need["memory"] == Decimal(16 * 2 ** 30)
    flavors, msg = kueue.assign_flavors(CQ, need, {})
    assert msg is None and flavors["nvidia.com/gpu"] == "nvidia-gpu-flavor"
    used = {"nvidia-gpu-flavor": {"nvidia.com/gpu": Decimal(1)}}
    flavors, msg = kueue.assign_flavors(CQ, need, used)
    assert flavors is None
    assert msg == ("couldn't assign flavors to pod set main: insufficient unused quota for "
                   "nvidia.com/gpu in flavor nvidia-gpu-flavor, 1 more needed")


def test_node_shape_per_instance_type():
    machine = {"metadata": {"name": "ms-abcde", "namespace": "openshift-machine-api"},
               "spec": {"providerID": "aws:///us-east-1a/i-1"}}
    node = machineapi.node_manifest("ip-10-0-1-2.ec2.internal", machine, "g6.12xlarge", "10.0.1.2")
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L4" and labels["nvidia.com/gpu.count"] == "4"
    assert labels["nvidia.com/gpu.memory"] == "23034" and labels["type"] == "kwok"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert node["status"]["capacity"]["cpu"] == "48" and node["spec"]["taints"][0]["key"] == \
        "nvidia.com/gpu"
    l40s = machineapi.node_manifest("n", machine, "g6e.xlarge", "10.0.1.3")
    assert l40s["metadata"]["labels"]["nvidia.com/gpu.memory"] == "46068"
    cpu_only = machineapi.node_manifest("n", machine, "m5.weird", "10.0.1.4")
    assert "nvidia.com/gpu" not in cpu_only["status"]["allocatable"]
    assert not cpu_only["spec"]["taints"]
