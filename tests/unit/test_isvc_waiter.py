"""The LIST + WATCH loop of inference_service_wait against a scripted transport (no cluster).

Each test scripts what the apiserver does (events, 410 Gone, dropped connections) and asserts
what a user notices: the wait ends when everything is ready, on a terminal failure or at the
deadline, and it costs one LIST and one WATCH when nothing goes wrong.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".ansible" / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc_wait import (  # noqa: E402
    Disconnected,
    Gone,
    Waiter,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def obj(name, rv, ready=False, generation=1, observed=1, failed=False):
    status = {"observedGeneration": observed,
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ready:
        status["url"] = "http://%s.example" % name
    if failed:
        status["modelStatus"] = {"transitionStatus": "BlockedByFailedLoad",
                                 "states": {"activeModelState": "FailedToLoad"},
                                 "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "no weights"}}
    return {"metadata": {"name": name, "namespace": "ns", "generation": generation,
                         "resourceVersion": str(rv)}, "status": status}


class Transport:
    """lists: list of (items, rv) or exceptions; watches: list of lists of events/exceptions.

    A watch script entry that is a float advances the clock (time passing on the stream).
    """

    def __init__(self, clock, lists, watches):
        self.clock = clock
        self.lists = list(lists)
        self.watches = list(watches)
        self.stats = {"list_requests": 0, "watch_requests": 0}
        self.watch_rvs = []
        self.selectors = []
        self.closed = 0

    def list(self, path, timeout, **params):
        self.stats["list_requests"] += 1
        self.selectors.append(params)
        item = self.lists.pop(0)
        if isinstance(item, Exception):
            raise item
        items, rv = item
        return {"items": items, "metadata": {"resourceVersion": str(rv)}}

    def watch(self, path, rv, read_timeout, server_timeout, **params):
        self.stats["watch_requests"] += 1
        self.watch_rvs.append(rv)
        assert read_timeout > 0 and server_timeout >= 1
        if not self.watches:  # nothing more happens: the server ends the watch at timeoutSeconds
            self.clock.now += min(server_timeout, read_timeout)
            return
        for entry in self.watches.pop(0):
            if isinstance(entry, float):
                self.clock.now += entry
            elif isinstance(entry, Exception):
                raise entry
            else:
                yield entry

    def close(self):
        self.closed += 1


def waiter(transport, clock, **kw):
    kw.setdefault("timeout", 60)
    return Waiter(transport, "ns", clock=clock, sleep=clock.sleep, **kw)


def test_several_ready_together_with_one_list_and_one_watch():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1), obj("b", 2)], 5)], [[
        1.0, {"type": "MODIFIED", "object": obj("a", 6, ready=True)},
        2.0, {"type": "ADDED", "object": obj("c", 7, ready=True)},
        0.5, {"type": "MODIFIED", "object": obj("b", 8, ready=True)},
    ]])
    out = waiter(t, clock, names=["a", "b", "c"]).run()
    assert out["ready"] and not out["timed_out"]
    assert out["ready_at"] == {"a": 1.0, "c": 3.0, "b": 3.5}
    assert t.stats == {"list_requests": 1, "watch_requests": 1}
    assert t.watch_rvs == ["5"]
    assert t.closed == 1  # the watch connection is released as soon as we are done


def test_already_ready_needs_no_watch():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1, ready=True)], 1)], [])
    out = waiter(t, clock, names=["a"]).run()
    assert out["ready"] and out["ready_at"] == {"a": 0.0}
    assert t.stats["watch_requests"] == 0
    assert t.selectors == [{"field_selector": "metadata.name=a"}]


def test_stale_ready_is_ignored_until_the_generation_is_observed():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1, ready=True, generation=2, observed=1)], 1)], [[
        1.0, {"type": "MODIFIED", "object": obj("a", 2, ready=True, generation=2, observed=1)},
        1.0, {"type": "MODIFIED", "object": obj("a", 3, ready=True, generation=2, observed=2)},
    ]])
    out = waiter(t, clock, names=["a"]).run()
    assert out["ready"] and out["ready_at"] == {"a": 2.0}


def test_gone_relists_and_resumes():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 10), ([obj("a", 30)], 31)], [
        [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}],
        [1.0, {"type": "MODIFIED", "object": obj("a", 32, ready=True)}],
    ])
    w = waiter(t, clock, names=["a"])
    out = w.run()
    assert out["ready"]
    assert t.watch_rvs == ["10", "31"]
    assert w.stats["relists"] == 1 and t.stats["list_requests"] == 2


def test_http_410_on_watch_request_relists():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 10), ([obj("a", 40, ready=True)], 41)], [[Gone("Expired")]])
    out = waiter(t, clock, names=["a"]).run()
    assert out["ready"] and t.stats["list_requests"] == 2


def test_dropped_connection_resumes_from_last_resource_version_with_backoff():
    clock = Clock()
    t = Transport(clock, [Disconnected("connection refused"), ([obj("a", 1)], 10)], [
        [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
         Disconnected("Connection broken: apiserver restarted")],
        [Disconnected("connection refused")],
        [0.2, {"type": "MODIFIED", "object": obj("a", 20, ready=True)}],
    ])
    w = waiter(t, clock, names=["a"])
    out = w.run()
    assert out["ready"]
    assert t.watch_rvs == ["10", "15", "15"]  # resumed from the bookmark, not re-listed
    assert t.stats["list_requests"] == 2 and w.stats["reconnects"] == 3
    assert out["elapsed"] < 5  # backoff is short at first


def test_missing_isvc_is_waited_for_then_appears():
    clock = Clock()
    t = Transport(clock, [([], 3)], [[5.0, {"type": "ADDED", "object": obj("late", 4)},
                                      1.0, {"type": "MODIFIED", "object": obj("late", 5, ready=True)}]])
    out = waiter(t, clock, names=["late"]).run()
    assert out["ready"] and out["ready_at"] == {"late": 6.0}


def test_timeout_reports_last_seen_objects():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1, ready=True), obj("b", 2)], 2)], [])
    out = waiter(t, clock, names=["a", "b", "ghost"], timeout=30).run()
    assert not out["ready"] and out["timed_out"]
    assert out["objects"]["b"]["metadata"]["name"] == "b"
    assert out["objects"]["ghost"] is None
    assert out["ready_at"] == {"a": 0.0}
    assert 30 <= out["elapsed"] <= 31


def test_fail_fast_on_terminal_state():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1), obj("b", 2)], 2)], [[
        0.3, {"type": "MODIFIED", "object": obj("b", 3, failed=True)}]])
    out = waiter(t, clock, names=["a", "b"]).run()
    assert not out["ready"] and not out["timed_out"]
    assert "ModelLoadFailed: no weights" in out["failed"]["b"]
    assert out["elapsed"] == 0.3


def test_without_fail_fast_waits_for_recovery():
    clock = Clock()
    t = Transport(clock, [([obj("b", 2, failed=True)], 2)], [[
        3.0, {"type": "MODIFIED", "object": obj("b", 3, ready=True, generation=2, observed=2)}]])
    out = waiter(t, clock, names=["b"], fail_fast=False).run()
    assert out["ready"] and out["failed"] == {}


def test_label_selector_waits_for_everything_matching_and_for_at_least_one():
    clock = Clock()
    t = Transport(clock, [([], 1)], [[1.0, {"type": "ADDED", "object": obj("x", 2)},
                                      {"type": "ADDED", "object": obj("y", 3, ready=True)},
                                      1.0, {"type": "MODIFIED", "object": obj("x", 4, ready=True)}]])
    out = waiter(t, clock, label_selector="team=ai").run()
    assert out["ready"] and out["targets"] == ["x", "y"]
    assert t.selectors == [{"label_selector": "team=ai"}]


def test_deleted_isvc_is_no_longer_ready():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1, ready=True), obj("b", 2)], 2)], [[
        {"type": "DELETED", "object": obj("a", 3, ready=True)}]])
    out = waiter(t, clock, names=["a", "b"], timeout=10).run()
    assert out["timed_out"] and out["objects"]["a"] is None and "a" not in out["ready_at"]


def test_other_isvcs_in_the_namespace_are_ignored():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1), obj("other", 2, failed=True)], 2)], [[
        {"type": "MODIFIED", "object": obj("a", 3, ready=True)}]])
    out = waiter(t, clock, names=["a", "a"]).run()
    assert out["ready"] and out["targets"] == ["a"]


def test_permission_error_at_first_contact_is_raised_but_tolerated_after():
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc_wait import WaitError
    clock = Clock()
    t = Transport(clock, [WaitError("HTTP 403: forbidden")], [])
    try:
        waiter(t, clock, names=["a"]).run()
        raise AssertionError("a 403 at first contact must fail")
    except WaitError as exc:
        assert "403" in str(exc)
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 1)], [
        [Disconnected("apiserver restarted")], [WaitError("HTTP 403: RBAC cache not warm")],
        [{"type": "MODIFIED", "object": obj("a", 2, ready=True)}]])
    w = waiter(t, clock, names=["a"])
    assert w.run()["ready"] and w.stats["reconnects"] == 2


def test_streams_cut_at_once_are_backed_off_not_polled():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 1)], [[] for dummy in range(1000)])
    out = waiter(t, clock, names=["a"], timeout=20).run()
    assert out["timed_out"]
    assert t.stats["watch_requests"] < 30  # backoff up to 3 s, not a tight loop
