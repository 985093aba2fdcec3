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
# Flags the plan derives from vllm.format and vllm.tool_calling and the checkpoint's files.
FORMAT_FLAGS = {
    "--tokenizer-mode": "vllm.format",
    "--config-format": "vllm.format",
    "--load-format": "vllm.format",
    "--tool-call-parser": "vllm.tool_calling",
    "--enable-auto-tool-choice": "vllm.tool_calling",
}
# The ServingRuntime sets these for every model.
RUNTIME_FLAGS = ("--model", "--port", "--served-model-name")
# Mistral's model cards: `vllm serve ... --tokenizer_mode mistral --config_format mistral
# --load_format mistral --tool-call-parser mistral --enable-auto-tool-choice`.
MISTRAL_FORMAT = ["--tokenizer-mode=mistral", "--config-format=mistral", "--load-format=mistral"]
MISTRAL_TOOLS = ["--tool-call-parser=mistral", "--enable-auto-tool-choice"]
# What vLLM does not load in each format, left out of the upload: Mistral's repositories hold the
# weights twice (model-*.safetensors for transformers, consolidated.safetensors for the mistral
# loader), and KServe's storage initializer copies everything under the path onto the node.
EXCLUDE = {
    "mistral": ["model-*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin"],
    "huggingface": ["consolidated*.safetensors", "consolidated*.pth"],
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


def build(dtype, tp, pp, max_model_len, util, kv_cache_dtype, quantization, extra_args,
          mistral_format=False, tool_calling=False):
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
    if mistral_format:
        args.extend(MISTRAL_FORMAT)
    if tool_calling:
        args.extend(MISTRAL_TOOLS)
    return args + list(extra_args)
