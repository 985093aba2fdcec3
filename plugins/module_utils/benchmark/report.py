# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The benchmark report: llm_benchmark results joined with the plan's cost, an FP8 versus BF16
table per base model, and the report as JSON, Markdown and one self-contained HTML file.

Cost per million output tokens is quoted at the best load level (the highest output-token
throughput meeting the SLO, llm_benchmark's ``best``): ``$/hour / (tokens/s * 3600) * 1e6``, the
deployment's whole hourly cost (its share of the instance, replicas included) spent on output
tokens. The HTML inlines plotly.js from the ``plotly`` Python package (its ``package_data``), so
the file draws its charts with no network at view time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.memory import FP8_METHODS

DTYPES = {"bfloat16": "BF16", "float16": "FP16", "half": "FP16", "float32": "FP32", "float": "FP32"}


def precision(entry):
    """The served precision of a plan entry: the checkpoint's quantization scheme (the plan's
    ``checkpoint.quant_scheme``, from its quantization_config: FP8 only when the weights are FP8;
    compressed-tensors and ModelOpt checkpoints may be INT8, W4A16, NVFP4...), else vLLM's online
    ``--quantization``, else the dtype (BF16, FP16, FP32) or ``unknown``."""
    ckpt = entry.get("checkpoint") or {}
    if ckpt.get("quant_scheme"):
        return ckpt["quant_scheme"]
    method = str(ckpt.get("quant_method") or "").lower()
    if method:  # a plan without quant_scheme: only these methods say FP8 by their name
        return "FP8" if method in FP8_METHODS else "quantized (%s)" % method
    quant = str(entry.get("quantization") or "").lower()
    if quant:
        return "FP8" if quant in FP8_METHODS else quant.upper()
    dtype = str(entry.get("dtype") or "").lower()
    if dtype in ("auto", ""):
        dtype = str(ckpt.get("torch_dtype") or "").lower()
    return DTYPES.get(dtype, "unknown")


def percentile_keys(results):
    """The percentile keys (``p50``, ``p99_9``...) the results' distributions carry, in numeric
    order: llm_benchmark's ``percentiles`` option decides them."""
    keys = set()
    for res in results.values():
        for run in (res or {}).get("runs") or []:
            keys.update(k for k in (run.get("ttft_ms") or {}) if k.startswith("p") and k[1:2].isdigit())
    return sorted(keys, key=lambda k: float(k[1:].replace("_", ".")))


def center_and_tail(keys):
    """The percentile quoted as typical (p50 when measured, else the lowest) and the tail (the highest)."""
    if not keys:
        return "p50", "p99"
    return ("p50" if "p50" in keys else keys[0]), keys[-1]


def _ms(dist, key):
    return (dist or {}).get(key)


def _mean_in_flight(run):
    """Little's law: mean requests in flight = sum of latencies / duration (the load a level put on)."""
    dur = run.get("duration_seconds") or 0
    e2el = (run.get("e2el_ms") or {}).get("mean")
    if not dur or e2el is None:
        return None
    return round(e2el / 1000.0 * run["completed"] / dur, 3)


def model_row(name, entry, result, keys=("p50", "p90", "p99")):
    """One model: its deployment, best level, synchronous level and cost per million output tokens.
    ``keys``: the percentile keys of the results (percentile_keys)."""
    runs = (result or {}).get("runs") or []
    best_i = (result or {}).get("best")
    best = runs[best_i] if best_i is not None and best_i < len(runs) else None
    sync = next((r for r in runs if r["profile"] == "synchronous"), None)
    gpus = int(entry.get("gpus") or 0) * int(entry.get("replicas", 1) or 1)
    cost = entry.get("hourly_cost")
    tput = best["output_token_throughput"] if best else None
    per_m = round(float(cost) / (tput * 3600.0) * 1e6, 4) if cost is not None and tput else None
    levels = []
    for r in runs:
        levels.append({"profile": r["profile"], "concurrency": r.get("concurrency"), "rate": r.get("rate"),
                       "sequence": r.get("sequence"), "mean_in_flight": _mean_in_flight(r),
                       "request_throughput": r["request_throughput"],
                       "output_token_throughput": r["output_token_throughput"],
                       "ttft_ms": r["ttft_ms"], "tpot_ms": r["tpot_ms"], "itl_ms": r["itl_ms"], "e2el_ms": r["e2el_ms"],
                       "completed": r["completed"], "failed": r["failed"], "errors": r["errors"],
                       "request_goodput": r.get("request_goodput"), "meets_slo": r["meets_slo"]})
    row = {
        "name": name, "display_name": entry.get("display_name") or name,
        "base_model": (entry.get("registry") or {}).get("model_name") or name,
        "precision": precision(entry), "instance_type": entry.get("instance_type"),
        "gpu_product": entry.get("gpu_product"), "gpus": gpus,
        "tensor_parallel_size": entry.get("tensor_parallel_size"),
        "vllm_args": entry.get("vllm_args") or [], "hourly_cost": cost,
        "url": (result or {}).get("url"), "best": best_i, "levels": levels,
        "output_tokens_per_second": tput,
        "output_tokens_per_second_per_gpu": round(tput / gpus, 3) if tput and gpus else None,
        "usd_per_million_output_tokens": per_m,
        "failed": sum(r["failed"] for r in runs), "requests": sum(r["requests"] for r in runs),
        "errors": (result or {}).get("totals", {}).get("errors", {}),
    }
    for key in keys:
        # at the best level, and at the synchronous level (one request at a time: the documents'
        # `time curl`, without the queueing a loaded server adds)
        for metric in ("ttft", "tpot", "e2el"):
            row["%s_%s_ms" % (metric, key)] = _ms(best and best["%s_ms" % metric], key)
        for metric in ("ttft", "e2el"):
            row["sync_%s_%s_ms" % (metric, key)] = _ms(sync and sync["%s_ms" % metric], key)
    return row


def compare_rows(keys):
    """(key, label) of the rows of the FP8 versus BF16 table."""
    center, tail = center_and_tail(keys)
    return [("sync_ttft_%s_ms" % center, "TTFT %s, one request at a time (ms)" % center),
            ("sync_e2el_%s_ms" % center, "E2E latency %s, one request at a time (ms)" % center),
            ("ttft_%s_ms" % center, "TTFT %s at the best level (ms)" % center),
            ("ttft_%s_ms" % tail, "TTFT %s at the best level (ms)" % tail),
            ("tpot_%s_ms" % center, "TPOT %s at the best level (ms)" % center),
            ("output_tokens_per_second", "output tok/s at the best level"),
            ("output_tokens_per_second_per_gpu", "tok/s per GPU at the best level"),
            ("hourly_cost", "$/hour"), ("usd_per_million_output_tokens", "$ per M output tokens at the best level")]


def comparison(rows, keys=("p50", "p90", "p99")):
    """Per base model served both in FP8 and in BF16: one entry with each side's numbers and the
    FP8/BF16 ratio of each (the documents' question, answered per profile): one request at a time,
    and each model at its own best level (the highest throughput meeting the SLO)."""
    rows_spec = compare_rows(keys)
    groups = {}
    for row in rows:
        groups.setdefault(row["base_model"], {}).setdefault(row["precision"], row)
    out = []
    for base, sides in groups.items():
        if "FP8" not in sides or "BF16" not in sides:
            continue
        fp8, bf16 = sides["FP8"], sides["BF16"]
        ratios = {}
        for key, dummy in rows_spec:
            a, b = fp8.get(key), bf16.get(key)
            ratios[key] = round(float(a) / float(b), 3) if a is not None and b else None
        out.append({"base_model": base, "fp8": fp8["name"], "bf16": bf16["name"],
                    "fp8_gpus": fp8["gpus"], "bf16_gpus": bf16["gpus"],
                    "values": dict((key, {"FP8": fp8.get(key), "BF16": bf16.get(key)}) for key, dummy in rows_spec),
                    "ratio_fp8_over_bf16": ratios})
    return out


def flatten(entries):
    """llm_benchmark_report's ``results``: one model's results, or whole runs with ``targets``
    (their ``results``). Returns ({model name: result} in benchmark order, the runs' sequence)."""
    out, sequence = {}, []
    for entry in entries or []:
        if isinstance(entry.get("results"), list):
            sequence.extend(entry.get("sequence") or [])
            parts = entry["results"]
        else:
            parts = [entry]
        for part in parts:
            out[part.get("name") or part.get("model")] = part
    return out, sequence


def build(plan, results, environment=None, slo=None, load=None, sequence=None):
    """The report as data. ``results``: {model name: llm_benchmark result}, in benchmark order;
    ``sequence``: the load levels in the order run ({level, target}), when interleaved."""
    models = (plan or {}).get("models") or {}
    keys = percentile_keys(results)
    rows = [model_row(name, models.get(name) or {}, res, keys) for name, res in results.items()]
    center, tail = center_and_tail(keys)
    return {"models": rows, "comparison": comparison(rows, keys), "slo": slo or {}, "load": load or {},
            "environment": environment or {},
            "simulated": bool((environment or {}).get("lab")),
            "percentiles": keys, "center": center, "tail": tail,
            "compare_rows": [list(r) for r in compare_rows(keys)],
            "order": list(results), "sequence": list(sequence or [])}


def _fmt(value, fmt="%.1f"):
    return "-" if value is None else fmt % value


def markdown(report):
    """The Markdown summary (CI logs, AAP job output)."""
    env = report["environment"]
    c, t = report.get("center", "p50"), report.get("tail", "p99")
    lines = ["# LLM serving benchmark", ""]
    if report["simulated"]:
        lines += ["> Measured against the local lab: the numbers are its vLLM simulator's, not a GPU's.", ""]
    lines.append("Run %s, profile %s; load %s; SLO %s." % (
        env.get("time", "-"), env.get("profile", "-"), json.dumps(report["load"], sort_keys=True),
        json.dumps(report["slo"], sort_keys=True)))
    if report.get("sequence"):
        lines.append("Models interleaved level by level, the order alternating (%s)." % _sequence_text(report["sequence"]))
    lines += ["", "| model | precision | GPUs | one at a time: TTFT / E2E %s (ms) | best level | TTFT %s / %s (ms) | TPOT %s (ms) "
              "| output tok/s | tok/s per GPU | $/hour | $ per M output tokens | failed |" % (c, c, t, c),
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["models"]:
        lvl = r["levels"][r["best"]] if r["best"] is not None else None
        lines.append("| %s | %s | %d x %s (%s) | %s / %s | %s | %s / %s | %s | %s | %s | %s | %s | %d of %d%s |" % (
            r["name"], r["precision"], r["gpus"], r["gpu_product"] or "-", r["instance_type"] or "-",
            _fmt(r.get("sync_ttft_%s_ms" % c)), _fmt(r.get("sync_e2el_%s_ms" % c)),
            _level_name(lvl) if lvl else "none meets the SLO", _fmt(r.get("ttft_%s_ms" % c)), _fmt(r.get("ttft_%s_ms" % t)),
            _fmt(r.get("tpot_%s_ms" % c)), _fmt(r["output_tokens_per_second"]), _fmt(r["output_tokens_per_second_per_gpu"]),
            _fmt(r["hourly_cost"], "%.4f"), _fmt(r["usd_per_million_output_tokens"], "%.2f"), r["failed"], r["requests"],
            (" " + json.dumps(r["errors"], sort_keys=True)) if r["errors"] else ""))
    for cmp in report["comparison"]:
        lines += ["", "## FP8 versus BF16: %s (%s, %d GPU(s) / %s, %d GPU(s))" % (
            cmp["base_model"], cmp["fp8"], cmp["fp8_gpus"], cmp["bf16"], cmp["bf16_gpus"]), "",
            "One request at a time (no queueing: the documents' `time curl`), then each model at its own best "
            "level (the highest output throughput meeting the SLO).", "",
            "| metric | FP8 | BF16 | FP8 / BF16 |", "|---|---|---|---|"]
        for key, label in report["compare_rows"]:
            v = cmp["values"][key]
            lines.append("| %s | %s | %s | %s |" % (
                label, _fmt(v["FP8"], "%.2f"), _fmt(v["BF16"], "%.2f"), _fmt(cmp["ratio_fp8_over_bf16"][key], "%.3f")))
    return "\n".join(lines) + "\n"


def _sequence_text(sequence):
    """``level 0: a, b; level 1: b, a; ...`` (the first levels)."""
    by_level = []
    for step in sequence:
        if not by_level or by_level[-1][0] != step["level"]:
            by_level.append((step["level"], []))
        by_level[-1][1].append(step["target"])
    text = "; ".join("level %d: %s" % (level, ", ".join(names)) for level, names in by_level[:2])
    return text + ("; ..." if len(by_level) > 2 else "")


def _level_name(lvl):
    if lvl["profile"] in ("synchronous",):
        return "synchronous"
    if lvl.get("rate") is not None:
        return "%s %.2f req/s" % (lvl["profile"], lvl["rate"])
    return "%s x%s" % (lvl["profile"], lvl.get("concurrency"))


def plotly_js():
    """plotly.min.js from the installed ``plotly`` package; a ModuleError-free None when absent."""
    try:
        import plotly  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    if not os.path.exists(path):
        return None
    with open(path, "r") as fh:
        return fh.read()


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>LLM serving benchmark</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2327;max-width:1200px}
h1{font-size:1.6em;margin:0 0 4px} h2{font-size:1.2em;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0;font-size:.9em} td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f4f6} td:first-child,th:first-child{text-align:left}
.note{background:#fff7d6;border:1px solid #e7c94b;padding:8px 12px;margin:12px 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px} .chart{height:380px;border:1px solid #eee}
code{font-size:.85em}
</style>
<script>__PLOTLY__</script></head>
<body>
<h1>LLM serving benchmark</h1>
<div id="meta"></div>
<div id="simulated"></div>
<h2>Models: one request at a time, and at their best load level (highest output throughput meeting the SLO)</h2><div id="models"></div>
<h2>FP8 versus BF16</h2><div id="compare"></div>
<h2>Time to first token and throughput against load</h2>
<div class="grid"><div class="chart" id="chart-ttft"></div><div class="chart" id="chart-throughput"></div></div>
<h2>Latency percentiles and cost</h2>
<div class="grid"><div class="chart" id="chart-percentiles"></div><div class="chart" id="chart-cost"></div></div>
<h2>Environment</h2><div id="environment"></div>
<script id="report-data" type="application/json">__DATA__</script>
<script>
(function () {
  var R = JSON.parse(document.getElementById('report-data').textContent);
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
  function f(v, d) { return v === null || v === undefined ? '-' : Number(v).toFixed(d === undefined ? 1 : d); }
  function level(l) {
    if (l.profile === 'synchronous') { return 'synchronous'; }
    return l.rate !== null && l.rate !== undefined ? l.profile + ' ' + f(l.rate, 2) + ' req/s' : l.profile + ' x' + l.concurrency;
  }
  function table(head, rows) {
    return '<table><tr>' + head.map(function (h) { return '<th>' + esc(h) + '</th>'; }).join('') + '</tr>' +
      rows.map(function (r) { return '<tr>' + r.map(function (c) { return '<td>' + esc(c) + '</td>'; }).join('') + '</tr>'; }).join('') + '</table>';
  }
  var env = R.environment;
  document.getElementById('meta').innerHTML = '<p>Run ' + esc(env.time || '-') + ' &middot; profile <b>' + esc(env.profile || '-') +
    '</b> &middot; load ' + esc(JSON.stringify(R.load)) + ' &middot; SLO ' + esc(JSON.stringify(R.slo)) + '</p>';
  if (R.simulated) {
    document.getElementById('simulated').innerHTML = '<div class="note">Measured against the local lab: these numbers ' +
      'are its vLLM simulator\\'s, not a GPU\\'s. Use them to check the tooling, not to size hardware.</div>';
  }
  var C = R.center, T = R.tail;
  document.getElementById('models').innerHTML = table(
    ['model', 'precision', 'GPUs', 'one at a time: TTFT ' + C + ' ms', 'one at a time: E2E ' + C + ' ms', 'best level',
     'TTFT ' + C + ' ms', 'TTFT ' + T + ' ms', 'TPOT ' + C + ' ms', 'output tok/s', 'tok/s per GPU', '$/hour',
     '$ per M output tokens', 'failed / requests'],
    R.models.map(function (m) { return [m.name, m.precision, m.gpus + ' x ' + (m.gpu_product || '-') + ' (' + (m.instance_type || '-') + ')',
      f(m['sync_ttft_' + C + '_ms']), f(m['sync_e2el_' + C + '_ms']), m.best === null ? 'none meets the SLO' : level(m.levels[m.best]),
      f(m['ttft_' + C + '_ms']), f(m['ttft_' + T + '_ms']), f(m['tpot_' + C + '_ms']), f(m.output_tokens_per_second),
      f(m.output_tokens_per_second_per_gpu), f(m.hourly_cost, 4), f(m.usd_per_million_output_tokens, 2),
      m.failed + ' / ' + m.requests + (Object.keys(m.errors).length ? ' ' + JSON.stringify(m.errors) : '')]; }));
  document.getElementById('compare').innerHTML = R.comparison.length ? R.comparison.map(function (c) {
    return '<p><b>' + esc(c.base_model) + '</b>: ' + esc(c.fp8) + ' (FP8, ' + c.fp8_gpus + ' GPU) / ' + esc(c.bf16) + ' (BF16, ' + c.bf16_gpus + ' GPU). ' +
      'One request at a time (no queueing), then each model at its own best level.</p>' +
      table(['metric', 'FP8', 'BF16', 'FP8 / BF16'], R.compare_rows.map(function (row) {
        var k = row[0];
        return [row[1], f(c.values[k].FP8, 2), f(c.values[k].BF16, 2), f(c.ratio_fp8_over_bf16[k], 3)]; }));
  }).join('') : '<p>No base model was benchmarked in both FP8 and BF16.</p>';
  document.getElementById('environment').innerHTML = table(['key', 'value'], Object.keys(env).map(function (k) {
    return [k, typeof env[k] === 'object' ? JSON.stringify(env[k]) : env[k]]; })) +
    table(['model', 'URL', 'vLLM args'], R.models.map(function (m) { return [m.name, m.url || '-', (m.vllm_args || []).join(' ')]; }));

  var drawn = [];
  var layout = function (title, x, y) { return {title: {text: title}, xaxis: {title: {text: x}}, yaxis: {title: {text: y}, rangemode: 'tozero'},
    margin: {t: 48, l: 64, r: 16, b: 56}, legend: {orientation: 'h', y: -0.25}}; };
  var cfg = {displaylogo: false, displayModeBar: false, responsive: true};
  var ttft = [], thr = [];
  R.models.forEach(function (m) {
    var x = m.levels.map(function (l) { return l.mean_in_flight; });
    ttft.push({x: x, y: m.levels.map(function (l) { return l.ttft_ms[C]; }), name: m.name + ' ' + C, mode: 'lines+markers', type: 'scatter'});
    ttft.push({x: x, y: m.levels.map(function (l) { return l.ttft_ms[T]; }), name: m.name + ' ' + T, mode: 'lines+markers',
      type: 'scatter', line: {dash: 'dot'}});
    thr.push({x: x, y: m.levels.map(function (l) { return l.output_token_throughput; }), name: m.name, mode: 'lines+markers', type: 'scatter'});
  });
  drawn.push(Plotly.newPlot('chart-ttft', ttft, layout('Time to first token against load', 'mean requests in flight', 'ms'), cfg));
  drawn.push(Plotly.newPlot('chart-throughput', thr, layout('Output throughput against load', 'mean requests in flight', 'tokens/s'), cfg));
  var pct = [];
  R.percentiles.forEach(function (p) {
    R.models.forEach(function (m) {
      var l = m.best === null ? null : m.levels[m.best];
      pct.push({type: 'bar', name: m.name + ' ' + p, x: ['TTFT', 'TPOT', 'ITL', 'E2E latency'],
        y: l ? [l.ttft_ms[p], l.tpot_ms[p], l.itl_ms[p], l.e2el_ms[p]] : [null, null, null, null]});
    });
  });
  var pl = layout('Latency percentiles at the best level', 'metric', 'ms'); pl.barmode = 'group'; pl.yaxis.type = 'log'; delete pl.yaxis.rangemode;
  drawn.push(Plotly.newPlot('chart-percentiles', pct, pl, cfg));
  drawn.push(Plotly.newPlot('chart-cost', [{type: 'bar', x: R.models.map(function (m) { return m.name; }),
    y: R.models.map(function (m) { return m.usd_per_million_output_tokens; }),
    text: R.models.map(function (m) {
      return m.usd_per_million_output_tokens === null ? 'no level meets the SLO' : '$' + f(m.usd_per_million_output_tokens, 2); }),
    textposition: 'auto', marker: {color: R.models.map(function (m) { return m.precision === 'FP8' ? '#2b8a3e' : '#1f6feb'; })}}],
    layout('Cost per million output tokens (best level)', 'model', '$'), cfg));
  Promise.all(drawn).then(function () { document.body.setAttribute('data-charts-drawn', String(drawn.length)); });
})();
</script>
</body></html>
"""


def html(report, js):
    """One self-contained HTML file: plotly.js and the data inline, nothing fetched at view time."""
    data = json.dumps(report, sort_keys=True).replace("</", "<\\/")
    head, tail = HTML.replace("__DATA__", data).split("__PLOTLY__", 1)
    return head + js.replace("</script", "<\\/script") + tail


def target_problems(plan, names):
    """Sentences for a subset (``llm_serving_benchmark_models``) naming models the plan lacks."""
    models = (plan or {}).get("models") or {}
    if names is None or names == "":
        return []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return ["llm_serving_benchmark_models must be a list of model names from llm_serving_models; got %r." % (names,)]
    unknown = [n for n in names if n not in models]
    if unknown:
        return ["llm_serving_benchmark_models names %s, not in llm_serving_models (%s): use names from that list."
                % (", ".join(unknown), ", ".join((plan or {}).get("order") or sorted(models)))]
    return []


def selection(plan, existing, names=None):
    """Which of the plan's models to benchmark, given ``existing`` (the names of the
    InferenceServices in the namespace) and the subset ``names`` (llm_serving_benchmark_models):
    ``{names, not_deployed, problems}``. Without a subset, the plan's models that exist (in plan
    order) and the others in ``not_deployed``; none existing is a problem. With a subset, each must
    exist: the problem names those that do not. Nothing waits for an InferenceService that is not
    there (inference_service_wait would, until its timeout)."""
    plan = plan or {}
    order = plan.get("order") or []
    there = set(existing or [])
    namespace = (plan.get("settings") or {}).get("namespace", "-")
    if names:
        missing = [n for n in names if n not in there]
        problems = []
        if missing:
            problems.append("llm_serving_benchmark_models names %s, which %s no InferenceService in namespace %s: deploy "
                            "%s with site.yml, or leave %s out." % (
                                ", ".join(missing), "has" if len(missing) == 1 else "have", namespace,
                                "it" if len(missing) == 1 else "them", "it" if len(missing) == 1 else "them"))
        return {"names": [n for n in order if n in names and n in there], "not_deployed": missing, "problems": problems}
    chosen = [n for n in order if n in there]
    missing = [n for n in order if n not in there]
    problems = []
    if not chosen:
        problems.append("None of the plan's models (%s) has an InferenceService in namespace %s: deploy them with "
                        "site.yml first." % (", ".join(order) or "none", namespace))
    return {"names": chosen, "not_deployed": missing, "problems": problems}


def targets(plan, wait, names=None, endpoint="external"):
    """The models to benchmark in plan order (the subset ``names`` when given): ``[{name, url}]``
    with the URL inference_service_wait found (``external``: status.url, else status.address.url),
    llm_benchmark's ``targets`` (which interleaves them level by level)."""
    states = dict((s.get("name"), s) for s in (wait or {}).get("inference_services") or [])
    chosen = set(names) if names else None
    out = []
    for name in (plan or {}).get("order") or []:
        if chosen is not None and name not in chosen:
            continue
        st = states.get(name) or {}
        out.append({"name": name, "url": st.get("url") if endpoint == "external" else st.get("internal_url")})
    return out
