# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenShift Machine API as the roles see it: which MachineSet serves a planned instance type,
the GPU MachineSet cloned from a worker one, which GPU nodes count as ready, what the Machines say
when they do not become nodes, and which Machines a teardown removes.

Launch failures: the AWS actuator (openshift/machine-api-provider-aws pkg/actuators/machine/instances.go,
launchInstance) and the machine controller (machine-api-operator pkg/controller/machine/
controller.go) report a launch EC2 refuses with HTTP 4xx (unknown or unsupported instance type,
vCPU limit) as phase Failed with status.errorReason InvalidConfiguration and status.errorMessage;
anything else (InsufficientInstanceCapacity is HTTP 500) leaves the Machine Provisioning and
retrying, the error only in providerStatus.conditions (MachineCreation False,
MachineCreationFailed) and in events.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

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


# -- gpu_machinesets: which MachineSet gives each planned instance type, clones, node readiness -----

def instance_type(machineset):
    spec = ((machineset.get("spec") or {}).get("template") or {}).get("spec") or {}
    return ((spec.get("providerSpec") or {}).get("value") or {}).get("instanceType")


def machinesets_plan(machinesets, plan, infra, allow_scale_down=False):
    """For every instance type of the plan's nodes: the MachineSet that provides it (one named
    after the cluster's infrastructure first), or a clone to create; its current and target
    replicas (never lowered unless allowed) and the GPU product its nodes carry."""
    out = {}
    products = {}
    for entry in (plan.get("models") or {}).values():
        products.setdefault(entry.get("instance_type"), entry.get("gpu_product") or "")
    for itype, want in sorted((plan.get("nodes") or {}).items()):
        want = int(want)
        matches = [ms for ms in machinesets or [] if instance_type(ms) == itype]
        preferred = [ms for ms in matches if ms["metadata"]["name"].startswith(infra + "-")]
        chosen = (preferred + matches)[0] if matches else None
        if chosen is None:
            out[itype] = {"name": "", "clone": True, "current": 0, "target": want, "want": want,
                          "product": products.get(itype, "")}
            continue
        current = int((chosen.get("spec") or {}).get("replicas") or 0)
        out[itype] = {"name": chosen["metadata"]["name"], "clone": False, "current": current,
                      "target": want if allow_scale_down else max(want, current), "want": want,
                      "product": products.get(itype, "")}
    return out


MACHINE_ROLE_LABEL = "machine.openshift.io/cluster-api-machine-role"


def clone_source(machinesets, infra):
    """The worker MachineSet a GPU MachineSet is cloned from: `<infra>-worker...` first, then any
    MachineSet whose Machines have a role; None when there is none."""
    workers = [ms for ms in machinesets or []
               if MACHINE_ROLE_LABEL in (((ms.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels", {})]
    preferred = [ms for ms in workers if ms["metadata"]["name"].startswith(infra + "-worker")]
    return (preferred + workers)[0] if workers else None


def machineset_clone(source, infra, itype, replicas, namespace, taint, node_labels):
    """A GPU MachineSet cloned from the worker MachineSet ``source`` for instance type ``itype``:
    named `<infra>-gpu-<type>[-<zone>]`, instanceType replaced, selector and template labels
    renamed, the GPU taint (replacing one of the same key) and extra node labels."""
    spec = copy.deepcopy(source["spec"])
    tmpl = spec.get("template") or {}
    tspec = tmpl.get("spec") or {}
    provider = dict((tspec.get("providerSpec") or {}).get("value") or {})
    zone = (provider.get("placement") or {}).get("availabilityZone") or ""
    name = "-".join([infra, "gpu", itype.replace(".", "-")] + ([zone] if zone else [])).lower()
    ms_label = {MACHINESET_LABEL: name}
    tmpl_meta = dict(tmpl.get("metadata") or {})
    tmpl_meta["labels"] = dict(tmpl_meta.get("labels") or {}, **ms_label)
    taints = [t for t in tspec.get("taints") or [] if t.get("key") != taint["key"]] + [dict(taint)]
    node_meta = dict(tspec.get("metadata") or {})
    node_meta["labels"] = dict(node_meta.get("labels") or {}, **(node_labels or {}))
    provider["instanceType"] = itype
    tspec = dict(tspec, metadata=node_meta, taints=taints, providerSpec={"value": provider})
    spec.update(replicas=int(replicas),
                selector={"matchLabels": dict((spec.get("selector") or {}).get("matchLabels") or {}, **ms_label)},
                template=dict(tmpl, metadata=tmpl_meta, spec=tspec))
    labels = dict(source["metadata"].get("labels") or {})
    labels.update({"machine.openshift.io/cluster-api-cluster": infra, "app.kubernetes.io/managed-by": "private-ai-llm-serving"})
    return {"apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "annotations": {"private-ai.llm-serving/cloned-from": source["metadata"]["name"],
                                         "private-ai.llm-serving/instance-type": itype}},
            "spec": spec}


def _node_ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def nodes_ready(nodes, ms_plan):
    """Per planned instance type: nodes Ready, schedulable, with allocatable nvidia.com/gpu, of
    that instance type and the planned GPU product; and whether there are enough."""
    out = {}
    for itype, ms in ms_plan.items():
        ready = 0
        for node in nodes or []:
            labels = (node.get("metadata") or {}).get("labels") or {}
            node_type = labels.get("node.kubernetes.io/instance-type") or labels.get("beta.kubernetes.io/instance-type") or itype
            gpus = int(((node.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu") or 0)
            if _node_ready(node) and gpus > 0 and node_type == itype and \
                    labels.get("nvidia.com/gpu.product", "") == ms["product"] and not (node.get("spec") or {}).get("unschedulable"):
                ready += 1
        out[itype] = {"ready": ready, "want": ms["want"], "ok": ready >= ms["want"]}
    return out


def wait_failure(ms_plan, ready, machines, timeout, error=""):
    """One sentence per MachineSet short of Ready GPU nodes, with its Machines' phases and why they
    have no node."""
    parts = []
    for itype, ms in ms_plan.items():
        if ready[itype]["ok"]:
            continue
        phases, problems = machineset_report(machines, ms["name"])
        parts.append("MachineSet %s (%s, %s): %d of %d nodes Ready with allocatable nvidia.com/gpu, Machines %s%s"
                     % (ms["name"], itype, ms["product"], ready[itype]["ready"], ms["want"], phases,
                        (" - " + "; ".join(problems)) if problems else ""))
    last = " (last error listing the nodes: %s)" % error if error else ""
    return "GPU nodes not ready after %ss: %s%s." % (timeout, "; ".join(parts), last)
