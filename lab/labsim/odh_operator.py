"""opendatahub-operator v3.0.0's Kueue defaults (the operator is not served by the Go module proxy).

Follows internal/controller/components/kueue/kueue_support.go (manageDefaultKueueResourcesAction),
as it runs with the DataScienceCluster's Kueue component Unmanaged:

- once, when the operator first reconciles (here: once the cluster's first nodes are Ready): the
  ResourceFlavor `default-flavor` (spec {}), `nvidia-gpu-flavor` (spec {}) only if some node's
  allocatable has nvidia.com/gpu, and the ClusterQueue `default` selecting namespaces labelled
  `kueue.openshift.io/managed=true`: a resource group covering cpu and memory with default-flavor,
  quota the sum of every node's allocatable cpu and memory, and a group covering nvidia.com/gpu
  with nvidia-gpu-flavor only when GPU nodes exist. All three carry `opendatahub.io/managed:
  "false"`: created once, never updated;
- in every namespace labelled `kueue.openshift.io/managed=true` or `kueue-managed=true`: both
  labels, and the LocalQueue `default` pointing at ClusterQueue `default` (created once).
"""

from kubernetes.client.rest import ApiException

from . import kube

KUEUE = ("kueue.x-k8s.io", "v1beta1")
MANAGED = "kueue.openshift.io/managed"
LEGACY = "kueue-managed"
UNMANAGED_ANN = {"opendatahub.io/managed": "false"}


def _qty(value):
    """cpu cores or memory bytes of an allocatable quantity (decimal, binary and milli suffixes)."""
    value = str(value)
    for suffix, factor in (("Ki", 2 ** 10), ("Mi", 2 ** 20), ("Gi", 2 ** 30), ("Ti", 2 ** 40),
                           ("m", 0.001), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        if value.endswith(suffix):
            return float(value[:-len(suffix)]) * factor
    return float(value)


def default_cluster_queue(nodes):
    """The ClusterQueue `default` and the flavors kueue_support.go creates for these nodes."""
    cpu = sum(_qty(((n.get("status") or {}).get("allocatable") or {}).get("cpu", 0)) for n in nodes)
    mem = sum(_qty(((n.get("status") or {}).get("allocatable") or {}).get("memory", 0)) for n in nodes)
    gpus = sum(int(_qty(((n.get("status") or {}).get("allocatable") or {}).get("nvidia.com/gpu", 0)))
               for n in nodes)
    groups = [{"coveredResources": ["cpu", "memory"], "flavors": [{"name": "default-flavor", "resources": [
        {"name": "cpu", "nominalQuota": str(int(cpu))},
        {"name": "memory", "nominalQuota": "%dMi" % int(mem // 2 ** 20)}]}]}]
    flavors = ["default-flavor"]
    if gpus:
        flavors.append("nvidia-gpu-flavor")
        groups.append({"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": "nvidia-gpu-flavor",
                       "resources": [{"name": "nvidia.com/gpu", "nominalQuota": gpus}]}]})
    cq = {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue",
          "metadata": {"name": "default", "annotations": dict(UNMANAGED_ANN)},
          "spec": {"namespaceSelector": {"matchLabels": {MANAGED: "true"}}, "resourceGroups": groups}}
    return cq, flavors


class KueueDefaults(kube.Controller):
    """Keys: "cluster" (the one-time queue and flavors) and "ns/<name>" (a managed namespace)."""

    name = "odh-operator-kueue"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.nodes = ctx.informer("nodes")
        self.machines = ctx.informer("machines")
        self.namespaces = ctx.informer("namespaces")
        self.nodes.add_handler(lambda t, o: self.queue.add("cluster"))
        self.namespaces.add_handler(lambda t, o: self.queue.add("ns/" + o["metadata"]["name"]))
        self.done = False

    def informers(self):
        return [self.nodes, self.namespaces]

    def resync_keys(self):
        return ["cluster"] + ["ns/" + n["metadata"]["name"] for n in self.namespaces.list()]

    def reconcile(self, key):
        if key == "cluster":
            self._cluster()
        else:
            self._namespace(key[3:])

    def _create(self, plural, body, namespace=None):
        try:
            if namespace:
                self.custom.create_namespaced_custom_object(*KUEUE, namespace, plural, body)
            else:
                self.custom.create_cluster_custom_object(*KUEUE, plural, body)
            self.log.info("created %s %s", body["kind"], body["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _cluster(self):
        if self.done:
            return
        try:
            self.custom.get_cluster_custom_object(*KUEUE, "clusterqueues", "default")
            self.done = True  # created before (by an earlier labsim): never updated
            return
        except ApiException as exc:
            if exc.status != 404:
                raise
        ready = [n for n in self.nodes.list()
                 if any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (n.get("status") or {}).get("conditions") or [])]
        machines = self.machines.list()
        if not ready or len(ready) < len(machines) or \
                any((m.get("status") or {}).get("phase") != "Running" for m in machines):
            self.queue.add("cluster", 1.0)
            return  # OpenShift AI is installed on a cluster whose nodes are up
        cq, flavors = default_cluster_queue(self.nodes.list())
        for flavor in flavors:
            self._create("resourceflavors", {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ResourceFlavor",
                                             "metadata": {"name": flavor, "annotations": dict(UNMANAGED_ANN)},
                                             "spec": {}})
        self._create("clusterqueues", cq)
        self.done = True

    def _namespace(self, name):
        ns = self.namespaces.get(name)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        labels = ns["metadata"].get("labels") or {}
        if labels.get(MANAGED) != "true" and labels.get(LEGACY) != "true":
            return
        if labels.get(MANAGED) != "true" or labels.get(LEGACY) != "true":
            self.core.patch_namespace(name, {"metadata": {"labels": {MANAGED: "true", LEGACY: "true"}}})
        try:
            self.custom.get_namespaced_custom_object(*KUEUE, name, "localqueues", "default")
        except ApiException as exc:
            if exc.status != 404:
                raise
            self._create("localqueues", {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
                                         "metadata": {"name": "default", "annotations": dict(UNMANAGED_ANN)},
                                         "spec": {"clusterQueue": "default"}}, namespace=name)
