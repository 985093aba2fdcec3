"""Readiness predicate and terminal-state detection of inference_service_wait (no cluster)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".ansible" / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc_wait import (  # noqa: E402
    readiness,
    summary,
    terminal_failure,
)


def isvc(generation=1, observed=1, ready="True", cond_gen=None, model_status=None, status=True,
         url="http://127.0.0.1:20001"):
    obj = {"metadata": {"name": "m", "namespace": "ns", "generation": generation}}
    if not status:
        return obj
    cond = {"type": "Ready", "status": ready}
    if ready != "True":
        cond.update(reason="PredictorNotReady", message="pod m-predictor-x is Pending")
    if cond_gen is not None:
        cond["observedGeneration"] = cond_gen
    obj["status"] = {"observedGeneration": observed, "url": url,
                     "address": {"url": "http://m-predictor.ns.svc.cluster.local"},
                     "conditions": [{"type": "PredictorReady", "status": ready}, cond]}
    if model_status:
        obj["status"]["modelStatus"] = model_status
    return obj


def test_ready_at_current_generation():
    assert readiness(isvc()) == (True, "Ready")


def test_ready_from_older_generation_is_not_ready():
    ok, why = readiness(isvc(generation=2, observed=1))
    assert not ok
    assert "generation 1" in why and "generation 2" in why and "stale" in why


def test_condition_level_observed_generation_is_honoured():
    ok, why = readiness(isvc(generation=3, observed=3, cond_gen=2))
    assert not ok and "generation 2" in why
    assert readiness(isvc(generation=3, observed=3, cond_gen=3))[0]


def test_ready_false_reports_reason_and_message():
    ok, why = readiness(isvc(ready="False"))
    assert not ok
    assert why == "Ready is False (PredictorNotReady: pod m-predictor-x is Pending)"


def test_no_status_and_no_ready_condition():
    assert readiness(isvc(status=False)) == (False, "it has no status yet (no controller has reconciled it)")
    obj = isvc()
    obj["status"]["conditions"] = [{"type": "PredictorReady", "status": "True"}]
    assert readiness(obj) == (False, "it has no Ready condition yet")


@pytest.mark.parametrize("transition", ["BlockedByFailedLoad", "InvalidSpec"])
def test_terminal_transition_status(transition):
    ms = {"transitionStatus": transition,
          "states": {"activeModelState": "FailedToLoad", "targetModelState": "FailedToLoad"},
          "lastFailureInfo": {"reason": "ModelLoadFailed", "exitCode": 1,
                              "message": "s3://models/missing/ does not exist"}}
    sentence = terminal_failure(isvc(ready="False", model_status=ms))
    assert transition in sentence
    assert "ModelLoadFailed: s3://models/missing/ does not exist" in sentence
    assert "exit code 1" in sentence


def test_failed_to_load_needs_last_failure_info():
    ms = {"transitionStatus": "InProgress", "states": {"activeModelState": "FailedToLoad"}}
    assert terminal_failure(isvc(ready="False", model_status=ms)) is None
    ms["lastFailureInfo"] = {"reason": "RuntimeUnhealthy", "message": "crashed"}
    assert "RuntimeUnhealthy: crashed" in terminal_failure(isvc(ready="False", model_status=ms))


def test_failure_of_older_generation_is_not_terminal():
    ms = {"transitionStatus": "BlockedByFailedLoad", "states": {"activeModelState": "FailedToLoad"},
          "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "old path"}}
    assert terminal_failure(isvc(generation=2, observed=1, ready="False", model_status=ms)) is None


def test_progress_is_not_terminal():
    ms = {"transitionStatus": "InProgress", "states": {"activeModelState": "Loading"}}
    assert terminal_failure(isvc(ready="False", model_status=ms)) is None


def test_summary_entry():
    assert summary("m", isvc(), 12.5) == {
        "name": "m", "ready": True, "url": "http://127.0.0.1:20001",
        "internal_url": "http://m-predictor.ns.svc.cluster.local", "seconds_to_ready": 12.5,
        "generation": 1, "observed_generation": 1}
    missing = summary("x", None, None)
    assert missing["ready"] is False and missing["url"] is None and missing["seconds_to_ready"] is None
