# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-run metrics, defined as vLLM's ``vllm bench serve`` defines them.

Upstream: vllm-project/vllm ``vllm/benchmarks/serve.py`` (``calculate_metrics``).
- TTFT: from just before the request is sent to the first streamed chunk that carries content, as
  vLLM's older client (``benchmarks/backend_request_func.py`` tests ``delta.content``). Current
  vLLM (``vllm/benchmarks/lib/endpoint_request_func.py`` ``async_request_openai_chat_completions``)
  counts any chunk with ``choices``, the role chunk first; vLLM sends that chunk with the first
  token, so the readings agree for plain text and differ only for reasoning or tool-call output
  (chunks without ``content``), where this one waits for the first answer token.
- ITL: the gaps between consecutive content chunks after the first.
- E2E latency: from sending to the last content chunk.
- TPOT: ``(latency - TTFT) / (output tokens - 1)`` for requests with more than one output token;
  for goodput a request with one token has TPOT 0.
- output tokens: ``usage.completion_tokens`` (requested with ``stream_options.include_usage``);
  without usage, the number of content chunks (upstream falls back to a tokenizer, which a module
  does not carry).
- request / output-token / total-token throughput: completed requests, output tokens, and prompt
  plus output tokens, divided by the run's duration (first send to last completion).
- goodput: requests meeting every SLO given (TTFT, TPOT, E2E latency; ``SLO >= value``) divided by
  the duration.
- mean, median, standard deviation (population, as ``numpy.std``) and percentiles by linear
  interpolation (``numpy.percentile``'s default).
Failed requests never enter a latency distribution; they are counted per class (HTTP status,
timeout, connection, TLS, stream) next to the completed ones.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

DISTRIBUTIONS = ("ttft", "tpot", "itl", "e2el")


def percentile(values, q):
    """The q-th percentile (0-100) of ``values`` by linear interpolation (numpy's default); None
    for no values."""
    v = sorted(values)
    if not v:
        return None
    pos = (len(v) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = int(math.ceil(pos))
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def distribution(values, percentiles=(50, 90, 99)):
    """Milliseconds: count, mean, std, min, max and ``p<q>`` for each percentile (values in s)."""
    ms = [x * 1000.0 for x in values]
    out = {"count": len(ms)}
    if not ms:
        out.update({"mean": None, "std": None, "min": None, "max": None})
        for q in percentiles:
            out["p%s" % _qname(q)] = None
        return out
    mean = sum(ms) / len(ms)
    out.update({"mean": round(mean, 3),
                "std": round(math.sqrt(sum((x - mean) ** 2 for x in ms) / len(ms)), 3),
                "min": round(min(ms), 3), "max": round(max(ms), 3)})
    for q in percentiles:
        out["p%s" % _qname(q)] = round(percentile(ms, q), 3)
    return out


def _qname(q):
    return ("%g" % q).replace(".", "_")


def tpot(record):
    """TPOT of one completed request in seconds, None when it had one output token or fewer."""
    if record["output_tokens"] > 1:
        return (record["latency"] - record["ttft"]) / (record["output_tokens"] - 1)
    return None


def meets_slo(record, slo):
    """True when the request meets every SLO given (milliseconds); upstream's ``s >= r``."""
    checks = (("ttft_ms", record["ttft"]), ("tpot_ms", tpot(record) or 0.0), ("e2el_ms", record["latency"]))
    return all(slo.get(key) is None or slo[key] / 1000.0 >= value for key, value in checks)


def summarize(records, duration, slo=None, percentiles=(50, 90, 99)):
    """One run's metrics from its request records.

    A record: ``ok`` (bool), ``ttft``, ``latency`` (s), ``itl`` (list of s), ``output_tokens``,
    ``prompt_tokens``, and for a failure ``error`` (its class) and ``message``.
    """
    slo = dict((k, v) for k, v in (slo or {}).items() if v is not None)
    done = [r for r in records if r["ok"]]
    failed = [r for r in records if not r["ok"]]
    errors = {}
    samples = {}
    for r in failed:
        errors[r["error"]] = errors.get(r["error"], 0) + 1
        samples.setdefault(r["error"], r.get("message") or "")
    out_tokens = sum(r["output_tokens"] for r in done)
    in_tokens = sum(r.get("prompt_tokens") or 0 for r in done)
    dur = duration if duration and duration > 0 else None
    good = len([r for r in done if meets_slo(r, slo)]) if slo else None
    itls = [x for r in done for x in r["itl"]]
    return {
        "requests": len(records),
        "completed": len(done),
        "failed": len(failed),
        "errors": errors,
        "error_samples": samples,
        "duration_seconds": round(duration or 0.0, 6),
        "prompt_tokens_total": in_tokens,
        "output_tokens_total": out_tokens,
        "request_throughput": round(len(done) / dur, 4) if dur else None,
        "output_token_throughput": round(out_tokens / dur, 3) if dur else None,
        "total_token_throughput": round((in_tokens + out_tokens) / dur, 3) if dur else None,
        "request_goodput": round(good / dur, 4) if dur and good is not None else None,
        "good_requests": good,
        "ttft_ms": distribution([r["ttft"] for r in done], percentiles),
        "tpot_ms": distribution([t for t in (tpot(r) for r in done) if t is not None], percentiles),
        "itl_ms": distribution(itls, percentiles),
        "e2el_ms": distribution([r["latency"] for r in done], percentiles),
        "max_concurrency_observed": peak_concurrency(done),
    }


def peak_concurrency(done):
    """Most requests in flight at once, over half-open [start, end) intervals (as serve.py does)."""
    events = []
    for r in done:
        events.append((r["start"], 1))
        events.append((r["start"] + r["latency"], -1))
    events.sort()
    peak = cur = 0
    for dummy, delta in events:
        cur += delta
        peak = max(peak, cur)
    return peak
