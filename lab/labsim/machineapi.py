"""Machine API simulator: MachineSet replicas -> Machines -> kwok-managed GPU Nodes.

What the OpenShift machine-api operator and the AWS actuator do, reduced to what the collection
observes: Machines named `<machineset>-<5 chars>` go Provisioning -> Provisioned -> Running, each
gets a Node `ip-10-0-x-y.ec2.internal` labelled and sized like the EC2 instance type (GPU labels
as NVIDIA's GPU feature discovery sets them), and MachineSet status counts them. kwok then keeps
the Nodes Ready.

Launch failures as openshift/machine-api-provider-aws (release-4.20) reports them
(pkg/actuators/machine/instances.go launchInstance, machine-api-operator
pkg/controller/machine/controller.go):
- an instance type EC2 does not know (HTTP 400): the Machine goes `Failed` with
  errorReason InvalidConfiguration, errorMessage "error launching instance: <EC2 message>",
  annotation instance-state Unknown, and is never retried;
- no capacity (InsufficientInstanceCapacity, HTTP 500): the Machine stays `Provisioning`, its
  providerStatus gets condition MachineCreation False / MachineCreationFailed with
  "error creating EC2 instance: ...", a Warning FailedCreate event is recorded, and the launch is
  retried.
The lab's EC2 per instance type is read from `<state-dir>/aws-capacity.json` at every launch:
a number is the capacity (Machines that may run), "unsupported" an instance type the zone does
not offer ({"g6e.2xlarge": 0, "g6.48xlarge": "unsupported"}); absent means unlimited.
"""

import calendar
import json
import math
import os
import random
import string
import time
import uuid

import gpu_catalog

from . import kube

GROUP, VERSION = "machine.openshift.io", "v1beta1"
MACHINE_LABEL = "machine.openshift.io/cluster-api-machineset"
GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}

# Non-GPU instance types (the OpenShift installer's workers); GPU types come from the collection's
# catalog (gpu_catalog.py): (vCPU, memory GiB, GPUs, GPU product, GPU memory MiB).
CPU_TYPES = {
    "m6i.xlarge": (4, 16, 0, None, 0),
    "m6i.2xlarge": (8, 32, 0, None, 0),
}
DEFAULT_SHAPE = (4, 16, 0, None, 0)
PHASES = ["", "Provisioning", "Provisioned", "Running"]


def phase_delay():
    return float(os.environ.get("LABSIM_MACHINE_PHASE_DELAY_S", "1.0"))


def instance_type(ms_or_machine):
    spec = ms_or_machine.get("spec", {})
    if "template" in spec:
        spec = spec["template"].get("spec", {})
    value = ((spec.get("providerSpec") or {}).get("value")) or {}
    return value.get("instanceType", "")


def node_manifest(name, machine, itype, ip):
    cpu, mem_gi, gpus, product, gpu_mem = gpu_catalog.shape(itype) or CPU_TYPES.get(itype, DEFAULT_SHAPE)
    zone = (((machine.get("spec", {}).get("providerSpec") or {}).get("value") or {})
            .get("placement", {}).get("availabilityZone")) or "us-east-1a"
    labels = {
        "type": "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": itype,
        "beta.kubernetes.io/instance-type": itype,
        "topology.kubernetes.io/region": zone[:-1],
        "topology.kubernetes.io/zone": zone,
        "node-role.kubernetes.io/worker": "",
    }
    labels.update(((machine.get("spec", {}).get("metadata") or {}).get("labels")) or {})
    resources = {"cpu": str(cpu), "memory": "%dGi" % mem_gi, "pods": "250",
                 "ephemeral-storage": "200Gi"}
    taints = []
    if gpus:
        labels.update({
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": product,
            "nvidia.com/gpu.count": str(gpus),
            "nvidia.com/gpu.memory": str(gpu_mem),
            "nvidia.com/gpu.deploy.driver": "true",
        })
        resources["nvidia.com/gpu"] = str(gpus)
        taints.append(dict(GPU_TAINT))
    meta = machine["metadata"]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "labels": labels,
            "annotations": {
                "machine.openshift.io/machine": "%s/%s" % (meta["namespace"], meta["name"]),
                "node.alpha.kubernetes.io/ttl": "0",
                "kwok.x-k8s.io/node": "fake",
            },
        },
        "spec": {"providerID": machine.get("spec", {}).get("providerID", ""), "taints": taints},
        "status": {
            "capacity": dict(resources), "allocatable": dict(resources),
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name},
                          {"type": "InternalDNS", "address": name}],
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux",
                         "kubeletVersion": "v1.35.0-kwok", "osImage": "Red Hat Enterprise Linux CoreOS (lab)",
                         "containerRuntimeVersion": "cri-o://kwok", "kernelVersion": "kwok",
                         "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""},
        },
    }


class MachineAPIController(kube.Controller):
    name = "machine-api"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.ms_inf = ctx.informer("machinesets")
        self.m_inf = ctx.informer("machines")
        self.node_inf = ctx.informer("kwok-nodes")
        self.ms_inf.add_handler(lambda t, o: self.queue.add(kube.key_of(o)))
        self.m_inf.add_handler(self._on_machine)
        self.node_inf.add_handler(self._on_node)
        self.rng = random.SystemRandom()
        self.written = {}  # machine key -> last phase we wrote (the cache may lag behind)
        self.expect = {}  # machineset key -> machine names created/deleted, not yet in the cache

    def informers(self):
        return [self.ms_inf, self.m_inf, self.node_inf]

    def resync_keys(self):
        return [kube.key_of(o) for o in self.ms_inf.list()]

    def _on_machine(self, etype, obj):
        meta = obj["metadata"]
        owner = meta.get("labels", {}).get(MACHINE_LABEL)
        if owner:
            self.queue.add("%s/%s" % (meta["namespace"], owner))

    def _on_node(self, etype, obj):
        ref = obj["metadata"].get("annotations", {}).get("machine.openshift.io/machine", "")
        if "/" in ref:
            machine = self.m_inf.get(ref)
            if machine:
                self._on_machine(etype, machine)

    # -- reconcile a MachineSet ---------------------------------------------------------------
    def reconcile(self, key):
        ns, name = key.split("/", 1)
        ms = self.ms_inf.get(key)
        machines = [m for m in self.m_inf.list()
                    if m["metadata"]["namespace"] == ns
                    and m["metadata"].get("labels", {}).get(MACHINE_LABEL) == name]
        if ms is None:
            self.expect.pop(key, None)
            for m in machines:  # owner refs would do it too; be quick about it
                self._delete_machine(m)
            self._collect_orphans(ns, name)
            return
        names = {m["metadata"]["name"] for m in machines}
        live_names = {m["metadata"]["name"] for m in machines
                      if not m["metadata"].get("deletionTimestamp")}
        exp = self.expect.setdefault(key, {"create": {}, "delete": {}})
        t = time.monotonic()
        exp["create"] = {n: d for n, d in exp["create"].items() if n not in names and d > t}
        exp["delete"] = {n: d for n, d in exp["delete"].items() if n in live_names and d > t}
        if exp["create"] or exp["delete"]:
            self.queue.add(key, 0.2)  # our last creates/deletes have not reached the cache yet
            return
        want = int(ms.get("spec", {}).get("replicas") or 0)
        live = [m for m in machines if not m["metadata"].get("deletionTimestamp")]
        live.sort(key=lambda m: m["metadata"].get("creationTimestamp", ""))
        for _ in range(want - len(live)):
            live.append(self._create_machine(ms))
            exp["create"][live[-1]["metadata"]["name"]] = time.monotonic() + 10
        if len(live) > want:
            doomed = machines_to_delete(ms, live, len(live) - want)
            live = [m for m in live if m not in doomed]
            for gone in doomed:
                self._delete_machine(gone)
                exp["delete"][gone["metadata"]["name"]] = time.monotonic() + 10
        delay = None
        for m in live:
            d = self._advance(m)
            if d is not None:
                delay = d if delay is None else min(delay, d)
        self._write_status(ms, live)
        self._collect_orphans(ns, name)
        if delay is not None:
            self.queue.add(key, delay)

    def _collect_orphans(self, ns, ms_name):
        """Delete Nodes whose Machine (of this MachineSet) was deleted by someone else."""
        for node in self.node_inf.list():
            ref = node["metadata"].get("annotations", {}).get("machine.openshift.io/machine", "")
            if ref.startswith("%s/%s-" % (ns, ms_name)) and self.m_inf.get(ref) is None:
                if kube.ignore_404(self.core.delete_node, node["metadata"]["name"]) is None:
                    continue  # already gone: the cache was behind
                self.log.info("deleted Node %s: its Machine %s is gone",
                              node["metadata"]["name"], ref)

    def _create_machine(self, ms):
        meta, tmpl = ms["metadata"], ms["spec"].get("template", {})
        suffix = "".join(self.rng.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
        labels[MACHINE_LABEL] = meta["name"]
        body = {
            "apiVersion": "%s/%s" % (GROUP, VERSION), "kind": "Machine",
            "metadata": {
                "name": "%s-%s" % (meta["name"], suffix), "namespace": meta["namespace"],
                "labels": labels,
                "annotations": {"machine.openshift.io/instance-state": "pending"},
                "ownerReferences": [{"apiVersion": "%s/%s" % (GROUP, VERSION),
                                     "kind": "MachineSet", "name": meta["name"],
                                     "uid": meta["uid"], "controller": True,
                                     "blockOwnerDeletion": True}],
            },
            "spec": tmpl.get("spec") or {},
        }
        created = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, meta["namespace"], "machines", body)
        self.log.info("created Machine %s/%s (%s)", meta["namespace"],
                      created["metadata"]["name"], instance_type(ms))
        return created

    def _delete_machine(self, m):
        meta = m["metadata"]
        node = ((m.get("status") or {}).get("nodeRef") or {}).get("name")
        if node:
            kube.ignore_404(self.core.delete_node, node)
        kube.ignore_404(self.custom.delete_namespaced_custom_object, GROUP, VERSION,
                        meta["namespace"], "machines", meta["name"])
        self.written.pop(kube.key_of(m), None)
        self.log.info("deleted Machine %s/%s and Node %s", meta["namespace"], meta["name"], node)

    def _patch_machine_status(self, m, status):
        meta = m["metadata"]
        self.written[kube.key_of(m)] = status["phase"]
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], "machines", meta["name"], {"status": status})

    def _advance(self, m):
        """Move a Machine one phase on; return seconds until it should be looked at again."""
        status = m.get("status") or {}
        phase = status.get("phase")
        mkey = kube.key_of(m)
        if _rank(phase) < _rank(self.written.get(mkey)):
            return 0.2  # our own last write has not reached the cache yet
        age = _age(status.get("lastUpdated") or m["metadata"].get("creationTimestamp"))
        delay = phase_delay()
        itype = instance_type(m)
        if not phase:
            self._patch_machine_status(m, {"phase": "Provisioning", "lastUpdated": kube.now(),
                                           "providerStatus": {"instanceState": "pending"}})
            return delay
        if phase == "Provisioning":
            if age < delay:
                return delay - age
            failure = self._launch_failure(m, itype)
            if failure == "retry":
                return 10.0
            if failure == "failed":
                return None
            a, b = self.rng.randint(0, 255), self.rng.randint(1, 254)
            ip = "10.0.%d.%d" % (a, b)
            zone = "us-east-1a"
            instance = "i-" + "".join(self.rng.choice("0123456789abcdef") for _ in range(17))
            meta = m["metadata"]
            self._patch_machine_status(m, {
                "phase": "Provisioned", "lastUpdated": kube.now(),
                "addresses": [{"type": "InternalIP", "address": ip},
                              {"type": "InternalDNS", "address": _node_name(ip)},
                              {"type": "Hostname", "address": _node_name(ip)}],
                "providerStatus": {"instanceId": instance, "instanceState": "running"}})
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], "machines", meta["name"],
                {"spec": {"providerID": "aws:///%s/%s" % (zone, instance)},
                 "metadata": {"annotations": {"machine.openshift.io/instance-state": "running"}}})
            return delay
        if phase == "Provisioned":
            if age < delay:
                return delay - age
            ip = next(a["address"] for a in status.get("addresses", []) if a["type"] == "InternalIP")
            name = _node_name(ip)
            if self.node_inf.get(name) is None:
                body = node_manifest(name, m, itype, ip)
                try:
                    self.core.create_node(body)
                except kube.ApiException as exc:
                    if exc.status != 409:
                        raise
                self.log.info("created Node %s for Machine %s (%s)", name,
                              m["metadata"]["name"], itype)
            node = self.core.read_node(name)
            self._patch_machine_status(m, {
                "phase": "Running", "lastUpdated": kube.now(),
                "nodeRef": {"kind": "Node", "name": name, "uid": node.metadata.uid}})
            return None
        return None

    def _capacity(self, itype):
        path = os.path.join(self.ctx.state_dir, "aws-capacity.json")
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh).get(itype)
        except (OSError, ValueError):
            return None

    def _launch_failure(self, m, itype):
        """None to go on launching; "failed" (terminal) or "retry" when EC2 refused the launch."""
        meta = m["metadata"]
        limit = self._capacity(itype)
        message = None
        if gpu_catalog.shape(itype) is None and itype not in CPU_TYPES:
            message = "error launching instance: Invalid value '%s' for InstanceType." % itype
        elif limit == "unsupported":
            message = ("error launching instance: Your requested instance type (%s) is not supported in "
                       "your requested Availability Zone (us-east-1a). Please retry your request by not "
                       "specifying an Availability Zone or choosing us-east-1b, us-east-1c, us-east-1d."
                       % itype)
        if message:
            self._patch_machine_status(m, {"phase": "Failed", "lastUpdated": kube.now(),
                                           "errorReason": "InvalidConfiguration", "errorMessage": message})
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], "machines", meta["name"],
                {"metadata": {"annotations": {"machine.openshift.io/instance-state": "Unknown"}}})
            self.log.info("Machine %s/%s failed: %s", meta["namespace"], meta["name"], message)
            return "failed"
        if limit is None:
            return None
        running = [x for x in self.m_inf.list() if instance_type(x) == itype and
                   ((x.get("status") or {}).get("phase") in ("Provisioned", "Running"))]
        if len(running) < int(limit):
            return None
        message = ("error creating EC2 instance: InsufficientInstanceCapacity: We currently do not have "
                   "sufficient %s capacity in the Availability Zone you requested (us-east-1a). Our system "
                   "will be working on provisioning additional capacity. You can currently get %s capacity "
                   "by not specifying an Availability Zone in your request or choosing us-east-1b, "
                   "us-east-1c, us-east-1d.\n\tstatus code: 500, request id: %s"
                   % (itype, itype, uuid.uuid4()))
        self._patch_machine_status(m, {"phase": "Provisioning", "lastUpdated": kube.now(),
                                       "providerStatus": {"instanceState": "pending", "conditions": [{
                                           "type": "MachineCreation", "status": "False",
                                           "reason": "MachineCreationFailed", "message": message,
                                           "lastTransitionTime": kube.now()}]}})
        kube.ignore_404(self.core.create_namespaced_event, meta["namespace"], {
            "metadata": {"generateName": meta["name"] + "."},
            "involvedObject": {"kind": "Machine", "apiVersion": "%s/%s" % (GROUP, VERSION),
                               "name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "reason": "FailedCreate", "type": "Warning", "source": {"component": "awscontroller"},
            "message": "%s: reconciler failed to Create machine: failed to launch instance: %s"
                       % (meta["name"], message),
            "firstTimestamp": kube.now(), "lastTimestamp": kube.now(), "count": 1})
        return "retry"

    def _write_status(self, ms, machines):
        ready = 0
        for m in machines:
            ref = ((m.get("status") or {}).get("nodeRef") or {}).get("name")
            node = self.node_inf.get(ref) if ref else None
            if node and any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (node.get("status") or {}).get("conditions") or []):
                ready += 1
        sel = (ms["spec"].get("selector") or {}).get("matchLabels") or {}
        status = {
            "replicas": len(machines), "fullyLabeledReplicas": len(machines),
            "readyReplicas": ready, "availableReplicas": ready,
            "observedGeneration": ms["metadata"].get("generation", 1),
            "labelSelector": ",".join("%s=%s" % kv for kv in sorted(sel.items())),
        }
        current = ms.get("status") or {}
        if any(current.get(k) != v for k, v in status.items()):
            meta = ms["metadata"]
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, meta["namespace"], "machinesets", meta["name"], {"status": status})


# machine-api-operator pkg/controller/machineset/delete_policy.go: which Machines a scale-down
# deletes. Annotated and failed Machines go first under every policy, then (Random, the default)
# Machines without a node; ties are broken here newest first, where upstream's sort leaves them
# in no particular order.
DELETE_ANNOTATIONS = ("machine.openshift.io/delete-machine", "machine.openshift.io/cluster-api-delete-machine")


def _delete_priority(policy, m):
    meta, status = m["metadata"], m.get("status") or {}
    marked = any((meta.get("annotations") or {}).get(a) for a in DELETE_ANNOTATIONS)
    failed = bool(status.get("errorReason") or status.get("errorMessage"))
    if policy in ("Oldest", "Newest"):
        if marked or failed:
            return 100.0
        age = _age(meta.get("creationTimestamp"))
        oldest = 50.0 * (1.0 - math.exp(-age / 8640000.0))
        return oldest if policy == "Oldest" else 100.0 - oldest
    if marked or failed:
        return 50.0
    if not status.get("nodeRef"):
        return 40.0
    return 20.0


def machines_to_delete(ms, machines, count):
    policy = (ms.get("spec") or {}).get("deletePolicy") or "Random"
    ranked = sorted(machines, key=lambda m: m["metadata"].get("creationTimestamp", ""), reverse=True)
    ranked.sort(key=lambda m: _delete_priority(policy, m), reverse=True)  # stable: newest first among equals
    return ranked[:count]


def _rank(phase):
    return PHASES.index(phase or "") if (phase or "") in PHASES else len(PHASES)


def _node_name(ip):
    return "ip-%s.ec2.internal" % ip.replace(".", "-")


def _age(ts):
    if not ts:
        return 0.0
    try:
        t = calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return 0.0
    return max(0.0, time.time() - t)
