# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection writes, consumed by the lab's real KServe and Kueue and by the simulated
odh-model-controller and OpenShift AI operator webhooks (lab/labsim), as on an OpenShift AI 3.0
cluster. One test per defect a review of the upstream source found; each runs the collection's
own roles or modules through ansible-playbook against the lab.

The roles run with the lab's admin kubeconfig in a scratch namespace (the lab's deployer account
has namespaced rights only in private-ai, which site.yml and Molecule own).
"""

import base64
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from isvc_lab import wait_for
from isvc_lab import api_client, core, custom, gpu_pool, lab, s3  # noqa: F401 pylint: disable=unused-import
from testing.labclient import scratch_bucket
from testing.serving import (RUNTIME, create_isvc, get_isvc, isvc_manifest, isvc_ready, new_namespace,
                             predictor_pods, via_proxy)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook")


def run_play(lab, tmp_path, tasks, extra_vars, check=True):
    """ansible-playbook of `tasks` (a YAML string) with the lab inventory, the admin kubeconfig and
    extra_vars; returns the CompletedProcess."""
    play = tmp_path / "play.yml"
    play.write_text("""
- hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/private_ai.llm_serving.k8s:
      kubeconfig: "{{ llm_serving_kubeconfig }}"
  tasks:
%s
""" % "\n".join("    " + line for line in tasks.strip().splitlines()))
    varsfile = tmp_path / "vars.json"
    # The tests' scratch buckets are outside the policy of the lab's collection user (models only:
    # lab/labctl/minio_user.py): these runs use MinIO's root credentials instead.
    root = {"llm_serving_s3_access_key": lab["s3"]["access_key"], "llm_serving_s3_secret_key": lab["s3"]["secret_key"]}
    varsfile.write_text(json.dumps(dict({"llm_serving_kubeconfig": lab["kubeconfig"]}, **dict(root, **extra_vars))))
    os.chmod(varsfile, 0o600)
    proc = subprocess.run([PLAYBOOK, "-i", str(REPO / "inventories" / "lab"), str(play),
                           "-e", "@%s" % varsfile], cwd=str(REPO), capture_output=True, text=True,
                          timeout=600, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


def role_plan(lab, **settings):
    """llm_serving_plan as the preflight makes it, for a role run on its own: the settings with
    their defaults (module_utils/serving_plan/settings.py) and no models."""
    sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    normalized, errors = settings_mod.normalize(dict({"s3_endpoint": lab["s3"]["endpoint"]}, **settings))
    assert errors == []
    return {"settings": normalized, "models": {}, "order": []}


@pytest.fixture
def scratch_ns(core):
    ns = new_namespace(core, "realcl")
    yield ns
    core.delete_namespace(ns)


@pytest.fixture
def bucket(s3):
    with scratch_bucket(s3, "realcl", {"m/bf16/config.json": b'{"model_type": "mistral"}',
                                       "m/bf16/model.safetensors": b"\0" * 64}) as name:
        yield name


# -- defect 1: the data connection Secret ----------------------------------------------------------

def test_data_connection_secret_gives_predictor_pods(lab, core, custom, scratch_ns, bucket, gpu_pool, tmp_path):
    """minio_models writes the data connection as odh-dashboard does, so odh-model-controller's
    storage-config entry has type s3 and KServe's pod webhook creates the predictor pod
    (odh-model-controller internal/controller/core/secret_controller.go; kserve
    pkg/credentials/service_account_credentials.go)."""
    run_play(lab, tmp_path, """
- name: Data connection
  ansible.builtin.include_role:
    name: private_ai.llm_serving.minio_models
""", {"llm_serving_plan": role_plan(lab, namespace=scratch_ns, s3_bucket=bucket)})
    entry = wait_for(lambda: core.read_namespaced_secret("storage-config", scratch_ns), lambda s: s.data,
                     30, "odh-model-controller's storage-config")
    config = json.loads(base64.b64decode(entry.data["models-s3"]))
    assert config["type"] == "s3", config
    custom.create_namespaced_custom_object("serving.kserve.io", "v1alpha1", scratch_ns, "servingruntimes",
                                           RUNTIME)
    create_isvc(custom, scratch_ns, isvc_manifest("conn", gpu_pool))
    wait_for(lambda: get_isvc(custom, scratch_ns, "conn"), isvc_ready, 90, "Ready")
    assert predictor_pods(core, scratch_ns, "conn")


# -- defect 5: GPU quota on OpenShift AI's default ClusterQueue ----------------------------------

@pytest.fixture
def rhoai_queue(custom):
    """A ClusterQueue shaped as opendatahub-operator's kueue_support.go makes `default` when
    OpenShift AI is installed before any GPU node: cpu and memory only."""
    name = "rhoai-" + uuid.uuid4().hex[:6]
    custom.create_cluster_custom_object("kueue.x-k8s.io", "v1beta1", "clusterqueues", {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue",
        "metadata": {"name": name, "annotations": {"opendatahub.io/managed": "false"}},
        "spec": {"namespaceSelector": {"matchLabels": {"kueue.openshift.io/managed": "true"}},
                 "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
                     {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": "12"},
                                                              {"name": "memory", "nominalQuota": "48Gi"}]}]}]}})
    yield name
    custom.delete_cluster_custom_object("kueue.x-k8s.io", "v1beta1", "clusterqueues", name)


def test_gpu_quota_on_a_queue_made_before_the_gpu_nodes(lab, custom, scratch_ns, rhoai_queue, tmp_path):
    """Kueue's webhook refuses a resource covered by two groups (pkg/webhooks/clusterqueue_webhook.go):
    the cpu/memory group is extended with the GPU and the GPU flavor joins it, so GPU pods are
    charged to it and the workers' quota stays for the queue's other workloads."""
    plan = {"quota": {"nvidia-gpu-flavor": {"nvidia.com/gpu": 9, "cpu": 18, "memory": "144Gi"}}}
    tasks = """
- name: Quota
  ansible.builtin.include_role:
    name: private_ai.llm_serving.kueue_quota
"""
    extra = {"llm_serving_plan": dict(role_plan(lab, namespace=scratch_ns, cluster_queue=rhoai_queue,
                                                local_queue="q"), **plan)}
    run_play(lab, tmp_path, tasks, extra)
    cq = custom.get_cluster_custom_object("kueue.x-k8s.io", "v1beta1", "clusterqueues", rhoai_queue)
    groups = [(g["coveredResources"], [(f["name"], {r["name"]: str(r["nominalQuota"]) for r in f["resources"]})
                                       for f in g["flavors"]]) for g in cq["spec"]["resourceGroups"]]
    assert groups == [(["cpu", "memory", "nvidia.com/gpu"], [
        ("default-flavor", {"cpu": "12", "memory": "48Gi", "nvidia.com/gpu": "0"}),
        ("nvidia-gpu-flavor", {"cpu": "18", "memory": "144Gi", "nvidia.com/gpu": "9"})])]
    again = run_play(lab, tmp_path, tasks, extra)
    assert "changed=0" in again.stdout.splitlines()[-2] or " changed=0 " in again.stdout


# -- defect 4: scaling a cloned MachineSet ------------------------------------------------------

def test_scaling_a_cloned_machineset_keeps_its_selector_and_template(lab, custom, tmp_path):
    """The clone and the scale were both server-side applies of one field manager; the scale,
    sending only spec.replicas, made the apiserver drop the selector and template that manager
    owned. Scaling goes through the scale subresource."""
    itype = "g6e.2xlarge"  # no MachineSet of the lab provides it: the role clones the worker one

    def plan(nodes):
        return {"llm_serving_plan": {"nodes": {itype: nodes}, "models": {
            "m": {"instance_type": itype, "gpu_product": "NVIDIA-L40S"}}},
            "llm_serving_gpu_machinesets_wait": False}

    tasks = """
- name: GPU MachineSets
  ansible.builtin.include_role:
    name: private_ai.llm_serving.gpu_machinesets
"""

    def clones():
        return [ms for ms in custom.list_namespaced_custom_object(
            "machine.openshift.io", "v1beta1", "openshift-machine-api", "machinesets")["items"]
            if ms["spec"].get("template", {}).get("spec", {}).get("providerSpec", {}).get("value", {})
            .get("instanceType") == itype]

    try:
        run_play(lab, tmp_path, tasks, plan(1))
        (ms,) = clones()
        run_play(lab, tmp_path, tasks, plan(2))
        ms = custom.get_namespaced_custom_object("machine.openshift.io", "v1beta1", "openshift-machine-api",
                                                 "machinesets", ms["metadata"]["name"])
        assert ms["spec"]["replicas"] == 2
        assert ms["spec"]["selector"]["matchLabels"]["machine.openshift.io/cluster-api-machineset"] == \
            ms["metadata"]["name"]
        assert ms["spec"]["template"]["spec"]["providerSpec"]["value"]["instanceType"] == itype
        assert ms["spec"]["template"]["metadata"]["labels"]["machine.openshift.io/cluster-api-machineset"] == \
            ms["metadata"]["name"]
        again = run_play(lab, tmp_path, tasks, plan(2))
        assert " changed=0 " in again.stdout
    finally:
        for ms in custom.list_namespaced_custom_object(
                "machine.openshift.io", "v1beta1", "openshift-machine-api", "machinesets")["items"]:
            if "-gpu-%s-" % itype.replace(".", "-") in ms["metadata"]["name"]:
                custom.delete_namespaced_custom_object("machine.openshift.io", "v1beta1", "openshift-machine-api",
                                                       "machinesets", ms["metadata"]["name"])


# -- defect 9: why a GPU node does not come -------------------------------------------------------

@pytest.mark.parametrize("ec2, expect", [
    (0, "is Provisioning: MachineCreationFailed: error creating EC2 instance: InsufficientInstanceCapacity: "
        "We currently do not have sufficient g6e.2xlarge capacity"),
    ("unsupported", "is Failed: InvalidConfiguration: error launching instance: Your requested instance type "
                    "(g6e.2xlarge) is not supported in your requested Availability Zone (us-east-1a)")])
def test_node_wait_names_the_machines_launch_error(lab, custom, tmp_path, ec2, expect):
    """openshift/machine-api-provider-aws reports a refused launch on the Machine: errorReason and
    errorMessage when EC2 answers 4xx, the MachineCreation condition while it retries a 500."""
    itype = "g6e.2xlarge"
    capacity = Path(lab["state_dir"]) / "aws-capacity.json"
    capacity.write_text(json.dumps({itype: ec2}))
    try:
        extra = {"llm_serving_plan": {"nodes": {itype: 1},
                                      "models": {"m": {"instance_type": itype, "gpu_product": "NVIDIA-L40S"}}},
                 "llm_serving_gpu_machinesets_wait_timeout": 6, "llm_serving_gpu_machinesets_wait_delay": 1}
        out = run_play(lab, tmp_path, """
- name: GPU MachineSets
  ansible.builtin.include_role:
    name: private_ai.llm_serving.gpu_machinesets
""", extra, check=False)
        text = " ".join((out.stdout + out.stderr).split())
        assert out.returncode != 0
        print("\n" + text[text.find("GPU nodes not ready"):][:700])
        assert "GPU nodes not ready after 6s: MachineSet " in text
        assert re.search(r"MachineSet \S+ \(g6e\.2xlarge, NVIDIA-L40S\): 0 of 1 nodes Ready with allocatable "
                         r"nvidia\.com/gpu, Machines \w+=1", text), text[-1500:]
        assert expect in text
    finally:
        capacity.unlink()
        for ms in custom.list_namespaced_custom_object(
                "machine.openshift.io", "v1beta1", "openshift-machine-api", "machinesets")["items"]:
            if "-gpu-%s-" % itype.replace(".", "-") in ms["metadata"]["name"]:
                custom.delete_namespaced_custom_object("machine.openshift.io", "v1beta1", "openshift-machine-api",
                                                       "machinesets", ms["metadata"]["name"])


# -- defect 7: the ServingRuntime as OpenShift AI ships it ----------------------------------------

def test_serving_runtime_takes_its_image_from_openshift_ais_template(lab, custom, scratch_ns, tmp_path):
    tasks = """
- name: Runtime
  ansible.builtin.include_role:
    name: private_ai.llm_serving.vllm_runtime
"""

    def runtime():
        return custom.get_namespaced_custom_object("serving.kserve.io", "v1alpha1", scratch_ns,
                                                   "servingruntimes", "vllm-cuda-runtime")

    template = custom.get_namespaced_custom_object("template.openshift.io", "v1", "redhat-ods-applications",
                                                   "templates", "vllm-cuda-runtime-template")
    shipped = template["objects"][0]["spec"]["containers"][0]["image"]
    run_play(lab, tmp_path, tasks, {"llm_serving_plan": role_plan(lab, namespace=scratch_ns)})
    rt = runtime()
    assert rt["spec"]["containers"][0]["image"] == shipped
    assert rt["metadata"]["annotations"]["opendatahub.io/runtime-version"] == "v0.9.1.0"
    # odh-model-controller's metrics dashboard reads it (kserve_metrics_dashboard_reconciler.go)
    assert rt["spec"]["annotations"]["opendatahub.io/kserve-runtime"] == "vllm"
    # a cluster without the Template: the collection's pinned OpenShift AI 3.0.0 image
    run_play(lab, tmp_path, tasks, {"llm_serving_plan": role_plan(lab, namespace=scratch_ns),
                                    "llm_serving_vllm_runtime_template_namespace": scratch_ns})
    assert runtime()["spec"]["containers"][0]["image"].startswith("registry.redhat.io/rhaiis/vllm-cuda-rhel9@sha256:ad756c01")


# -- defects 8 and 10: the checkpoint decides the Mistral flags and what is uploaded ---------------

def test_mistral_checkpoint_is_uploaded_once_and_served_with_tool_calls(lab, core, custom, scratch_ns, s3,
                                                                        gpu_pool, tmp_path):
    """Mistral's repositories hold the weights twice; only the set vLLM loads is uploaded (KServe's
    storage initializer copies all of a model's path onto the node). The Mistral-native set runs
    with Mistral's flags and tool calling, the Hugging Face-only FP8 checkpoint without."""
    import make_synthetic_model as synth
    native, hf = tmp_path / "native", tmp_path / "hf"
    synth.main(["--checkpoint", "Devstral-Small-2505", "--out", str(native), "--shard-mb", "0.01"])
    synth.main(["--checkpoint", "Mistral-Small-24B-Instruct-2501-FP8-dynamic", "--out", str(hf), "--shard-mb", "0.01"])
    bucket = "realcl-" + uuid.uuid4().hex[:8]
    models = [{"name": name, "weights": {"source": "local", "local_dir": str(d), "path": "m/" + name},
               "hardware": {"instance_type": itype, "gpus": gpus}, "vllm": {"max_model_len": 8192}}
              for name, d, itype, gpus in (("devstral", native, "g6.12xlarge", 4), ("mistral-fp8", hf, "g6e.xlarge", 1))]
    try:
        run_play(lab, tmp_path, """
- name: Plan
  ansible.builtin.include_role:
    name: private_ai.llm_serving.preflight
- name: Upload
  ansible.builtin.include_role:
    name: private_ai.llm_serving.minio_models
- name: Keep the plan
  ansible.builtin.copy:
    dest: "%s"
    content: "{{ llm_serving_plan | to_json }}"
""" % (tmp_path / "plan.json"), dict(llm_serving_namespace=scratch_ns, llm_serving_s3_bucket=bucket,
                                     llm_serving_models=models))
        plan = json.loads((tmp_path / "plan.json").read_text())

        def keys(prefix):
            return sorted(o["Key"].rsplit("/", 1)[1] for o in
                          s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))

        uploaded = keys("m/devstral/")
        assert "consolidated.safetensors" in uploaded and "params.json" in uploaded and "tekken.json" in uploaded
        assert not [k for k in uploaded if k.startswith("model-") or k == "model.safetensors.index.json"]
        assert [k for k in keys("m/mistral-fp8/") if k.startswith("model-")]
        assert plan["models"]["devstral"]["tool_calling"] is True
        assert "--load-format=mistral" in plan["models"]["devstral"]["vllm_args"]
        assert not any("mistral" in a for a in plan["models"]["mistral-fp8"]["vllm_args"])

        # Served by the lab's KServe with the plan's args: the lab's vLLM checks flags against files.
        custom.create_namespaced_custom_object("serving.kserve.io", "v1alpha1", scratch_ns, "servingruntimes",
                                               RUNTIME)
        for name in ("devstral", "mistral-fp8"):
            create_isvc(custom, scratch_ns, isvc_manifest(name, gpu_pool, path="m/" + name,
                                                          args=plan["models"][name]["vllm_args"]))
        tool_request = {"max_tokens": 4, "tool_choice": "auto", "messages": [{"role": "user", "content": "ls"}],
                        "tools": [{"type": "function", "function": {"name": "ls", "parameters": {}}}]}
        for name, status in (("devstral", 200), ("mistral-fp8", 400)):
            isvc = wait_for(lambda n=name: get_isvc(custom, scratch_ns, n), isvc_ready, 90, name + " Ready")
            got, body = via_proxy(lab, isvc["status"]["url"] + "/v1/chat/completions", dict(tool_request, model=name))
            assert got == status, body
        assert json.loads(body)["message"] == ('"auto" tool choice requires --enable-auto-tool-choice and '
                                               '--tool-call-parser to be set')
    finally:
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)


def test_vllm_of_the_lab_refuses_flags_its_files_do_not_support(lab, core, custom, scratch_ns, bucket, gpu_pool):
    """A mistral load format on a bucket path with only Hugging Face shards: vLLM exits, the pod
    crash-loops, and the wait says so (the lab's pod runtime checks flags against files as vLLM's
    loaders do)."""
    from testing.serving import data_connection
    core.create_namespaced_secret(scratch_ns, data_connection(lab, bucket))
    custom.create_namespaced_custom_object("serving.kserve.io", "v1alpha1", scratch_ns, "servingruntimes", RUNTIME)
    create_isvc(custom, scratch_ns, isvc_manifest("wrong", gpu_pool, args=[
        "--dtype=bfloat16", "--load-format=mistral", "--max-model-len=4096"]))
    import module_runner
    out = module_runner.run("private_ai.llm_serving.inference_service_wait", {
        "kubeconfig": lab["kubeconfig"], "namespace": scratch_ns, "names": ["wrong"], "timeout": 120}, timeout=180)
    assert out["rc"] != 0
    # from the pod, or from KServe's modelStatus when it reconciled first
    assert out["msg"].startswith("1 of 1 InferenceServices failed terminally: InferenceService %s/wrong cannot "
                                 "become ready: " % scratch_ns), out["msg"]
    assert "RuntimeError: Cannot find any model weights with `/mnt/models`" in out["msg"]
