"""opendatahub-operator v3.0.0's Kueue defaults (the operator is not served by the Go module proxy).

Follows internal/controller/components/kueue/kueue_controller_actions.go
(manageDefaultKueueResourcesAction) and kueue_support.go, as it runs with the DataScienceCluster's
Kueue component Unmanaged. At every reconcile of the Kueue component it renders:

- the ResourceFlavor `default-flavor` (spec {}), `nvidia-gpu-flavor` (spec {}) only if some node's
  allocatable has nvidia.com/gpu, and the ClusterQueue `default` selecting namespaces labelled
  `kueue.openshift.io/managed=true`: a resource group covering cpu and memory with default-flavor,
  quota the sum of every node's allocatable cpu and memory at that moment, and a group covering
  nvidia.com/gpu with nvidia-gpu-flavor only when GPU nodes exist then;
- in every namespace labelled `kueue.openshift.io/managed=true` or `kueue-managed=true`: both
  labels, and the LocalQueue `default` pointing at ClusterQueue `default`.
All are marked `opendatahub.io/managed: "false"` in the rendering, which pkg/controller/actions/
deploy/action_deploy.go reads as "create it if it does not exist, never modify it" (and strips
from the object it creates). The controller (kueue_controller.go) watches LocalQueues,
ClusterQueues, ResourceFlavors and namespace label changes, so a deleted default comes back at
once; an existing one is never changed. The first reconcile is taken as happening once the
cluster's nodes are up (OpenShift AI is installed on a running cluster).
"""

from kubernetes.client.rest import ApiException

from . import kube

KUEUE = ("kueue.x-k8s.io", "v1beta1")
MANAGED = "kueue.openshift.io/managed"
LEGACY = "kueue-managed"


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
          "metadata": {"name": "default"},
          "spec": {"namespaceSelector": {"matchLabels": {MANAGED: "true"}}, "resourceGroups": groups}}
    return cq, flavors


class KueueDefaults(kube.Controller):
    """One key, "defaults": manageDefaultKueueResourcesAction."""

    name = "odh-operator-kueue"
    KEY = "defaults"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.nodes = ctx.informer("nodes")
        self.machines = ctx.informer("machines")
        self.namespaces = ctx.informer("namespaces")
        self.watched = [ctx.informer(n) for n in ("localqueues", "clusterqueues", "resourceflavors")]
        for informer in [self.namespaces] + self.watched:
            informer.add_handler(lambda t, o: self.queue.add(self.KEY))
        self.nodes.add_handler(lambda t, o: None if self.installed else self.queue.add(self.KEY))
        self.installed = False

    def informers(self):
        return [self.nodes, self.namespaces] + self.watched

    def resync_keys(self):
        return [self.KEY]

    def _create(self, plural, body, namespace=None):
        """Create unless it exists (action_deploy.go, opendatahub.io/managed "false")."""
        try:
            if namespace:
                self.custom.create_namespaced_custom_object(*KUEUE, namespace, plural, body)
            else:
                self.custom.create_cluster_custom_object(*KUEUE, plural, body)
            self.log.info("created %s %s%s", body["kind"], namespace + "/" if namespace else "",
                          body["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _exists(self, informer, name, namespace=None):
        return any(o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
                   and not o["metadata"].get("deletionTimestamp") for o in informer.list())

    def reconcile(self, key):
        if not self.installed:
            if not self._exists(self.watched[1], "default"):
                ready = [n for n in self.nodes.list()
                         if any(c.get("type") == "Ready" and c.get("status") == "True"
                                for c in (n.get("status") or {}).get("conditions") or [])]
                machines = self.machines.list()
                if not ready or len(ready) < len(machines) or \
                        any((m.get("status") or {}).get("phase") != "Running" for m in machines):
                    self.queue.add(self.KEY, 1.0)
                    return
            self.installed = True
        local_queues, cluster_queues, flavors = self.watched
        cq, flavor_names = default_cluster_queue(self.nodes.list())
        for flavor in flavor_names:
            if not self._exists(flavors, flavor):
                self._create("resourceflavors", {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ResourceFlavor",
                                                 "metadata": {"name": flavor}, "spec": {}})
        if not self._exists(cluster_queues, "default"):
            self._create("clusterqueues", cq)
        for ns in self.namespaces.list():
            name = ns["metadata"]["name"]
            labels = ns["metadata"].get("labels") or {}
            if ns["metadata"].get("deletionTimestamp") or \
                    (labels.get(MANAGED) != "true" and labels.get(LEGACY) != "true"):
                continue
            if labels.get(MANAGED) != "true" or labels.get(LEGACY) != "true":
                self.core.patch_namespace(name, {"metadata": {"labels": {MANAGED: "true", LEGACY: "true"}}})
            if not self._exists(local_queues, "default", name):
                self._create("localqueues", {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "LocalQueue",
                                             "metadata": {"name": "default"},
                                             "spec": {"clusterQueue": "default"}}, namespace=name)
