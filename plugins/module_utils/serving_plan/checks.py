# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan one model against its checkpoint and the GPU catalog: the checks, the fixes, the args."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import memory
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import vllm_flags
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.catalog import instance_types_by_cost

FP8_MIN_CC = 8.9
BF16_MIN_CC = 8.0
LOW_USE_FRACTION = 0.5
LEN_STEP = 256


def _gb(n):
    return "%.1f GB" % (n / 1e9)


def valid_tps(shape, limit):
    """Tensor parallel sizes vLLM accepts for this model, up to ``limit`` GPUs."""
    out = []
    for t in range(1, max(limit, 1) + 1):
        if shape.heads % t:
            continue
        if shape.kv_heads >= t and shape.kv_heads % t:
            continue
        if shape.kv_heads < t and t % shape.kv_heads:
            continue
        out.append(t)
    return out


class ModelPlanner(object):
    """Checks and plans one normalised models-list entry."""

    def __init__(self, model, checkpoint, catalog, flavor):
        self.m = model
        self.ckpt = checkpoint
        self.catalog = catalog
        self.flavor = flavor
        self.name = model.get("_label") or model["name"]  # llm_serving_models[i] (name) in messages
        self.errors = []
        self.warnings = []

    # -- helpers -------------------------------------------------------------------------
    def _product(self, itype):
        inst = self.catalog["instance_types"][itype]
        return inst["gpu_product"], self.catalog["gpu_products"][inst["gpu_product"]]

    def _estimate(self, product, tp, pp, max_len, kv_dtype):
        gpu = self.catalog["gpu_products"][product]
        if kv_dtype != "auto" and gpu["compute_capability"] < FP8_MIN_CC:
            kv_dtype = "auto"
        return memory.estimate(self.shape, self.weight_bytes, tp, pp, max_len, kv_dtype, self.dtype,
                               self.quantization, gpu["memory_mib"], self.util)

    def _cheapest(self, product, gpus):
        for itype in instance_types_by_cost(self.catalog):
            inst = self.catalog["instance_types"][itype]
            if inst["gpu_product"] == product and inst["gpus"] >= gpus:
                return itype
        return None

    def _share_cost(self, itype, gpus):
        inst = self.catalog["instance_types"][itype]
        return inst["hourly_cost"] * gpus / float(inst["gpus"])

    # -- fixes for a model that does not fit ----------------------------------------------
    def _bigger_gpu(self, tp, pp, max_len, kv_dtype, mem_mib):
        best = None
        for itype in instance_types_by_cost(self.catalog):
            inst = self.catalog["instance_types"][itype]
            product = inst["gpu_product"]
            if self.catalog["gpu_products"][product]["memory_mib"] <= mem_mib or inst["gpus"] < tp * pp:
                continue
            if self._estimate(product, tp, pp, max_len, kv_dtype)["fits"]:
                cost = self._share_cost(itype, tp * pp)
                if best is None or cost < best[0]:
                    best = (cost, itype, product)
        if best:
            cost, itype, product = best
            return "a bigger GPU: %s on %s (%d GPU%s, $%.2f/h)" % (
                product, itype, tp * pp, "s" if tp * pp > 1 else "", cost)
        return None

    def _higher_tp(self, product, tp, pp, max_len, kv_dtype):
        most = max([i["gpus"] for i in self.catalog["instance_types"].values() if i["gpu_product"] == product] or [0])
        for t in valid_tps(self.shape, most // pp):
            if t <= tp:
                continue
            if self._estimate(product, t, pp, max_len, kv_dtype)["fits"]:
                itype = self._cheapest(product, t * pp)
                return "vllm.tensor_parallel_size %d with hardware.gpus %d on %s (%s, %d GPUs per node, $%.2f/h per node)" % (
                    t, t * pp, product, itype, self.catalog["instance_types"][itype]["gpus"],
                    self.catalog["instance_types"][itype]["hourly_cost"])
        return None

    def _memory_error(self, itype, product, gpu, tp, pp, max_len, kv_dtype, est):
        fixes = []
        bigger = self._bigger_gpu(tp, pp, max_len, kv_dtype, gpu["memory_mib"])
        if bigger:
            fixes.append(bigger)
        higher = self._higher_tp(product, tp, pp, max_len, kv_dtype)
        if higher:
            fixes.append(higher)
        if kv_dtype == "auto" and gpu["compute_capability"] >= FP8_MIN_CC and \
                self._estimate(product, tp, pp, max_len, "fp8")["fits"]:
            fixes.append("vllm.kv_cache_dtype fp8 (halves the KV cache)")
        fit_len = (est["max_model_len_fit"] // LEN_STEP) * LEN_STEP
        if fit_len >= LEN_STEP:
            fixes.append("vllm.max_model_len %d or less" % fit_len)
            tail = ""
        elif est["weights_bytes"] > est["usable_bytes"]:
            tail = "; the weights alone (%s per GPU) exceed the usable memory, so neither a shorter max_model_len nor an FP8 KV cache can help" % (
                memory.gib(est["weights_bytes"]))
        else:
            tail = "; the weights and runtime alone (%s) leave no room for a KV cache, so a shorter max_model_len cannot help" % (
                memory.gib(est["weights_bytes"] + est["overhead_bytes"]))
        fixes_text = "; fixes: " + "; or ".join(fixes) if fixes else "; no GPU in the catalog fits it"
        return ("%s does not fit in GPU memory on %s (%s): per GPU it needs %s weights (%s checkpoint / %d GPU%s) "
                "+ %s KV cache (%d tokens, %s) + %s runtime = %s, more than the %s usable (%.2f x %s)%s%s."
                % (self.name, product, itype, memory.gib(est["weights_bytes"]), _gb(self.weight_bytes),
                   tp * pp, "s" if tp * pp > 1 else "", memory.gib(est["kv_bytes"]), max_len,
                   "fp8" if kv_dtype != "auto" else self.dtype, memory.gib(est["overhead_bytes"]),
                   memory.gib(est["required_bytes"]), memory.gib(est["usable_bytes"]), self.util,
                   memory.gib(gpu["memory_mib"] * 1048576.0), tail, fixes_text))

    def _low_use_warning(self, itype, product, tp, pp, max_len, kv_dtype, est):
        used = est["required_bytes"] / est["usable_bytes"]
        if used >= LOW_USE_FRACTION:
            return
        hint = ""
        smaller = [t for t in valid_tps(self.shape, tp) if t < tp]
        for t in smaller:
            if self._estimate(product, t, pp, max_len, kv_dtype)["fits"]:
                hint = "; vllm.tensor_parallel_size %d would also fit" % t
                break
        if not hint:
            mine = self._share_cost(itype, tp * pp)
            for other in instance_types_by_cost(self.catalog):
                inst = self.catalog["instance_types"][other]
                if inst["gpus"] < tp * pp or self._share_cost(other, tp * pp) >= mine:
                    continue
                if self._estimate(inst["gpu_product"], tp, pp, max_len, kv_dtype)["fits"]:
                    hint = "; %s (%s, $%.2f/h) would also fit" % (other, inst["gpu_product"], self._share_cost(other, tp * pp))
                    break
        self.warnings.append("%s uses only %s of the %s usable per GPU (%d%%) on %s%s; the rest becomes KV cache."
                             % (self.name, memory.gib(est["required_bytes"]), memory.gib(est["usable_bytes"]),
                                int(used * 100), product, hint))

    # -- checks ---------------------------------------------------------------------------
    def _check_extra_args(self, pairs):
        for flag, value in pairs:
            if flag in ("--quantization", "-q") and self.shape.quant_method:
                self.errors.append("%s: extra_args sets %s %s but the checkpoint in %s is already quantized (%s "
                                   "quantization_config in config.json) and vLLM refuses a second method; remove it."
                                   % (self.name, flag, value, self.ckpt.location, self.shape.quant_method))
            elif flag in vllm_flags.PLANNED_FLAGS:
                self.errors.append("%s: extra_args sets %s, which the plan derives from %s; set that field instead."
                                   % (self.name, flag, vllm_flags.PLANNED_FLAGS[flag]))
            elif flag in vllm_flags.FORMAT_FLAGS:
                self.errors.append("%s: extra_args sets %s, which the plan derives from %s and the checkpoint's "
                                   "files; set that field instead." % (self.name, flag, vllm_flags.FORMAT_FLAGS[flag]))
            elif flag in vllm_flags.RUNTIME_FLAGS:
                self.errors.append("%s: extra_args sets %s, which the ServingRuntime sets for every model; remove it."
                                   % (self.name, flag))

    def _decide_format(self):
        """(mistral format, tool calling) from vllm.format/tool_calling and the checkpoint's files.

        Mistral's loaders need params.json, consolidated*.safetensors and its tokenizer (tekken.json)
        side by side; with them, that is how Mistral's model cards run vLLM, tool calls included
        (the mistral tokenizer needs no chat template for them). A Hugging Face-only checkpoint
        (the FP8 quantizations) runs in the Hugging Face format, without tool calling unless a
        chat template is given."""
        vl = self.m["vllm"]
        present = self.ckpt.mistral_files
        native = all(present.values())
        missing = [files for key, files in (("params", "params.json"), ("weights", "consolidated*.safetensors"),
                                            ("tokenizer", "tekken.json (or tokenizer.model.v*)"))
                   if not present[key]]
        fmt = vl["format"]
        if fmt == "mistral" and not native:
            self.errors.append("%s: vllm.format is mistral but %s has no %s, so vLLM cannot load it that way; "
                               "upload Mistral's native files next to the weights or set vllm.format auto."
                               % (self.name, self.ckpt.location, ", ".join(missing)))
        mistral = fmt == "mistral" or (fmt == "auto" and native)
        if self.ckpt.config.get("_from_params_json") and not mistral:
            self.errors.append("%s: %s has Mistral's params.json but no config.json; set vllm.format mistral (with "
                               "consolidated*.safetensors and tekken.json there) or upload the Hugging Face files."
                               % (self.name, self.ckpt.location))
        tools = vl["tool_calling"]
        chat_template = "--chat-template" in dict(vllm_flags.parse(vl["extra_args"]))
        if tools is True and not mistral and not chat_template:
            self.errors.append("%s: vllm.tool_calling is true but the checkpoint runs in the Hugging Face format, "
                               "whose tokenizer needs a tool-aware chat template; add --chat-template to "
                               "vllm.extra_args or use the Mistral-native files." % self.name)
        return mistral, (tools is True) or (tools == "auto" and mistral)

    def _check_quantization(self, cc, product):
        quant = self.m["vllm"]["quantization"]
        if self.shape.quant_method:
            if quant and quant != self.shape.quant_method:
                self.errors.append("%s: vllm.quantization is %s but the checkpoint in %s is pre-quantized (%s "
                                   "quantization_config in config.json), and vLLM refuses to start with both; set "
                                   "vllm.quantization to null." % (self.name, quant, self.ckpt.location, self.shape.quant_method))
            elif quant:
                self.warnings.append("%s: vllm.quantization %s repeats the checkpoint's own quantization_config; "
                                     "the flag is left out." % (self.name, quant))
            return None
        if quant == "fp8" and cc < FP8_MIN_CC:
            self.warnings.append("%s: on-the-fly fp8 on %s (compute capability %.1f) is weight-only (Marlin): "
                                 "it saves memory but not compute." % (self.name, product, cc))
        elif quant and quant != "fp8":
            self.warnings.append("%s: vllm.quantization %s is passed through; the memory model assumes the "
                                 "checkpoint's size for it." % (self.name, quant))
        return quant

    def _check_parallel(self, itype, tp, pp):
        per_node = self.catalog["instance_types"][itype]["gpus"]
        if self.shape.heads % tp:
            self.errors.append("%s: vllm.tensor_parallel_size %d does not divide the model's %d attention heads; "
                               "use one of %s." % (self.name, tp, self.shape.heads,
                                                   ", ".join(str(t) for t in valid_tps(self.shape, per_node))))
        elif tp not in valid_tps(self.shape, tp):
            self.errors.append("%s: vllm.tensor_parallel_size %d does not split the model's %d KV heads evenly; "
                               "use one of %s." % (self.name, tp, self.shape.kv_heads,
                                                   ", ".join(str(t) for t in valid_tps(self.shape, per_node))))
        if pp > self.shape.layers:
            self.errors.append("%s: pipeline parallel size %d (hardware.gpus / tensor_parallel_size) is more than "
                               "the model's %d layers." % (self.name, pp, self.shape.layers))
        if pp > 1:
            self.warnings.append("%s: hardware.gpus %d with tensor_parallel_size %d runs %d pipeline stages; "
                                 "tensor_parallel_size %d is usually faster on one node."
                                 % (self.name, tp * pp, tp, pp, tp * pp))

    # -- the plan entry ---------------------------------------------------------------------
    def plan(self):
        """Return the plan entry (None when the checkpoint cannot be understood)."""
        m, hw, vl = self.m, self.m["hardware"], self.m["vllm"]
        itype = hw["instance_type"]
        product, gpu = self._product(itype)
        cc = gpu["compute_capability"]
        tp, gpus = vl["tensor_parallel_size"], hw["gpus"]
        pp = gpus // tp
        self.util = float(vl["gpu_memory_utilization"])
        try:
            self.shape = memory.ModelShape(self.ckpt.config)
        except memory.ConfigError as e:
            self.errors.append("%s: %s in %s, so the memory it needs cannot be computed." % (self.name, e, self.ckpt.location))
            return None
        self.dtype = memory.served_dtype(vl["dtype"], self.shape.torch_dtype)
        pairs = vllm_flags.parse(vl["extra_args"])
        self._check_extra_args(pairs)
        mistral_load, tool_calling = self._decide_format()
        self.quantization = self._check_quantization(cc, product)
        if self.dtype == "bfloat16" and cc < BF16_MIN_CC:
            self.errors.append("%s: bfloat16 needs compute capability %.1f or more but %s has %.1f; set vllm.dtype "
                               "float16." % (self.name, BF16_MIN_CC, product, cc))
        kv_dtype = vl["kv_cache_dtype"]
        if kv_dtype != "auto" and cc < FP8_MIN_CC:
            fp8_types = [i for i in instance_types_by_cost(self.catalog)
                         if self.catalog["gpu_products"][self.catalog["instance_types"][i]["gpu_product"]]["compute_capability"] >= FP8_MIN_CC]
            self.errors.append("%s: vllm.kv_cache_dtype %s needs compute capability %.1f or more, but %s (%s) has %.1f; "
                               "set kv_cache_dtype auto or use an FP8-capable GPU (%s)."
                               % (self.name, kv_dtype, FP8_MIN_CC, product, itype, cc, ", ".join(fp8_types[:3])))
        self._check_parallel(itype, tp, pp)
        mpe = self.shape.max_position_embeddings
        max_len = vl["max_model_len"]
        if max_len is None:
            max_len = mpe or 4096
            self.warnings.append("%s: vllm.max_model_len is not set; planned with the model's maximum, %d tokens."
                                 % (self.name, max_len))
        elif mpe and max_len > mpe:
            self.errors.append("%s: vllm.max_model_len %d is more than the model's max_position_embeddings %d (config.json); "
                               "set max_model_len to %d or less." % (self.name, max_len, mpe, mpe))
        self.weight_bytes = self.ckpt.weight_bytes(mistral_load)
        if self.weight_bytes <= 0:
            self.errors.append("%s: no weight files (*.safetensors) found in %s; upload the checkpoint first."
                               % (self.name, self.ckpt.location))
        est = self._estimate(product, tp, pp, max_len, kv_dtype)
        if self.weight_bytes > 0:
            if not est["fits"]:
                self.errors.append(self._memory_error(itype, product, gpu, tp, pp, max_len, kv_dtype, est))
            else:
                self._low_use_warning(itype, product, tp, pp, max_len, kv_dtype, est)
        inst = self.catalog["instance_types"][itype]
        share = gpus / float(inst["gpus"])
        weights_total_gib = est["summary"]["weights_total_gib"]
        cpu = max(1, min(int(inst["vcpu"] * share * 0.75), 4 + 2 * gpus))
        mem_gib = max(8, min(int(inst["memory_gib"] * share * 0.75), int(math.ceil(weights_total_gib + 16))))
        summary = dict(est["summary"])
        return {
            "instance_type": itype,
            "gpu_product": product,
            "gpus": gpus,
            "replicas": m["replicas"],
            "flavor": self.flavor,
            "tensor_parallel_size": tp,
            "pipeline_parallel_size": pp,
            "dtype": self.dtype,
            "max_model_len": max_len,
            "kv_cache_dtype": kv_dtype,
            "quantization": self.quantization,
            "vllm_args": vllm_flags.build(self.dtype, tp, pp, max_len, self.util, kv_dtype, self.quantization,
                                          vl["extra_args"], mistral_load, tool_calling),
            "tool_calling": tool_calling,
            "weights_exclude": (m["weights"]["exclude"] if m["weights"]["exclude"] is not None
                                else vllm_flags.EXCLUDE["mistral" if mistral_load else "huggingface"]),
            "checkpoint": {
                "location": self.ckpt.location,
                "weight_bytes": int(self.weight_bytes),
                "torch_dtype": self.shape.torch_dtype,
                "quant_method": self.shape.quant_method,
                "quant_scheme": self.shape.quant_scheme,
                "format": "mistral" if mistral_load else "huggingface",
                "max_position_embeddings": mpe,
            },
            "memory": summary,
            "resources": {"cpu": str(cpu), "memory": "%dGi" % mem_gib},
            "hourly_cost": round(inst["hourly_cost"] * share * m["replicas"], 4),
        }
