# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run lock: a coordination.k8s.io/v1 Lease in the namespace, taken by one site.yml run at a time.

Taken as client-go's leader election takes its Lease (k8s.io/client-go/tools/leaderelection/
resourcelock/leaselock.go and leaderelection.go tryAcquireOrRenew): create it when absent (a second
creator gets HTTP 409), otherwise replace it at the resourceVersion read (a concurrent writer makes
the replace fail with 409) only when it is free - no holder, or its renewTime plus
leaseDurationSeconds is past. Released by deleting it with that resourceVersion as precondition, so
a run never removes a lock another run took since.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError

API = "coordination.k8s.io/v1"
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


class LockError(ModuleError):
    """Another run holds the lock (``holder``, ``since``), or the API refused the Lease."""


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def micro(moment):
    return moment.strftime(MICROTIME)


def _parse(text):
    if not text:
        return None
    text = text.rstrip("Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


def expires(lease):
    """When the Lease's hold ends (None: nobody holds it)."""
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return None
    renewed = _parse(spec.get("renewTime")) or _parse(spec.get("acquireTime"))
    if renewed is None:
        return None
    return renewed + datetime.timedelta(seconds=int(spec.get("leaseDurationSeconds") or 0))


def held_by_other(lease, holder, moment):
    """The other holder's identity when the Lease is held by someone else at ``moment``, else None."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    end = expires(lease)
    if spec.get("holderIdentity") in (None, "", holder) or end is None or end <= moment:
        return None
    return spec["holderIdentity"]


def desired(name, namespace, holder, seconds, moment, lease=None):
    """The Lease held by ``holder`` from ``moment`` for ``seconds`` (on top of ``lease`` when given)."""
    spec = (lease or {}).get("spec") or {}
    transitions = int(spec.get("leaseTransitions") or 0)
    if spec.get("holderIdentity") not in (None, "", holder):
        transitions += 1
    meta = {"name": name, "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "private-ai-llm-serving"}}
    if lease:
        meta["resourceVersion"] = lease["metadata"]["resourceVersion"]
    return {"apiVersion": API, "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": int(seconds),
                     "acquireTime": micro(moment) if spec.get("holderIdentity") != holder else spec.get("acquireTime"),
                     "renewTime": micro(moment), "leaseTransitions": transitions}}


def busy_message(name, namespace, lease, wait):
    spec = lease.get("spec") or {}
    end = expires(lease)
    return ("Another run holds the lock, Lease %s/%s: %s, since %s, until %s%s. Wait for it to finish, "
            "or, if no run is going on (one was interrupted), delete the lock with "
            "`oc delete lease %s -n %s`." % (
                namespace, name, spec.get("holderIdentity"), spec.get("acquireTime") or "?",
                micro(end) if end else "?", " (waited %ss)" % wait if wait else "", name, namespace))


def acquire(cluster, name, namespace, holder, seconds, wait=0, clock=time.monotonic, sleep=time.sleep,
            moment=now_utc, delay=5.0, gone=lambda holder: False):
    """Take the Lease for ``holder``; wait up to ``wait`` seconds while another run holds it, unless
    ``gone(other holder)`` says that run no longer exists (then take it over). Returns the holder it
    took over from, or None."""
    deadline = clock() + wait
    while True:
        lease = cluster.get(API, "Lease", name, namespace)
        other = held_by_other(lease, holder, moment())
        taken_over = other if other is not None and gone(other) else None
        if other is None or taken_over:
            try:
                method = "POST" if lease is None else "PUT"
                cluster.write(method, desired(name, namespace, holder, seconds, moment(), lease))
                return taken_over
            except ApiError as exc:
                if exc.status != 409:  # 409: another run created or took it meanwhile: look again
                    raise LockError("Could not take the lock, Lease %s/%s: HTTP %s %s"
                                    % (namespace, name, exc.status, exc.reason), status=exc.status)
                continue
        if clock() >= deadline:
            raise LockError(busy_message(name, namespace, lease, wait), holder=other)
        sleep(max(0.0, min(delay, deadline - clock())))


def release(cluster, name, namespace, holder):
    """Delete the Lease if ``holder`` still holds it; returns whether it did (or, in check mode, would)."""
    lease = cluster.get(API, "Lease", name, namespace)
    if lease is None or (lease.get("spec") or {}).get("holderIdentity") != holder:
        return False
    try:
        cluster.delete(API, "Lease", name, namespace, lease["metadata"]["resourceVersion"])
    except ApiError as exc:
        if exc.status in (404, 409):  # gone, or taken over by another run since: not ours to delete
            return False
        raise LockError("Could not release the lock, Lease %s/%s: HTTP %s %s"
                        % (namespace, name, exc.status, exc.reason), status=exc.status)
    return True
