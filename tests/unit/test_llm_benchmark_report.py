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
                  "checkpoint": {"quant_method": "compressed-tensors", "torch_dtype": "bfloat16"}, "hourly_cost": 1.861,
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
    assert "simulator's, not a GPU's" in md and "## FP8 versus BF16: M" in md and "| $ per M output tokens |" in md


def test_precision_from_the_plan():
    assert report.precision({"quantization": "fp8"}) == "FP8"
    assert report.precision({"dtype": "auto", "checkpoint": {"torch_dtype": "bfloat16"}}) == "BF16"
    assert report.precision({"dtype": "float16"}) == "FP16" and report.precision({}) == "unknown"


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
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--user-data-dir=%s" % profile, "--virtual-time-budget=15000", "--dump-dom", page.as_uri()]
    env = dict(os.environ, HOME=str(tmp_path))
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False).stdout
    assert 'data-charts-drawn="4"' in dom, dom[-2000:]
    for chart in ("chart-ttft", "chart-throughput", "chart-percentiles", "chart-cost"):
        block = dom.split('id="%s"' % chart, 1)[1][:20000]
        assert 'class="main-svg"' in block, chart
    assert dom.count('class="scatterlayer') >= 2 and "m-fp8" in dom and "simulator" in dom


def test_targets_follow_the_plan_order_and_the_subset():
    wait = {"inference_services": [{"name": "m-fp8", "url": "https://fp8", "internal_url": "http://fp8:8080"},
                                   {"name": "m-bf16", "url": "https://bf16", "internal_url": "http://bf16:8080"}]}
    assert report.targets(PLAN, wait) == [{"name": "m-bf16", "url": "https://bf16"}, {"name": "m-fp8", "url": "https://fp8"}]
    assert report.targets(PLAN, wait, ["m-fp8"], "internal") == [{"name": "m-fp8", "url": "http://fp8:8080"}]
    assert report.target_problems(PLAN, ["m-fp8"]) == [] and report.target_problems(PLAN, None) == []
    (msg,) = report.target_problems(PLAN, ["m-fp8", "nope"])
    assert msg.startswith("llm_serving_benchmark_models names nope,") and "m-bf16, m-fp8" in msg
    assert "must be a list" in report.target_problems(PLAN, "m-fp8")[0]
