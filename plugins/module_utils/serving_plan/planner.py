# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The serving plan of a whole models list: inputs, checkpoints, per-model checks, packing, quota."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import checkpoint as ckpt_mod
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import inputs
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.catalog import (
    DEFAULT_FLAVOR, load_catalog)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.checks import ModelPlanner
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.packing import pack_all
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import client as s3_client
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import http as s3_http


def s3_problem(s3, models):
    """Why S3 cannot be read (None when it can, or when no model needs it)."""
    if not any(m["weights"]["source"] == "s3" for m in models):
        return None
    if not s3_http.usable_for(s3) and not s3_client.HAS_BOTO3:
        return ("reading S3 through a proxy (or without an endpoint URL) needs the boto3 Python library on "
                "the host running the plan (pip install boto3).")
    if not (s3.get("access_key") and s3.get("secret_key")) and not s3.get("credentials_reported"):
        return ("no S3 credentials; set llm_serving_s3_access_key and llm_serving_s3_secret_key "
                "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment).")
    return None


def read_checkpoint(model, reader_factory, endpoint=None):
    """Read one model's checkpoint from its local directory or its S3 prefix."""
    w = model["weights"]
    if w["source"] == "local":
        return ckpt_mod.read_local(os.path.expanduser(w["local_dir"]))
    try:
        return ckpt_mod.read_s3(reader_factory(), w["bucket"], w["path"])
    except s3_client.reader_errors() + (ValueError,) as e:
        why = e if isinstance(e, ValueError) else s3_client.client_error(e, "read", endpoint, w["bucket"]).why
        where = "s3://%s/%s/" % (w["bucket"], w["path"].strip("/"))
        raise ckpt_mod.CheckpointError("cannot read %s (%s)." % (where, str(why).rstrip(".")))


AUTH_SIDECAR_MILLICPU = 100
AUTH_SIDECAR_MIB = 64


def token_auth(name):
    """The names of what OpenShift AI 3.0's dashboard creates for an InferenceService with "Require token
    authentication" (odh-dashboard v3.0.0 frontend/src/pages/modelServing/utils.ts getTokenNames, and the
    "default-token" Secret of steps/AdvancedOptionsStep.tsx): the inference_services role creates them
    (templates/token_auth.yml.j2), the smoke test and the benchmark read the token Secret."""
    return {"service_account": name + "-sa", "role": name + "-view-role", "role_binding": name + "-view",
            "token_secret": "default-token-%s-sa" % name}


def _entry_inputs(m, settings):
    """What the plan carries of a normalised entry besides the planner's numbers: everything a
    role needs, so that no role reads llm_serving_models."""
    w = m["weights"]
    return {
        "name": m["name"],
        "display_name": m["display_name"],
        "instance_type": m["hardware"]["instance_type"],
        "gpu_product": m["hardware"]["gpu_product"],
        "gpus": m["hardware"]["gpus"],
        "replicas": m["replicas"],
        "queue": settings["local_queue"],
        "weights": {"source": w["source"], "local_dir": w["local_dir"], "bucket": w["bucket"], "path": w["path"],
                    "uri": w["uri"], "exclude": w["exclude"]},
        "registry": dict(m["registry"]),
        "smoke_test": dict(m["smoke_test"]),
        "auth": token_auth(m["name"]),
    }


def build_plan(models, catalog_override=None, s3=None, flavor=DEFAULT_FLAVOR, reader_factory=None, settings=None,
               read_checkpoints=True):
    """Plan a models list. Returns (plan, errors, warnings); nothing is changed anywhere.

    ``settings`` are the normalised collection-wide settings (settings.normalize; their defaults
    when None). ``reader_factory`` returns an S3 reader (tests pass a fake); by default the one of
    s3_model_sync (``s3_sync.client.make_reader``, the standard-library reader for an endpoint) is
    built from ``s3`` on first use. Without ``read_checkpoints`` the plan has the
    normalised inputs only (no checkpoint is read, no memory, vLLM args, nodes or quota, and the
    local weights directories need not exist): what the teardown and the smoke test need. With
    it, the weights of the chosen models (``only_models``) only must be there.
    """
    s3 = dict(s3 or {})
    warnings = []
    if settings is None:
        settings = dict((k, v[0]) for k, v in settings_mod.SETTINGS.items())
        settings["connection_endpoint"] = settings["connection_endpoint"] or s3.get("endpoint_url") or ""
        settings["s3_bucket"] = s3.get("bucket") or settings["s3_bucket"]
    try:
        catalog = load_catalog(catalog_override)
    except ValueError as e:
        return None, [str(e)], warnings
    normalized, errors = inputs.normalize_all(models, settings, catalog)
    only = settings.get("only_models")
    if not errors:
        # the whole list is validated; only the subset is planned (and so acted on by every role)
        normalized, errors = inputs.select(normalized, only)
    elif only:
        normalized = [m for m in normalized if m["name"] in only]
    if read_checkpoints:
        # the weights are read (and, by site.yml, uploaded) for the chosen models only; a run that
        # does not read them (teardown, smoke test, diagnostics) needs no weights on the controller
        errors.extend(inputs.weights_problems(normalized))
    if read_checkpoints and not reader_factory:
        problem = s3_problem(s3, normalized)
        if problem:
            errors.extend("%s: weights.source is s3 but the bucket cannot be read: %s" % (m["_label"], problem)
                          for m in normalized if m["weights"]["source"] == "s3")
    if errors:
        return None, errors, warnings
    if not read_checkpoints:
        entries = dict((m["name"], _entry_inputs(m, settings)) for m in normalized)
        return {"settings": settings, "models": entries, "order": list(entries), "complete": False,
                "ok": True, "warnings": []}, [], []
    readers = []
    if reader_factory is None:
        def reader_factory():
            if not readers:
                readers.append(s3_client.make_reader(s3))
            return readers[0]

    entries = {}
    for m in normalized:
        try:
            ckpt = read_checkpoint(m, reader_factory, s3.get("endpoint_url"))
        except ckpt_mod.CheckpointError as e:
            errors.append("%s: %s" % (m["_label"], e))
            continue
        planner = ModelPlanner(m, ckpt, catalog, flavor)
        entry = planner.plan()
        errors.extend(planner.errors)
        warnings.extend(planner.warnings)
        if entry is not None:
            entry["ok"] = not planner.errors
            exclude = entry.pop("weights_exclude")
            entry.update(_entry_inputs(m, settings))
            entry["weights"]["exclude"] = exclude
            entries[m["name"]] = entry
    for reader in readers:
        reader.close()
    nodes, layout = pack_all(entries, catalog)
    for itype, node_list in layout.items():
        for idx, node in enumerate(node_list):
            if node["gpus_free"]:
                warnings.append("%s node %d of %d has %d of %d GPUs unused (%s); another model with %d GPU(s) "
                                "would run there at no extra cost."
                                % (itype, idx + 1, len(node_list), node["gpus_free"],
                                   catalog["instance_types"][itype]["gpus"], ", ".join(node["replicas"]),
                                   node["gpus_free"]))
    quota = {}
    for name in sorted(entries):
        e = entries[name]
        q = quota.setdefault(e["flavor"], {"nvidia.com/gpu": 0, "cpu": 0, "memory": 0})
        q["nvidia.com/gpu"] += e["gpus"] * e["replicas"]
        q["cpu"] += int(e["resources"]["cpu"]) * e["replicas"]
        q["memory"] += int(e["resources"]["memory"][:-2]) * e["replicas"]
    if settings.get("enable_auth"):
        # Every predictor pod of an InferenceService with enable-auth also runs KServe's
        # kube-rbac-proxy sidecar, whose requests Kueue charges to the same flavor: OpenShift AI
        # 3.0's inferenceservice-config oauthProxy (kserve config/overlays/odh/patches/
        # patch-inferenceservice-config.yaml) gives it 100m CPU and 64Mi, rounded up here to the
        # whole CPUs and GiB the quota is written in.
        pods = {}
        for e in entries.values():
            pods[e["flavor"]] = pods.get(e["flavor"], 0) + e["replicas"]
        for flavor, n in pods.items():
            quota[flavor]["cpu"] += -(-n * AUTH_SIDECAR_MILLICPU // 1000)
            quota[flavor]["memory"] += -(-n * AUTH_SIDECAR_MIB // 1024)
    for q in quota.values():
        q["memory"] = "%dGi" % q["memory"]
    total_cost = sum(catalog["instance_types"][t]["hourly_cost"] * n for t, n in nodes.items())
    plan = {
        "settings": settings,
        "models": entries,
        "order": [m["name"] for m in normalized if m["name"] in entries],
        "complete": True,
        "nodes": nodes,
        "node_layout": layout,
        "quota": quota,
        "gpus_total": sum(e["gpus"] * e["replicas"] for e in entries.values()),
        "hourly_cost_total": round(total_cost, 4),
        "hourly_cost_unallocated": round(total_cost - sum(e["hourly_cost"] for e in entries.values()), 4),
        "warnings": warnings,
        "ok": not errors,
    }
    return plan, errors, warnings


def table(plan):
    """The plan as fixed-width lines for people (the preflight role prints them)."""
    head = "%-22s %-13s %-12s %4s %3s %4s %7s %-8s %7s %7s %7s %7s %9s" % (
        "model", "instance", "gpu", "gpus", "tp", "repl", "ctx", "kv", "weights", "kv_gib", "need", "usable", "$/h")
    lines = [head, "-" * len(head)]
    for name in sorted(plan["models"]):
        e = plan["models"][name]
        mem = e["memory"]
        lines.append("%-22s %-13s %-12s %4d %3d %4d %7d %-8s %7.1f %7.1f %7.1f %7.1f %9.4f%s" % (
            name[:22], e["instance_type"], e["gpu_product"][:12], e["gpus"], e["tensor_parallel_size"],
            e["replicas"], e["max_model_len"], e["kv_cache_dtype"], mem["weights_gib"], mem["kv_cache_gib"],
            mem["per_gpu_gib"], mem["usable_gib"], e["hourly_cost"], "" if e.get("ok", True) else "  REFUSED"))
    lines.append("nodes: %s" % (", ".join("%s x%d" % (t, n) for t, n in sorted(plan["nodes"].items())) or "none"))
    for flavor, q in sorted(plan["quota"].items()):
        lines.append("quota %s: nvidia.com/gpu %d, cpu %d, memory %s" % (flavor, q["nvidia.com/gpu"], q["cpu"], q["memory"]))
    lines.append("GPUs %d, $%.4f/hour (unallocated GPUs $%.4f/hour)" % (
        plan["gpus_total"], plan["hourly_cost_total"], plan["hourly_cost_unallocated"]))
    return lines
