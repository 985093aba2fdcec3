"""The LIST + WATCH loops of inference_service_wait against scripted transports (no cluster).

`Stream` (one resource) runs in the test's thread on a fake clock: 410 Gone, dropped
connections, refused first contact, streams cut at once. `Waiter` runs its three streams
(InferenceServices, predictor Deployments, pods) in threads on scripted transports: the wait
ends when everything is ready, on a terminal failure or at the deadline, and costs one LIST and
one WATCH per resource when nothing goes wrong.
"""

import random
import threading
import time

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.wait import (  # noqa: E402
    Disconnected,
    Gone,
    Stream,
    Waiter,
    WaitError,
)


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def obj(name, rv, ready=False, generation=1, observed=1, failed=False):
    status = {"observedGeneration": observed, "deploymentMode": "RawDeployment",
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ready:
        status["url"] = "http://%s.example" % name
    if failed:
        status["modelStatus"] = {"transitionStatus": "BlockedByFailedLoad",
                                 "states": {"activeModelState": "FailedToLoad"},
                                 "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "no weights"}}
    return {"metadata": {"name": name, "namespace": "ns", "generation": generation,
                         "resourceVersion": str(rv)},
            "spec": {"predictor": {"model": {"args": ["--dtype=bfloat16"]}}}, "status": status}


def dep(name, rv, args=("--dtype=bfloat16",), updated=1, total=1, available=1):
    return {"metadata": {"name": name + "-predictor", "generation": 1, "resourceVersion": str(rv),
                         "labels": {"serving.kserve.io/inferenceservice": name}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "kserve-container", "args": ["--port=8080"] + list(args)}]}}},
            "status": {"observedGeneration": 1, "replicas": total, "updatedReplicas": updated,
                       "availableReplicas": available}}


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


# -- Stream: one resource, deterministic ---------------------------------------------------------

def stream(transport, clock, timeout=60):
    seen = []
    st = Stream(transport, "isvc", "/apis/x", {"field_selector": "metadata.name=a"},
                lambda kind, etype, o: seen.append((etype, o if etype == "SYNC" else o["metadata"]["name"])),
                clock() + timeout, clock=clock, sleep=clock.sleep, rng=random.Random(14))
    return st, seen


def test_stream_lists_once_then_watches_from_the_list_resource_version():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 5)], [[1.0, {"type": "MODIFIED", "object": obj("a", 6, ready=True)}]])
    st, seen = stream(t, clock, timeout=3)
    st.run()
    assert seen[0][0] == "SYNC" and seen[1] == ("MODIFIED", "a")
    assert t.watch_rvs[0] == "5" and t.stats["list_requests"] == 1
    assert t.selectors == [{"field_selector": "metadata.name=a"}]


def test_gone_relists_and_resumes():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 10), ([obj("a", 30)], 31)], [
        [{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}],
        [1.0, {"type": "MODIFIED", "object": obj("a", 32, ready=True)}],
    ])
    st, seen = stream(t, clock, timeout=5)
    st.run()
    assert t.watch_rvs[:2] == ["10", "31"]
    assert st.stats["relists"] == 1 and t.stats["list_requests"] == 2
    assert [e for e, dummy in seen].count("SYNC") == 2


def test_http_410_on_watch_request_relists():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 10), ([obj("a", 40, ready=True)], 41)], [[Gone("Expired")]])
    st, _seen = stream(t, clock, timeout=2)
    st.run()
    assert t.stats["list_requests"] == 2


def test_dropped_connection_resumes_from_last_resource_version_with_backoff():
    clock = Clock()
    t = Transport(clock, [Disconnected("connection refused"), ([obj("a", 1)], 10)], [
        [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}},
         Disconnected("Connection broken: apiserver restarted")],
        [Disconnected("connection refused")],
        [0.2, {"type": "MODIFIED", "object": obj("a", 20, ready=True)}],
    ])
    st, seen = stream(t, clock, timeout=10)
    st.run()
    assert ("MODIFIED", "a") in seen
    assert t.watch_rvs[:3] == ["10", "15", "15"]  # resumed from the bookmark, not re-listed
    assert t.stats["list_requests"] == 2 and st.stats["reconnects"] == 3


def test_permission_error_at_first_contact_is_raised_but_tolerated_after():
    clock = Clock()
    t = Transport(clock, [WaitError("HTTP 403: forbidden")], [])
    st, _seen = stream(t, clock)
    try:
        st.run()
        raise AssertionError("a 403 at first contact must fail")
    except WaitError as exc:
        assert "403" in str(exc)
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 1)], [
        [Disconnected("apiserver restarted")], [WaitError("HTTP 403: RBAC cache not warm")],
        [{"type": "MODIFIED", "object": obj("a", 2, ready=True)}]])
    st, seen = stream(t, clock, timeout=10)
    st.run()
    assert ("MODIFIED", "a") in seen and st.stats["reconnects"] == 2


def test_streams_cut_at_once_are_backed_off_not_polled():
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 1)], [[] for dummy in range(1000)])
    st, _seen = stream(t, clock, timeout=20)
    st.run()
    assert t.stats["watch_requests"] < 30  # backoff up to 3 s, not a tight loop


def test_backoff_is_the_shared_full_jitter_policy_within_the_deadline():
    """common.retry: uniform(0, min(3, 0.1 * 2**n)) s after the n-th failure, never past the deadline."""
    clock = Clock()
    t = Transport(clock, [([obj("a", 1)], 1)], [[] for dummy in range(1000)])
    st, _seen = stream(t, clock, timeout=20)
    st.run()
    bounds = [min(3.0, 0.1 * 2 ** n) for n in range(len(clock.sleeps))]
    assert all(0 <= d <= b for d, b in zip(clock.sleeps, bounds))
    assert any(d < b / 2 for d, b in zip(clock.sleeps[:-1], bounds))  # full jitter (the last: the deadline)
    assert clock.now == 1020.0 and st.remaining() == 0


# -- Waiter: three streams in threads --------------------------------------------------------------

class Scripted:
    """A transport per resource (forked by the Waiter), scripted by path: lists[kind] is
    (items, rv); watches[kind] a list of events and float pauses (real seconds)."""

    def __init__(self, lists, watches=None):
        self.lists = lists
        self.watches = watches or {}
        self.kind = None
        self.stats = {"list_requests": 0, "watch_requests": 0}
        self.stopped = threading.Event()
        self.selectors = {}

    def fork(self):
        child = Scripted(self.lists, self.watches)
        child.parent = self
        return child

    @staticmethod
    def kind_of(path):
        return "isvc" if path.endswith("inferenceservices") else "deployment" if path.endswith("deployments") else "pod"

    def list(self, path, timeout, **params):
        self.kind = self.kind_of(path)
        self.parent.selectors[self.kind] = params
        self.stats["list_requests"] += 1
        items, rv = self.lists.get(self.kind, ([], 1))
        return {"items": items, "metadata": {"resourceVersion": str(rv)}}

    def watch(self, path, rv, read_timeout, server_timeout, **params):
        self.stats["watch_requests"] += 1
        script = self.watches.pop(self.kind, [])
        for entry in script:
            if isinstance(entry, float):
                time.sleep(entry)
            else:
                yield entry
        self.stopped.wait(0.5)  # nothing more: the server would hold the watch open

    def close(self):
        self.stopped.set()


def waiter(transport, **kw):
    kw.setdefault("timeout", 10)
    return Waiter(transport, "ns", **kw)


def test_several_ready_together_with_one_list_and_one_watch_per_resource():
    t = Scripted({"isvc": ([obj("a", 1), obj("b", 2)], 5), "deployment": ([dep("a", 3), dep("b", 4)], 6)},
                 {"isvc": [0.05, {"type": "MODIFIED", "object": obj("a", 6, ready=True)},
                           0.05, {"type": "MODIFIED", "object": obj("b", 8, ready=True)}]})
    w = waiter(t, names=["a", "b"])
    out = w.run()
    assert out["ready"] and not out["timed_out"] and set(out["ready_at"]) == {"a", "b"}
    assert w.stats["list_requests"] == 3 and w.stats["watch_requests"] <= 3
    assert t.selectors["deployment"] == {"label_selector": "serving.kserve.io/inferenceservice"}


def test_already_ready_needs_no_event():
    t = Scripted({"isvc": ([obj("a", 1, ready=True)], 1), "deployment": ([dep("a", 2)], 2)})
    w = waiter(t, names=["a"])
    out = w.run()
    assert out["ready"] and out["ready_at"]["a"] < 2
    assert t.selectors["isvc"] == {"field_selector": "metadata.name=a"}
    assert t.selectors["pod"] == {"label_selector": "serving.kserve.io/inferenceservice=a"}


def test_ready_during_a_rollout_waits_for_the_deployment():
    t = Scripted({"isvc": ([obj("a", 1, ready=True)], 1),
                  "deployment": ([dep("a", 2, updated=1, total=2)], 2)},
                 {"deployment": [0.3, {"type": "MODIFIED", "object": dep("a", 3)}]})
    out = waiter(t, names=["a"]).run()
    assert out["ready"] and out["ready_at"]["a"] >= 0.3


def test_fail_fast_on_terminal_state_and_without_it_waits():
    failed = obj("b", 3, failed=True)
    t = Scripted({"isvc": ([obj("a", 1), failed], 2), "deployment": ([dep("a", 1), dep("b", 2)], 2)})
    out = waiter(t, names=["a", "b"]).run()
    assert not out["ready"] and not out["timed_out"]
    assert "ModelLoadFailed: no weights" in out["failed"]["b"]
    t = Scripted({"isvc": ([failed], 2), "deployment": ([dep("b", 2)], 2)},
                 {"isvc": [0.2, {"type": "MODIFIED", "object": obj("b", 4, ready=True)}]})
    out = waiter(t, names=["b"], fail_fast=False).run()
    assert out["ready"] and out["failed"] == {}


def test_missing_isvc_is_waited_for_then_appears_and_timeout_reports_last_seen():
    t = Scripted({"deployment": ([dep("late", 1)], 1)},
                 {"isvc": [0.1, {"type": "ADDED", "object": obj("late", 4)},
                           0.1, {"type": "MODIFIED", "object": obj("late", 5, ready=True)}]})
    assert waiter(t, names=["late"]).run()["ready"]
    t = Scripted({"isvc": ([obj("a", 1, ready=True), obj("b", 2)], 2),
                  "deployment": ([dep("a", 1), dep("b", 1)], 1)})
    out = waiter(t, names=["a", "b", "ghost"], timeout=1.5).run()
    assert out["timed_out"] and out["objects"]["ghost"] is None and list(out["ready_at"]) == ["a"]
    assert out["reasons"]["b"] == "Ready is False" and out["reasons"]["ghost"] == "it does not exist"


def test_label_selector_deleted_and_other_isvcs():
    t = Scripted({"isvc": ([obj("x", 1, ready=True), obj("y", 2, ready=True)], 1),
                  "deployment": ([dep("x", 1), dep("y", 1), dep("other", 1)], 1)})
    out = waiter(t, label_selector="team=ai").run()
    assert out["ready"] and out["targets"] == ["x", "y"]
    assert t.selectors["isvc"] == {"label_selector": "team=ai"}
    t = Scripted({"isvc": ([obj("a", 1, ready=True), obj("b", 2)], 2), "deployment": ([dep("a", 1)], 1)},
                 {"isvc": [{"type": "DELETED", "object": obj("a", 3, ready=True)}]})
    out = waiter(t, names=["a", "b"], timeout=1.5).run()
    assert out["timed_out"] and out["objects"]["a"] is None and "a" not in out["ready_at"]


def test_refused_first_contact_ends_the_wait():
    class Refusing(Scripted):
        def list(self, path, timeout, **params):
            if self.kind_of(path) == "pod":
                raise WaitError("GET pods returned HTTP 403: forbidden")
            return Scripted.list(self, path, timeout, **params)

        def fork(self):
            child = Refusing(self.lists, self.watches)
            child.parent = self
            return child

    try:
        waiter(Refusing({}), names=["a"]).run()
        raise AssertionError("a 403 at first contact must fail")
    except WaitError as exc:
        assert "pods" in str(exc)
