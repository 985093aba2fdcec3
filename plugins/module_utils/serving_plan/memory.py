# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""GPU memory model of one vLLM replica, per GPU.

vLLM refuses to start when, inside ``gpu_memory_utilization`` x GPU memory, the weights, the
runtime (CUDA context, graphs, NCCL buffers, activation peak of a profiling batch) and a KV cache
for at least one sequence of ``max_model_len`` tokens do not fit. This module reproduces that
budget from config.json and the checkpoint size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

GIB = float(1 << 30)
DTYPE_BYTES = {"float32": 4, "float": 4, "bfloat16": 2, "float16": 2, "half": 2, "fp8": 1,
               "fp8_e4m3": 1, "fp8_e5m2": 1, "int8": 1}
# Runtime memory outside weights and KV cache. CUDA context + cuBLAS workspace + CUDA graphs are
# about 1.5 GiB on a 24-48 GB card; tensor/pipeline parallel adds NCCL and custom all-reduce buffers.
BASE_OVERHEAD_GIB = 1.5
PARALLEL_OVERHEAD_GIB = 0.5
# vLLM's default batch for profiling the activation peak (V1 online serving): 2048 tokens below
# 70 GiB of GPU memory, 8192 above; logits are float32 for max_num_seqs (256) rows.
PROFILE_TOKENS_SMALL_GPU = 2048
PROFILE_TOKENS_LARGE_GPU = 8192
LARGE_GPU_GIB = 70
DEFAULT_MAX_NUM_SEQS = 256


class ModelShape(object):
    """The transformer dimensions the memory model needs, read from config.json."""

    def __init__(self, config):
        text = dict(config)
        # Multimodal wrappers (Mistral3, Llava) keep the language model under text_config.
        if isinstance(config.get("text_config"), dict):
            text.update(config["text_config"])
        self.layers = _int(text, "num_hidden_layers")
        self.heads = _int(text, "num_attention_heads")
        self.kv_heads = _int(text, "num_key_value_heads", default=self.heads)
        self.hidden = _int(text, "hidden_size")
        self.head_dim = _int(text, "head_dim", default=None) or (self.hidden // self.heads)
        self.vocab = _int(text, "vocab_size", default=0)
        self.intermediate = _int(text, "intermediate_size", default=4 * self.hidden)
        self.tie_embeddings = bool(text.get("tie_word_embeddings", False))
        self.torch_dtype = str(text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype") or "bfloat16")
        self.max_position_embeddings = _derived_max_len(text)
        quant = config.get("quantization_config") or text.get("quantization_config")
        self.quant_method = None
        if isinstance(quant, dict):
            self.quant_method = str(quant.get("quant_method") or quant.get("qformat_weight") or "unknown")
        elif quant:
            self.quant_method = "unknown"
        self.kv_cache_scheme = quant.get("kv_cache_scheme") if isinstance(quant, dict) else None
        self.quant_scheme = quant_scheme(quant)


FP8_METHODS = ("fp8", "fbgemm_fp8", "ptpc_fp8")


def quant_scheme(quant):
    """The precision a checkpoint's ``quantization_config`` declares, as a label: FP8, INT8 (8-bit
    integer weights and activations), W8A16 / W4A16 (integer weights, 16-bit activations), W4A8,
    NVFP4, MXFP4...; None without quantization; the method in upper case when not recognised.

    The method alone does not say it: compressed-tensors and ModelOpt checkpoints may hold FP8,
    INT8, INT4 or FP4 weights. compressed-tensors: each config group's ``weights`` and
    ``input_activations`` (``type`` float/int, ``num_bits``), as vLLM picks its scheme
    (vllm/model_executor/layers/quantization/compressed_tensors/compressed_tensors.py: W8A8Fp8,
    W8A16Fp8, W8A8Int8, WNA16, W4A16Fp4/W4A4Fp4); ModelOpt: ``quant_algo`` (modelopt.py: FP8,
    NVFP4)."""
    if not isinstance(quant, dict):
        return "unknown" if quant else None
    method = str(quant.get("quant_method") or "").lower()
    if method in FP8_METHODS:
        return "FP8"
    if method == "compressed-tensors":
        schemes = set()
        for group in (quant.get("config_groups") or {}).values():
            if isinstance(group, dict):
                schemes.add(_compressed_tensors_scheme(group.get("weights") or {}, group.get("input_activations") or {}))
        if len(schemes) == 1:
            return schemes.pop()
        return "mixed (%s)" % ", ".join(sorted(schemes)) if schemes else "unknown"
    if method == "modelopt":
        algo = str(quant.get("quant_algo") or (quant.get("quantization") or {}).get("quant_algo") or "").upper()
        return "FP8" if algo.startswith("FP8") else (algo or "unknown")
    if method in ("gptq", "awq", "gptq_marlin", "awq_marlin"):
        return "W%dA16" % int(quant.get("bits") or quant.get("w_bit") or 4)
    if method == "mxfp4":
        return "MXFP4"
    if method == "bitsandbytes":
        return "NF4" if quant.get("load_in_4bit") else "INT8"
    return method.upper() or "unknown"


def _compressed_tensors_scheme(weights, activations):
    bits, kind = weights.get("num_bits"), weights.get("type")
    act_bits, act_kind = activations.get("num_bits"), activations.get("type")
    if kind == "float" and bits == 8:
        return "FP8"
    if kind == "float" and bits == 4:
        return "NVFP4" if weights.get("group_size") == 16 else "FP4"
    if kind == "int" and bits:
        if act_kind == "int" and act_bits == 8:
            return "INT8" if bits == 8 else "W%dA8" % bits
        return "W%dA16" % bits
    return "unknown"


class ConfigError(ValueError):
    """config.json lacks a field the planner needs."""


def _int(config, key, default=ConfigError):
    value = config.get(key)
    if value is None:
        if default is ConfigError:
            raise ConfigError("config.json has no %s" % key)
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError("config.json %s is not a number (%r)" % (key, value))


def _derived_max_len(config):
    """max_position_embeddings as vLLM derives it, including YaRN-style rope scaling."""
    mpe = config.get("max_position_embeddings")
    if mpe is None:
        return None
    mpe = int(mpe)
    scaling = config.get("rope_scaling") or {}
    kind = scaling.get("rope_type") or scaling.get("type")
    # llama3, longrope and mrope keep max_position_embeddings as the limit; linear/dynamic/yarn extend it.
    if kind in ("yarn", "linear", "dynamic") and scaling.get("factor"):
        original = int(scaling.get("original_max_position_embeddings") or mpe)
        return max(mpe, int(original * float(scaling["factor"])))
    return mpe


def served_dtype(requested, checkpoint_dtype):
    """The dtype vLLM computes in: ``auto`` keeps 16-bit checkpoints and halves float32 ones."""
    if requested and requested != "auto":
        return requested
    if checkpoint_dtype in ("float32", "float"):
        return "float16"
    return checkpoint_dtype if checkpoint_dtype in ("bfloat16", "float16") else "bfloat16"


def loaded_weight_bytes(shape, checkpoint_bytes, dtype, quantization):
    """Bytes the weights occupy on the GPUs once loaded (all GPUs of a replica together).

    A pre-quantized checkpoint loads as stored. On-the-fly fp8 stores linear layers in one byte
    per parameter; embeddings and lm_head stay in the served dtype.
    """
    ckpt_elem = DTYPE_BYTES.get(shape.torch_dtype, 2)
    target_elem = DTYPE_BYTES.get(dtype, 2)
    if shape.quant_method:
        return float(checkpoint_bytes)
    embed_params = shape.vocab * shape.hidden * (1 if shape.tie_embeddings else 2)
    total_params = checkpoint_bytes / float(ckpt_elem)
    other_params = max(total_params - embed_params, 0.0)
    if quantization == "fp8":
        return embed_params * target_elem + other_params * 1.0
    return total_params * target_elem


def kv_bytes_per_token(shape, tp, pp, kv_cache_dtype, dtype):
    """KV cache bytes per token on one GPU: K and V for this GPU's layers and KV heads."""
    elem = 1 if kv_cache_dtype and kv_cache_dtype.startswith("fp8") else DTYPE_BYTES.get(dtype, 2)
    layers = int(math.ceil(shape.layers / float(pp)))
    # With more GPUs than KV heads each GPU keeps a replicated head.
    heads = max(1.0, shape.kv_heads / float(tp))
    return 2 * layers * heads * shape.head_dim * elem


def overhead_bytes(shape, tp, pp, gpu_memory_gib, dtype):
    """Runtime memory per GPU besides weights and KV cache."""
    tokens = PROFILE_TOKENS_LARGE_GPU if gpu_memory_gib >= LARGE_GPU_GIB else PROFILE_TOKENS_SMALL_GPU
    elem = DTYPE_BYTES.get(dtype, 2)
    activations = tokens * (2 * shape.intermediate / float(tp) + 4 * shape.hidden) * elem
    logits = DEFAULT_MAX_NUM_SEQS * (shape.vocab / float(tp)) * 4
    fixed = BASE_OVERHEAD_GIB + (PARALLEL_OVERHEAD_GIB if tp * pp > 1 else 0.0)
    return fixed * GIB + activations + logits


def estimate(shape, checkpoint_bytes, tp, pp, max_model_len, kv_cache_dtype, dtype, quantization,
             gpu_memory_mib, gpu_memory_utilization):
    """Per-GPU memory budget of one replica. Sizes in bytes, plus a GiB summary for people.

    Returns a dict with ``fits`` and, for suggestions, ``max_model_len_fit`` (the longest
    context whose KV cache still fits, 0 when even the weights do not).
    """
    gpu_bytes = gpu_memory_mib * 1024.0 * 1024.0
    usable = gpu_bytes * gpu_memory_utilization
    weights_total = loaded_weight_bytes(shape, checkpoint_bytes, dtype, quantization)
    weights = weights_total / float(tp * pp)
    per_token = kv_bytes_per_token(shape, tp, pp, kv_cache_dtype, dtype)
    kv = per_token * max_model_len
    overhead = overhead_bytes(shape, tp, pp, gpu_bytes / GIB, dtype)
    required = weights + kv + overhead
    room_for_kv = usable - weights - overhead
    capacity_tokens = int(room_for_kv // per_token) if room_for_kv > 0 else 0
    return {
        "fits": required <= usable,
        "required_bytes": required,
        "usable_bytes": usable,
        "weights_bytes": weights,
        "kv_bytes": kv,
        "overhead_bytes": overhead,
        "kv_bytes_per_token": per_token,
        "kv_capacity_tokens": capacity_tokens,
        "max_model_len_fit": capacity_tokens,
        "summary": {
            "gpu_memory_gib": round(gpu_bytes / GIB, 2),
            "usable_gib": round(usable / GIB, 2),
            "per_gpu_gib": round(required / GIB, 2),
            "weights_gib": round(weights / GIB, 2),
            "weights_total_gib": round(weights_total / GIB, 2),
            "kv_cache_gib": round(kv / GIB, 2),
            "overhead_gib": round(overhead / GIB, 2),
            "headroom_gib": round((usable - required) / GIB, 2),
            "utilization_of_usable": round(required / usable, 3) if usable else None,
            "kv_cache_capacity_tokens": capacity_tokens,
            "concurrent_full_length_sequences": (capacity_tokens // max_model_len) if max_model_len else 0,
        },
    }


def gib(value):
    """Bytes as a short GiB string for messages."""
    return "%.1f GiB" % (value / GIB)
