"""serving_plan as Ansible runs it: the module (check mode, fail_on_error false, secrets hidden)
and the preflight role (validation sentences, the llm_serving_plan fact). No lab needed."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
SECRET = "s3cr3t-Unit-Test-Value-9f2c"

_spec = importlib.util.spec_from_file_location("make_synthetic_model", ROOT / "tests" / "fixtures" / "make_synthetic_model.py")
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK), reason="needs the .venv from make setup")


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    out = {}
    for preset in ("Mistral-Small-24B-Instruct-2501", "Mistral-Small-24B-Instruct-2501-FP8-dynamic", "Devstral-Small-2505"):
        out[preset] = str(base / preset)
        synth.main(["--checkpoint", preset, "--out", out[preset], "--shard-mb", "0.01", "--shards", "2", "--hf-only"])
    return out


def models(dirs):
    return [
        {"name": "mistral-24b-bf16", "display_name": "Mistral Small 24B (BF16, TP=4)",
         "weights": {"source": "local", "local_dir": dirs["Mistral-Small-24B-Instruct-2501"], "path": "mistral-small-24b/bf16"},
         "hardware": {"instance_type": "g6.12xlarge", "gpu_product": "NVIDIA-L4", "gpus": 4}, "replicas": 1,
         "vllm": {"tensor_parallel_size": 4, "dtype": "bfloat16", "max_model_len": 16384, "kv_cache_dtype": "auto",
                  "gpu_memory_utilization": 0.9, "quantization": None, "extra_args": []},
         "registry": {"model_name": "Mistral-Small-24B-Instruct-2501", "version": "2501-bf16"},
         "smoke_test": {"prompt": "Say hello.", "max_tokens": 32, "expect": None}},
        {"name": "mistral-24b-fp8", "weights": {"source": "local", "local_dir": dirs["Mistral-Small-24B-Instruct-2501-FP8-dynamic"]},
         "hardware": {"instance_type": "g6e.xlarge", "gpus": 1},
         "vllm": {"tensor_parallel_size": 1, "max_model_len": 16384, "kv_cache_dtype": "fp8"}},
        {"name": "devstral-24b-bf16", "weights": {"source": "local", "local_dir": dirs["Devstral-Small-2505"]},
         "hardware": {"instance_type": "g6.12xlarge", "gpus": 4},
         "vllm": {"tensor_parallel_size": 4, "dtype": "bfloat16", "max_model_len": 32768}},
    ]


def run(tmp_path, play, *extra, env=None):
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump(play, sort_keys=False))
    e = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
             ANSIBLE_NOCOLOR="1", AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    e.update(env or {})
    p = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                        "ansible_python_interpreter=" + sys.executable, str(book)] + list(extra),
                       cwd=str(ROOT), env=e, capture_output=True, text=True, timeout=240, check=False)
    out = json.loads(p.stdout[p.stdout.index("{"):])
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for t in out["plays"][0]["tasks"]}
    return p, tasks


def test_module_explains_the_seed_layout_in_check_mode_without_leaking_secrets(tmp_path, dirs):
    seed = {"name": "mistral-24b-fp8", "weights": {"source": "local", "local_dir": dirs["Mistral-Small-24B-Instruct-2501-FP8-dynamic"]},
            "hardware": {"instance_type": "g6.4xlarge", "gpu_product": "NVIDIA-L4", "gpus": 1},
            "vllm": {"tensor_parallel_size": 1, "max_model_len": 8192, "quantization": "fp8", "kv_cache_dtype": "fp8"}}
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "explain", "private_ai.llm_serving.serving_plan": {
            "models": [seed], "fail_on_error": False, "settings": {"s3_endpoint": "http://127.0.0.1:9"},
            "s3_access_key": "AKIAUNITTEST", "s3_secret_key": SECRET}},
        {"name": "refuse", "private_ai.llm_serving.serving_plan": {
            "models": [seed], "settings": {"s3_endpoint": "http://127.0.0.1:9"},
            "s3_access_key": "AKIAUNITTEST", "s3_secret_key": SECRET}, "ignore_errors": True},
    ]}]
    p, tasks = run(tmp_path, play, "--check", "-vvv")
    assert SECRET not in p.stdout + p.stderr
    explained = tasks["explain"]
    assert explained.get("failed") is not True and explained["changed"] is False
    assert len(explained["errors"]) == 2
    assert explained["plan"]["models"]["mistral-24b-fp8"]["ok"] is False
    refused = tasks["refuse"]
    assert refused["failed"] is True
    assert refused["msg"].startswith("2 problems: llm_serving_models[0] (mistral-24b-fp8): vllm.quantization is fp8")
    assert "NVIDIA-L40S on g6e.xlarge" in refused["msg"]


def test_preflight_role_sets_the_plan_fact_in_check_mode(tmp_path, dirs):
    play = [{"hosts": "localhost", "gather_facts": False,
             "vars": {"llm_serving_models": models(dirs), "llm_serving_s3_access_key": "AKIAUNITTEST",
                      "llm_serving_s3_secret_key": SECRET, "llm_serving_s3_endpoint": "http://127.0.0.1:9"},
             "roles": ["private_ai.llm_serving.preflight"],
             "tasks": [{"name": "show", "ansible.builtin.debug": {"var": "llm_serving_plan"}}]}]
    p, tasks = run(tmp_path, play, "--check")
    assert p.returncode == 0, p.stdout[-3000:]
    plan = tasks["show"]["llm_serving_plan"]
    assert plan["nodes"] == {"g6.12xlarge": 2, "g6e.xlarge": 1}
    assert plan["quota"]["nvidia-gpu-flavor"]["nvidia.com/gpu"] == 9
    assert SECRET not in p.stdout + p.stderr


@pytest.mark.parametrize("mutate, expected", [
    (lambda ms, v: ms[2].update(name="mistral-24b-bf16"), "llm_serving_models[2] (mistral-24b-bf16): name mistral-24b-bf16 is also"),
    (lambda ms, v: ms[0]["vllm"].update(tensor_parallel_size=8),
     "llm_serving_models[0] (mistral-24b-bf16): vllm.tensor_parallel_size 8 is more than hardware.gpus 4;"),
    (lambda ms, v: ms[1]["weights"].update(local_dir="/nonexistent/x"),
     "llm_serving_models[1] (mistral-24b-fp8).weights.local_dir /nonexistent/x does not exist"),
    (lambda ms, v: ms[1]["hardware"].update(instance_type="g9.xlarge"),
     "llm_serving_models[1] (mistral-24b-fp8): hardware.instance_type 'g9.xlarge' is not in the GPU catalog"),
    (lambda ms, v: ms[1]["hardware"].update(gpu_product="NVIDIA-L4"),
     "llm_serving_models[1] (mistral-24b-fp8): hardware.gpu_product NVIDIA-L4 does not match instance type g6e.xlarge"),
    (lambda ms, v: ms[0].update(name="Mistral"), "llm_serving_models[0].name is not a DNS-1035 label"),
    (lambda ms, v: ms[0]["vllm"].update(dtype="fp32"), "vllm.dtype must be one of auto, bfloat16, float16, got 'fp32'"),
    (lambda ms, v: v.pop("llm_serving_s3_secret_key"), "S3 credentials are missing"),
    (lambda ms, v: v.update(llm_serving_namespace="Private AI"), "llm_serving_namespace 'Private AI' is not a DNS-1123 label"),
    (lambda ms, v: v.update(llm_serving_namepsace="x"), "llm_serving_namepsace is not a variable of this collection; rename it "
                                                        "to llm_serving_namespace"),
    (lambda ms, v: v.update(llm_serving_minio_models_part_size_mb="big"),
     "role minio_models: argument 'llm_serving_minio_models_part_size_mb' is of type"),
    (lambda ms, v: v.pop("llm_serving_models"), "llm_serving_models is empty: give a profile inventory"),
])
def test_preflight_role_refuses_bad_input_with_one_sentence(tmp_path, dirs, mutate, expected):
    ms = models(dirs)
    vars_ = {"llm_serving_models": ms, "llm_serving_s3_endpoint": "http://127.0.0.1:9",
             "llm_serving_s3_access_key": "AKIAUNITTEST", "llm_serving_s3_secret_key": SECRET}
    mutate(ms, vars_)
    play = [{"hosts": "localhost", "gather_facts": False, "vars": vars_, "roles": ["private_ai.llm_serving.preflight"]}]
    p, tasks = run(tmp_path, play, "--check")
    assert p.returncode != 0
    failed = [t for t in tasks.values() if t.get("failed") or any(r.get("failed") for r in t.get("results", []))]
    assert failed, tasks
    msgs = [failed[0].get("msg", "")] + [r.get("msg", "") for r in failed[0].get("results", []) if r.get("failed")]
    assert any(expected in str(m) for m in msgs), msgs
    assert SECRET not in p.stdout + p.stderr
