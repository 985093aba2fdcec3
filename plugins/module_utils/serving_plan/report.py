# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the roles report, computed from the plan and the modules' results: the upload per model,
the endpoints and their measurements and the summary lines (the benchmark's report is in
module_utils/benchmark/report.py). The
filters in plugins/filter/serving.py expose them; the roles only print them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os


def weights_uploads(plan):
    """s3_model_sync's ``models``: per model whose weights are local, in plan order, its directory, bucket,
    path and excludes (only the set vLLM loads: KServe's storage initializer copies everything under the
    prefix onto the node); then every other bucket of the plan, the settings' first, to ensure only."""
    out, buckets = [], []
    for model in (plan.get("models") or {}).values():
        w = model["weights"]
        if w.get("source") == "local":
            out.append({"name": model["name"], "src": w["local_dir"], "bucket": w["bucket"], "prefix": w["path"],
                        "exclude": list(w.get("exclude") or [])})
    for bucket in [(plan.get("settings") or {}).get("s3_bucket")] + [m["weights"].get("bucket")
                                                                     for m in (plan.get("models") or {}).values()]:
        if bucket and bucket not in buckets and bucket not in [item["bucket"] for item in out]:
            buckets.append(bucket)
    return out + [{"bucket": bucket} for bucket in buckets]


def synced(plan, sync_results):
    """Per uploaded model: where its weights are, their size, this run's upload numbers and its
    parsed config.json (None when absent or unreadable). ``sync_results``: s3_model_sync's
    ``results`` for ``weights_uploads(plan)``."""
    out = {}
    models = plan.get("models") or {}
    for r in sync_results or []:
        if r.get("name") not in models:
            continue
        w = models[r["name"]]["weights"]
        config = None
        try:
            with open(os.path.join(w["local_dir"] or "", "config.json")) as f:
                config = json.load(f)
        except (IOError, OSError, ValueError):
            pass
        out[r["name"]] = {
            "bucket": w["bucket"], "path": w["path"],
            "bytes": r.get("bytes_total"),
            "files": len([f for f in r.get("files") or [] if f.get("action") != "delete"]),
            "bytes_uploaded": r.get("bytes_uploaded"), "files_uploaded": r.get("files_uploaded"),
            "files_skipped": r.get("files_skipped"), "seconds": r.get("seconds"), "mb_per_s": r.get("mb_per_s"),
            "config": config,
        }
    return out


def smoke_test_endpoints(plan, wait, endpoint="external"):
    """chat_completion's ``endpoints``: per model in plan order, the URL inference_service_wait
    found (``external``: status.url, else status.address.url) and the plan's smoke test."""
    states = dict((s.get("name"), s) for s in (wait or {}).get("inference_services") or [])
    out = []
    for name in plan.get("order") or []:
        model, state = plan["models"][name], states.get(name) or {}
        smoke = model.get("smoke_test") or {}
        entry = {"name": name, "model": name, "prompt": smoke.get("prompt"), "max_tokens": smoke.get("max_tokens"),
                 "url": state.get("url") if endpoint == "external" else state.get("internal_url")}
        if smoke.get("expect"):
            entry["expect"] = smoke["expect"]
        out.append(entry)
    return out


def endpoints(order, wait, smoke_results):
    """Per model (in plan order): endpoint, readiness and smoke-test numbers (``smoke_results``:
    chat_completion's ``results`` with ``endpoints``)."""
    states = dict((s.get("name"), s) for s in (wait or {}).get("inference_services") or [])
    smokes = dict((r.get("name"), r) for r in smoke_results or [])
    out = {}
    for name in order:
        st, sm = states.get(name, {}), smokes.get(name, {})
        out[name] = {
            "url": st.get("url") or "", "internal_url": st.get("internal_url") or "",
            "ready": bool(st.get("ready")), "generation": st.get("generation"),
            "seconds_to_ready": st.get("seconds_to_ready"),
            "ttft_seconds": sm.get("ttft_seconds"), "latency_seconds": sm.get("latency_seconds"),
            "tokens_per_second": sm.get("tokens_per_second"), "output_tokens": sm.get("output_tokens"),
            "content": sm.get("content") or "",
        }
    return out


def _num(value, fmt):
    return "-" if value is None else fmt % float(value)


def summary(plan, results):
    """(rows, lines): per model its URL, GPUs, readiness, TTFT, tokens/s and cost, then the total."""
    rows, lines = [], []
    models = plan.get("models") or {}
    for name in plan.get("order") or list(models):
        p, r = models.get(name) or {}, (results or {}).get(name) or {}
        row = {"name": name, "url": r.get("url") or "-",
               "gpus": int(p.get("gpus") or 0) * int(p.get("replicas", 1) or 0),
               "gpu_product": p.get("gpu_product") or "-", "instance_type": p.get("instance_type") or "-",
               "seconds_to_ready": r.get("seconds_to_ready"), "ttft_seconds": r.get("ttft_seconds"),
               "tokens_per_second": r.get("tokens_per_second"), "hourly_cost": p.get("hourly_cost")}
        rows.append(row)
        lines.append("%s: %s | %dx %s (%s) | Ready after %s of waiting | TTFT %s | %s tokens/s | $%s/hour" % (
            name, row["url"], row["gpus"], row["gpu_product"], row["instance_type"],
            _num(row["seconds_to_ready"], "%.1fs"), _num(row["ttft_seconds"], "%.3fs"),
            _num(row["tokens_per_second"], "%.1f"), _num(row["hourly_cost"], "%.4f")))
    lines.append("total: %s GPUs, $%.4f/hour" % (plan.get("gpus_total", "-"), float(plan.get("hourly_cost_total") or 0)))
    return rows, lines


_REGISTRY_IDS = ("registered_model_id", "model_version_id", "model_artifact_id")


def token_secret_names(plan, names=None):
    """chat_completion's and llm_benchmark's ``token_secrets.names``: per model (``names``, else every
    model in plan order) the token Secret the inference_services role creates (the plan's ``auth``)."""
    models = plan.get("models") or {}
    return dict((name, models[name]["auth"]["token_secret"]) for name in (names or plan.get("order") or []))


def registry_entries(plan):
    """model_registry's ``entries``: per model of the plan, in plan order, its registered model,
    version and artifact (the artifact stored under the data connection's key and the weights' path)."""
    out = []
    for model in (plan.get("models") or {}).values():
        reg = model["registry"]
        out.append({
            "registered_model": {"name": reg["model_name"], "description": reg["description"], "owner": reg["owner"],
                                 "custom_properties": reg["custom_properties"]},
            "version": {"name": reg["version"], "author": reg["author"],
                        "custom_properties": reg["version_custom_properties"]},
            "artifact": {"uri": reg["artifact_uri"], "model_format_name": reg["format_name"],
                         "model_format_version": reg["format_version"],
                         "storage_key": plan["settings"]["connection_name"], "storage_path": model["weights"]["path"]},
        })
    return out


def registry_ids(plan, results):
    """{model name: {registered_model_id, model_version_id, model_artifact_id}} from model_registry's
    ``results`` for ``registry_entries(plan)``."""
    return dict((name, dict((k, r.get(k)) for k in _REGISTRY_IDS))
                for name, r in zip((plan.get("models") or {}), results or []))
