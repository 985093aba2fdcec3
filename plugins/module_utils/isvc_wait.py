# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for many KServe InferenceServices at once with one LIST and one WATCH.

The readiness predicate (`readiness`) and terminal-state detection (`terminal_failure`) are pure
functions of the InferenceService object so they are unit-tested without a cluster. `Waiter`
drives them from a watch stream supplied by a transport (`KubeTransport` over kubernetes.core's
client in production, a fake in tests).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import random
import time

GROUP_VERSION = "serving.kserve.io/v1beta1"
TERMINAL_TRANSITIONS = ("BlockedByFailedLoad", "InvalidSpec")
# The apiserver ends each watch after this many seconds (timeoutSeconds) and we open the next one
# from the last resourceVersion; the client read timeout is a little longer, so a silently dead
# link is noticed within WATCH_SECONDS + READ_GRACE while a healthy idle watch never errors.
WATCH_SECONDS = 120
READ_GRACE = 5
CONNECT_TIMEOUT = 10
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 3.0


class WaitError(Exception):
    """A failure that is not about readiness (RBAC, missing CRD); str() is for the operator."""


class Gone(Exception):
    """The watch's resourceVersion is too old (HTTP 410 / ERROR event with code 410)."""


class Disconnected(Exception):
    """The connection to the apiserver failed or dropped; worth retrying until the deadline."""


def _conditions(obj):
    return {c.get("type"): c for c in ((obj.get("status") or {}).get("conditions") or [])
            if isinstance(c, dict)}


def readiness(obj):
    """Return (ready, why_not) for an InferenceService object (a dict as the API returns it).

    Ready means: condition Ready is "True", status.observedGeneration equals metadata.generation
    (the controller has seen the current spec), and, when KServe put an observedGeneration on the
    Ready condition itself, that one equals the generation too. A Ready left over from an older
    generation is not ready.
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    cond = _conditions(obj).get("Ready")
    if not status:
        return False, "it has no status yet (no controller has reconciled it)"
    if cond is None:
        return False, "it has no Ready condition yet"
    if cond.get("status") != "True":
        detail = ": ".join(x for x in (cond.get("reason"), cond.get("message")) if x)
        return False, "Ready is %s%s" % (cond.get("status"), " (%s)" % detail if detail else "")
    if generation is not None and observed != generation:
        return False, ("Ready=True is stale: it was observed at generation %s but the spec is at "
                       "generation %s, the controller has not reconciled the change yet"
                       % (observed, generation))
    cond_gen = cond.get("observedGeneration")
    if generation is not None and cond_gen is not None and cond_gen != generation:
        return False, ("the Ready condition was set at generation %s but the spec is at "
                       "generation %s" % (cond_gen, generation))
    return True, "Ready"


def terminal_failure(obj):
    """Return a sentence when the InferenceService can no longer become ready, else None.

    Terminal: modelStatus.transitionStatus BlockedByFailedLoad or InvalidSpec, or an active or
    target model state FailedToLoad with lastFailureInfo. A failure recorded for an older
    generation is ignored (the new spec may fix it).
    """
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is not None and meta.get("generation") is not None and observed != meta["generation"]:
        return None
    ms = status.get("modelStatus") or {}
    states = ms.get("states") or {}
    info = ms.get("lastFailureInfo") or {}
    transition = ms.get("transitionStatus")
    failed_state = "FailedToLoad" in (states.get("activeModelState"), states.get("targetModelState"))
    if transition not in TERMINAL_TRANSITIONS and not (failed_state and info):
        return None
    parts = []
    if info.get("reason") or info.get("message"):
        parts.append("%s: %s" % (info.get("reason") or "failure", info.get("message") or "no message"))
    if info.get("exitCode") is not None:
        parts.append("exit code %s" % info["exitCode"])
    what = []
    if transition:
        what.append("transitionStatus %s" % transition)
    if failed_state:
        what.append("model state FailedToLoad")
    return "it failed terminally (%s)%s" % (", ".join(what), ": " + "; ".join(parts) if parts else "")


def summary(name, obj, seconds_to_ready=None):
    """The per-InferenceService result entry of the module (obj None: not found)."""
    obj = obj or {}
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    ready = readiness(obj)[0] if obj else False
    return {
        "name": name,
        "ready": ready,
        "url": status.get("url"),
        "internal_url": (status.get("address") or {}).get("url"),
        "seconds_to_ready": seconds_to_ready if ready else None,
        "generation": meta.get("generation"),
        "observed_generation": status.get("observedGeneration"),
    }


class KubeTransport(object):
    """LIST/WATCH/GET over kubernetes.core's dynamic client (``get_api_client(...).client``).

    Only raw JSON requests are used: no discovery round trips, so a wait is one LIST plus one
    WATCH on the wire.
    """

    def __init__(self, dynamic_client):
        self.dyn = dynamic_client
        self.stats = {"list_requests": 0, "watch_requests": 0}
        self._resp = None

    def _request(self, path, timeout, **params):
        from kubernetes.client.exceptions import ApiException  # guarded by the module's import check
        import urllib3

        try:
            return self.dyn.request("GET", path, serialize=False, _request_timeout=timeout, **params)
        except ApiException as exc:
            status = exc.status or 0
            if status == 410:
                raise Gone(exc.reason)
            if status in (0, 429, 500, 502, 503, 504):
                raise Disconnected("HTTP %s %s" % (status, exc.reason))
            raise WaitError("GET %s returned HTTP %s: %s" % (path, status, _api_message(exc)))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Disconnected(str(exc))

    def get_json(self, path, timeout=30, **params):
        resp = self._request(path, (CONNECT_TIMEOUT, timeout), **params)
        try:
            return json.loads(resp.data)
        finally:
            resp.release_conn()

    def list(self, path, timeout, **params):
        self.stats["list_requests"] += 1
        return self.get_json(path, timeout=timeout, **params)

    def watch(self, path, resource_version, read_timeout, server_timeout, **params):
        """Yield watch events (dicts) until the server ends the stream or the link drops."""
        import urllib3

        self.stats["watch_requests"] += 1
        resp = self._request(path, (CONNECT_TIMEOUT, read_timeout), watch=True,
                             resource_version=resource_version, allow_watch_bookmarks=True,
                             timeout_seconds=server_timeout, **params)
        self._resp = resp
        buf = bytearray()
        try:
            for segment in resp.stream(amt=None, decode_content=False):
                buf.extend(segment)
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = bytes(buf[:nl]), buf[nl + 1:]
                    if line.strip():
                        yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise Disconnected(str(exc))
        finally:
            self.close()

    def close(self):
        if self._resp is not None:
            try:
                self._resp.close()
                self._resp.release_conn()
            except Exception:  # closing a dead connection must not mask the original error
                pass
            self._resp = None


def _api_message(exc):
    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return exc.reason


class Waiter(object):
    """Waits until every target InferenceService is ready, one is terminally failed, or timeout.

    targets: `names` (list) and/or `label_selector`; with only a selector, the targets are what
    matches it (at least one). Returns a dict with `ready` (bool), `objects` (name -> last seen
    object or None), `ready_at` (name -> seconds after start), `failed` (name -> terminal
    sentence) and `timed_out`.
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
        self.objects = {}
        self.ready_at = {}
        self.failed = {}
        self.stats = {"relists": 0, "reconnects": 0, "events": 0}
        self.contacted = False
        self.last_error = None
        self.path = "/apis/%s/namespaces/%s/inferenceservices" % (GROUP_VERSION, namespace)
        self.selectors = {}
        if self.label_selector:
            self.selectors["label_selector"] = self.label_selector
        if len(self.names) == 1:
            self.selectors["field_selector"] = "metadata.name=%s" % self.names[0]

    # -- state -----------------------------------------------------------------------------
    def wanted(self, name):
        return not self.names or name in self.names

    def target_names(self):
        return list(self.names) if self.names else sorted(self.objects)

    def observe(self, obj):
        name = (obj.get("metadata") or {}).get("name")
        if not self.wanted(name):
            return
        self.objects[name] = obj
        ready, _why = readiness(obj)
        if ready:
            self.ready_at.setdefault(name, round(self.clock() - self.started, 3))
        else:
            self.ready_at.pop(name, None)
        sentence = terminal_failure(obj)
        if sentence:
            self.failed[name] = sentence
        else:
            self.failed.pop(name, None)

    def forget(self, obj):
        name = (obj.get("metadata") or {}).get("name")
        self.objects.pop(name, None)
        self.ready_at.pop(name, None)
        self.failed.pop(name, None)

    def done(self):
        targets = self.target_names()
        if targets and all(n in self.ready_at for n in targets):
            return True
        return bool(self.fail_fast and any(n in self.failed for n in targets))

    def remaining(self):
        return self.deadline - self.clock()

    # -- the loop --------------------------------------------------------------------------
    def relist(self):
        data = self.transport.list(self.path, timeout=max(min(self.remaining(), 60), 1),
                                   **self.selectors)
        self.contacted = True
        previous = self.ready_at
        self.objects, self.ready_at, self.failed = {}, {}, {}
        for item in data.get("items") or []:
            name = (item.get("metadata") or {}).get("name")
            if name in previous:  # still ready after a re-list: keep when it first was
                self.ready_at[name] = previous[name]
            self.observe(item)
        return (data.get("metadata") or {}).get("resourceVersion")

    def backoff(self, attempt):
        delay = self.rng.uniform(0.5, 1.0) * min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** attempt))
        delay = min(delay, max(self.remaining(), 0))
        if delay > 0:
            self.sleep(delay)

    def run(self):
        rv = None
        failures = 0
        while True:
            if self.remaining() <= 0:
                return self.result(timed_out=True)
            try:
                if rv is None:
                    rv = self.relist()
                    self.last_error = None
                    if self.done():
                        return self.result()
                left = self.remaining()
                if left <= 0:
                    continue
                server_timeout = int(math.ceil(min(left, WATCH_SECONDS)))
                read_timeout = min(left, WATCH_SECONDS) + READ_GRACE
                opened, got = self.clock(), 0
                for event in self.transport.watch(self.path, rv, read_timeout, server_timeout,
                                                  **self.selectors):
                    got += 1
                    failures, self.last_error = 0, None
                    rv = self.handle(event, rv)
                    if self.done():
                        self.transport.close()
                        return self.result()
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
        self.stats["events"] += 1
        new_rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
        if etype in ("ADDED", "MODIFIED"):
            self.observe(obj)
        elif etype == "DELETED":
            self.forget(obj)
        return new_rv

    def result(self, timed_out=False):
        targets = self.target_names()
        ready = bool(targets) and all(n in self.ready_at for n in targets)
        return {"ready": ready, "timed_out": timed_out and not ready, "last_error": self.last_error,
                "targets": targets, "objects": dict((n, self.objects.get(n)) for n in targets),
                "ready_at": dict(self.ready_at), "failed": dict(self.failed),
                "elapsed": round(self.clock() - self.started, 3)}
