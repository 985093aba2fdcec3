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


def _by_model(results, key):
    """{model name: result} of a looped task's results whose loop item (under ``key``) is a plan entry."""
    out = {}
    for r in results or []:
        if r.get("skipped"):
            continue
        item = r.get(key) or {}
        if item.get("name"):
            out[item["name"]] = r
    return out


def synced(sync_results):
    """Per uploaded model: where its weights are, their size, this run's upload numbers and its
    parsed config.json (None when absent or unreadable)."""
    out = {}
    for name, r in _by_model(sync_results, "__mm_model").items():
        m = r["__mm_model"]
        config = None
        path = os.path.join(m["weights"]["local_dir"] or "", "config.json")
        try:
            with open(path) as f:
                config = json.load(f)
        except (IOError, OSError, ValueError):
            pass
        out[name] = {
            "bucket": m["weights"]["bucket"], "path": m["weights"]["path"],
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
