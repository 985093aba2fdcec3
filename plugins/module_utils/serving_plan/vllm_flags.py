# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""vLLM command-line flags: parse the user's extra_args and build the planned arguments."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Flags the plan derives from the models list: setting them in extra_args would fight the plan.
PLANNED_FLAGS = {
    "--dtype": "vllm.dtype",
    "--tensor-parallel-size": "vllm.tensor_parallel_size",
    "-tp": "vllm.tensor_parallel_size",
    "--pipeline-parallel-size": "hardware.gpus (gpus / tensor_parallel_size)",
    "-pp": "hardware.gpus (gpus / tensor_parallel_size)",
    "--max-model-len": "vllm.max_model_len",
    "--gpu-memory-utilization": "vllm.gpu_memory_utilization",
    "--kv-cache-dtype": "vllm.kv_cache_dtype",
    "--quantization": "vllm.quantization",
    "-q": "vllm.quantization",
}
# The ServingRuntime sets these for every model.
RUNTIME_FLAGS = ("--model", "--port", "--served-model-name")
# Mistral-native loading and the files each one needs.
MISTRAL_FLAGS = {
    "--tokenizer-mode": ("tokenizer", "tekken.json (or tokenizer.model.v*)"),
    "--config-format": ("params", "params.json"),
    "--load-format": ("weights", "consolidated*.safetensors"),
}


def parse(args):
    """Split extra_args into (flag, value) pairs; value is None for a bare switch."""
    pairs = []
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-") and "=" in token:
            flag, value = token.split("=", 1)
            pairs.append((flag, value))
        elif token.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            pairs.append((token, args[i + 1]))
            i += 1
        else:
            pairs.append((token, None))
        i += 1
    return pairs


def build(dtype, tp, pp, max_model_len, util, kv_cache_dtype, quantization, extra_args):
    """The ordered vLLM argument list of one model (``--flag=value`` form)."""
    args = ["--dtype=%s" % dtype, "--tensor-parallel-size=%d" % tp]
    if pp > 1:
        args.append("--pipeline-parallel-size=%d" % pp)
    args.append("--max-model-len=%d" % max_model_len)
    args.append("--gpu-memory-utilization=%s" % ("%.2f" % util).rstrip("0").rstrip("."))
    if kv_cache_dtype and kv_cache_dtype != "auto":
        args.append("--kv-cache-dtype=%s" % kv_cache_dtype)
    if quantization:
        args.append("--quantization=%s" % quantization)
    return args + list(extra_args)
