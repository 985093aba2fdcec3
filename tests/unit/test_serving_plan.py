"""serving_plan: the preflight planner refuses layouts that cannot load (with the numbers and the
fixes) and plans the ones that can: vLLM args, nodes, quota and cost. Real config.json files of
Mistral-Small-24B (BF16 and FP8) and Devstral, synthetic weight directories with the real sizes."""

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import memory  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.catalog import (  # noqa: E402
    CatalogError, load_catalog)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.checkpoint import (  # noqa: E402
    read_local)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.packing import pack  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.planner import (  # noqa: E402
    build_plan, table)

_spec = importlib.util.spec_from_file_location("make_synthetic_model", ROOT / "tests" / "fixtures" / "make_synthetic_model.py")
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)

BF16, FP8, DEVSTRAL = "Mistral-Small-24B-Instruct-2501", "Mistral-Small-24B-Instruct-2501-FP8-dynamic", "Devstral-Small-2505"


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    out = {}
    for preset in (BF16, FP8, DEVSTRAL):
        out[preset] = str(base / preset)
        synth.main(["--checkpoint", preset, "--out", out[preset], "--shard-mb", "0.01", "--shards", "2", "--hf-only"])
    out["fp8-native"] = str(base / "fp8-native")
    synth.main(["--checkpoint", FP8, "--out", out["fp8-native"], "--shard-mb", "0.01", "--shards", "2", "--mistral-native"])
    return out


def model(name, local_dir, itype, tp, gpus=None, product=None, path=None, weights_exclude=None, **vllm):
    hw = {"instance_type": itype}
    if gpus is not None:
        hw["gpus"] = gpus
    if product:
        hw["gpu_product"] = product
    v = {"tensor_parallel_size": tp}
    v.update(vllm)
    weights = {"source": "local", "local_dir": local_dir}
    if path:
        weights["path"] = path
    if weights_exclude is not None:
        weights["exclude"] = weights_exclude
    return {"name": name, "weights": weights, "hardware": hw, "vllm": v}


def triple_play(dirs):
    """A triple_play-like list on Hugging Face-only copies of the checkpoints (no Mistral flags)."""
    return [
        model("mistral-24b-bf16", dirs[BF16], "g6.12xlarge", 4, 4, "NVIDIA-L4", dtype="bfloat16", max_model_len=16384),
        model("mistral-24b-fp8", dirs[FP8], "g6e.xlarge", 1, 1, "NVIDIA-L40S", max_model_len=16384, kv_cache_dtype="fp8"),
        model("devstral-24b-bf16", dirs[DEVSTRAL], "g6.12xlarge", 4, 4, dtype="bfloat16", max_model_len=32768),
    ]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """Every checkpoint fixture as published (both formats where Mistral publishes both): the
    directory llm_serving_models_root points to."""
    root = tmp_path_factory.mktemp("published")
    for name in synth.checkpoints():
        synth.main(["--checkpoint", name, "--out", str(root / name), "--shard-mb", "0.01", "--shards", "2"])
    return root


def profile(name, root):
    """The shipped profile's models list as Ansible would render it with llm_serving_models_root."""
    import yaml
    models = yaml.safe_load((ROOT / "inventories" / name / "group_vars" / "all" / "models.yml").read_text())
    for m in models["llm_serving_models"]:
        m["weights"]["local_dir"] = m["weights"]["local_dir"].replace("{{ llm_serving_models_root }}", str(root))
    return models["llm_serving_models"]


def seed_fp8_on_one_l4(dirs, **vllm):
    v = {"max_model_len": 8192, "kv_cache_dtype": "fp8"}
    v.update(vllm)
    return model("mistral-24b-fp8", dirs[FP8], "g6.4xlarge", 1, 1, "NVIDIA-L4", **v)


def only_error(models, **kw):
    plan, errors = build_plan(models, **kw)[:2]
    assert len(errors) == 1, errors
    return errors[0]


# -- the shipped profiles plan cleanly -----------------------------------------------------------

def test_triple_play_plans_cleanly_with_nodes_quota_and_cost(dirs):
    plan, errors, warnings = build_plan(triple_play(dirs))
    assert errors == []
    assert warnings == []   # every GPU used, no idle nodes
    assert plan["ok"] is True
    assert plan["nodes"] == {"g6.12xlarge": 2, "g6e.xlarge": 1}
    assert plan["gpus_total"] == 9
    assert plan["quota"]["nvidia-gpu-flavor"]["nvidia.com/gpu"] == 9
    assert plan["hourly_cost_total"] == pytest.approx(2 * 4.6016 + 1.861)
    assert sum(e["hourly_cost"] for e in plan["models"].values()) == pytest.approx(plan["hourly_cost_total"])
    bf16 = plan["models"]["mistral-24b-bf16"]
    assert bf16["vllm_args"] == ["--dtype=bfloat16", "--tensor-parallel-size=4", "--max-model-len=16384",
                                 "--gpu-memory-utilization=0.9"]
    assert (bf16["gpus"], bf16["replicas"], bf16["flavor"], bf16["gpu_product"]) == (4, 1, "nvidia-gpu-flavor", "NVIDIA-L4")
    fp8 = plan["models"]["mistral-24b-fp8"]
    assert "--kv-cache-dtype=fp8" in fp8["vllm_args"]
    assert not any(a.startswith("--quantization") for a in fp8["vllm_args"])
    assert fp8["checkpoint"]["quant_method"] == "compressed-tensors"
    dev = plan["models"]["devstral-24b-bf16"]
    assert "--max-model-len=32768" in dev["vllm_args"]
    for e in plan["models"].values():
        mem = e["memory"]
        assert mem["per_gpu_gib"] <= mem["usable_gib"]
        assert mem["per_gpu_gib"] == pytest.approx(mem["weights_gib"] + mem["kv_cache_gib"] + mem["overhead_gib"], abs=0.02)
    # Quota requests are Kubernetes quantities the kueue role can apply as they are.
    assert plan["quota"]["nvidia-gpu-flavor"]["memory"].endswith("Gi")
    lines = table(plan)
    assert any(line.startswith("mistral-24b-fp8") and "g6e.xlarge" in line for line in lines)
    assert "nodes: g6.12xlarge x2, g6e.xlarge x1" in lines


MISTRAL_FLAGS = ["--tokenizer-mode=mistral", "--config-format=mistral", "--load-format=mistral",
                 "--tool-call-parser=mistral", "--enable-auto-tool-choice"]


def test_triple_play_profile_plans_the_documents_names(published):
    """inventories/triple_play on the checkpoints as published: the document's three names, nine
    GPUs, Mistral's own format where Mistral publishes it, no --quantization on the FP8 one."""
    plan, errors, warnings = build_plan(profile("triple_play", published))
    assert (errors, warnings) == ([], [])
    assert list(plan["models"]) == ["mistral-3-bf16", "mistral-3-fp8", "devstral-2-bf16"]
    assert plan["nodes"] == {"g6.12xlarge": 2, "g6e.xlarge": 1} and plan["gpus_total"] == 9
    assert plan["hourly_cost_total"] == pytest.approx(11.0642)
    m = plan["models"]
    assert m["mistral-3-bf16"]["vllm_args"] == ["--dtype=bfloat16", "--tensor-parallel-size=4", "--max-model-len=32768",
                                                "--gpu-memory-utilization=0.9"] + MISTRAL_FLAGS
    assert m["devstral-2-bf16"]["vllm_args"] == m["mistral-3-bf16"]["vllm_args"]
    assert m["mistral-3-fp8"]["vllm_args"] == ["--dtype=bfloat16", "--tensor-parallel-size=1", "--max-model-len=32768",
                                               "--gpu-memory-utilization=0.9", "--kv-cache-dtype=fp8"]
    assert m["mistral-3-fp8"]["checkpoint"]["quant_method"] == "compressed-tensors"
    # Devstral Small 1.1 declares 128K; the document asks for 32K.
    assert m["devstral-2-bf16"]["checkpoint"]["max_position_embeddings"] == 131072


def test_fp8_showcase_profile_plans_the_documents_names(published):
    plan, errors, warnings = build_plan(profile("fp8_showcase", published))
    assert (errors, warnings) == ([], [])
    assert list(plan["models"]) == ["mistral-24b-full", "mistral-24b-fp8"]
    assert plan["nodes"] == {"g6.12xlarge": 1, "g6e.xlarge": 1} and plan["gpus_total"] == 5
    assert plan["hourly_cost_total"] == pytest.approx(6.4626)
    fp8 = plan["models"]["mistral-24b-fp8"]
    assert [a for a in fp8["vllm_args"] if a.startswith(("--quantization", "--kv-cache-dtype"))] == ["--kv-cache-dtype=fp8"]


def test_the_profiles_share_each_checkpoint_path_and_registry_version(published):
    """The same checkpoint goes to the same bucket path and is the same registered version in both
    profiles: the second profile uploads nothing and registers nothing new."""
    seen = {}
    for name in ("triple_play", "fp8_showcase"):
        for m in profile(name, published):
            key = m["weights"]["local_dir"]
            this = (m["weights"]["path"], m["registry"]["model_name"], m["registry"]["version"],
                    m["registry"]["description"], m["registry"]["owner"])
            assert seen.setdefault(key, this) == this, (name, m["name"])


def test_multimodal_mistral_checkpoint_reads_the_language_model_from_text_config(published):
    """Mistral Small 3.1/3.2 (Mistral3ForConditionalGeneration) keep the language model under
    text_config: 128K context, 40 layers of 8 KV heads."""
    d = str(published / "Mistral-Small-3.1-24B-Instruct-2503")
    plan, errors = build_plan([model("m31", d, "g6.12xlarge", 4, 4, max_model_len=131072)])[:2]
    assert errors == []
    assert plan["models"]["m31"]["checkpoint"]["max_position_embeddings"] == 131072
    errors = build_plan([model("m31", d, "g6.12xlarge", 4, 4, max_model_len=262144)])[1]
    assert "vllm.max_model_len 262144 is more than the model's max_position_embeddings 131072" in errors[0]


def test_every_profile_checkpoint_has_a_fixture():
    """`make lab-up` writes a synthetic copy of each checkpoint a profile names, from its fixture."""
    sys.path.insert(0, str(ROOT / "lab"))
    from labctl.outputs import profile_checkpoints
    used = profile_checkpoints()
    assert set(used) == {"Mistral-Small-24B-Instruct-2501", "Mistral-Small-24B-Instruct-2501-FP8-dynamic",
                         "Devstral-Small-2507"}
    assert set(used) <= set(synth.checkpoints())


def test_fp8_showcase_costs_less_than_triple_play(dirs):
    plan, errors = build_plan(triple_play(dirs)[:2])[:2]
    assert errors == []
    assert plan["nodes"] == {"g6.12xlarge": 1, "g6e.xlarge": 1}
    assert plan["hourly_cost_total"] == pytest.approx(4.6016 + 1.861)


def test_fp8_with_tp2_on_l4_fits_and_two_replicas_share_one_node(dirs):
    m = model("mistral-24b-fp8", dirs[FP8], "g6.12xlarge", 2, 2, max_model_len=16384, kv_cache_dtype="fp8")
    m["replicas"] = 2
    plan, errors, warnings = build_plan([m])
    assert errors == []
    assert plan["nodes"] == {"g6.12xlarge": 1}
    assert plan["gpus_total"] == 4
    assert plan["models"]["mistral-24b-fp8"]["hourly_cost"] == pytest.approx(4.6016)
    assert plan["node_layout"]["g6.12xlarge"][0]["replicas"] == ["mistral-24b-fp8/0", "mistral-24b-fp8/1"]


# -- the seed's layouts are refused with the explanation and the fixes ---------------------------

def test_seed_fp8_on_one_l4_is_refused_with_numbers_and_fixes(dirs):
    msg = only_error([seed_fp8_on_one_l4(dirs)])
    assert msg.startswith("llm_serving_models[0] (mistral-24b-fp8) does not fit in GPU memory on NVIDIA-L4 (g6.4xlarge)")
    assert "24.9 GB checkpoint" in msg          # ~25 GB of weights ...
    assert "20.2 GiB usable (0.90 x 22.5 GiB)" in msg   # ... on a 24 GB card at 90 %
    assert "the weights alone (23.2 GiB per GPU) exceed the usable memory" in msg  # no shorter context helps
    assert "NVIDIA-L40S on g6e.xlarge" in msg
    assert "vllm.tensor_parallel_size 2 with hardware.gpus 2 on NVIDIA-L4 (g6.12xlarge" in msg
    assert msg.count(".") >= 1 and "\n" not in msg


def test_seed_quantization_flag_on_prequantized_checkpoint_is_rejected(dirs):
    m = model("mistral-24b-fp8", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, quantization="fp8")
    msg = only_error([m])
    assert "vllm.quantization is fp8" in msg and "compressed-tensors" in msg and "set vllm.quantization to null" in msg


def test_seed_layout_explained_lists_every_problem(dirs):
    plan, errors = build_plan([seed_fp8_on_one_l4(dirs, quantization="fp8")])[:2]
    assert len(errors) == 2
    entry = plan["models"]["mistral-24b-fp8"]
    assert entry["ok"] is False
    assert entry["memory"]["weights_gib"] > entry["memory"]["usable_gib"]


def test_matching_quantization_is_dropped_with_a_warning(dirs):
    m = model("mistral-24b-fp8", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, quantization="compressed-tensors")
    plan, errors, warnings = build_plan([m])
    assert errors == []
    assert not any("--quantization" in a for a in plan["models"]["mistral-24b-fp8"]["vllm_args"])
    assert any("repeats the checkpoint" in w for w in warnings)


@pytest.mark.parametrize("args", [["--quantization", "fp8"], ["--quantization=fp8"], ["-q", "fp8"]])
def test_quantization_in_extra_args_on_prequantized_checkpoint_is_rejected(dirs, args):
    m = model("mistral-24b-fp8", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, extra_args=args)
    msg = only_error([m])
    assert "already quantized" in msg and "remove it" in msg


def test_on_the_fly_fp8_of_bf16_fits_one_l40s_and_gets_the_flag(dirs):
    m = model("mistral-24b-otf", dirs[BF16], "g6e.xlarge", 1, max_model_len=8192, quantization="fp8")
    plan, errors = build_plan([m])[:2]
    assert errors == []
    e = plan["models"]["mistral-24b-otf"]
    assert "--quantization=fp8" in e["vllm_args"]
    # Linear layers in one byte, embeddings in two: about the size of the FP8 checkpoint.
    assert e["memory"]["weights_gib"] == pytest.approx(24934150144 / 2**30, rel=0.03)


def test_planned_flags_in_extra_args_are_rejected(dirs):
    m = model("mistral-24b-bf16", dirs[BF16], "g6.12xlarge", 4, max_model_len=8192,
              extra_args=["--tensor-parallel-size=2", "--enable-prefix-caching"])
    msg = only_error([m])
    assert "--tensor-parallel-size" in msg and "vllm.tensor_parallel_size" in msg


def test_kv_cache_fp8_needs_compute_capability_8_9(dirs):
    for itype in ("g5.12xlarge", "p4d.24xlarge"):
        m = model("mistral-24b-bf16", dirs[BF16], itype, 4, max_model_len=8192, kv_cache_dtype="fp8")
        msg = only_error([m])
        assert "kv_cache_dtype fp8 needs compute capability 8.9" in msg and itype in msg


def test_tp_must_divide_attention_heads(dirs):
    m = model("mistral-24b-bf16", dirs[BF16], "g6.48xlarge", 3, max_model_len=8192)
    msg = only_error([m])
    assert "does not divide the model's 32 attention heads" in msg and "1, 2, 4, 8" in msg


def test_max_model_len_above_max_position_embeddings_is_rejected(dirs):
    msg = only_error([model("mistral-24b-bf16", dirs[BF16], "g6.12xlarge", 4, max_model_len=65536)])
    assert "max_model_len 65536 is more than the model's max_position_embeddings 32768" in msg
    plan, errors = build_plan([model("devstral", dirs[DEVSTRAL], "g6.12xlarge", 4, max_model_len=65536)])[:2]
    assert errors == []


def test_unset_max_model_len_plans_the_model_maximum_and_says_so(dirs):
    plan, errors, warnings = build_plan([model("devstral", dirs[DEVSTRAL], "g6.12xlarge", 4)])
    assert plan["models"]["devstral"]["max_model_len"] == 131072
    assert any("not set" in w and "131072" in w for w in warnings)


def test_kv_cache_overflow_suggests_fp8_kv_and_the_longest_context_that_fits(dirs):
    m = model("devstral", dirs[DEVSTRAL], "g6.12xlarge", 4, max_model_len=131072, gpu_memory_utilization=0.75)
    msg = only_error([m])
    assert "vllm.kv_cache_dtype fp8" in msg
    fit = int(msg.split("vllm.max_model_len ")[1].split(" ")[0])
    assert 8192 < fit < 131072 and fit % 256 == 0
    ok = model("devstral", dirs[DEVSTRAL], "g6.12xlarge", 4, max_model_len=fit, gpu_memory_utilization=0.75)
    assert build_plan([ok])[1] == []
    too_long = model("devstral", dirs[DEVSTRAL], "g6.12xlarge", 4, max_model_len=fit + 512, gpu_memory_utilization=0.75)
    assert len(build_plan([too_long])[1]) == 1


def test_bf16_on_one_l4_suggests_the_cheapest_fitting_layouts(dirs):
    msg = only_error([model("mistral-24b-bf16", dirs[BF16], "g6.4xlarge", 1, max_model_len=8192)])
    # 44 GiB of BF16 weights: no single 24/48 GB GPU; A100 80GB or H100, or TP 4 on L4.
    assert "a bigger GPU: NVIDIA-A100-SXM4-80GB on p4de.24xlarge" in msg
    assert "vllm.tensor_parallel_size 4 with hardware.gpus 4 on NVIDIA-L4 (g6.12xlarge" in msg


def test_mostly_idle_gpu_gets_a_warning_with_a_cheaper_layout(dirs):
    plan, errors, warnings = build_plan([model("mistral-24b-bf16", dirs[BF16], "g6e.12xlarge", 4, max_model_len=8192)])
    assert errors == []
    assert any("uses only" in w and "vllm.tensor_parallel_size 2 would also fit" in w for w in warnings)


def test_pipeline_parallel_when_gpus_exceed_tp(dirs):
    plan, errors, warnings = build_plan([model("bf16", dirs[BF16], "g6.12xlarge", 2, 4, max_model_len=8192)])
    assert errors == []
    assert "--pipeline-parallel-size=2" in plan["models"]["bf16"]["vllm_args"]
    assert any("pipeline stages" in w for w in warnings)


def test_unused_gpus_on_a_packed_node_are_reported(dirs):
    m = model("mistral-24b-fp8", dirs[FP8], "g6.12xlarge", 2, 2, max_model_len=8192)
    plan, errors, warnings = build_plan([m])
    assert plan["hourly_cost_unallocated"] == pytest.approx(4.6016 / 2)
    assert any("2 of 4 GPUs unused" in w for w in warnings)


# -- Mistral-native files ------------------------------------------------------------------------

MISTRAL_ARGS = ["--tokenizer-mode", "mistral", "--config-format=mistral", "--load-format", "mistral"]
MISTRAL_FORMAT = ["--tokenizer-mode=mistral", "--config-format=mistral", "--load-format=mistral"]
MISTRAL_TOOLS = ["--tool-call-parser=mistral", "--enable-auto-tool-choice"]


def test_the_checkpoint_decides_the_mistral_flags_not_the_name(dirs):
    """Mistral's model cards run vLLM with the mistral tokenizer, config and loader and mistral tool
    calling; that needs Mistral's native files, which the Hugging Face-only FP8 checkpoint lacks."""
    plan, errors = build_plan([
        model("any-name", dirs["fp8-native"], "g6e.xlarge", 1, max_model_len=8192),
        model("mistral-fp8", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192)])[:2]
    assert errors == []
    native, hf = plan["models"]["any-name"], plan["models"]["mistral-fp8"]
    assert native["vllm_args"][-5:] == MISTRAL_FORMAT + MISTRAL_TOOLS and native["tool_calling"] is True
    assert native["checkpoint"]["format"] == "mistral"
    assert not any("mistral" in a for a in hf["vllm_args"]) and hf["tool_calling"] is False
    assert hf["checkpoint"]["format"] == "huggingface"
    # The same weights exist twice in a Mistral repository; they are counted once.
    assert native["checkpoint"]["weight_bytes"] == 24934150144


def test_only_the_set_vllm_loads_is_uploaded(dirs):
    plan = build_plan([model("n", dirs["fp8-native"], "g6e.xlarge", 1, max_model_len=8192),
                       model("h", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192),
                       model("own", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192,
                             weights_exclude=["*.md"])])[0]
    assert plan["models"]["n"]["weights"]["exclude"] == [
        "model-*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin"]
    assert plan["models"]["h"]["weights"]["exclude"] == ["consolidated*.safetensors", "consolidated*.pth"]
    assert plan["models"]["own"]["weights"]["exclude"] == ["*.md"]


def test_format_and_tool_calling_fields(dirs):
    errors = build_plan([model("fp8", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, format="mistral")])[1]
    assert errors == ["llm_serving_models[0] (fp8): vllm.format is mistral but %s has no params.json, consolidated*.safetensors, tekken.json "
                      "(or tokenizer.model.v*), so vLLM cannot load it that way; upload Mistral's native files next "
                      "to the weights or set vllm.format auto." % dirs[FP8]]
    plan, errors = build_plan([model("n", dirs["fp8-native"], "g6e.xlarge", 1, max_model_len=8192,
                                     format="huggingface", tool_calling=False)])[:2]
    assert errors == [] and not any("mistral" in a for a in plan["models"]["n"]["vllm_args"])
    errors = build_plan([model("h", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, tool_calling=True)])[1]
    assert errors[0].startswith("llm_serving_models[0] (h): vllm.tool_calling is true but the checkpoint runs in the Hugging Face format")
    plan, errors = build_plan([model("h", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, tool_calling=True,
                                     extra_args=["--chat-template=/mnt/models/tool_chat_template.jinja"])])[:2]
    assert errors == [] and plan["models"]["h"]["vllm_args"][-3:-1] == MISTRAL_TOOLS


def test_mistral_flags_in_extra_args_point_at_the_fields(dirs):
    errors = build_plan([model("fp8", dirs["fp8-native"], "g6e.xlarge", 1, max_model_len=8192,
                               extra_args=MISTRAL_ARGS + ["--enable-auto-tool-choice"])])[1]
    assert len(errors) == 4 and all("set that field instead" in e for e in errors)
    assert any("--load-format, which the plan derives from vllm.format" in e for e in errors)


def test_a_weights_path_that_prefixes_another_is_refused(dirs):
    a = model("a", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, path="mistral/fp8")
    b = model("b", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, path="mistral/fp8-dynamic")
    errors = build_plan([a, b])[1]
    assert any(e.startswith("llm_serving_models[0] (a): weights.path s3://models/mistral/fp8 is a prefix of b's "
                            "s3://models/mistral/fp8-dynamic") for e in errors), errors


# -- weights and config reading ------------------------------------------------------------------

def test_weight_bytes_from_files_when_no_index(tmp_path, dirs):
    d = tmp_path / "noindex"
    d.mkdir()
    (d / "config.json").write_text(Path(dirs[BF16], "config.json").read_text())
    for i, size in enumerate((3000, 5000)):
        synth.write_safetensors(str(d / ("model-%d.safetensors" % i)), "t%d" % i, size)
    synth.write_safetensors(str(d / "consolidated.safetensors"), "c", 9000)
    ck = read_local(str(d))
    assert ck.index_total_size is None
    assert ck.weight_bytes() == sum(os.path.getsize(d / ("model-%d.safetensors" % i)) for i in range(2))
    assert ck.weight_bytes(mistral_format=True) == os.path.getsize(d / "consolidated.safetensors")


def test_missing_config_is_reported_with_the_location(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    msg = only_error([model("empty", str(d), "g6e.xlarge", 1, max_model_len=4096)])
    assert msg.startswith("llm_serving_models[0] (empty): no config.json") and str(d) in msg


class FakeS3:
    """The reader interface of s3_sync (list_objects, get) over a local directory."""

    def __init__(self, directory, prefix):
        self.files = {prefix + "/" + n: Path(directory, n) for n in sorted(os.listdir(directory))}
        self.gets = []

    def list_objects(self, bucket, prefix):
        return dict((k, {"size": f.stat().st_size, "etag": ""}) for k, f in self.files.items()
                    if k.startswith(prefix))

    def get(self, bucket, key):
        self.gets.append(key)
        return self.files[key].read_bytes()

    def close(self):
        pass


def test_s3_source_reads_listing_and_small_files_only(dirs):
    fake = FakeS3(dirs[FP8], "mistral-small-24b/fp8")
    m = {"name": "mistral-24b-fp8", "weights": {"source": "s3", "bucket": "models", "path": "mistral-small-24b/fp8"},
         "hardware": {"instance_type": "g6e.xlarge"}, "vllm": {"max_model_len": 8192}}
    plan, errors = build_plan([m], reader_factory=lambda: fake)[:2]
    assert errors == []
    assert plan["models"]["mistral-24b-fp8"]["checkpoint"]["location"] == "s3://models/mistral-small-24b/fp8/"
    assert plan["models"]["mistral-24b-fp8"]["checkpoint"]["weight_bytes"] == 24934150144
    assert not any(k.endswith(".safetensors") for k in fake.gets)


# -- input validation: one sentence naming the field ---------------------------------------------

@pytest.mark.parametrize("mutate, expected", [
    (lambda m: m.update(name="Mistral_24B"), "llm_serving_models[0].name is not a DNS-1035 label"),
    (lambda m: m.update(name="a" * 64), "is not a DNS-1035 label"),
    (lambda m: m["vllm"].update(tensor_parallel_size=8), "vllm.tensor_parallel_size 8 is more than hardware.gpus 4"),
    (lambda m: m["hardware"].update(instance_type="g7.huge"), "hardware.instance_type 'g7.huge' is not in the GPU catalog"),
    (lambda m: m["hardware"].update(gpu_product="NVIDIA-L40S"),
     "hardware.gpu_product NVIDIA-L40S does not match instance type g6.12xlarge, which has NVIDIA-L4"),
    (lambda m: m["hardware"].update(instance_type="g6.4xlarge"), "hardware.gpus 4 is more than the 1 GPU(s) of one g6.4xlarge node"),
    (lambda m: m["weights"].pop("local_dir"), "weights.source is local but weights.local_dir is not set"),
    (lambda m: m["weights"].update(local_dir="/nonexistent/model"), "weights.local_dir /nonexistent/model does not exist"),
    (lambda m: m["vllm"].update(gpu_memory_utilization=1.5), "vllm.gpu_memory_utilization must be at most 1.0, got 1.5"),
    # a string where a list belongs is refused, not taken apart into characters
    (lambda m: m["vllm"].update(extra_args="--enforce-eager"),
     "vllm.extra_args must be a list of strings, got the string '--enforce-eager'; write it as a YAML list"),
    # a zero is refused, not replaced by a default
    (lambda m: m["vllm"].update(tensor_parallel_size=0), "vllm.tensor_parallel_size must be at least 1, got 0"),
    (lambda m: m["hardware"].update(gpus=0), "hardware.gpus must be at least 1, got 0"),
    (lambda m: m["vllm"].update(max_model_len=0), "vllm.max_model_len must be at least 16, got 0"),
    (lambda m: m["vllm"].update(max_model_len="lots"), "vllm.max_model_len must be an integer, got the string 'lots'"),
    (lambda m: m["vllm"].update(tensor_parallel_size=True), "vllm.tensor_parallel_size must be an integer, got bool True"),
    (lambda m: m["vllm"].update(tensor_paralel_size=2),
     "vllm.tensor_paralel_size is not a field of a model entry; did you mean tensor_parallel_size?"),
    (lambda m: m.update(replica=2), "llm_serving_models[0] (mistral-24b-bf16).replica is not a field of a model entry; "
                                    "did you mean replicas?"),
    (lambda m: m.update(replicas=-1), "replicas must be at least 0, got -1"),
    (lambda m: m.update(hardware=None), "hardware is missing; it is required"),
    (lambda m: m.update(vllm=["--dtype"]), "vllm must be a mapping of its fields"),
    (lambda m: m["vllm"].update(dtype="fp16"), "vllm.dtype must be one of auto, bfloat16, float16, got 'fp16'"),
    (lambda m: m["vllm"].update(tool_calling="sometimes"), "vllm.tool_calling must be auto, true or false"),
    (lambda m: m["weights"].update(source="http"), "weights.source must be one of local, s3, got 'http'"),
    (lambda m: m["weights"].update(path="a/../b"), "weights.path is not a usable S3 key prefix"),
    (lambda m: m["weights"].update(exclude="*.md"), "weights.exclude must be a list of strings, got the string '*.md'"),
    (lambda m: m.update(smoke_test={"max_tokens": 0}), "smoke_test.max_tokens must be at least 1, got 0"),
    (lambda m: m.update(smoke_test={"expect": "("}), "smoke_test.expect is not a regular expression"),
    (lambda m: m.update(smoke_test={"promt": "hi"}), "smoke_test.promt is not a field of a model entry; did you mean prompt?"),
    (lambda m: m.update(registry={"version": ["1"]}), "registry.version must be a string or a number, got list"),
    (lambda m: m.update(registry={"custom_properties": "x"}), "registry.custom_properties must be a mapping"),
    (lambda m: m.update(display_name=""), "display_name must be a non-empty string"),
])
def test_input_validation_names_the_field(dirs, mutate, expected):
    m = model("mistral-24b-bf16", dirs[BF16], "g6.12xlarge", 4, 4, "NVIDIA-L4", max_model_len=8192)
    mutate(m)
    plan, errors = build_plan([m])[:2]
    assert plan is None
    assert len(errors) == 1 and expected in errors[0], errors


def test_duplicate_names_are_rejected(dirs):
    models = triple_play(dirs)
    models[2]["name"] = "mistral-24b-bf16"
    models[2]["weights"]["path"] = "devstral"
    models[2]["registry"] = {"model_name": "Devstral"}
    plan, errors = build_plan(models)[:2]
    assert errors == ["llm_serving_models[2] (mistral-24b-bf16): name mistral-24b-bf16 is also the name of "
                      "llm_serving_models[0] (mistral-24b-bf16); each name becomes an InferenceService and must be unique."]


def test_every_problem_of_every_entry_is_reported_at_once(dirs):
    models = triple_play(dirs)
    models[0]["vllm"]["extra_args"] = "--foo"
    models[1]["vllm"]["tensor_parallel_size"] = 0
    models[2]["hardware"]["instance_type"] = "g6.12xlarg"
    errors = build_plan(models)[1]
    assert len(errors) == 3, errors
    assert "did you mean g6.12xlarge?" in errors[2]


def test_two_sources_writing_one_path_is_data_loss_and_refused(dirs):
    a = model("a", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192, path="shared")
    b = model("b", dirs[BF16], "g6.12xlarge", 4, max_model_len=8192, path="shared/")
    errors = build_plan([a, b])[1]
    assert errors == ["llm_serving_models[0] (a) and llm_serving_models[1] (b): both write weights.path s3://models/shared, "
                      "from different sources (%s, %s); the second upload would overwrite the first's weights: give each "
                      "model a path of its own." % (dirs[FP8], dirs[BF16])]
    # the same checkpoint served twice (here on two GPU types) shares its weights
    c = model("c", dirs[FP8], "g6.12xlarge", 2, 2, max_model_len=8192, path="shared")
    assert build_plan([a, c])[1] == []


def test_registry_entries_that_would_overwrite_each_other_are_refused(dirs):
    a = model("a", dirs[BF16], "g6.12xlarge", 4, max_model_len=8192)
    b = model("b", dirs[FP8], "g6e.xlarge", 1, max_model_len=8192)
    a["registry"] = {"model_name": "Mistral", "version": "1", "description": "Mistral Small"}
    b["registry"] = {"model_name": "Mistral", "version": 1, "description": "Mistral Small"}
    errors = build_plan([a, b])[1]
    assert errors == ["llm_serving_models[0] (a) and llm_serving_models[1] (b) both register Mistral version 1, with "
                      "different weights (s3://models/a?endpoint=&defaultRegion=us-east-1, "
                      "s3://models/b?endpoint=&defaultRegion=us-east-1): the second would overwrite the first's; give one "
                      "another registry.version."]
    b["registry"].update(version="fp8", description="FP8")
    errors = build_plan([a, b])[1]
    assert errors == ["llm_serving_models[0] (a) and llm_serving_models[1] (b) register the same model Mistral with "
                      "different registry.description ('Mistral Small', 'FP8'); give them the same description (it "
                      "belongs to the registered model, not to a version)."]


def test_empty_or_missing_models_list_names_the_profile():
    for models in (None, []):
        assert build_plan(models)[1] == [
            "llm_serving_models is empty: give a profile inventory before the cluster's, e.g. ansible-playbook site.yml "
            "-i inventories/triple_play -i inventories/lab, or set llm_serving_models (docs/models.md)."]
    assert "must be a list of model entries" in build_plan({"name": "x"})[1][0]


def test_the_plan_carries_every_field_the_roles_read(published):
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    settings, errors = settings_mod.normalize({"s3_endpoint": "http://minio.minio.svc:9000"})
    assert errors == []
    plan = build_plan(profile("triple_play", published), settings=settings)[0]
    assert plan["settings"]["namespace"] == "private-ai" and plan["settings"]["connection_endpoint"] == "http://minio.minio.svc:9000"
    assert plan["order"] == ["mistral-3-bf16", "mistral-3-fp8", "devstral-2-bf16"]
    e = plan["models"]["mistral-3-fp8"]
    assert e["display_name"] == "Mistral Small 3 24B (FP8, 1x L40S)" and e["queue"] == "default"
    assert e["weights"] == {"source": "local", "local_dir": str(published / "Mistral-Small-24B-Instruct-2501-FP8-dynamic"),
                            "bucket": "models", "path": "mistral-small-24b/fp8", "uri": "s3://models/mistral-small-24b/fp8",
                            "exclude": ["consolidated*.safetensors", "consolidated*.pth"]}
    assert e["registry"]["artifact_uri"] == ("s3://models/mistral-small-24b/fp8?endpoint=http%3A%2F%2Fminio.minio.svc%3A9000"
                                             "&defaultRegion=us-east-1")
    assert e["registry"]["version"] == "2501-fp8-dynamic" and e["registry"]["format_name"] == "vLLM"
    assert e["smoke_test"] == {"prompt": "Explain Kubernetes GPU scheduling in 3 sentences.", "max_tokens": 64, "expect": None}
    inputs_only = build_plan(profile("triple_play", published), settings=settings, read_checkpoints=False)[0]
    assert inputs_only["complete"] is False and "vllm_args" not in inputs_only["models"]["mistral-3-fp8"]
    assert inputs_only["models"]["mistral-3-fp8"]["weights"]["uri"] == e["weights"]["uri"]


def test_settings_are_validated_with_the_variable_named():
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    settings, errors = settings_mod.normalize({"namespace": "Private_AI", "s3_bucket": "My Bucket", "s3_endpoint": "minio:9000",
                                               "local_queue": 7, "runtime": "x"})
    assert errors == [
        "llm_serving_runtime is not a setting of this collection; known: " + ", ".join(
            "llm_serving_" + k for k in sorted(list(settings_mod.SETTINGS) + list(settings_mod.OTHER_SETTINGS))) + ".",
        "llm_serving_namespace 'Private_AI' is not a DNS-1123 label (lower case letters, digits and '-', at most 63).",
        "llm_serving_s3_endpoint 'minio:9000' is not an http:// or https:// URL of the S3 endpoint (MinIO), as the "
        "controller reaches it.",
        "llm_serving_s3_bucket 'My Bucket' is not an S3 bucket name (3-63 lower case letters, digits, '.' and '-').",
        "llm_serving_local_queue must be a LocalQueue name (DNS-1123 subdomain), got int 7.",
    ]
    assert settings_mod.normalize({})[1] == [
        "llm_serving_s3_endpoint is not set; set it to an http:// or https:// URL "
        "of the S3 endpoint (MinIO), as the controller reaches it."]


@pytest.mark.parametrize("given, expected", [(None, True), ("", True), (True, True), (False, False),
                                             ("false", False), ("Yes", True), ("off", False)])
def test_enable_auth_is_on_by_default_and_a_boolean(given, expected):
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    settings, errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "enable_auth": given})
    assert errors == [] and settings["enable_auth"] is expected


def test_enable_auth_that_is_not_a_boolean_is_one_sentence():
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    settings, errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "enable_auth": "sometimes"})
    assert errors == ["llm_serving_enable_auth must be true or false, got str 'sometimes'; set it to true or false."]
    assert settings["enable_auth"] is True


def test_the_old_enable_auth_variable_names_its_replacement():
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    given, errors = settings_mod.split_variables({"llm_serving_inference_services_enable_auth": False}, known=())
    assert given == {} and errors == ["llm_serving_inference_services_enable_auth is no longer read; set "
                                      "llm_serving_enable_auth instead (it applies to every InferenceService)."]


def test_s3_source_without_credentials_is_rejected(monkeypatch):
    m = {"name": "x", "weights": {"source": "s3", "path": "x"}, "hardware": {"instance_type": "g6e.xlarge"}}
    plan, errors = build_plan([m], s3={"endpoint_url": "http://127.0.0.1:1"})[:2]
    assert len(errors) == 1 and "no S3 credentials" in errors[0] and "llm_serving_s3_access_key" in errors[0]


# -- catalog ----------------------------------------------------------------------------------------

def test_catalog_override_changes_prices_and_adds_instance_types(dirs):
    override = {"instance_types": {"g6e.xlarge": {"hourly_cost": 2.0},
                                   "onprem-l40s": {"gpu_product": "NVIDIA-L40S", "gpus": 2, "vcpu": 32,
                                                   "memory_gib": 256, "hourly_cost": 0.5}}}
    models = triple_play(dirs)
    models[1]["hardware"] = {"instance_type": "onprem-l40s"}
    plan, errors = build_plan(models, catalog_override=override)[:2]
    assert errors == []
    assert plan["nodes"]["onprem-l40s"] == 1
    assert plan["models"]["mistral-24b-fp8"]["hourly_cost"] == pytest.approx(0.25)


@pytest.mark.parametrize("override, expected", [
    ({"instance_types": {"g6.xlarge": {"price": 1}}}, "catalog.instance_types.g6.xlarge has unknown field 'price'"),
    ({"instance_types": {"new": {"gpus": 1}}}, "catalog.instance_types.new is new and lacks"),
    ({"gpu_products": {"NVIDIA-L4": None}}, "gpu_product NVIDIA-L4 is not in catalog.gpu_products"),
    ({"gpus": {}}, "catalog has unknown section(s) gpus"),
])
def test_bad_catalog_override_is_one_sentence(override, expected):
    with pytest.raises(CatalogError) as e:
        load_catalog(override)
    assert expected in str(e.value)


def test_shipped_catalog_matches_node_reported_memory():
    c = load_catalog()
    assert c["gpu_products"]["NVIDIA-L4"]["memory_mib"] == 23034
    assert c["gpu_products"]["NVIDIA-L40S"]["memory_mib"] == 46068
    assert c["instance_types"]["g6.4xlarge"] == {"gpu_product": "NVIDIA-L4", "gpus": 1, "vcpu": 16,
                                                 "memory_gib": 64, "hourly_cost": 1.3232}
    assert c["instance_types"]["g6.12xlarge"]["gpus"] == 4
    assert c["instance_types"]["g6e.xlarge"]["hourly_cost"] == 1.861


# -- memory model and packing ------------------------------------------------------------------------

def test_kv_cache_bytes_per_token_follow_the_config():
    cfg = json.loads((ROOT / "tests/fixtures/checkpoints/Mistral-Small-24B-Instruct-2501/config.json").read_text())
    shape = memory.ModelShape(cfg)
    # 2 (K,V) x 40 layers x 8 KV heads x 128 x 2 bytes
    assert memory.kv_bytes_per_token(shape, 1, 1, "auto", "bfloat16") == 163840
    assert memory.kv_bytes_per_token(shape, 4, 1, "auto", "bfloat16") == 40960
    assert memory.kv_bytes_per_token(shape, 4, 1, "fp8", "bfloat16") == 20480
    # More GPUs than KV heads: each GPU keeps one replicated head.
    assert memory.kv_bytes_per_token(shape, 16, 1, "auto", "bfloat16") == 2 * 40 * 1 * 128 * 2


def test_first_fit_decreasing_packs_replicas_onto_nodes():
    nodes = pack([("a", 1), ("b", 4), ("c", 2), ("d", 1), ("e", 2)], 4)
    assert [n["replicas"] for n in nodes] == [["b"], ["c", "e"], ["a", "d"]]
    assert [n["gpus_free"] for n in nodes] == [0, 0, 2]


def test_synthetic_model_is_deterministic_and_valid(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        synth.main(["--checkpoint", FP8, "--out", str(d), "--shard-mb", "0.05", "--mistral-native"])
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    raw = (a / "model-00001-of-00006.safetensors").read_bytes()
    hlen = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + hlen])
    start, end = header["synthetic.shard_00001"]["data_offsets"]
    assert len(raw) == 8 + hlen + end
    index = json.loads((a / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == 24934150144


def _s3_listing(prefix, directory):
    contents = "".join("<Contents><Key>%s%s</Key><Size>%d</Size><ETag>&quot;e&quot;</ETag></Contents>"
                       % (prefix, n, os.path.getsize(os.path.join(directory, n))) for n in sorted(os.listdir(directory)))
    return ('<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s'
            "<IsTruncated>false</IsTruncated></ListBucketResult>" % contents).encode()


def test_s3_is_read_by_the_standard_library_reader_of_s3_model_sync(dirs, scripted_http):
    """The reader the module builds for an endpoint (s3_sync.client.make_reader): one listing and
    GETs of the small files, against a scripted S3 endpoint."""
    scripted_http.add("GET", "/models/", (200, _s3_listing("bf16/", dirs[BF16]), {}))
    for name in ("model.safetensors.index.json", "config.json"):
        scripted_http.add("GET", "/models/bf16/" + name, (200, Path(dirs[BF16], name).read_bytes(), {}))
    m = {"name": "bf16", "weights": {"source": "s3", "bucket": "models", "path": "/bf16/"},
         "hardware": {"instance_type": "g6.12xlarge", "gpus": 4},
         "vllm": {"tensor_parallel_size": 4, "max_model_len": 8192}}
    plan, errors = build_plan([m], s3={"endpoint_url": scripted_http.url, "access_key": "AKIAUNITTEST",
                                       "secret_key": "unit-test-secret"})[:2]
    assert errors == []
    assert plan["models"]["bf16"]["checkpoint"]["weight_bytes"] == 47144806400
    assert sorted(p for dummy, p, dummy in scripted_http.seen if "?" not in p) == [
        "/models/bf16/config.json", "/models/bf16/model.safetensors.index.json"]


def test_s3_access_denied_names_the_model_and_the_location(scripted_http):
    denied = b"<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>"
    scripted_http.add("GET", "/models/", (403, denied, {}))
    m = {"name": "bf16", "weights": {"source": "s3", "bucket": "models", "path": "bf16"},
         "hardware": {"instance_type": "g6.12xlarge", "gpus": 4}, "vllm": {"tensor_parallel_size": 4}}
    errors = build_plan([m], s3={"endpoint_url": scripted_http.url, "access_key": "AKIAUNITTEST",
                                 "secret_key": "unit-test-secret"})[1]
    assert errors == ["llm_serving_models[0] (bf16): cannot read s3://models/bf16/ (access denied (AccessDenied); "
                      "the credentials lack the S3 permission for bucket models)."]
    assert len(scripted_http.seen) == 1  # a refusal is not retried


def test_s3_missing_bucket_is_one_sentence(scripted_http):
    scripted_http.add("GET", "/models/", (404, b"<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>", {}))
    m = {"name": "bf16", "weights": {"source": "s3", "bucket": "models", "path": "bf16"},
         "hardware": {"instance_type": "g6.12xlarge", "gpus": 4}, "vllm": {"tensor_parallel_size": 4}}
    errors = build_plan([m], s3={"endpoint_url": scripted_http.url, "access_key": "AK", "secret_key": "SK"})[1]
    assert errors == ["llm_serving_models[0] (bf16): bucket models does not exist (looked for s3://models/bf16/)."]


def test_planning_does_not_import_boto3():
    """The preflight reads S3 with the standard-library reader: no 0.5 s boto3 import."""
    import subprocess
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; "
            "import ansible_collections.private_ai.llm_serving.plugins.modules.serving_plan; "
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(root / "collections")))
    assert out.stdout.strip() == "[]"


def test_tensor_parallel_size_defaults_to_the_gpus_of_a_replica(dirs):
    m = {"name": "bf16", "weights": {"source": "local", "local_dir": dirs[BF16]},
         "hardware": {"instance_type": "g6.12xlarge", "gpus": 4}, "vllm": {"max_model_len": 8192}}
    plan, errors = build_plan([m])[:2]
    assert errors == []
    assert plan["models"]["bf16"]["tensor_parallel_size"] == 4
    assert plan["models"]["bf16"]["pipeline_parallel_size"] == 1


def test_only_models_plans_the_subset_after_validating_the_whole_list(published):
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    for given in ("mistral-3-fp8, devstral-2-bf16", ["mistral-3-fp8", "devstral-2-bf16"], "mistral-3-fp8 devstral-2-bf16"):
        settings, errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "only_models": given})
        assert errors == [] and settings["only_models"] == ["mistral-3-fp8", "devstral-2-bf16"]
        plan, errors = build_plan(profile("triple_play", published), settings=settings)[:2]
        assert errors == [] and plan["order"] == ["mistral-3-fp8", "devstral-2-bf16"]
        assert set(plan["models"]) == {"mistral-3-fp8", "devstral-2-bf16"}
        # one g6e.xlarge for the FP8 model and one g6.12xlarge for Devstral: the BF16 Mistral's node is not planned
        assert plan["nodes"] == {"g6e.xlarge": 1, "g6.12xlarge": 1} and plan["gpus_total"] == 5
    settings = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "only_models": ""})[0]
    assert build_plan(profile("triple_play", published), settings=settings)[0]["order"] == [
        "mistral-3-bf16", "mistral-3-fp8", "devstral-2-bf16"]
    # a bad entry outside the subset still fails: the whole list is validated
    models = profile("triple_play", published)
    models[0]["replicas"] = -1
    settings = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "only_models": ["mistral-3-fp8"]})[0]
    errors = build_plan(models, settings=settings)[1]
    assert len(errors) == 1 and "llm_serving_models[0] (mistral-3-bf16)" in errors[0]


def test_the_weights_must_be_there_only_for_the_chosen_models_of_a_run_that_reads_them(tmp_path, published):
    # A smoke test, teardown or diagnostics job (read_checkpoints false) runs without the weights
    # mounted; a site.yml run needs the checkpoints of the models it plans, not of the others.
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    missing = tmp_path / "not-mounted"
    every = settings_mod.normalize({"s3_endpoint": "http://minio:9000"})[0]
    plan, errors = build_plan(profile("triple_play", missing), settings=every, read_checkpoints=False)[:2]
    assert errors == [] and plan["order"] == ["mistral-3-bf16", "mistral-3-fp8", "devstral-2-bf16"]
    errors = build_plan(profile("triple_play", missing), settings=every)[1]
    assert [e.split(".weights.local_dir")[0] for e in errors] == [
        "llm_serving_models[0] (mistral-3-bf16)", "llm_serving_models[1] (mistral-3-fp8)",
        "llm_serving_models[2] (devstral-2-bf16)"], errors
    assert errors[1] == ("llm_serving_models[1] (mistral-3-fp8).weights.local_dir %s does not exist on the controller "
                         "(or is not a directory)." % (missing / "Mistral-Small-24B-Instruct-2501-FP8-dynamic"))
    # only the FP8 model's checkpoint is there: planning it alone needs nothing else
    models = profile("triple_play", published)
    for m in models:
        if m["name"] != "mistral-3-fp8":
            m["weights"]["local_dir"] = str(missing / m["name"])
    fp8 = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "only_models": "mistral-3-fp8"})[0]
    plan, errors = build_plan(models, settings=fp8)[:2]
    assert errors == [] and plan["complete"] and plan["order"] == ["mistral-3-fp8"]
    assert len(build_plan(models, settings=every)[1]) == 2


def test_only_models_refuses_unknown_names_and_wrong_types_naming_the_variable(published):
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    settings, errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "only_models": "mistral-3-fp8,mistral-3"})
    assert errors == []
    plan, errors = build_plan(profile("triple_play", published), settings=settings)[:2]
    assert plan is None and errors == [
        "llm_serving_only_models names mistral-3, which is not in llm_serving_models; use names from mistral-3-bf16, "
        "mistral-3-fp8, devstral-2-bf16, or leave it empty to act on every model."]
    errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "only_models": {"a": 1}})[1]
    assert errors == ["llm_serving_only_models must be the names of llm_serving_models entries, as a list or a "
                      "comma-separated string (empty: every model), got dict {'a': 1}."]


def test_profile_is_checked_against_the_profiles_found():
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    profiles = ["fp8_showcase", "triple_play"]
    settings, errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "profile": "fp8_showcase"}, profiles)
    assert errors == [] and settings["profile"] == "fp8_showcase"
    errors = settings_mod.normalize({"s3_endpoint": "http://minio:9000", "profile": "triple-play"}, profiles)[1]
    assert errors == ["llm_serving_profile 'triple-play' is not a profile of this collection; set it to one of "
                      "fp8_showcase, triple_play, or leave it unset to use the inventory's llm_serving_models."]


def test_the_plan_names_the_token_auth_objects_once_for_the_role_the_smoke_test_and_the_benchmark(dirs):
    """odh-dashboard's names (getTokenNames): the template creates them from the plan, the smoke test and
    the benchmark read the token Secret through the token_secret_names filter."""
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import report
    plan = build_plan(triple_play(dirs))[0]
    assert plan["models"]["mistral-24b-bf16"]["auth"] == {
        "service_account": "mistral-24b-bf16-sa", "role": "mistral-24b-bf16-view-role",
        "role_binding": "mistral-24b-bf16-view", "token_secret": "default-token-mistral-24b-bf16-sa"}
    assert list(report.token_secret_names(plan)) == plan["order"]
    assert report.token_secret_names(plan, ["mistral-24b-bf16"]) == {"mistral-24b-bf16": "default-token-mistral-24b-bf16-sa"}


def test_the_playbooks_options_are_known_and_a_typo_in_one_is_refused():
    """Before, any llm_serving_benchmark_*, _teardown_* or _diagnostics_* name passed the preflight, so
    llm_serving_benchmark_max_request ran the benchmark with the default number of requests."""
    import re
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
    read = set()
    for path in (ROOT / "playbooks").glob("*.yml"):
        read |= set(re.findall(r"llm_serving_(?:benchmark|teardown|diagnostics)_[a-z_]+", path.read_text()))
    read.discard("llm_serving_benchmark_")  # a prefix named in a comment
    assert read == set(settings_mod.PLAYBOOK_VARIABLES)
    given, errors = settings_mod.split_variables({"llm_serving_benchmark_max_requests": 4,
                                                 "llm_serving_benchmark_max_request": 4}, known=())
    assert errors == ["llm_serving_benchmark_max_request is not a variable of this collection; rename it to "
                      "llm_serving_benchmark_max_requests (or remove it)."]
