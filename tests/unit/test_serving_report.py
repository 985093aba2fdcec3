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


def _weights_plan(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config.json").write_text('{"max_position_embeddings": 32768}')
    reg = {"model_name": "A", "description": "d", "owner": "o", "custom_properties": {}, "version": "1",
           "author": "x", "version_custom_properties": {"dtype": "bf16"}, "artifact_uri": "s3://models/a/p",
           "format_name": "vLLM", "format_version": "1"}
    return {"settings": {"s3_bucket": "models", "connection_name": "models-s3"}, "models": {
        "a": {"name": "a", "registry": reg, "weights": {"source": "local", "local_dir": str(tmp_path / "a"),
                                                        "bucket": "models", "path": "a/p", "exclude": ["x/*"]}},
        "b": {"name": "b", "registry": dict(reg, model_name="B"),
              "weights": {"source": "s3", "local_dir": None, "bucket": "other", "path": "b/p", "exclude": []}}}}


def test_weights_uploads_send_local_weights_then_ensure_the_other_buckets(tmp_path):
    plan = _weights_plan(tmp_path)
    assert report.weights_uploads(plan) == [
        {"name": "a", "src": str(tmp_path / "a"), "bucket": "models", "prefix": "a/p", "exclude": ["x/*"]},
        {"bucket": "other"}]
    results = [{"name": "a", "bytes_total": 10, "files": [{"action": "skip"}, {"action": "delete"}],
                "bytes_uploaded": 0, "files_uploaded": 0, "files_skipped": 1, "seconds": 0.1, "mb_per_s": 0.0},
               {"name": None, "bytes_total": 0, "files": []}]
    synced = report.synced(plan, results)
    assert list(synced) == ["a"] and synced["a"]["files"] == 1
    assert synced["a"]["config"] == {"max_position_embeddings": 32768} and synced["a"]["path"] == "a/p"


def test_registry_entries_and_ids_follow_the_plan_order(tmp_path):
    plan = _weights_plan(tmp_path)
    entries = report.registry_entries(plan)
    assert [e["registered_model"]["name"] for e in entries] == ["A", "B"]
    assert entries[0]["artifact"] == {"uri": "s3://models/a/p", "model_format_name": "vLLM", "model_format_version": "1",
                                      "storage_key": "models-s3", "storage_path": "a/p"}
    ids = report.registry_ids(plan, [{"registered_model_id": "1", "model_version_id": "2", "model_artifact_id": "3",
                                      "actions": []}, {"registered_model_id": "4"}])
    assert ids == {"a": {"registered_model_id": "1", "model_version_id": "2", "model_artifact_id": "3"},
                   "b": {"registered_model_id": "4", "model_version_id": None, "model_artifact_id": None}}


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
