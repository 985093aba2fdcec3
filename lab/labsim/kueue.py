"""Kueue admission simulator: one Workload per queued InferenceService predictor, quota
accounting per ClusterQueue flavor, admission (QuotaReserved/Admitted) and pod ungating.

Real Kueue creates a Workload per pod (pod integration) and its webhook adds the scheduling gate;
the lab models one Workload per predictor (podSet `main`, count = replicas) and the lab's KServe
puts the gate in the Deployment template. Messages follow Kueue's wording.
"""

from decimal import Decimal

from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from . import kube, predictor

GROUP, VERSION = "kueue.x-k8s.io", "v1beta1"
OWNER_LABEL = "lab.private-ai.io/inferenceservice"


def fmt_qty(val):
    val = Decimal(val)
    if val == val.to_integral_value():
        return str(int(val))
    return "%dm" % int(val * 1000)


def pod_requests(isvc):
    res = predictor.model_spec(isvc).get("resources") or {}
    out = {}
    for name, qty in (res.get("limits") or {}).items():
        out[name] = parse_quantity(qty)
    for name, qty in (res.get("requests") or {}).items():
        out[name] = parse_quantity(qty)
    return out


def desired_workload(isvc):
    meta = isvc["metadata"]
    reqs = pod_requests(isvc)
    pred = isvc["spec"].get("predictor") or {}
    pod = {"containers": [{"name": "kserve-container",
                           "resources": {"requests": {k: fmt_qty(v) for k, v in reqs.items()}}}]}
    for key in ("tolerations", "nodeSelector"):
        if pred.get(key):
            pod[key] = pred[key]
    return {
        "apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "Workload",
        "metadata": {"name": "%s-predictor" % meta["name"], "namespace": meta["namespace"],
                     "labels": {OWNER_LABEL: meta["name"],
                                predictor.QUEUE_LABEL: meta["labels"][predictor.QUEUE_LABEL]},
                     "ownerReferences": [dict(predictor.owner_ref(isvc), controller=False,
                                              blockOwnerDeletion=False)]},
        "spec": {"queueName": meta["labels"][predictor.QUEUE_LABEL],
                 "podSets": [{"name": "main", "count": predictor.replicas(isvc),
                              "template": {"spec": pod}}]},
    }


def workload_usage(wl):
    """Total requests of a Workload: {resource: Decimal}."""
    total = {}
    for ps in wl["spec"].get("podSets") or []:
        for c in ((ps.get("template") or {}).get("spec") or {}).get("containers") or []:
            for name, qty in ((c.get("resources") or {}).get("requests") or {}).items():
                total[name] = total.get(name, Decimal(0)) + parse_quantity(qty) * ps.get("count", 1)
    return total


def assign_flavors(cq, need, used):
    """({resource: flavor}, None) when cq has room for need given used[flavor][res], else
    (None, message)."""
    assignment = {}
    for group in (cq.get("spec") or {}).get("resourceGroups") or []:
        covered = [r for r in group.get("coveredResources") or [] if need.get(r)]
        if not covered:
            continue
        problems = []
        for flavor in group.get("flavors") or []:
            fname = flavor["name"]
            quotas = {r["name"]: parse_quantity(r.get("nominalQuota", 0))
                      for r in flavor.get("resources") or []}
            short = []
            for res in covered:
                free = quotas.get(res, Decimal(0)) - used.get(fname, {}).get(res, Decimal(0))
                if need[res] > free:
                    short.append("insufficient unused quota for %s in flavor %s, %s more needed"
                                 % (res, fname, fmt_qty(need[res] - max(free, Decimal(0)))))
            if not short:
                assignment.update({r: fname for r in covered})
                break
            problems.extend(short)
        else:
            return None, "couldn't assign flavors to pod set main: " + "; ".join(problems[:1])
    return assignment, None


class KueueController(kube.Controller):
    name = "kueue"
    KEY = "all"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.isvcs = ctx.informer("inferenceservices")
        self.workloads = ctx.informer("workloads")
        self.cqs = ctx.informer("clusterqueues")
        self.lqs = ctx.informer("localqueues")
        self.pods = ctx.informer("predictor-pods")
        self.rfs = ctx.informer("resourceflavors")
        self.admitted = {}  # workload uid -> admission we wrote
        for inf in self.informers():
            inf.add_handler(lambda t, o: self.queue.add(self.KEY))

    def informers(self):
        return [self.isvcs, self.workloads, self.cqs, self.lqs, self.pods, self.rfs]

    def resync_keys(self):
        return [self.KEY]

    def reconcile(self, key):
        queued = {kube.key_of(i): i for i in self.isvcs.list()
                  if (i["metadata"].get("labels") or {}).get(predictor.QUEUE_LABEL)
                  and not i["metadata"].get("deletionTimestamp")}
        ours = {}
        for wl in self.workloads.list():
            owner = (wl["metadata"].get("labels") or {}).get(OWNER_LABEL)
            if owner and not wl["metadata"].get("deletionTimestamp"):
                ours["%s/%s" % (wl["metadata"]["namespace"], owner)] = wl
        for ikey, wl in list(ours.items()):
            if ikey not in queued:  # InferenceService deleted or no longer queued
                self._delete(wl)
                del ours[ikey]
        for ikey, isvc in queued.items():
            want = desired_workload(isvc)
            have = ours.get(ikey)
            if have is not None and _shape(have) == _shape(want):
                continue
            if have is not None:  # shape changed: re-queue as a new workload
                self._delete(have)
            wmeta = want["metadata"]
            try:
                ours[ikey] = self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, wmeta["namespace"], "workloads", want)
                self.log.info("created Workload %s/%s", wmeta["namespace"], wmeta["name"])
            except ApiException as exc:
                if exc.status != 409:  # 409: created by us a moment ago, cache behind
                    raise
                ours[ikey] = self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, wmeta["namespace"], "workloads", wmeta["name"])
        self._admit(ours, queued)

    def _delete(self, wl):
        meta = wl["metadata"]
        try:  # the uid precondition spares a re-created namesake when the cache is behind
            kube.ignore_404(self.custom.delete_namespaced_custom_object, GROUP, VERSION,
                            meta["namespace"], "workloads", meta["name"],
                            body={"preconditions": {"uid": meta["uid"]}})
        except ApiException as exc:
            if exc.status != 409:
                raise
            return
        self.log.info("deleted Workload %s/%s", meta["namespace"], meta["name"])

    def _admit(self, ours, queued):
        cqs = {c["metadata"]["name"]: c for c in self.cqs.list()}
        lqs = {kube.key_of(q): q for q in self.lqs.list()}
        used = {name: {} for name in cqs}  # cq -> flavor -> resource -> Decimal
        counts = {name: {"admitted": 0, "pending": 0} for name in cqs}
        lq_counts = {}
        pending = []
        uids = {wl["metadata"]["uid"] for wl in ours.values()}
        self.admitted = {u: a for u, a in self.admitted.items() if u in uids}
        for ikey, wl in ours.items():
            # what we admitted counts even while the cache still shows the workload pending
            adm = (wl.get("status") or {}).get("admission") or self.admitted.get(
                wl["metadata"]["uid"])
            if adm and adm.get("clusterQueue") in used:
                for psa in adm.get("podSetAssignments") or []:
                    for res, qty in (psa.get("resourceUsage") or {}).items():
                        flavor = (psa.get("flavors") or {}).get(res)
                        slot = used[adm["clusterQueue"]].setdefault(flavor, {})
                        slot[res] = slot.get(res, Decimal(0)) + parse_quantity(qty)
                counts[adm["clusterQueue"]]["admitted"] += 1
                self._lq_count(lq_counts, wl, "admitted")
                self._ungate(queued[ikey], adm)
            elif not adm:
                pending.append((wl["metadata"].get("creationTimestamp", ""), ikey, wl))
        for _, ikey, wl in sorted(pending, key=lambda p: p[:2]):
            ns = wl["metadata"]["namespace"]
            qname = wl["spec"]["queueName"]
            lq = lqs.get("%s/%s" % (ns, qname))
            if lq is None:
                self._pending(wl, "Inadmissible", "LocalQueue %s doesn't exist" % qname)
                continue
            cqname = (lq.get("spec") or {}).get("clusterQueue")
            cq = cqs.get(cqname)
            if cq is None:
                self._pending(wl, "Inadmissible", "ClusterQueue %s doesn't exist" % cqname)
                continue
            need = workload_usage(wl)
            flavors, message = assign_flavors(cq, need, used[cqname])
            self._lq_count(lq_counts, wl, "admitted" if flavors is not None else "pending")
            if flavors is None:
                counts[cqname]["pending"] += 1
                self._pending(wl, "Pending", message)
                continue
            for res, flavor in flavors.items():
                slot = used[cqname].setdefault(flavor, {})
                slot[res] = slot.get(res, Decimal(0)) + need[res]
            counts[cqname]["admitted"] += 1
            self._ungate(queued[ikey], self._admit_one(wl, cqname, flavors, need))
        for name, cq in cqs.items():
            self._cq_status(cq, used[name], counts[name])
        for lkey, lq in lqs.items():
            self._lq_status(lq, lq_counts.get(lkey, {}))

    @staticmethod
    def _lq_count(lq_counts, wl, kind):
        lkey = "%s/%s" % (wl["metadata"]["namespace"], wl["spec"]["queueName"])
        slot = lq_counts.setdefault(lkey, {"admitted": 0, "pending": 0})
        slot[kind] += 1

    def _patch_status(self, plural, obj, status, namespaced=True):
        old = obj.get("status") or {}
        if kube_strip(old) == kube_strip(dict(old, **status)):
            return
        meta = obj["metadata"]
        if namespaced:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], plural, meta["name"], {"status": status})
        else:
            self.custom.patch_cluster_custom_object_status(
                GROUP, VERSION, plural, meta["name"], {"status": status})

    def _pending(self, wl, reason, message):
        conds = kube.set_condition((wl.get("status") or {}).get("conditions"), "QuotaReserved",
                                   "False", reason, message)
        self._patch_status("workloads", wl, {"conditions": conds})
        if (wl.get("status") or {}).get("conditions") != conds:
            self.log.info("Workload %s pending: %s", kube.key_of(wl), message)

    def _admit_one(self, wl, cqname, flavors, need):
        count = wl["spec"]["podSets"][0].get("count", 1)
        conds = (wl.get("status") or {}).get("conditions")
        conds = kube.set_condition(conds, "QuotaReserved", "True", "QuotaReserved",
                                   "Quota reserved in ClusterQueue %s" % cqname)
        conds = kube.set_condition(conds, "Admitted", "True", "Admitted",
                                   "The workload is admitted")
        status = {"admission": {"clusterQueue": cqname, "podSetAssignments": [{
            "name": "main", "count": count, "flavors": flavors,
            "resourceUsage": {r: fmt_qty(need[r]) for r in flavors}}]},
            "conditions": conds}
        self._patch_status("workloads", wl, status)
        self.admitted[wl["metadata"]["uid"]] = status["admission"]
        self.log.info("Workload %s admitted by ClusterQueue %s (%s)", kube.key_of(wl), cqname,
                      ", ".join("%s=%s" % (r, fmt_qty(need[r])) for r in sorted(flavors)))
        return status["admission"]

    def _flavor_node_labels(self, admission):
        """nodeLabels of the ResourceFlavors an admission assigned (Kueue adds them to pods)."""
        labels = {}
        for psa in admission.get("podSetAssignments") or []:
            for flavor in set((psa.get("flavors") or {}).values()):
                rf = self.rfs.get(flavor) or {}
                labels.update((rf.get("spec") or {}).get("nodeLabels") or {})
        return labels

    def _ungate(self, isvc, admission):
        ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        node_labels = self._flavor_node_labels(admission)
        for pod in self.pods.list():
            meta = pod["metadata"]
            if meta["namespace"] != ns or (meta.get("labels") or {}).get(
                    predictor.ISVC_LABEL) != name:
                continue
            gates = (pod.get("spec") or {}).get("schedulingGates") or []
            if any(g.get("name") == predictor.KUEUE_GATE for g in gates):
                keep = [g for g in gates if g.get("name") != predictor.KUEUE_GATE]
                ops = [{"op": "replace", "path": "/spec/schedulingGates", "value": keep}]
                selector = dict(pod["spec"].get("nodeSelector") or {})
                extra = {k: v for k, v in node_labels.items() if k not in selector}
                if extra:  # a gated pod's nodeSelector may only grow
                    selector.update(extra)
                    ops.insert(0, {"op": "add", "path": "/spec/nodeSelector", "value": selector})
                try:
                    kube.ignore_404(self.core.patch_namespaced_pod, meta["name"], ns, ops)
                except ApiException as exc:
                    if exc.status != 422 or len(ops) == 1:
                        raise
                    self.log.warning("pod %s/%s refused flavor nodeLabels %s; ungating only",
                                     ns, meta["name"], extra)
                    kube.ignore_404(self.core.patch_namespaced_pod, meta["name"], ns, ops[1:])
                self.log.info("ungated pod %s/%s", ns, meta["name"])

    def _cq_status(self, cq, used, counts):
        usage = []
        for group in (cq.get("spec") or {}).get("resourceGroups") or []:
            for flavor in group.get("flavors") or []:
                fname = flavor["name"]
                usage.append({"name": fname, "resources": [
                    {"name": r["name"], "total": fmt_qty(used.get(fname, {}).get(r["name"], 0)),
                     "borrowed": "0"} for r in flavor.get("resources") or []]})
        conds = kube.set_condition((cq.get("status") or {}).get("conditions"), "Active", "True",
                                   "Ready", "Can admit new workloads")
        self._patch_status("clusterqueues", cq, {
            "admittedWorkloads": counts["admitted"], "reservingWorkloads": counts["admitted"],
            "pendingWorkloads": counts["pending"], "flavorsUsage": usage,
            "flavorsReservation": usage, "conditions": conds}, namespaced=False)

    def _lq_status(self, lq, counts):
        conds = kube.set_condition((lq.get("status") or {}).get("conditions"), "Active", "True",
                                   "Ready", "Can submit new workloads to localQueue")
        self._patch_status("localqueues", lq, {
            "admittedWorkloads": counts.get("admitted", 0),
            "reservingWorkloads": counts.get("admitted", 0),
            "pendingWorkloads": counts.get("pending", 0), "conditions": conds})


def _shape(wl):
    """What makes a Workload a different one: queue, pod count and total requests."""
    sets = wl["spec"].get("podSets") or []
    return (wl["spec"].get("queueName"), [p.get("count", 1) for p in sets], workload_usage(wl))


def kube_strip(obj):
    if isinstance(obj, dict):
        return {k: kube_strip(v) for k, v in obj.items() if k != "lastTransitionTime"}
    if isinstance(obj, list):
        return [kube_strip(v) for v in obj]
    return obj
