# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Why is an InferenceService not ready? Gather what a person would look at, and say it.

`collect` takes, per InferenceService, what the wait watched (the InferenceService, its predictor
Deployment and pods) and reads Warning events and Kueue Workloads (only on failure). `explain`
turns that into one sentence, most specific cause first: terminal failure, Kueue quota,
unschedulable pod, container errors, a rollout in progress, the Ready condition itself. Both are
pure over dicts except `collect`.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.readiness import (
    ISVC_LABEL,
    readiness,
    rollout,
    terminal_failure,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.wait import (
    Disconnected,
    WaitError,
)

KUEUE_GATE = "kueue.x-k8s.io/admission"
KUEUE_VERSIONS = ("v1beta1", "v1beta2")
MAX_EVENTS = 5
MESSAGE_LIMIT = 400


def _short(text, limit=MESSAGE_LIMIT):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


def _conditions(obj):
    out = []
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        entry = dict((k, c.get(k)) for k in ("type", "status", "reason", "message") if c.get(k) is not None)
        if c.get("observedGeneration") is not None:
            entry["observedGeneration"] = c["observedGeneration"]
        out.append(entry)
    return out


def pod_summary(pod):
    """Phase, scheduling gates, unschedulable reason and container problems of one pod."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    out = {"name": meta.get("name"), "phase": status.get("phase"), "node": spec.get("nodeName"),
           "scheduling_gates": [g.get("name") for g in spec.get("schedulingGates") or []],
           "containers": []}
    for c in status.get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            out["unschedulable"] = _short("%s: %s" % (c.get("reason"), c.get("message")))
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        entry = {"name": cs.get("name"), "ready": bool(cs.get("ready")),
                 "restart_count": cs.get("restartCount", 0)}
        if "waiting" in state:
            entry["waiting_reason"] = state["waiting"].get("reason")
            entry["waiting_message"] = _short(state["waiting"].get("message"))
        if "terminated" in state:
            last = state["terminated"]
        if last:
            entry["last_termination"] = {"reason": last.get("reason"), "exit_code": last.get("exitCode"),
                                         "message": _short(last.get("message"))}
        out["containers"].append(entry)
    return out


def _event_time(ev):
    return (ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("series") or {}).get("lastObservedTime")
            or (ev.get("metadata") or {}).get("creationTimestamp") or "")


def event_summary(ev):
    obj = ev.get("involvedObject") or {}
    return {"object": "%s/%s" % (obj.get("kind"), obj.get("name")), "reason": ev.get("reason"),
            "message": _short(ev.get("message")),
            "count": ev.get("count") or (ev.get("series") or {}).get("count") or 1,
            "last_seen": _event_time(ev)}


def _belongs(name, owner_name, pod_names):
    return owner_name == name or owner_name in pod_names or owner_name.startswith(name + "-predictor")


def workload_summary(wl):
    meta = wl.get("metadata") or {}
    conds = _conditions(wl)
    admitted = any(c.get("type") == "Admitted" and c.get("status") == "True" for c in conds)
    return {"name": meta.get("name"), "queue": (wl.get("spec") or {}).get("queueName"),
            "admitted": admitted, "conditions": conds}


class Diagnostics(object):
    """Reads pods, Warning events and Kueue Workloads of a namespace once, on demand."""

    def __init__(self, transport, namespace):
        self.transport = transport
        self.namespace = namespace
        self._events = None
        self._workloads = None
        self.errors = []

    def _get(self, what, path, **params):
        try:
            return self.transport.get_json(path, **params).get("items") or []
        except (WaitError, Disconnected) as exc:
            self.errors.append("%s: %s" % (what, exc))
            return None

    def events(self):
        if self._events is None:
            self._events = self._get("events", "/api/v1/namespaces/%s/events" % self.namespace,
                                     field_selector="type=Warning") or []
        return self._events

    def workloads(self):
        if self._workloads is None:
            self._workloads = []
            for version in KUEUE_VERSIONS:
                path = "/apis/kueue.x-k8s.io/%s/namespaces/%s/workloads" % (version, self.namespace)
                try:
                    self._workloads = self.transport.get_json(path).get("items") or []
                    break
                except WaitError as exc:
                    if "HTTP 404" not in str(exc):  # 404: that version (or Kueue) is not served
                        self.errors.append("workloads: %s" % exc)
                        break
                except Disconnected as exc:
                    self.errors.append("workloads: %s" % exc)
                    break
        return self._workloads

    def collect(self, name, obj, deployment=None, pods=None):
        """Everything a person needs to act on one InferenceService that is not ready. Without
        `pods` (None) the predictor pods are read here."""
        status = (obj or {}).get("status") or {}
        meta = (obj or {}).get("metadata") or {}
        if pods is None:
            pods = self._get("pods", "/api/v1/namespaces/%s/pods" % self.namespace,
                             label_selector="%s=%s" % (ISVC_LABEL, name)) or []
        pod_names = set((p.get("metadata") or {}).get("name") for p in pods)
        events = [e for e in self.events()
                  if _belongs(name, (e.get("involvedObject") or {}).get("name") or "", pod_names)]
        events.sort(key=_event_time)
        workloads = []
        for wl in self.workloads():
            wmeta = wl.get("metadata") or {}
            owners = [o.get("name") or "" for o in wmeta.get("ownerReferences") or []]
            labels = (wmeta.get("labels") or {}).values()
            if (any(_belongs(name, o, pod_names) for o in owners) or name in labels
                    or (wmeta.get("name") or "").startswith(name + "-predictor")):
                workloads.append(workload_summary(wl))
        ready, why = readiness(obj, deployment, pods)
        return {
            "name": name,
            "exists": obj is not None,
            "ready": ready,
            "reason": why,
            "terminal": terminal_failure(obj, deployment, pods),
            "generation": meta.get("generation"),
            "observed_generation": status.get("observedGeneration"),
            "conditions": _conditions(obj),
            "model_status": status.get("modelStatus"),
            "last_failure_info": (status.get("modelStatus") or {}).get("lastFailureInfo"),
            "url": status.get("url"),
            "deployment": deployment_summary(deployment),
            "pods": [pod_summary(p) for p in pods],
            "events": [event_summary(e) for e in events[-MAX_EVENTS:]],
            "kueue_workloads": workloads,
            "diagnostic_errors": list(self.errors),
        }


def deployment_summary(dep):
    """Name, strategy, replica counts, rollout state and conditions of the predictor Deployment."""
    if not dep:
        return None
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    done, why = rollout(dep)
    return {"name": (dep.get("metadata") or {}).get("name"),
            "strategy": (spec.get("strategy") or {}).get("type"),
            "replicas": spec.get("replicas"), "updated": status.get("updatedReplicas", 0),
            "available": status.get("availableReplicas", 0), "total": status.get("replicas", 0),
            "rolled_out": done, "rollout": why or "complete", "conditions": _conditions(dep)}


def explain(diag, namespace, waited):
    """One sentence: what was last seen for this InferenceService and why it is not ready."""
    name = diag["name"]
    subject = "InferenceService %s/%s" % (namespace, name)
    if not diag["exists"]:
        return "%s does not exist (waited %.0f s for it to appear)." % (subject, waited)
    if diag.get("terminal"):
        return "%s cannot become ready: %s." % (subject, diag["terminal"].rstrip("."))
    for wl in diag["kueue_workloads"]:
        if not wl["admitted"]:
            msgs = [c.get("message") for c in wl["conditions"]
                    if c.get("type") in ("QuotaReserved", "Admitted", "Pending") and c.get("message")]
            if msgs:
                return "%s is waiting for Kueue admission: Workload %s: %s." % (
                    subject, wl["name"], msgs[0].rstrip("."))
    for pod in diag["pods"]:
        if KUEUE_GATE in pod["scheduling_gates"]:
            return ("%s is waiting for Kueue admission: pod %s is gated by %s and no admitted "
                    "Workload was found." % (subject, pod["name"], KUEUE_GATE))
    for pod in diag["pods"]:
        if pod.get("unschedulable"):
            return "%s cannot be scheduled: pod %s is %s." % (subject, pod["name"], pod["unschedulable"].rstrip("."))
    for pod in diag["pods"]:
        for c in pod["containers"]:
            if c.get("waiting_reason") and c["waiting_reason"] not in ("ContainerCreating", "PodInitializing"):
                last = c.get("last_termination") or {}
                tail = ""
                if last:
                    tail = "; last terminated %s with exit code %s: %s" % (
                        last.get("reason"), last.get("exit_code"), last.get("message") or "no message")
                detail = c.get("waiting_message") or ""
                return "%s: container %s of pod %s is %s%s%s." % (
                    subject, c["name"], pod["name"], c["waiting_reason"],
                    " (%s)" % detail if detail else "", tail)
    for ev in reversed(diag["events"]):
        if ev["reason"] in ("FailedScheduling", "Failed", "BackOff", "FailedMount", "FailedCreate"):
            return "%s: %s %s: %s." % (subject, ev["object"], ev["reason"], ev["message"].rstrip("."))
    pods = ", ".join("%s %s" % (p["name"], p["phase"]) for p in diag["pods"]) or "no predictor pods"
    return "%s is not ready: %s (%s)." % (subject, diag["reason"], pods)


def failure_message(outcome, diagnostics, namespace, label_selector):
    """The one sentence (or one per failing InferenceService) a wait that did not end Ready fails with."""
    if not outcome["targets"]:
        return ("No InferenceService in namespace %s matches label selector %r (waited %.0f s)."
                % (namespace, label_selector, outcome["elapsed"]))
    failing = [d for d in diagnostics if d["name"] in outcome["failed"]] if outcome["failed"] else diagnostics
    head = ("%d of %d InferenceServices failed terminally: " % (len(failing), len(outcome["targets"]))
            if outcome["failed"] and not outcome["timed_out"] else
            "%d of %d InferenceServices not ready after %.0f s: " % (
                len(diagnostics), len(outcome["targets"]), outcome["elapsed"]))
    msg = head + " ".join(explain(d, namespace, outcome["elapsed"]) for d in failing)
    if outcome["timed_out"] and outcome["last_error"]:
        msg += " The last apiserver error was: %s." % outcome["last_error"]
    return msg
