"""The reports the roles print, computed in Python (module_utils/serving_plan/report.py), and the
shared layer every module fails, retries and shows response bodies with (module_utils/common)."""

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common import errors, http, retry  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import report  # noqa: E402

PLAN = {
    "order": ["b", "a"],
    "models": {
        "a": {"gpus": 1, "replicas": 1, "gpu_product": "NVIDIA-L40S", "instance_type": "g6e.xlarge",
              "hourly_cost": 1.861, "smoke_test": {"prompt": "Hi", "max_tokens": 8, "expect": "(?i)hello"}},
        "b": {"gpus": 4, "replicas": 2, "gpu_product": "NVIDIA-L4", "instance_type": "g6.12xlarge",
              "hourly_cost": 9.2, "smoke_test": {"prompt": "Yo", "max_tokens": 32, "expect": None}},
    },
    "gpus_total": 9, "hourly_cost_total": 11.061,
}
WAIT = {"inference_services": [
    {"name": "a", "ready": True, "url": "https://a.apps", "internal_url": "http://a.ns.svc", "seconds_to_ready": 3.5},
    {"name": "b", "ready": True, "url": "https://b.apps", "internal_url": "http://b.ns.svc", "seconds_to_ready": 1.0},
]}


def test_smoke_test_endpoints_follow_the_plan_order_and_the_chosen_url():
    eps = report.smoke_test_endpoints(PLAN, WAIT, "external")
    assert [e["name"] for e in eps] == ["b", "a"]
    assert eps[1] == {"name": "a", "model": "a", "prompt": "Hi", "max_tokens": 8, "url": "https://a.apps",
                      "expect": "(?i)hello"}
    assert "expect" not in eps[0]
    assert [e["url"] for e in report.smoke_test_endpoints(PLAN, WAIT, "internal")] == ["http://b.ns.svc", "http://a.ns.svc"]


def test_endpoint_results_join_the_wait_and_the_smoke_tests_by_name():
    smoke = [{"name": "a", "ttft_seconds": 0.2, "latency_seconds": 1.0, "tokens_per_second": 30.0,
              "output_tokens": 8, "content": "Hello"}]
    out = report.endpoints(PLAN["order"], WAIT, smoke)
    assert list(out) == ["b", "a"]
    assert out["a"]["ttft_seconds"] == 0.2 and out["a"]["ready"] and out["a"]["content"] == "Hello"
    assert out["b"]["ttft_seconds"] is None and out["b"]["url"] == "https://b.apps"


def test_summary_lines_count_gpus_per_replica_and_say_what_was_not_measured():
    rows, lines = report.summary(PLAN, report.endpoints(PLAN["order"], WAIT, []))
    assert [r["gpus"] for r in rows] == [8, 1]
    assert lines[0] == ("b: https://b.apps | 8x NVIDIA-L4 (g6.12xlarge) | Ready after 1.0s of waiting | TTFT - | "
                        "- tokens/s | $9.2000/hour")
    assert lines[-1] == "total: 9 GPUs, $11.0610/hour"


@pytest.mark.parametrize("q,expected", [(50, 2), (90, 4), (95, 4), (100, 4), (1, 1)])
def test_percentile_is_nearest_rank(q, expected):
    assert report.percentile([4, 1, 3, 2], q) == expected


def test_percentile_of_nothing_is_none_and_benchmark_lines_show_dashes():
    assert report.percentile([], 50) is None
    assert report.benchmark(["a"], []) == [
        "a (0 requests, min / median / p95 / max): TTFT s - | latency s - | tokens/s -"]


def test_module_error_returns_only_the_known_facts():
    err = errors.ModuleError("It broke.", status=503, body=None, url="http://x")
    assert err.status == 503 and err.as_dict() == {"status": 503, "url": "http://x"}

    class Module(object):
        def fail_json(self, **kw):
            self.kw = kw
    m = Module()
    errors.fail(m, err, attempts=3)
    assert m.kw == {"msg": "It broke.", "status": 503, "url": "http://x", "attempts": 3}


def test_excerpt_is_one_line_with_every_secret_masked_and_cut():
    assert http.excerpt(b"a\n  b tok SECRET", secret=["tok", "SECRET"]) == "a b ******** ********"
    assert http.excerpt("x" * 400) == "x" * 300 + "..."
    assert http.excerpt(None) == ""


def test_retry_uses_full_jitter_within_the_deadline_and_the_attempt_count():
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
    policy = retry.Retry(timeout=3, attempts=10, clock=lambda: now[0], sleep=sleep, rng=random.Random(1))
    attempt = 0
    while policy.again(attempt):
        attempt += 1
    assert sum(slept) == pytest.approx(3.0) and attempt < 10
    assert all(0 <= s <= retry.BACKOFF_MAX for s in slept)
    assert retry.Retry(timeout=60, attempts=2, sleep=slept.append).again(1) is False
    assert retry.Retry(timeout=60, rng=random.Random(0)).delay(3, retry_after="2") == 2.0
    assert retry.retryable(503) and retry.retryable(None) and not retry.retryable(404)
