# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Normalise and validate one entry of ``llm_serving_models`` before any checkpoint is read.

Every problem is one sentence naming the model, the field and what to do about it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DTYPES = ("auto", "bfloat16", "float16")
KV_CACHE_DTYPES = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")
SOURCES = ("local", "s3")
FORMATS = ("auto", "mistral", "huggingface")
TOOL_CALLING = ("auto", True, False)


def _section(model, key):
    value = model.get(key)
    return dict(value) if isinstance(value, dict) else {}


def normalize(model, default_bucket="models"):
    """Return a copy of a models-list entry with every field the planner reads filled in."""
    m = dict(model)
    weights = _section(m, "weights")
    hardware = _section(m, "hardware")
    vllm = _section(m, "vllm")
    weights.setdefault("source", "local" if weights.get("local_dir") else "s3")
    weights["bucket"] = weights.get("bucket") or default_bucket
    weights["path"] = (weights.get("path") or m.get("name") or "").strip("/")
    # Unset tensor parallel size: use every GPU of the replica (not pipeline stages).
    vllm["tensor_parallel_size"] = vllm.get("tensor_parallel_size") or hardware.get("gpus") or 1
    vllm["dtype"] = vllm.get("dtype") or "auto"
    vllm["kv_cache_dtype"] = vllm.get("kv_cache_dtype") or "auto"
    if vllm.get("gpu_memory_utilization") is None:
        vllm["gpu_memory_utilization"] = 0.90
    vllm.setdefault("max_model_len", None)
    vllm.setdefault("quantization", None)
    vllm["extra_args"] = [str(a) for a in (vllm.get("extra_args") or [])]
    vllm["format"] = vllm.get("format") or "auto"
    vllm.setdefault("tool_calling", "auto")
    weights.setdefault("exclude", None)
    if hardware.get("gpus") is None:
        hardware["gpus"] = vllm["tensor_parallel_size"]
    m["replicas"] = 1 if m.get("replicas") is None else m["replicas"]
    m["weights"], m["hardware"], m["vllm"] = weights, hardware, vllm
    return m


def _is_int(value, minimum):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def validate(models, catalog, s3_ready):
    """Input problems of the whole list, as a list of sentences (empty when all is well).

    ``models`` are normalised entries; ``s3_ready`` is None when S3 can be read, else the reason
    it cannot (no boto3, no credentials).
    """
    errors = []
    seen = {}
    instances = catalog["instance_types"]
    for i, m in enumerate(models):
        name = m.get("name")
        where = "llm_serving_models[%d]" % i
        if not isinstance(name, str) or len(name) > 63 or not DNS_1035.match(name):
            errors.append("%s.name %r is not a DNS-1035 label (lower case letters, digits and '-', "
                          "starting with a letter, at most 63 characters); it becomes the "
                          "InferenceService name." % (where, name))
            label = where
        else:
            label = name
            if name in seen:
                errors.append("%s.name %s is a duplicate of llm_serving_models[%d]; model names "
                              "must be unique." % (where, name, seen[name]))
            seen.setdefault(name, i)
        hw, vl, wt = m["hardware"], m["vllm"], m["weights"]
        tp, gpus = vl["tensor_parallel_size"], hw["gpus"]
        if not _is_int(tp, 1):
            errors.append("%s: vllm.tensor_parallel_size must be a positive integer, got %r." % (label, tp))
        elif not _is_int(gpus, 1):
            errors.append("%s: hardware.gpus must be a positive integer, got %r." % (label, gpus))
        elif tp > gpus:
            errors.append("%s: vllm.tensor_parallel_size %d is more than hardware.gpus %d; set "
                          "hardware.gpus to %d." % (label, tp, gpus, tp))
        elif gpus % tp:
            errors.append("%s: hardware.gpus %d is not a multiple of vllm.tensor_parallel_size %d "
                          "(gpus = tensor parallel x pipeline parallel); set hardware.gpus to %d."
                          % (label, gpus, tp, tp * max(1, gpus // tp)))
        if not _is_int(m["replicas"], 0):
            errors.append("%s: replicas must be an integer >= 0, got %r." % (label, m["replicas"]))
        itype = hw.get("instance_type")
        if itype not in instances:
            errors.append("%s: hardware.instance_type %r is not in the GPU catalog; known: %s "
                          "(add it with the catalog option)." % (label, itype, ", ".join(sorted(instances))))
        else:
            product = instances[itype]["gpu_product"]
            if hw.get("gpu_product") and hw["gpu_product"] != product:
                errors.append("%s: hardware.gpu_product %s does not match instance type %s, which "
                              "has %s; set gpu_product to %s or pick an instance type with %s."
                              % (label, hw["gpu_product"], itype, product, product, hw["gpu_product"]))
            per_node = instances[itype]["gpus"]
            if _is_int(gpus, 1) and gpus > per_node:
                errors.append("%s: hardware.gpus %d is more than the %d GPU(s) of one %s node (a "
                              "replica runs on one node); use an instance type with at least %d GPUs."
                              % (label, gpus, per_node, itype, gpus))
        if vl["dtype"] not in DTYPES:
            errors.append("%s: vllm.dtype %r is not one of %s." % (label, vl["dtype"], ", ".join(DTYPES)))
        if vl["kv_cache_dtype"] not in KV_CACHE_DTYPES:
            errors.append("%s: vllm.kv_cache_dtype %r is not one of %s."
                          % (label, vl["kv_cache_dtype"], ", ".join(KV_CACHE_DTYPES)))
        util = vl["gpu_memory_utilization"]
        if not isinstance(util, (int, float)) or isinstance(util, bool) or not 0 < util <= 1:
            errors.append("%s: vllm.gpu_memory_utilization must be above 0 and at most 1, got %r."
                          % (label, util))
        mml = vl["max_model_len"]
        if mml is not None and not _is_int(mml, 1):
            errors.append("%s: vllm.max_model_len must be a positive integer, got %r." % (label, mml))
        if vl["format"] not in FORMATS:
            errors.append("%s: vllm.format %r is not one of %s." % (label, vl["format"], ", ".join(FORMATS)))
        if vl["tool_calling"] not in TOOL_CALLING:
            errors.append("%s: vllm.tool_calling must be auto, true or false, got %r." % (label, vl["tool_calling"]))
        exclude = wt.get("exclude")
        if exclude is not None and (not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude)):
            errors.append("%s: weights.exclude must be a list of file name patterns (globs), got %r."
                          % (label, exclude))
        if wt["source"] not in SOURCES:
            errors.append("%s: weights.source %r is not one of local, s3." % (label, wt["source"]))
        elif wt["source"] == "local":
            if not wt.get("local_dir"):
                errors.append("%s: weights.source is local but weights.local_dir is not set; give "
                              "the directory on the controller or use source s3." % label)
            elif not os.path.isdir(wt["local_dir"]):
                errors.append("%s: weights.local_dir %s does not exist on the controller."
                              % (label, wt["local_dir"]))
        elif s3_ready is not None:
            errors.append("%s: weights.source is s3 but the bucket cannot be read: %s" % (label, s3_ready))
    errors.extend(_prefix_conflicts(models))
    return errors


def _prefix_conflicts(models):
    """KServe's storage initializer lists a model's objects with its path as a plain prefix
    (kserve python/kserve/kserve/storage/storage.py _download_s3): a path that is a prefix of
    another model's (models/m and models/m-fp8) would download both into one pod."""
    errors = []
    located = [(m.get("name"), (m.get("weights") or {}).get("bucket"), (m.get("weights") or {}).get("path") or "")
               for m in models if isinstance(m.get("weights"), dict)]
    for name, bucket, path in located:
        for other, obucket, opath in located:
            if other == name or bucket != obucket:
                continue
            if path == opath:
                if name < other:
                    errors.append("%s and %s: weights.path %s/%s is the same for both: the second upload would "
                                  "overwrite the first's weights; give each model a path of its own."
                                  % (name, other, bucket, path))
            elif opath.startswith(path):
                errors.append("%s: weights.path %s/%s is a prefix of %s's %s/%s, and KServe's storage initializer "
                              "downloads every object under a model's path as a prefix, so %s's pod would get %s's "
                              "weights too; rename one (e.g. %s/%s)."
                              % (name, bucket, path, other, bucket, opath, name, other, path.rstrip("/"), "weights"))
    return errors
