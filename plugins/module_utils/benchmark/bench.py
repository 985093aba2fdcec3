# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""llm_benchmark's work: validate the options, run the load, shape the result, write the file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import platform
import socket
import tempfile
from urllib.parse import urlsplit

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.client import Endpoint
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.dataset import Dataset
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.load import PROFILES, Bounds, Runner, interleaved
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError


TARGET_KEYS = ("name", "url", "model")


def targets_of(p):
    """The endpoints of the options: ``targets`` (each ``name``, ``url``, ``model`` defaulting to
    ``name``), else the one ``url`` and ``model`` (named by the model)."""
    if p.get("targets"):
        return [{"name": t.get("name"), "url": t.get("url"), "model": t.get("model") or t.get("name")}
                for t in p["targets"]]
    return [{"name": p.get("model"), "url": p.get("url"), "model": p.get("model")}]


def problems(p):
    """One sentence per bad option, each naming the option and the fix (before anything is sent)."""
    out = []
    if p.get("targets") is not None and (p.get("url") or p.get("model")):
        out.append("give either targets or url and model, not both.")
    if p.get("targets") is not None and not p["targets"]:
        out.append("targets is empty: give at least one {name, url}.")
    names = []
    for i, t in enumerate(p.get("targets") or []):
        if not isinstance(t, dict):
            out.append("targets[%d] must be a dict with name and url; got %r." % (i, t))
            continue
        unknown = sorted(set(t) - set(TARGET_KEYS))
        if unknown:
            out.append("targets[%d] has unknown key(s) %s; known: %s." % (i, ", ".join(unknown), ", ".join(TARGET_KEYS)))
        if not t.get("name"):
            out.append("targets[%d] needs a name (the served model name unless model is given)." % i)
        elif t["name"] in names:
            out.append("targets[%d] repeats the name %s: each target once." % (i, t["name"]))
        names.append(t.get("name"))
    for i, t in enumerate(targets_of(p) if not out else []):
        where = "targets[%d].url" % i if p.get("targets") else "url"
        url = urlsplit(t["url"] or "")
        if url.scheme not in ("http", "https") or not url.hostname:
            out.append("%s must be an http(s) URL such as https://model.apps.example.com; got %r (is the model "
                       "deployed and ready?)." % (where, t["url"]))
        if not t["model"]:
            out.append("model must be the served model name; it is empty.")
    if p["profile"] not in PROFILES:
        out.append("profile must be one of %s; got %r." % (", ".join(PROFILES), p["profile"]))
    if p["profile"] == "concurrent" and (p.get("concurrency") or 0) < 1:
        out.append("concurrency must be at least 1 with profile concurrent; got %r." % p.get("concurrency"))
    if p["profile"] in ("constant", "poisson") and not (p.get("rate") or 0) > 0:
        out.append("rate must be a positive number of requests per second with profile %s; got %r."
                   % (p["profile"], p.get("rate")))
    if p.get("max_requests") is None and p.get("max_seconds") is None:
        out.append("set max_requests or max_seconds (or both): a benchmark needs an end.")
    if p.get("max_requests") is not None and p["max_requests"] < 1:
        out.append("max_requests must be at least 1; got %r." % p["max_requests"])
    if p.get("max_seconds") is not None and not p["max_seconds"] > 0:
        out.append("max_seconds must be positive; got %r." % p["max_seconds"])
    if p.get("max_concurrency", 1) < 1 or p.get("max_concurrency", 1) > 1024:
        out.append("max_concurrency must be between 1 and 1024; got %r." % p.get("max_concurrency"))
    if p.get("sweep_points", 2) < 2:
        out.append("sweep_points must be at least 2 (synchronous and throughput); got %r." % p.get("sweep_points"))
    if not p.get("request_timeout", 1) > 0:
        out.append("request_timeout must be positive; got %r." % p.get("request_timeout"))
    for key in ("slo_ttft_ms", "slo_tpot_ms", "slo_e2el_ms"):
        if p.get(key) is not None and not p[key] > 0:
            out.append("%s must be a positive number of milliseconds; got %r." % (key, p[key]))
    if not 0 < p.get("slo_attainment", 0.9) <= 1:
        out.append("slo_attainment must be in (0, 1]; got %r." % p.get("slo_attainment"))
    for q in p.get("percentiles") or []:
        if not 0 <= q <= 100:
            out.append("percentiles must be between 0 and 100; got %r." % q)
    for key in ("prompt_tokens", "output_tokens"):
        try:
            Dataset(p[key], 1) if key == "prompt_tokens" else Dataset(1, p[key])
        except ModuleError as err:
            out.append(err.msg)
    return out


# Runs are returned ordered by load: synchronous, then the rates (or streams) ascending, then
# throughput; ``sequence`` says when each ran.
_KIND_ORDER = {"synchronous": 0, "concurrent": 1, "constant": 1, "poisson": 1, "throughput": 2}


def _by_load(run):
    return (_KIND_ORDER.get(run.profile, 1), run.rate or run.concurrency or 0, run.sequence)


def run(p, tokens=None):
    """Run the benchmark of the validated options ``p`` against every target, interleaved level by
    level (load.interleaved); ``tokens``: target name -> bearer token (over ``token``). Returns the
    module result (no secret): the single target's keys at the top for ``url``/``model``, else
    ``results`` (one per target, in the targets' order) and ``sequence``."""
    tokens = tokens or {}
    targets = targets_of(p)
    dataset = Dataset(p["prompt_tokens"], p["output_tokens"], seed=p["seed"], size=p["dataset_size"])
    runners = []
    for t in targets:
        endpoint = Endpoint(t["url"], t["model"], token=tokens.get(t["name"]) or p.get("token"), ca_path=p.get("ca_path"),
                            validate_certs=p["validate_certs"], proxy=p.get("proxy"),
                            timeout=p["request_timeout"], ignore_eos=p["ignore_eos"],
                            extra_body=p.get("extra_body"))
        runners.append(Runner(endpoint, dataset, Bounds(p.get("max_requests"), p.get("max_seconds")),
                              max_concurrency=p["max_concurrency"], seed=p["seed"], warmup=p["warmup_requests"]))
    started = datetime.datetime.now(datetime.timezone.utc)
    runs, sequence = interleaved(runners, p["profile"], p.get("concurrency"), p.get("rate"), p["sweep_points"],
                                 p.get("sweep_rate_type") or "constant")
    slo = {"ttft_ms": p.get("slo_ttft_ms"), "tpot_ms": p.get("slo_tpot_ms"), "e2el_ms": p.get("slo_e2el_ms")}
    percentiles = tuple(p.get("percentiles") or (50, 90, 99))
    common = {
        "profile": p["profile"], "started": started.isoformat(),
        "slo": dict(slo, attainment=p["slo_attainment"]),
        "dataset": dataset.describe(),
        "bounds": {"max_requests": p.get("max_requests"), "max_seconds": p.get("max_seconds")},
        "environment": {"client_host": socket.gethostname(), "python": platform.python_version(),
                        "streaming": True, "ignore_eos": p["ignore_eos"],
                        "max_concurrency": p["max_concurrency"]},
    }
    per_target = []
    for t, runner, done in zip(targets, runners, runs):
        results = [r.result(slo, percentiles, p["slo_attainment"]) for r in sorted(done, key=_by_load)]
        warm_failed = [r for r in runner.warmup_records if not r["ok"]]
        one = {"name": t["name"], "url": runner.endpoint.root, "model": t["model"], "runs": results,
               "best": best(results), "totals": totals(results),
               "warmup": {"requests": len(runner.warmup_records), "failed": len(warm_failed),
                          "errors": sorted(set(r["error"] for r in warm_failed))}}
        per_target.append(one)
    if not p.get("targets"):
        result = dict(common, **per_target[0])
        result.pop("name")
        return result
    common["results"] = per_target
    common["sequence"] = [{"level": level, "target": targets[i]["name"]} for level, i in sequence]
    return common


def best(results):
    """Index of the run with the highest output-token throughput among those meeting the SLO
    (None when none does): the load at which the deployment's cost per token is quoted."""
    ok = [(r["output_token_throughput"] or 0, i) for i, r in enumerate(results) if r["meets_slo"]]
    return max(ok)[1] if ok else None


def totals(results):
    """Requests, completions and failures (per class) over all runs: errors are never averaged away."""
    errors = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"requests": sum(r["requests"] for r in results), "completed": sum(r["completed"] for r in results),
            "failed": sum(r["failed"] for r in results), "errors": errors}


def write(path, result):
    """Write ``result`` as JSON to ``path`` atomically (0644: it holds no secret)."""
    path = os.path.abspath(os.path.expanduser(path))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    fd, tmp = tempfile.mkstemp(prefix=".llm_benchmark.", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
