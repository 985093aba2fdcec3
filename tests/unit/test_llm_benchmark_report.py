"""The benchmark report: the join with the plan's cost, the FP8/BF16 table, the Markdown, and the
HTML drawn by a real headless Chromium (Debian's package; scripts/test-all.sh installs it). The
results come from real llm_benchmark runs against the lab's vLLM simulator started here."""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "lab"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark import bench, report  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import memory  # noqa: E402
from labsim import vllm_sim  # noqa: E402

PLAN = {
    "order": ["m-bf16", "m-fp8"],
    "models": {
        "m-bf16": {"name": "m-bf16", "display_name": "M (BF16)", "instance_type": "g6.12xlarge", "gpu_product": "NVIDIA-L4",
                   "gpus": 4, "replicas": 1, "dtype": "bfloat16", "quantization": None, "tensor_parallel_size": 4,
                   "checkpoint": {"quant_method": None, "torch_dtype": "bfloat16"}, "hourly_cost": 4.6016,
                   "vllm_args": ["--tensor-parallel-size=4"], "registry": {"model_name": "M"}},
        "m-fp8": {"name": "m-fp8", "display_name": "M (FP8)", "instance_type": "g6e.xlarge", "gpu_product": "NVIDIA-L40S",
                  "gpus": 1, "replicas": 1, "dtype": "auto", "quantization": None, "tensor_parallel_size": 1,
                  "checkpoint": {"quant_method": "compressed-tensors", "quant_scheme": "FP8", "torch_dtype": "bfloat16"}, "hourly_cost": 1.861,
                  "vllm_args": ["--kv-cache-dtype=fp8"], "registry": {"model_name": "M"}},
    },
}


@pytest.fixture(scope="module")
def results():
    """Real sweeps against two simulators (the lab profile's numbers for TP=4 BF16 and FP8)."""
    servers, out = [], {}
    for name, ttft, itl in (("m-bf16", "5", "2"), ("m-fp8", "8", "3")):
        opts = vllm_sim.parse_args(["--port", "0", "--served-model-name", name, "--time-to-first-token", ttft,
                                    "--inter-token-latency", itl, "--decode-batch-slope", "0.02"])
        server = vllm_sim.make_server(opts)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        url = "http://127.0.0.1:%d" % server.server_address[1]
        p = dict(url=url, model=name, profile="sweep", concurrency=None, rate=None, sweep_points=3, sweep_rate_type="constant",
                 max_concurrency=4, max_requests=8, max_seconds=None, prompt_tokens=16, output_tokens=8, ignore_eos=True,
                 dataset_size=20, seed=0, warmup_requests=1, slo_ttft_ms=60000, slo_tpot_ms=60000, slo_e2el_ms=None,
                 slo_attainment=0.9, percentiles=[50, 90, 99], request_timeout=30, token=None, ca_path=None,
                 validate_certs=True, proxy=None, extra_body={}, output_path=None)
        out[name] = bench.run(p)
    yield out
    for s in servers:
        s.shutdown()
        s.server_close()


def test_join_with_cost_and_fp8_table(results):
    rep = report.build(PLAN, results, {"profile": "unit", "lab": True}, {"slo_ttft_ms": 60000}, {"profile": "sweep"})
    rows = {r["name"]: r for r in rep["models"]}
    assert rows["m-fp8"]["precision"] == "FP8" and rows["m-bf16"]["precision"] == "BF16"
    for r in rows.values():
        best = results[r["name"]]["runs"][results[r["name"]]["best"]]
        assert r["output_tokens_per_second"] == best["output_token_throughput"]
        # $ per M output tokens = $/hour / (tokens/s * 3600) * 1e6
        assert r["usd_per_million_output_tokens"] == pytest.approx(
            PLAN["models"][r["name"]]["hourly_cost"] / (best["output_token_throughput"] * 3600) * 1e6, rel=1e-3)
        assert r["output_tokens_per_second_per_gpu"] == pytest.approx(best["output_token_throughput"] / r["gpus"], rel=1e-3)
        assert len(r["levels"]) == 3 and r["failed"] == 0
    (cmp,) = rep["comparison"]
    assert (cmp["fp8"], cmp["bf16"], cmp["fp8_gpus"], cmp["bf16_gpus"]) == ("m-fp8", "m-bf16", 1, 4)
    ratio = cmp["ratio_fp8_over_bf16"]["usd_per_million_output_tokens"]
    assert ratio == pytest.approx(rows["m-fp8"]["usd_per_million_output_tokens"] / rows["m-bf16"]["usd_per_million_output_tokens"], rel=1e-2)
    md = report.markdown(rep)
    assert "simulator's, not a GPU's" in md and "## FP8 versus BF16: M" in md
    assert "| $ per M output tokens at the best level |" in md


def test_comparison_has_one_request_at_a_time_rows(results):
    """The documents' `time curl`: TTFT and end-to-end latency of the synchronous level (one request
    at a time) for both, besides each model at its own best level."""
    rep = report.build(PLAN, results)
    (cmp,) = rep["comparison"]
    for name, side in (("m-fp8", "FP8"), ("m-bf16", "BF16")):
        sync = next(r for r in results[name]["runs"] if r["profile"] == "synchronous")
        assert cmp["values"]["sync_ttft_p50_ms"][side] == sync["ttft_ms"]["p50"]
        assert cmp["values"]["sync_e2el_p50_ms"][side] == sync["e2el_ms"]["p50"]
    md = report.markdown(rep)
    assert "| TTFT p50, one request at a time (ms) |" in md and "| E2E latency p50, one request at a time (ms) |" in md
    assert "| TTFT p50 at the best level (ms) |" in md


def test_percentile_keys_come_from_the_results(results):
    """llm_benchmark's percentiles option decides the keys: nothing assumes p50/p90/p99."""
    other = json.loads(json.dumps(results))
    for res in other.values():
        for run in res["runs"]:
            for metric in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"):
                dist = run[metric]
                for k in ("p50", "p90", "p99"):
                    dist.pop(k)
                dist["p75"], dist["p99_9"], dist["p95"] = 1.0, 3.0, 2.0
    rep = report.build(PLAN, other)
    assert rep["percentiles"] == ["p75", "p95", "p99_9"] and (rep["center"], rep["tail"]) == ("p75", "p99_9")
    row = rep["models"][0]
    assert row["ttft_p75_ms"] == 1.0 and row["ttft_p99_9_ms"] == 3.0 and "ttft_p50_ms" not in row
    md = report.markdown(rep)
    assert "TTFT p75 / p99_9 (ms)" in md and "| TTFT p75, one request at a time (ms) | 1.00 | 1.00 | 1.000 |" in md
    assert "None" not in md


def test_flatten_takes_a_run_with_targets_or_one_result_per_model(results):
    run = {"results": [dict(results["m-bf16"], name="m-bf16"), dict(results["m-fp8"], name="m-fp8")],
           "sequence": [{"level": 0, "target": "m-bf16"}, {"level": 0, "target": "m-fp8"}]}
    flat, seq = report.flatten([run])
    assert list(flat) == ["m-bf16", "m-fp8"] and seq == run["sequence"]
    flat, seq = report.flatten([results["m-fp8"]])  # a loop's registered results: keyed by model
    assert list(flat) == ["m-fp8"] and seq == []
    md = report.markdown(report.build(PLAN, *report.flatten([run])[:1], sequence=seq or run["sequence"]))
    assert "interleaved level by level" in md


def test_precision_from_the_plan():
    assert report.precision({"quantization": "fp8"}) == "FP8"
    assert report.precision({"dtype": "auto", "checkpoint": {"torch_dtype": "bfloat16"}}) == "BF16"
    assert report.precision({"dtype": "float16"}) == "FP16" and report.precision({}) == "unknown"
    # the checkpoint's scheme, not its method: compressed-tensors and modelopt are not always FP8
    assert report.precision({"checkpoint": {"quant_method": "compressed-tensors", "quant_scheme": "W4A16"}}) == "W4A16"
    assert report.precision({"checkpoint": {"quant_method": "compressed-tensors"}}) == "quantized (compressed-tensors)"
    assert report.precision({"checkpoint": {"quant_method": "fp8"}}) == "FP8"


def _ct(wbits, wtype, abits=None, atype=None, group=None):
    acts = {"num_bits": abits, "type": atype} if abits else None
    return {"quant_method": "compressed-tensors", "config_groups": {"group_0": {
        "weights": {"num_bits": wbits, "type": wtype, "group_size": group}, "input_activations": acts}}}


def test_quant_scheme_reads_the_quantization_config():
    fixture = ROOT / "tests" / "fixtures" / "checkpoints" / "Mistral-Small-24B-Instruct-2501-FP8-dynamic" / "config.json"
    assert memory.quant_scheme(json.loads(fixture.read_text())["quantization_config"]) == "FP8"
    assert memory.quant_scheme(_ct(8, "float")) == "FP8"  # W8A16 FP8
    assert memory.quant_scheme(_ct(8, "int", 8, "int")) == "INT8"
    assert memory.quant_scheme(_ct(4, "int", group=128)) == "W4A16"
    assert memory.quant_scheme(_ct(4, "int", 8, "int")) == "W4A8"
    assert memory.quant_scheme(_ct(4, "float", 4, "float", group=16)) == "NVFP4"
    assert memory.quant_scheme({"quant_method": "modelopt", "quant_algo": "NVFP4"}) == "NVFP4"
    assert memory.quant_scheme({"quant_method": "modelopt", "quantization": {"quant_algo": "FP8"}}) == "FP8"
    assert memory.quant_scheme({"quant_method": "awq", "bits": 4}) == "W4A16"
    assert memory.quant_scheme({"quant_method": "fbgemm_fp8"}) == "FP8"
    assert memory.quant_scheme(None) is None


def test_no_level_meeting_the_slo_has_no_cost_per_token(results):
    broken = json.loads(json.dumps(results["m-fp8"]))
    broken["best"] = None
    (row,) = report.build(PLAN, {"m-fp8": broken})["models"]
    assert row["usd_per_million_output_tokens"] is None and "none meets the SLO" in report.markdown(
        report.build(PLAN, {"m-fp8": broken}))


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(not chromium(), reason="needs Debian's chromium (scripts/test-all.sh installs it)")
def test_html_is_self_contained_and_its_charts_draw(results, tmp_path):
    js = report.plotly_js()
    assert js, "the plotly package (requirements-dev.txt) ships plotly.min.js"
    rep = report.build(PLAN, results, {"profile": "unit", "lab": True, "time": "2026-11-29T00:00:00Z"}, {}, {})
    page = tmp_path / "report.html"
    page.write_text(report.html(rep, js))
    text = page.read_text()
    # nothing fetched at view time: no external script, stylesheet or image
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?https?:""", text)
    profile = tmp_path / "profile"
    # no host resolves: a chart that needed the network (a CDN script) would not draw
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--user-data-dir=%s" % profile, "--virtual-time-budget=15000",
           "--dump-dom", page.as_uri()]
    env = dict(os.environ, HOME=str(tmp_path))
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False).stdout
    assert 'data-charts-drawn="4"' in dom, dom[-2000:]
    for chart in ("chart-ttft", "chart-throughput", "chart-percentiles", "chart-cost"):
        block = dom.split('id="%s"' % chart, 1)[1][:20000]
        assert 'class="main-svg"' in block, chart
    assert dom.count('class="scatterlayer') >= 2 and "m-fp8" in dom and "simulator" in dom


def test_selection_benchmarks_what_is_deployed_and_fails_fast_on_a_subset():
    plan = dict(PLAN, settings={"namespace": "ns"})
    sel = report.selection(plan, ["m-fp8", "other"])
    assert sel == {"names": ["m-fp8"], "not_deployed": ["m-bf16"], "problems": []}
    (msg,) = report.selection(plan, [])["problems"]
    assert msg == "None of the plan's models (m-bf16, m-fp8) has an InferenceService in namespace ns: deploy them with site.yml first."
    sel = report.selection(plan, ["m-fp8"], ["m-bf16", "m-fp8"])
    assert sel["problems"] == ["llm_serving_benchmark_models names m-bf16, which has no InferenceService in namespace ns: "
                               "deploy it with site.yml, or leave it out."]
    assert report.selection(plan, ["m-fp8", "m-bf16"], ["m-fp8"]) == {"names": ["m-fp8"], "not_deployed": [], "problems": []}


def test_targets_follow_the_plan_order_and_the_subset():
    wait = {"inference_services": [{"name": "m-fp8", "url": "https://fp8", "internal_url": "http://fp8:8080"},
                                   {"name": "m-bf16", "url": "https://bf16", "internal_url": "http://bf16:8080"}]}
    assert report.targets(PLAN, wait) == [{"name": "m-bf16", "url": "https://bf16"}, {"name": "m-fp8", "url": "https://fp8"}]
    assert report.targets(PLAN, wait, ["m-fp8"], "internal") == [{"name": "m-fp8", "url": "http://fp8:8080"}]
    assert report.target_problems(PLAN, ["m-fp8"]) == [] and report.target_problems(PLAN, None) == []
    (msg,) = report.target_problems(PLAN, ["m-fp8", "nope"])
    assert msg.startswith("llm_serving_benchmark_models names nope,") and "m-bf16, m-fp8" in msg
    assert "must be a list" in report.target_problems(PLAN, "m-fp8")[0]


def test_benchmark_options_are_checked_before_the_wait_and_named_by_their_variables():
    """A bad value failed inside llm_benchmark after the wait for the InferenceServices (up to 1800 s),
    named by the module's option rather than the variable."""
    from ansible_collections.private_ai.llm_serving.plugins.filter import benchmark as filters
    plan = {"order": ["a"], "models": {"a": {}}}
    load = {"profile": "sweep", "concurrency": None, "sweep_points": 4, "max_requests": 40, "max_seconds": 30,
            "max_concurrency": 16, "prompt_tokens": 128, "output_tokens": 64, "seed": 0, "slo_ttft_ms": 1000,
            "slo_tpot_ms": 100}
    assert filters.benchmark_problems(plan, [], load) == []
    assert filters.benchmark_problems(plan, [], dict(load, profile="concurrent")) == [
        "llm_serving_benchmark_concurrency must be at least 1 with profile concurrent; got None."]
    assert filters.benchmark_problems(plan, [], dict(load, sweep_points=1, max_requests="many")) == [
        "argument 'llm_serving_benchmark_max_requests' is of type str and we were unable to convert to int: "
        "\"'many'\" cannot be converted to an int"]
