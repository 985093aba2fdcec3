"""chat_completion against the lab's vLLM simulator (lab/labsim/vllm_sim.py), started per test.

These need no running lab: each test starts its own simulator process on a free port with the
latency and failure injection it wants, so the numbers asserted are the simulator's settings.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import module_runner

REPO = Path(__file__).resolve().parents[2]
MODULE = "private_ai.llm_serving.chat_completion"
TOKEN = "sha256~integration-test-bearer-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def vllm_sim():
    """start(**flags) -> base URL of a vllm_sim started with those flags; stopped afterwards."""
    procs = []

    def start(name="lab-model", **flags):
        port = free_port()
        argv = [module_runner.PYTHON, "-m", "labsim.vllm_sim", "--port", str(port),
                "--served-model-name", name]
        for key, val in flags.items():
            argv += ["--" + key.replace("_", "-"), str(val)]
        proc = subprocess.Popen(argv, cwd=str(REPO / "lab"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        procs.append(proc)
        url = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/metrics", timeout=1).read()  # noqa: S310 - loopback
                return url
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("vllm_sim did not start: %s" % proc.stderr.read())
                time.sleep(0.1)

    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def chat(url, **args):
    base = {"url": url, "model": "lab-model", "prompt": "Say hello in one short sentence.",
            "max_tokens": 16, "timeout": 30}
    base.update(args)
    return module_runner.run(MODULE, base, timeout=120)


def test_ttft_within_5_percent_of_configured(vllm_sim):
    configured = 0.300
    url = vllm_sim(time_to_first_token=configured * 1000, inter_token_latency=10)
    runs = [chat(url, max_tokens=20) for dummy in range(5)]
    assert all(r["rc"] == 0 for r in runs), runs
    ttfts = [r["ttft_seconds"] for r in runs]
    median = statistics.median(ttfts)
    print("\nTTFT configured %.3f s, measured median %.4f s (runs %s), error %+.1f%%"
          % (configured, median, ", ".join("%.4f" % t for t in ttfts), (median / configured - 1) * 100))
    assert abs(median - configured) <= 0.05 * configured
    r = runs[0]
    assert r["output_tokens"] == 20 and r["output_tokens_source"] == "usage"
    # 19 inter-token gaps of 10 ms after the first token: 20 tokens / ~0.19 s
    assert r["tpot_seconds"] == pytest.approx(0.010, rel=0.2)
    assert r["tokens_per_second"] == pytest.approx(20 / (r["latency_seconds"] - r["ttft_seconds"]), rel=0.01)
    assert r["served_models"] == ["lab-model"] and r["health_status"] == 200


def test_non_streaming_mode(vllm_sim):
    url = vllm_sim(time_to_first_token=50, inter_token_latency=5, mode="echo")
    r = chat(url, stream=False, prompt="alpha beta gamma", max_tokens=3, expect="^alpha beta gamma$")
    assert r["rc"] == 0, r
    assert r["ttft_seconds"] is None and r["content"] == "alpha beta gamma"
    assert r["output_tokens"] == 3 and r["prompt_tokens"] == 3
    assert r["latency_seconds"] >= 0.06


def test_503_injecting_endpoint_is_retried_and_passes(vllm_sim):
    # seed 1: the simulator's first draw fails, so at least one retry is certain
    url = vllm_sim(failure_injection_rate=70, failure_types="503", seed=1)
    r = chat(url, timeout=60)
    assert r["rc"] == 0, r
    assert r["attempts"] >= 4  # /health + /v1/models + at least one 503 + the success
    assert r["output_tokens"] == 16


def test_model_still_loading_is_waited_for(vllm_sim):
    url = vllm_sim(startup_duration=3)
    t0 = time.monotonic()
    r = chat(url, timeout=30)
    assert r["rc"] == 0, r
    assert time.monotonic() - t0 >= 2.5 and r["attempts"] >= 4


def test_wrong_model_fails_clearly(vllm_sim):
    url = vllm_sim()
    r = chat(url, model="no-such-model", token=TOKEN)
    assert r["rc"] != 0 and r["failed"]
    assert r["msg"] == "GET %s/v1/models does not list the model 'no-such-model'; it serves lab-model." % url
    assert TOKEN not in json.dumps(r)


def test_permanent_400_fails_at_once_with_status_and_body(vllm_sim):
    url = vllm_sim(max_model_len=64)
    t0 = time.monotonic()
    r = chat(url, max_tokens=500, token=TOKEN, timeout=60)
    assert time.monotonic() - t0 < 20  # not retried until the deadline
    assert r["rc"] != 0 and r["status"] == 400
    assert r["msg"].startswith("POST %s/v1/chat/completions returned HTTP 400: " % url)
    assert "maximum context length is 64 tokens" in r["msg"]
    assert TOKEN not in json.dumps(r)


def test_deadline_reports_last_status(vllm_sim):
    url = vllm_sim(failure_injection_rate=100, failure_types="503")
    r = chat(url, timeout=4)
    assert r["rc"] != 0 and r["status"] == 503
    assert "did not succeed within the 4 s deadline" in r["msg"] and "HTTP 503" in r["msg"]
    assert "Injected failure" in r["msg"]


def test_expect_pattern_mismatch(vllm_sim):
    url = vllm_sim(mode="echo")
    r = chat(url, prompt="bonjour", expect="(?i)hello")
    assert r["rc"] != 0 and "does not match expect" in r["msg"] and "bonjour" in r["msg"]


def test_through_ansible_playbook(vllm_sim, tmp_path):
    """The FQCN resolves from the installed collection and no_log keeps the token out of -vvv."""
    url = vllm_sim(time_to_first_token=20)
    play = tmp_path / "play.yml"
    play.write_text("""
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Smoke test
      private_ai.llm_serving.chat_completion:
        url: "%s"
        model: lab-model
        prompt: hi
        max_tokens: 4
        token: "%s"
      register: smoke
    - name: Check
      ansible.builtin.assert:
        that: [smoke.output_tokens == 4, smoke.ttft_seconds > 0]
""" % (url, TOKEN))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-vvv", "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=%s" % module_runner.PYTHON, str(play)],
                          cwd=str(REPO), capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert TOKEN not in proc.stdout + proc.stderr


def test_endpoints_are_tested_concurrently_in_one_run_and_every_failure_is_named(vllm_sim):
    slow = dict(time_to_first_token=1500)
    urls = [vllm_sim(name="model-%d" % i, **slow) for i in range(3)]
    endpoints = [{"url": u, "model": "model-%d" % i, "prompt": "Hi", "name": "isvc-%d" % i} for i, u in enumerate(urls)]
    t0 = time.monotonic()
    r = module_runner.run(MODULE, {"endpoints": endpoints, "max_tokens": 4, "timeout": 30, "token": TOKEN}, timeout=120)
    elapsed = time.monotonic() - t0
    assert r["rc"] == 0, r
    assert [x["name"] for x in r["results"]] == ["isvc-0", "isvc-1", "isvc-2"]
    assert all(x["ttft_seconds"] >= 1.4 for x in r["results"])
    # Concurrent: three 1.5 s first tokens take less than the sum (generous margin for a slow machine).
    assert elapsed < 4.5 - 0.3, elapsed

    endpoints[1]["model"] = "no-such-model"
    endpoints[2]["expect"] = "^never$"
    r = module_runner.run(MODULE, {"endpoints": endpoints, "max_tokens": 4, "timeout": 30, "token": TOKEN}, timeout=120)
    assert r["rc"] != 0 and r["failed"]
    assert r["msg"].startswith("2 of 3 endpoints failed the smoke test: isvc-1: GET ")
    assert "isvc-2: The answer of 'model-2'" in r["msg"]
    assert not r["results"][0].get("failed") and r["results"][1]["failed"]
    assert TOKEN not in json.dumps(r)


def test_bad_endpoint_entries_are_refused_before_any_request(vllm_sim):
    r = module_runner.run(MODULE, {"endpoints": [{"url": "http://127.0.0.1:9", "prompt": "x", "max_tokens": 0,
                                                  "exepct": "y"}]}, timeout=60)
    assert r["rc"] != 0
    assert r["msg"] == ("endpoints[0]: unknown key(s) exepct; known: url, model, prompt, messages, max_tokens, expect, "
                        "name. endpoints[0]: model is required. endpoints[0]: max_tokens must be at least 1, got 0.")
