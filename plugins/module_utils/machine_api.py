# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the OpenShift Machine API says about Machines that do not become nodes.

The AWS actuator (openshift/machine-api-provider-aws pkg/actuators/machine/instances.go,
launchInstance) and the machine controller (machine-api-operator pkg/controller/machine/
controller.go) report a launch EC2 refuses with HTTP 4xx (unknown or unsupported instance type,
vCPU limit) as phase Failed with status.errorReason InvalidConfiguration and status.errorMessage;
anything else (InsufficientInstanceCapacity is HTTP 500) leaves the Machine Provisioning and
retrying, the error only in providerStatus.conditions (MachineCreation False,
MachineCreationFailed) and in events.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MACHINESET_LABEL = "machine.openshift.io/cluster-api-machineset"


def _short(text, limit=300):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


def machine_problem(machine):
    """One sentence when a Machine reports why it has no node, else None."""
    meta = machine.get("metadata") or {}
    status = machine.get("status") or {}
    name = meta.get("name")
    if status.get("errorReason") or status.get("errorMessage"):
        return "Machine %s is %s: %s: %s" % (name, status.get("phase") or "Failed",
                                             status.get("errorReason") or "error",
                                             _short(status.get("errorMessage")))
    for cond in ((status.get("providerStatus") or {}).get("conditions")) or []:
        if cond.get("type") == "MachineCreation" and cond.get("status") == "False":
            return "Machine %s is %s: %s: %s" % (name, status.get("phase") or "Provisioning",
                                                 cond.get("reason") or "MachineCreationFailed",
                                                 _short(cond.get("message")))
    return None


def machineset_report(machines, machineset):
    """(phase counts as 'Running=1, Provisioning=2', problem sentences) of a MachineSet's Machines."""
    phases, problems = {}, []
    for m in machines or []:
        if ((m.get("metadata") or {}).get("labels") or {}).get(MACHINESET_LABEL) != machineset:
            continue
        phase = (m.get("status") or {}).get("phase") or "Pending"
        phases[phase] = phases.get(phase, 0) + 1
        problem = machine_problem(m)
        if problem:
            problems.append(problem)
    counts = ", ".join("%s=%d" % kv for kv in sorted(phases.items())) or "none"
    return counts, problems


# machine-api-operator pkg/controller/machineset/delete_policy.go: a Machine carrying this
# annotation is deleted first when its MachineSet scales down, under every delete policy.
DELETE_MACHINE_ANNOTATION = "machine.openshift.io/delete-machine"
FINISHED_PHASES = ("Succeeded", "Failed")


ISVC_LABEL = "serving.kserve.io/inferenceservice"


def _holds_node(pod, releasing):
    """Whether a pod keeps its node in use: running or about to, not being deleted, not a predictor
    of an InferenceService being deleted (``releasing``: {namespace: names}; its pods may not be
    marked for deletion yet when the InferenceService is gone, and in check mode never are), and not
    a DaemonSet's or a static pod's (those run on every node and go with it)."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
        return False
    if (meta.get("labels") or {}).get(ISVC_LABEL) in (releasing or {}).get(meta.get("namespace"), ()):
        return False
    return not any(ref.get("kind") in ("DaemonSet", "Node") for ref in meta.get("ownerReferences") or [])


def gpu_scale_down(machinesets, machines, pods, instance_types, prices, scale_down=True, releasing=None):
    """What a teardown does to the MachineSets of ``instance_types``: for each, the Machines whose
    node runs no workload (delete them: annotate, then lower replicas by as many) and the nodes it
    keeps, with the pods that keep them and their cost per hour. Pods of the InferenceServices in
    ``releasing`` ({namespace: [names]}, the ones the teardown deletes) do not keep a node.

    Returns a list of dicts: name, namespace, instance_type, replicas, target, scale (target differs
    from replicas), delete (Machine
    names), nodes (all its nodes: whose pods to read), kept (node names), busy (``namespace/pod``
    per kept node), hourly_cost (of the nodes kept, None when the price is unknown).
    """
    holding = {}
    for pod in pods or []:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and _holds_node(pod, releasing):
            meta = pod.get("metadata") or {}
            holding.setdefault(node, []).append("%s/%s" % (meta.get("namespace"), meta.get("name")))
    out = []
    for ms in machinesets or []:
        spec = ms.get("spec") or {}
        itype = (((((spec.get("template") or {}).get("spec") or {}).get("providerSpec") or {})
                  .get("value") or {}).get("instanceType"))
        if itype not in instance_types:
            continue
        meta = ms.get("metadata") or {}
        replicas = int(spec.get("replicas") or 0)
        if replicas == 0:
            continue
        mine = [m for m in machines or []
                if ((m.get("metadata") or {}).get("labels") or {}).get(MACHINESET_LABEL) == meta.get("name")
                and not (m.get("metadata") or {}).get("deletionTimestamp")]
        delete, kept, busy, nodes = [], [], {}, []
        for m in sorted(mine, key=lambda x: x["metadata"]["name"]):
            node = (((m.get("status") or {}).get("nodeRef")) or {}).get("name")
            if node:
                nodes.append(node)
            if node and node in holding:
                kept.append(node)
                busy[node] = sorted(holding[node])
            else:
                delete.append(m["metadata"]["name"])
        if not scale_down:
            delete, target = [], replicas
        else:
            target = min(replicas, len(kept))
            delete = delete[:max(0, replicas - target)]
        price = prices.get(itype)
        out.append({"name": meta.get("name"), "namespace": meta.get("namespace"), "instance_type": itype,
                    "replicas": replicas, "target": target, "scale": target != replicas, "delete": delete, "nodes": nodes, "kept": kept, "busy": busy,
                    "hourly_cost": None if price is None else round(price * target, 4)})
    return out


def gpu_scale_down_summary(entries, scaled_down=True):
    """One line: the GPU nodes a teardown leaves running, what they cost per hour and how to
    scale them down, or that none is left."""
    gone = sum(len(e["delete"]) for e in entries)
    left = [e for e in entries if e["target"] > 0]
    if not left:
        return "No GPU node of these models is left running%s." % (
            " (%d scaled down)" % gone if gone else "")
    parts, total, unknown = [], 0.0, False
    for e in left:
        cost = "price unknown" if e["hourly_cost"] is None else "$%.2f/h" % e["hourly_cost"]
        total += e["hourly_cost"] or 0.0
        unknown = unknown or e["hourly_cost"] is None
        why = ""
        if e["busy"]:
            pods = sorted({p for ps in e["busy"].values() for p in ps})
            why = ", in use by %s" % ", ".join(pods[:3]) + (" and %d more" % (len(pods) - 3) if len(pods) > 3 else "")
        parts.append("%s %d x %s (%s%s)" % (e["name"], e["target"], e["instance_type"], cost, why))
    scale = "; ".join("oc scale machineset %s -n %s --replicas=0" % (e["name"], e["namespace"]) for e in left)
    return "GPU nodes still running: %s, $%.2f/h in all%s; %s: %s" % (
        "; ".join(parts), total, " (some prices unknown)" if unknown else "",
        "scale them down once their pods are gone with" if scaled_down else "scale them down with", scale)
