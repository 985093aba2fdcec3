# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for many KServe InferenceServices at once: one LIST and one WATCH per resource.

The InferenceServices, their predictor Deployments and their pods are watched (three streams,
however many InferenceServices), each stream in a thread of its own feeding one queue; the
readiness and terminal-failure decisions are the pure functions of `isvc_readiness`, applied
to the three caches after every event. `Stream` is one resource's LIST + WATCH loop (re-list on
410 Gone, resume after a dropped connection with the jittered backoff of common.retry) over a transport
(`KubeTransport` on the collection's Kubernetes client, `k8s.client`, in production; a fake in tests).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import random
import threading
import time

try:
    import queue
except ImportError:  # Python 2 controller-side import by ansible-test; modules run on Python 3
    import Queue as queue  # noqa: N813

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.retry import Retry, retryable
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError, ConnectionFailed
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.readiness import (
    ISVC_LABEL,
    deployment_name,
    readiness,
    terminal_failure,
)

GROUP_VERSION = "serving.kserve.io/v1beta1"
# The apiserver ends each watch after this many seconds (timeoutSeconds) and we open the next one
# from the last resourceVersion; the client read timeout is a little longer, so a silently dead
# link is noticed within WATCH_SECONDS + READ_GRACE while a healthy idle watch never errors.
WATCH_SECONDS = 120
READ_GRACE = 5
# The shared policy (common.retry) within the wait's deadline, with a short base and cap: a watch
# resumes within 3 s of the apiserver coming back (delays uniform(0, min(3, 0.1 * 2**n)) s).
BACKOFF_BASE = 0.1
BACKOFF_MAX = 3.0


class WaitError(Exception):
    """A failure that is not about readiness (RBAC, missing CRD); str() is for the operator."""


class Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410 / ERROR event with code 410)."""


class Disconnected(Exception):
    """The connection to the apiserver failed or dropped; worth retrying until the deadline."""


class KubeTransport(object):
    """LIST/WATCH/GET over the collection's Kubernetes client (``k8s.client.connect``).

    Only raw JSON requests are used: no discovery round trips, so a wait is one LIST plus one
    WATCH on the wire. Each watch streams on a connection of its own.
    """

    def __init__(self, client):
        self.client = client
        self.stats = {"list_requests": 0, "watch_requests": 0}
        self._lines = None

    def fork(self):
        """A transport for another stream, on the same client (requests of each thread go over a
        connection of that thread's; each open watch holds one of its own)."""
        return KubeTransport(self.client)

    @staticmethod
    def _error(path, exc):
        if isinstance(exc, ApiError):
            status = exc.status or 0
            if status == 410:
                return Gone(exc.reason)
            if not status or retryable(status):
                return Disconnected("HTTP %s %s" % (status, exc.reason))
            return WaitError("GET %s returned HTTP %s: %s" % (path, status, exc.message))
        return Disconnected(getattr(exc, "msg", None) or str(exc))

    def get_json(self, path, timeout=30, **params):
        try:
            return self.client.request("GET", path, params, timeout=timeout)
        except (ApiError, ConnectionFailed, ValueError) as exc:  # ValueError: a cut JSON answer
            raise self._error(path, exc)

    def list(self, path, timeout, **params):
        self.stats["list_requests"] += 1
        return self.get_json(path, timeout=timeout, **params)

    def watch(self, path, resource_version, read_timeout, server_timeout, **params):
        """Yield watch events (dicts) until the server ends the stream or the link drops."""
        self.stats["watch_requests"] += 1
        query = dict(params, watch=True, resource_version=resource_version, allow_watch_bookmarks=True,
                     timeout_seconds=server_timeout)
        self._lines = self.client.stream(path, query, timeout=read_timeout)
        try:
            for line in self._lines:
                if line.strip():
                    yield json.loads(line)
        except (ApiError, ConnectionFailed, ValueError) as exc:
            raise self._error(path, exc)
        finally:
            self.close()

    def close(self):
        lines, self._lines = self._lines, None
        if lines is not None:
            try:
                lines.close()
            except ValueError:  # running in another thread: it ends with its stream
                pass


class Stream(object):
    """LIST then WATCH one resource, forever, until stopped or past the deadline.

    Calls sink(kind, "SYNC", items) after each LIST and sink(kind, event type, object) for each
    event; raises WaitError when the first contact is refused (RBAC, no CRD).
    """

    def __init__(self, transport, kind, path, selectors, sink, deadline, clock=time.monotonic,
                 sleep=time.sleep, rng=None):
        self.transport = transport
        self.kind = kind
        self.path = path
        self.selectors = selectors
        self.sink = sink
        self.deadline = deadline
        self.clock = clock
        self.retry = Retry(deadline=deadline, base=BACKOFF_BASE, cap=BACKOFF_MAX, clock=clock,
                           sleep=sleep, rng=rng)
        self.stats = {"relists": 0, "reconnects": 0, "events": 0}
        self.contacted = False
        self.last_error = None
        self.stopped = False

    def remaining(self):
        return self.deadline - self.clock()

    def backoff(self, attempt):
        """Sleep the backoff after failed attempt ``attempt`` (0, 1, ...), never past the deadline."""
        self.retry.again(attempt)

    def relist(self):
        data = self.transport.list(self.path, timeout=max(min(self.remaining(), 60), 1),
                                   **self.selectors)
        self.contacted = True
        self.sink(self.kind, "SYNC", data.get("items") or [])
        return (data.get("metadata") or {}).get("resourceVersion")

    def run(self):
        rv = None
        failures = 0
        while not self.stopped and self.remaining() > 0:
            try:
                if rv is None:
                    rv = self.relist()
                    self.last_error = None
                left = self.remaining()
                if left <= 0 or self.stopped:
                    return
                server_timeout = int(math.ceil(min(left, WATCH_SECONDS)))
                read_timeout = min(left, WATCH_SECONDS) + READ_GRACE
                opened, got = self.clock(), 0
                for event in self.transport.watch(self.path, rv, read_timeout, server_timeout,
                                                  **self.selectors):
                    if self.stopped:
                        return
                    got += 1
                    failures, self.last_error = 0, None
                    rv = self.handle(event, rv)
                # The server closed the watch (its timeoutSeconds): resume from the same point.
                # A watch that ends at once with nothing in it (a proxy cutting streams) must
                # not turn this loop into polling: back off as for a dropped connection.
                if not got and self.clock() - opened < 1.0:
                    failures += 1
                    self.backoff(failures - 1)
            except Gone:
                self.stats["relists"] += 1
                rv = None
            except Disconnected as exc:
                if self.stopped:
                    return
                # apiserver restarted or link dropped: resume from rv.
                self.last_error = str(exc)
                self.stats["reconnects"] += 1
                failures += 1
                self.backoff(failures - 1)
            except WaitError as exc:
                # Refused at first contact (RBAC, no CRD) is a configuration error. After the
                # wait has been established, an apiserver coming back up can briefly answer
                # 401/403/404 before its caches are warm: retry within the deadline.
                if not self.contacted:
                    raise
                self.last_error = str(exc)
                self.stats["reconnects"] += 1
                failures += 1
                self.backoff(failures - 1)

    def handle(self, event, rv):
        etype = event.get("type")
        obj = event.get("object") or {}
        if etype == "ERROR":
            if obj.get("code") == 410:
                raise Gone(obj.get("message"))
            raise Disconnected("watch error: %s" % obj.get("message"))
        new_rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
        if etype in ("ADDED", "MODIFIED", "DELETED"):
            self.stats["events"] += 1
            self.sink(self.kind, etype, obj)
        return new_rv

    def stop(self):
        """Ask the stream to end at its next event or timeout. Its connection is not closed from
        here: releasing a urllib3 response another thread is reading blocks until that read
        times out. The stream threads are daemons; the module process ends without them."""
        self.stopped = True


class Waiter(object):
    """Waits until every target InferenceService is ready, one is terminally failed, or timeout.

    targets: `names` (list) and/or `label_selector`; with only a selector, the targets are what
    matches it (at least one). `run()` returns a dict with `ready` (bool), `objects` (name -> last
    seen InferenceService or None), `deployments` and `pods` (name -> last seen), `ready_at`
    (name -> seconds after start), `failed` (name -> terminal sentence), `reasons` (name -> why
    not ready) and `timed_out`.
    """

    def __init__(self, transport, namespace, names=None, label_selector=None, timeout=1200.0,
                 fail_fast=True, clock=time.monotonic, sleep=time.sleep, rng=None):
        self.transport = transport
        self.namespace = namespace
        self.names = list(dict.fromkeys(names or []))
        self.label_selector = label_selector or None
        self.timeout = float(timeout)
        self.fail_fast = fail_fast
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.started = clock()
        self.deadline = self.started + self.timeout
        self.retry = Retry(deadline=self.deadline, base=BACKOFF_BASE, cap=BACKOFF_MAX, clock=clock,
                           sleep=sleep, rng=self.rng)
        self.isvcs = {}
        self.deployments = {}   # InferenceService name -> its predictor Deployment
        self.pods = {}          # InferenceService name -> {pod name: pod}
        self.ready_at = {}
        self.failed = {}
        self.reasons = {}
        self.synced = set()
        self.events = queue.Queue()
        self.streams = []

    # -- state -----------------------------------------------------------------------------
    def wanted(self, name):
        return not self.names or name in self.names

    def target_names(self):
        return list(self.names) if self.names else sorted(self.isvcs)

    def remaining(self):
        return self.deadline - self.clock()

    def backoff(self, attempt):
        """Sleep the backoff after failed attempt ``attempt`` (0, 1, ...), never past the deadline."""
        self.retry.again(attempt)

    def _owner(self, kind, obj):
        """The InferenceService a Deployment or pod belongs to (its KServe label)."""
        meta = obj.get("metadata") or {}
        if kind == "isvc":
            return meta.get("name")
        return (meta.get("labels") or {}).get(ISVC_LABEL)

    def apply(self, kind, etype, obj):
        """Fold one stream item (a SYNC list or a watch event) into the caches."""
        if etype == "SYNC":
            self.synced.add(kind)
            if kind == "isvc":
                self.isvcs = {}
            elif kind == "deployment":
                self.deployments = {}
            else:
                self.pods = {}
            for item in obj:
                self.apply(kind, "ADDED", item)
            return
        name = self._owner(kind, obj)
        if not name or not self.wanted(name):
            return
        meta = obj.get("metadata") or {}
        if kind == "isvc":
            if etype == "DELETED":
                self.isvcs.pop(name, None)
            else:
                self.isvcs[name] = obj
        elif kind == "deployment":
            if meta.get("name") != deployment_name(name):
                return  # a transformer's or explainer's Deployment
            if etype == "DELETED":
                self.deployments.pop(name, None)
            else:
                self.deployments[name] = obj
        else:
            pods = self.pods.setdefault(name, {})
            if etype == "DELETED":
                pods.pop(meta.get("name"), None)
            else:
                pods[meta.get("name")] = obj

    def evaluate(self):
        """Recompute readiness and terminal failures of every target from the caches."""
        for name in self.target_names():
            isvc = self.isvcs.get(name)
            dep = self.deployments.get(name)
            pods = list((self.pods.get(name) or {}).values())
            ready, why = readiness(isvc, dep, pods)
            self.reasons[name] = why
            if ready:
                self.ready_at.setdefault(name, round(self.clock() - self.started, 3))
            else:
                self.ready_at.pop(name, None)
            sentence = terminal_failure(isvc, dep, pods)
            if sentence:
                self.failed[name] = sentence
            else:
                self.failed.pop(name, None)

    def done(self):
        if len(self.synced) < len(self.streams):
            return False
        targets = self.target_names()
        if targets and all(n in self.ready_at for n in targets):
            return True
        return bool(self.fail_fast and any(n in self.failed for n in targets))

    # -- the loop --------------------------------------------------------------------------
    def stream_specs(self):
        """(kind, path, selectors) of the three watches."""
        ns = self.namespace
        one = self.names[0] if len(self.names) == 1 else None
        isvc_sel = {}
        if self.label_selector:
            isvc_sel["label_selector"] = self.label_selector
        if one:
            isvc_sel["field_selector"] = "metadata.name=%s" % one
        owned = {"label_selector": "%s=%s" % (ISVC_LABEL, one) if one else ISVC_LABEL}
        return [("isvc", "/apis/%s/namespaces/%s/inferenceservices" % (GROUP_VERSION, ns), isvc_sel),
                ("deployment", "/apis/apps/v1/namespaces/%s/deployments" % ns, dict(owned)),
                ("pod", "/api/v1/namespaces/%s/pods" % ns, dict(owned))]

    def _sink(self, kind, etype, obj):
        self.events.put((kind, etype, obj))

    def _runner(self, stream):
        try:
            stream.run()
        except WaitError as exc:
            self.events.put(("error", stream.kind, exc))
        except Exception as exc:  # a bug must end the wait with its message, not hang it
            self.events.put(("error", stream.kind, WaitError("%s: %s" % (type(exc).__name__, exc))))

    def start(self):
        for kind, path, selectors in self.stream_specs():
            transport = self.transport.fork() if hasattr(self.transport, "fork") else self.transport
            stream = Stream(transport, kind, path, selectors, self._sink, self.deadline,
                            clock=self.clock, sleep=self.sleep, rng=self.rng)
            self.streams.append(stream)
        for stream in self.streams:
            thread = threading.Thread(target=self._runner, args=(stream,), name="watch-" + stream.kind)
            thread.daemon = True
            thread.start()

    def stop(self):
        for stream in self.streams:
            stream.stop()

    def run(self):
        """Start the streams and fold their items until done or the deadline; raises WaitError
        when a stream's first contact is refused."""
        self.start()
        try:
            while True:
                left = self.remaining()
                if left <= 0:
                    return self.result(timed_out=True)
                try:
                    item = self.events.get(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                if item[0] == "error":
                    raise item[2]
                self.apply(*item)
                # Fold whatever else is queued before deciding (a LIST arrives as one item).
                while True:
                    try:
                        item = self.events.get_nowait()
                    except queue.Empty:
                        break
                    if item[0] == "error":
                        raise item[2]
                    self.apply(*item)
                if len(self.synced) == len(self.streams):
                    self.evaluate()
                    if self.done():
                        return self.result()
        finally:
            self.stop()

    @property
    def stats(self):
        out = {"relists": 0, "reconnects": 0, "events": 0, "list_requests": 0, "watch_requests": 0}
        for stream in self.streams:
            for key, value in stream.stats.items():
                out[key] += value
            for key, value in getattr(stream.transport, "stats", {}).items():
                out[key] = out.get(key, 0) + value
        return out

    @property
    def last_error(self):
        errors = [s.last_error for s in self.streams if s.last_error]
        return errors[0] if errors else None

    def result(self, timed_out=False):
        targets = self.target_names()
        ready = bool(targets) and all(n in self.ready_at for n in targets)
        return {"ready": ready, "timed_out": timed_out and not ready, "last_error": self.last_error,
                "targets": targets, "objects": dict((n, self.isvcs.get(n)) for n in targets),
                "deployments": dict((n, self.deployments.get(n)) for n in targets),
                "pods": dict((n, list((self.pods.get(n) or {}).values())) for n in targets),
                "ready_at": dict(self.ready_at), "failed": dict(self.failed),
                "reasons": dict(self.reasons), "elapsed": round(self.clock() - self.started, 3)}
