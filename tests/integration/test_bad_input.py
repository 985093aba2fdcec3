# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to site.yml against the running lab: each case fails in the preflight with one sentence
that names the field, and nothing on the cluster or in S3 changed.

Runs `ansible-playbook site.yml -i inventories/triple_play -i inventories/lab` with the profile's
models list altered through an extra-vars file. Skips when the lab is not running (`make lab-up`).
"""

import copy
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from isvc_lab import kube_api_client, lab_facts, s3_client

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook") if (REPO / ".venv" / "bin").exists() else "ansible-playbook"
PROFILE = "triple_play"
INVENTORY = ["-i", "inventories/%s" % PROFILE, "-i", "inventories/lab"]

# (group, version, kind, namespaced) of everything site.yml writes.
KINDS = [
    ("", "v1", "Namespace", False),
    ("", "v1", "Secret", True),
    ("machine.openshift.io", "v1beta1", "MachineSet", True),
    ("kueue.x-k8s.io", "v1beta1", "ResourceFlavor", False),
    ("kueue.x-k8s.io", "v1beta1", "ClusterQueue", False),
    ("kueue.x-k8s.io", "v1beta1", "LocalQueue", True),
    ("serving.kserve.io", "v1alpha1", "ServingRuntime", True),
    ("serving.kserve.io", "v1beta1", "InferenceService", True),
]


@pytest.fixture(scope="module")
def lab():
    facts = lab_facts()
    if not (REPO / "roles" / "preflight").exists():
        pytest.skip("roles/preflight is not there yet")
    return facts


@pytest.fixture(scope="module")
def dyn(lab):
    pytest.importorskip("kubernetes")
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(kube_api_client(lab))


@pytest.fixture(scope="module")
def s3(lab):
    pytest.importorskip("boto3")
    return s3_client(lab)


NAMESPACE = "private-ai"  # inventories/triple_play: llm_serving_namespace
BUCKET = "models"  # inventories/triple_play: llm_serving_s3_bucket
QUEUE_OBJECTS = {"ClusterQueue": {"default"}, "ResourceFlavor": {"default-flavor", "nvidia-gpu-flavor"}}


def _ours(kind, meta, infra):
    """Only what site.yml with the lab inventory could touch (other suites share the lab)."""
    if kind == "Namespace":
        return meta["name"] == NAMESPACE
    if kind == "MachineSet":
        return meta["name"].startswith(infra + "-")
    if kind in QUEUE_OBJECTS:
        return meta["name"] in QUEUE_OBJECTS[kind]
    return meta.get("namespace") == NAMESPACE


def snapshot(dyn, s3, infra):
    """The objects site.yml could write (kind, namespace, name -> mark) and the objects of its bucket."""
    state = {}
    for group, version, kind, namespaced in KINDS:
        api = dyn.resources.get(api_version="%s/%s" % (group, version) if group else version, kind=kind)
        if kind == "MachineSet":
            items = api.get(namespace="openshift-machine-api").to_dict().get("items", [])
        elif namespaced:
            items = api.get(namespace=NAMESPACE).to_dict().get("items", [])
        else:
            items = api.get().to_dict().get("items", [])
        for item in items:
            meta = item["metadata"]
            if not _ours(kind, meta, infra):
                continue
            # Custom resources: spec generation, labels and annotations (the lab's simulator keeps
            # writing their status); core objects: resourceVersion.
            mark = meta["resourceVersion"] if not group else json.dumps(
                [meta.get("generation"), meta.get("labels"), meta.get("annotations")], sort_keys=True)
            state["%s %s/%s" % (kind, meta.get("namespace", ""), meta["name"])] = mark
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                state["s3 %s/%s" % (BUCKET, obj["Key"])] = obj["ETag"]
    except s3.exceptions.NoSuchBucket:
        pass
    return state


def lab_models():
    data = yaml.safe_load((REPO / "inventories" / PROFILE / "group_vars" / "all" / "models.yml").read_text())
    return data["llm_serving_models"]


def run_site(tmp_path, extra, env=None):
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(extra))
    proc = subprocess.run(
        [PLAYBOOK, "site.yml"] + INVENTORY + ["-e", "@%s" % path],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env or os.environ.copy(), check=False)
    return proc.returncode, proc.stdout + proc.stderr


def failure_messages(output):
    """The msg of every failed task in the default callback's YAML-ish output."""
    msgs = []
    for block in re.split(r"\n(?=fatal: |failed: )", output):
        if block.startswith(("fatal: ", "failed: ")):
            m = re.search(r"msg: ([\s\S]*?)(?:\n\S|\n\n|$)", block)
            msg = re.sub(r"\s+", " ", m.group(1)).strip() if m else block[:500]
            if len(msg) > 1 and msg[0] == msg[-1] == "'":  # a YAML single-quoted scalar
                msg = msg[1:-1].replace("''", "'")
            msgs.append(msg)
    return msgs


def _model_case(index, path, value):
    """Set models[index].<path> (dots; a None value deletes the field)."""
    def alter(models, extra):
        obj = models[index]
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj.setdefault(k, {})
        if value is None:
            obj.pop(keys[-1], None)
        else:
            obj[keys[-1]] = value
    return alter


def _variables(**given):
    def alter(models, extra):
        extra.update(given)
    return alter


def _duplicate_name(models, extra):
    models[2]["name"] = models[0]["name"]


def _no_models(models, extra):
    del models[:]


def _shared_path_two_sources(models, extra):
    models[2]["weights"]["path"] = models[0]["weights"]["path"]


def _prefix_path(models, extra):
    models[2]["weights"]["path"] = models[0]["weights"]["path"] + "-devstral"


def _registry_version_clash(models, extra):
    models[1]["registry"]["version"] = models[0]["registry"]["version"]


def _registry_description_clash(models, extra):
    models[1]["registry"]["description"] = "another description"


def _seed_fp8_on_one_l4(models, extra):
    models[1]["hardware"].update(instance_type="g6.4xlarge", gpu_product="NVIDIA-L4")
    models[1]["vllm"]["quantization"] = "fp8"


N = r"llm_serving_models\[%d\] \(%s\)"
CASES = {
    # case: (alter the models list and the extra vars, a regular expression the failure must match:
    # the variable and the field named)
    "invalid-name": (_model_case(0, "name", "Mistral_24B.bf16"), r"llm_serving_models\[0\]\.name is not a DNS-1035 label"),
    "duplicate-name": (_duplicate_name, N % (2, "mistral-3-bf16") + r": name mistral-3-bf16 is also the name of"),
    "no-models": (_no_models, r"llm_serving_models is empty: give a profile inventory"),
    "models-not-a-list": (_variables(llm_serving_models="mistral-3-bf16"), r"llm_serving_models must be a list of model entries"),
    "unknown-field": (_model_case(0, "replica", 2), N % (0, "mistral-3-bf16") + r"\.replica is not a field .*did you mean replicas"),
    "unknown-vllm-field": (_model_case(1, "vllm.tensor_paralel_size", 1), r"vllm\.tensor_paralel_size is not a field"),
    "hardware-missing": (_model_case(2, "hardware", None), N % (2, "devstral-2-bf16") + r"\.hardware is missing"),
    "unknown-instance-type": (_model_case(2, "hardware.instance_type", "g9.mega"), r"hardware\.instance_type 'g9\.mega' is not in the GPU catalog"),
    "instance-type-typo": (_model_case(2, "hardware.instance_type", "g6.12xlarg"), r"did you mean g6\.12xlarge\?"),
    "gpu-product-mismatch": (_model_case(1, "hardware.gpu_product", "NVIDIA-L4"), r"hardware\.gpu_product NVIDIA-L4 does not match"),
    "gpus-zero": (_model_case(0, "hardware.gpus", 0), r"hardware\.gpus must be at least 1, got 0"),
    "tp-zero": (_model_case(1, "vllm.tensor_parallel_size", 0), r"vllm\.tensor_parallel_size must be at least 1, got 0"),
    "tp-larger-than-gpus": (_model_case(1, "vllm.tensor_parallel_size", 8), r"vllm\.tensor_parallel_size 8 is more than hardware\.gpus 1"),
    "tp-not-an-int": (_model_case(0, "vllm.tensor_parallel_size", "four"), r"vllm\.tensor_parallel_size must be an integer"),
    "extra-args-string": (_model_case(0, "vllm.extra_args", "--enforce-eager"),
                          r"vllm\.extra_args must be a list of strings, got the string '--enforce-eager'"),
    "dtype-choice": (_model_case(0, "vllm.dtype", "fp16"), r"vllm\.dtype must be one of auto, bfloat16, float16"),
    "kv-cache-dtype-choice": (_model_case(1, "vllm.kv_cache_dtype", "int8"), r"vllm\.kv_cache_dtype must be one of"),
    "gpu-memory-utilization": (_model_case(0, "vllm.gpu_memory_utilization", 1.5), r"vllm\.gpu_memory_utilization must be at most 1\.0"),
    "max-model-len-zero": (_model_case(2, "vllm.max_model_len", 0), r"vllm\.max_model_len must be at least 16"),
    "max-model-len-beyond-model": (_model_case(0, "vllm.max_model_len", 65536),
                                   N % (0, "mistral-3-bf16") + r": vllm\.max_model_len 65536 is more than the model'?'s max_position_embeddings 32768"),
    "seed-fp8-on-one-l4": (_seed_fp8_on_one_l4, r"vllm\.quantization is fp8 but the checkpoint .* is pre-quantized"),
    "weights-source": (_model_case(0, "weights.source", "http"), r"weights\.source must be one of local, s3"),
    "weights-local-dir-missing": (_model_case(0, "weights.local_dir", "/nonexistent/weights"),
                                  r"weights\.local_dir /nonexistent/weights does not exist"),
    "weights-path": (_model_case(0, "weights.path", "a/../b"), r"weights\.path is not a usable S3 key prefix"),
    "same-path-two-sources": (_shared_path_two_sources, r"both write weights\.path s3://models/mistral-small-24b/bf16, from different sources"),
    "path-prefix-of-another": (_prefix_path, r"weights\.path s3://models/mistral-small-24b/bf16 is a prefix of devstral-2-bf16's"),
    "registry-version-clash": (_registry_version_clash, r"both register Mistral-Small-24B-Instruct-2501 version 2501-bf16, with different weights"),
    "registry-description-clash": (_registry_description_clash, r"with different registry\.description"),
    "smoke-max-tokens": (_model_case(0, "smoke_test.max_tokens", 0), r"smoke_test\.max_tokens must be at least 1"),
    "smoke-expect-regex": (_model_case(0, "smoke_test.expect", "(unclosed"), r"smoke_test\.expect is not a regular expression"),
    "namespace": (_variables(llm_serving_namespace="Private AI"), r"llm_serving_namespace 'Private AI' is not a DNS-1123 label"),
    "bucket": (_variables(llm_serving_s3_bucket="My_Models"), r"llm_serving_s3_bucket 'My_Models' is not an S3 bucket name"),
    "lock-wait": (_variables(llm_serving_lock_wait=-5), r"llm_serving_lock_wait must be a number of seconds, 0 or more"),
    "s3-endpoint": (_variables(llm_serving_s3_endpoint="minio:9000"), r"llm_serving_s3_endpoint 'minio:9000' is not an http"),
    "unknown-variable": (_variables(llm_serving_namepsace="team-a"),
                         r"llm_serving_namepsace is not a variable of this collection; rename it to llm_serving_namespace"),
    "role-option-type": (_variables(llm_serving_minio_models_part_size_mb="big"),
                         r"role minio_models: argument 'llm_serving_minio_models_part_size_mb' is of type"),
    "role-option-choice": (_variables(llm_serving_inference_services_endpoint="public"),
                           r"role inference_services: .*llm_serving_inference_services_endpoint must be one of: external, internal"),
    "only-models-unknown": (_variables(llm_serving_only_models="mistral-3-fp8, mistral-3"),
                            r"llm_serving_only_models names mistral-3, which is not in llm_serving_models; use names from"),
    "profile-unknown": (_variables(llm_serving_profile="triple-play"),
                        r"llm_serving_profile 'triple-play' is not a profile of this collection; set it to one of fp8_showcase, triple_play"),
    "missing-s3-credentials": (_variables(llm_serving_s3_access_key="", llm_serving_s3_secret_key=""),
                               r"S3 credentials are missing: set llm_serving_s3_access_key and llm_serving_s3_secret_key"),
}


def failed_task(output):
    """The name of the task that failed (the last TASK header before the first failure)."""
    head = output[:output.find("\nfatal: ") if "\nfatal: " in output else len(output)]
    names = re.findall(r"^TASK \[(.*?)\]", head, re.M)
    return names[-1] if names else ""


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_in_one_sentence_and_changes_nothing(case, lab, dyn, s3, tmp_path):
    alter, pattern = CASES[case]
    models = copy.deepcopy(lab_models())
    extra = {"llm_serving_models": models}
    alter(models, extra)
    env = os.environ.copy()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(var, None)

    before = snapshot(dyn, s3, lab["infrastructure_name"])
    rc, output = run_site(tmp_path, extra, env)
    after = snapshot(dyn, s3, lab["infrastructure_name"])

    assert rc != 0, "site.yml accepted the %s input:\n%s" % (case, output[-3000:])
    msgs = failure_messages(output)
    assert len(msgs) == 1, "expected exactly one failed task, got %d:\n%s" % (len(msgs), output[-3000:])
    assert failed_task(output).startswith("private_ai.llm_serving.preflight : "), failed_task(output)
    assert re.search(pattern, msgs[0]), "the failure does not name the field (%s): %s" % (pattern, msgs[0])
    assert "changed=0" in output, "site.yml changed something before failing:\n%s" % output[-2000:]
    created = sorted(set(after) - set(before))
    deleted = sorted(set(before) - set(after))
    assert not created and not deleted, "objects created %s, deleted %s" % (created, deleted)
    moved = [ref for ref in before if before[ref] != after.get(ref, before[ref])]
    assert not moved, "objects changed: %s" % moved


def test_every_problem_is_reported_at_once(lab, tmp_path):
    """Three problems in three places: one failure that lists all three."""
    models = copy.deepcopy(lab_models())
    extra = {"llm_serving_models": models, "llm_serving_namespace": "Private AI"}
    _model_case(0, "vllm.extra_args", "--enforce-eager")(models, extra)
    _model_case(2, "hardware.instance_type", "g9.mega")(models, extra)
    rc, output = run_site(tmp_path, extra)
    msgs = failure_messages(output)
    assert rc != 0 and len(msgs) == 1, output[-3000:]
    assert msgs[0].startswith("3 problems: "), msgs[0]
    for field in ("llm_serving_namespace", "vllm.extra_args", "hardware.instance_type"):
        assert field in msgs[0], msgs[0]


def test_bad_input_output_has_no_secret(lab, tmp_path):
    """A failing run at -vvv does not print the S3 secret key the inventory reads with a lookup."""
    models = copy.deepcopy(lab_models())
    extra = {"llm_serving_models": models}
    _model_case(1, "vllm.tensor_parallel_size", 8)(models, extra)
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(extra))
    proc = subprocess.run([PLAYBOOK, "site.yml"] + INVENTORY + ["-e", "@%s" % path, "-vvv"],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert lab["s3"]["secret_key"] not in out
    assert lab.get("s3_collection", {}).get("secret_key", "-") not in out  # what the lab inventory hands out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))


# Role-level refusals of the deploy path: the cluster is not able or not ours to change.

ROLE_PLAY = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/private_ai.llm_serving.k8s:
      kubeconfig: "{{ llm_serving_kubeconfig }}"
  tasks:
    - ansible.builtin.include_role:
        name: private_ai.llm_serving.%s
        tasks_from: %s
"""


def run_role(tmp_path, role, extra, tasks_from="main.yml", check=False):
    play = tmp_path / "play.yml"
    play.write_text(ROLE_PLAY % (role, tasks_from))
    path = tmp_path / "extra.json"
    path.write_text(json.dumps(extra))
    cmd = [PLAYBOOK, str(play)] + INVENTORY + ["-e", "@%s" % path] + (["--check", "--diff"] if check else [])
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def own_queue(lab, dyn, tmp_path_factory):
    """A ClusterQueue (8 GPUs) and LocalQueue of this module's own, made by the role itself, so
    the tests neither need site.yml to have run first nor touch the lab's `default` queues."""
    name = "bad-input-" + uuid.uuid4().hex[:6]
    # the plan's settings, as the preflight makes them (only what kueue_quota reads)
    settings = {"namespace": NAMESPACE, "cluster_queue": name, "local_queue": name}
    plan = {"settings": settings, "quota": {"nvidia-gpu-flavor": {"nvidia.com/gpu": 8, "cpu": 8, "memory": "32Gi"}}}
    rc, out = run_role(tmp_path_factory.mktemp("queue"), "kueue_quota", {"llm_serving_plan": plan})
    assert rc == 0, out[-3000:]
    yield settings
    for kind, namespace in (("LocalQueue", NAMESPACE), ("ClusterQueue", None)):
        api = dyn.resources.get(api_version="kueue.x-k8s.io/v1beta1", kind=kind)
        try:
            api.delete(name=name, namespace=namespace)
        except Exception:  # noqa: BLE001 - best effort: the name is unique to the run
            pass


def test_cluster_queue_not_ours_and_too_small_fails_with_the_shortfall(lab, dyn, s3, own_queue, tmp_path):
    plan = {"settings": own_queue, "quota": {"nvidia-gpu-flavor": {"nvidia.com/gpu": 4096, "cpu": 1, "memory": "1Gi"}}}
    before = snapshot(dyn, s3, lab["infrastructure_name"])
    rc, out = run_role(tmp_path, "kueue_quota", dict(llm_serving_plan=plan, llm_serving_kueue_manage_cluster_queue=False))
    assert rc != 0
    msgs = failure_messages(out)
    assert len(msgs) == 1 and re.search(r"need 4096 nvidia\.com/gpu, have 8, flavor nvidia-gpu-flavor", msgs[0]), out[-2000:]
    assert snapshot(dyn, s3, lab["infrastructure_name"]) == before


def test_cluster_queue_quota_is_never_lowered(lab, own_queue, tmp_path):
    plan = {"settings": own_queue, "quota": {"nvidia-gpu-flavor": {"nvidia.com/gpu": 1, "cpu": 1, "memory": "1Gi"}}}
    rc, out = run_role(tmp_path, "kueue_quota", dict(llm_serving_plan=plan), check=True)
    assert rc == 0, out[-2000:]
    assert "nominalQuota: 1\n" not in out and "changed=0" in out, out[-3000:]


def test_missing_instance_type_without_cloning_names_the_type(lab, dyn, s3, tmp_path):
    plan = {"nodes": {"g6.48xlarge": 1}, "models": {"x": {"instance_type": "g6.48xlarge", "gpu_product": "NVIDIA-L4"}}}
    before = snapshot(dyn, s3, lab["infrastructure_name"])
    rc, out = run_role(tmp_path, "gpu_machinesets", {"llm_serving_plan": plan, "llm_serving_gpu_machinesets_clone": False})
    assert rc != 0
    msgs = failure_messages(out)
    assert len(msgs) == 1 and "g6.48xlarge" in msgs[0] and "llm_serving_gpu_machinesets_clone" in msgs[0], out[-2000:]
    assert snapshot(dyn, s3, lab["infrastructure_name"]) == before
