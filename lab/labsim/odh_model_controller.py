"""odh-model-controller (not served by the Go module proxy), the parts the collection relies on.

Follows red-hat-data-services/odh-model-controller branch rhoai-3.0:

- `internal/controller/core/secret_controller.go`: in every namespace, the Secret `storage-config`
  (label `opendatahub.io/managed: "true"`) holds one JSON entry per data connection Secret labelled
  `opendatahub.io/managed: "true"` and `opendatahub.io/dashboard: "true"`, keyed by its name:
  `type` from the annotation `opendatahub.io/connection-type` only (empty when it is absent, which
  KServe's pod webhook then refuses), `access_key_id`, `secret_access_key`, `endpoint_url`,
  `bucket`, `region` from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_S3_ENDPOINT, AWS_S3_BUCKET,
  AWS_DEFAULT_REGION, and `cabundle_configmap: odh-kserve-custom-ca-bundle` for an https endpoint
  when that ConfigMap has a `cabundle.crt`. No data connection left: the Secret is deleted.
- `internal/controller/serving/reconcilers/kserve_raw_route_reconciler.go`: a raw InferenceService
  labelled `networking.kserve.io/visibility: exposed` gets a Route named after it, owned by it,
  label `inferenceservice-name`, to the predictor Service (label `component: predictor`) on its
  port named `http` (or named after the Service), TLS edge with insecure Redirect; reencrypt to
  the port named `https` when `security.opendatahub.io/enable-auth` is true. Without the label the
  Route is deleted.

Also here, because OpenShift does it and nothing else in the lab would: the openshift-apiserver
gives a Route without `spec.host` the host `<route>-<namespace>.<apps domain>`, and the router
admits it (`status.ingress[].conditions Admitted`). Not simulated: the ClusterRoleBinding for
authenticated endpoints, the metrics Service/ServiceMonitor, the metrics dashboard ConfigMap, KEDA.
"""

import base64
import json

from kubernetes.client.rest import ApiException

from . import kube

STORAGE_CONFIG = "storage-config"
CA_CONFIGMAP = "odh-kserve-custom-ca-bundle"
CA_KEY = "cabundle.crt"
ROUTE_DOMAIN = "apps.lab.local"
ISVC_LABEL = "serving.kserve.io/inferenceservice"


def storage_config_data(connections, ca_bundle=""):
    """The storage-config Secret's data (name -> JSON bytes) for a namespace's data connections
    (Secrets as dicts with base64 `data`), as newStorageSecret builds it."""
    out = {}
    for secret in connections:
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        entry = {
            "type": (secret["metadata"].get("annotations") or {}).get("opendatahub.io/connection-type", ""),
            "access_key_id": data.get("AWS_ACCESS_KEY_ID", ""),
            "secret_access_key": data.get("AWS_SECRET_ACCESS_KEY", ""),
            "endpoint_url": data.get("AWS_S3_ENDPOINT", ""),
            "bucket": data.get("AWS_S3_BUCKET", ""),
            "region": data.get("AWS_DEFAULT_REGION", ""),
        }
        if ca_bundle and entry["endpoint_url"].startswith("https://"):
            entry["cabundle_configmap"] = CA_CONFIGMAP
        # encoding/json marshals a map with sorted keys and no spaces
        out[secret["metadata"]["name"]] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    return out


def is_data_connection(secret):
    labels = secret["metadata"].get("labels") or {}
    return labels.get("opendatahub.io/managed") == "true" and \
        labels.get("opendatahub.io/dashboard") == "true"


def desired_route(isvc, services):
    """The Route for an InferenceService (None: it should have none), given its namespace's
    Services as dicts."""
    meta = isvc["metadata"]
    if (meta.get("labels") or {}).get("networking.kserve.io/visibility") != "exposed":
        return None
    auth = str((meta.get("annotations") or {}).get("security.opendatahub.io/enable-auth", "")).lower() == "true"
    target = None
    for svc in services:
        labels = svc["metadata"].get("labels") or {}
        if labels.get(ISVC_LABEL) != meta["name"]:
            continue
        if labels.get("component") == "transformer":
            target = svc
            break
        if labels.get("component") == "predictor":
            target = svc
    if target is None:
        return None  # the reconciler returns and retries once KServe made the Service
    port = None
    for p in (target.get("spec") or {}).get("ports") or []:
        # The odh fork of KServe names an unnamed predictor Service port "http"
        # (reconcilers/service/service_reconciler.go); upstream 0.15.2 leaves the name empty.
        name = p.get("name") or "http"
        if auth and name == "https":
            port = p.get("port")
        if not auth and name in ("http", target["metadata"]["name"]):
            port = name
    return {
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                     "labels": {"inferenceservice-name": meta["name"]},
                     # utils.SetOpenshiftRouteTimeoutForIsvc: the components' timeouts, 30s default
                     "annotations": {"haproxy.router.openshift.io/timeout": "30s"},
                     "ownerReferences": [{
                         "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                         "name": meta["name"], "uid": meta["uid"], "controller": True,
                         "blockOwnerDeletion": True}]},
        "spec": {"to": {"kind": "Service", "name": target["metadata"]["name"], "weight": 100},
                 "port": {"targetPort": port},
                 "wildcardPolicy": "None",
                 "tls": {"termination": "reencrypt" if auth else "edge",
                         "insecureEdgeTerminationPolicy": "Redirect"}},
    }


class ODHModelController(kube.Controller):
    """storage-config per namespace (keys "secret/<ns>") and Routes per InferenceService
    (keys "isvc/<ns>/<name>")."""

    name = "odh-model-controller"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.secrets = ctx.informer("odh-secrets")
        self.isvcs = ctx.informer("inferenceservices")
        self.services = ctx.informer("services")
        self.routes = ctx.informer("routes")
        self.secrets.add_handler(lambda t, o: self.queue.add("secret/" + o["metadata"]["namespace"]))
        self.isvcs.add_handler(lambda t, o: self.queue.add("isvc/" + kube.key_of(o)))
        self.services.add_handler(self._on_owned)
        self.routes.add_handler(self._on_route)

    def informers(self):
        return [self.secrets, self.isvcs, self.services, self.routes]

    def resync_keys(self):
        return (["secret/" + ns for ns in {s["metadata"]["namespace"] for s in self.secrets.list()}]
                + ["isvc/" + kube.key_of(i) for i in self.isvcs.list()])

    def _on_owned(self, _etype, obj):
        name = (obj["metadata"].get("labels") or {}).get(ISVC_LABEL)
        if name:
            self.queue.add("isvc/%s/%s" % (obj["metadata"]["namespace"], name))

    def _on_route(self, _etype, route):
        self.queue.add("route/" + kube.key_of(route))
        name = (route["metadata"].get("labels") or {}).get("inferenceservice-name")
        if name:
            self.queue.add("isvc/%s/%s" % (route["metadata"]["namespace"], name))

    def reconcile(self, key):
        kind, _, rest = key.partition("/")
        if kind == "secret":
            self._storage_config(rest)
        elif kind == "isvc":
            self._route(rest)
        elif kind == "route":
            self._admit(rest)

    # -- storage-config ---------------------------------------------------------------------
    def _storage_config(self, namespace):
        connections = [s for s in self.secrets.list()
                       if s["metadata"]["namespace"] == namespace and is_data_connection(s)]
        current = self.secrets.get("%s/%s" % (namespace, STORAGE_CONFIG))
        if not connections:
            if current and (current["metadata"].get("labels") or {}).get("opendatahub.io/managed") == "true":
                kube.ignore_404(self.core.delete_namespaced_secret, STORAGE_CONFIG, namespace)
                self.log.info("deleted %s/%s: no data connection left", namespace, STORAGE_CONFIG)
            return
        ca = ""
        try:
            cm = self.core.read_namespaced_config_map(CA_CONFIGMAP, namespace)
            ca = (cm.data or {}).get(CA_KEY, "")
        except ApiException as exc:
            if exc.status != 404:
                raise
        data = {k: base64.b64encode(v.encode()).decode()
                for k, v in storage_config_data(connections, ca).items()}
        body = {"metadata": {"name": STORAGE_CONFIG, "namespace": namespace,
                             "labels": {"opendatahub.io/managed": "true"}},
                "data": data}
        if current is None:
            try:
                self.core.create_namespaced_secret(namespace, body)
                self.log.info("created %s/%s (%d data connections)", namespace, STORAGE_CONFIG,
                              len(data))
            except ApiException as exc:
                if exc.status != 409:
                    raise
            return
        if (current.get("data") or {}) != data or \
                (current["metadata"].get("labels") or {}) != body["metadata"]["labels"]:
            live = self.core.read_namespaced_secret(STORAGE_CONFIG, namespace)
            live.data = data
            live.metadata.labels = body["metadata"]["labels"]
            self.core.replace_namespaced_secret(STORAGE_CONFIG, namespace, live)
            self.log.info("updated %s/%s (%d data connections)", namespace, STORAGE_CONFIG, len(data))

    # -- Routes -----------------------------------------------------------------------------
    def _route(self, key):
        namespace, name = key.split("/", 1)
        isvc = self.isvcs.get(key)
        existing = self.routes.get(key)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            return  # the Route goes with its owner (garbage collector)
        services = [s for s in self.services.list() if s["metadata"]["namespace"] == namespace]
        desired = desired_route(isvc, services)
        if desired is None:
            if existing is not None and (existing["metadata"].get("labels") or {}).get(
                    "inferenceservice-name") == name:
                kube.ignore_404(self.custom.delete_namespaced_custom_object, "route.openshift.io",
                                "v1", namespace, "routes", name)
                self.log.info("deleted Route %s", key)
            return
        if existing is None:
            try:
                self.custom.create_namespaced_custom_object("route.openshift.io", "v1", namespace,
                                                            "routes", desired)
                self.log.info("created Route %s", key)
            except ApiException as exc:
                if exc.status != 409:
                    raise
            return
        spec = dict(existing.get("spec") or {})
        host = spec.pop("host", None)
        spec.pop("subdomain", None)
        if spec != desired["spec"] or (existing["metadata"].get("labels") or {}) != desired["metadata"]["labels"]:
            body = dict(existing)
            body["metadata"] = dict(existing["metadata"], labels=desired["metadata"]["labels"])
            body["spec"] = dict(desired["spec"], **({"host": host} if host else {}))
            self.custom.replace_namespaced_custom_object("route.openshift.io", "v1", namespace,
                                                         "routes", name, body)
            self.log.info("updated Route %s", key)

    def _admit(self, key):
        """openshift-apiserver's host allocation and the default router's admission."""
        route = self.routes.get(key)
        if route is None:
            return
        namespace, name = key.split("/", 1)
        host = (route.get("spec") or {}).get("host")
        if not host:
            host = "%s-%s.%s" % (name, namespace, ROUTE_DOMAIN)
            self.custom.patch_namespaced_custom_object("route.openshift.io", "v1", namespace,
                                                       "routes", name, {"spec": {"host": host}})
            return  # the update event brings it back for admission
        ingress = ((route.get("status") or {}).get("ingress") or [{}])[0]
        if ingress.get("host") == host and any(c.get("type") == "Admitted" and c.get("status") == "True"
                                               for c in ingress.get("conditions") or []):
            return
        self.custom.patch_namespaced_custom_object_status(
            "route.openshift.io", "v1", namespace, "routes", name, {"status": {"ingress": [{
                "host": host, "routerName": "default", "wildcardPolicy": "None",
                "routerCanonicalHostname": "router-default." + ROUTE_DOMAIN,
                "conditions": [{"type": "Admitted", "status": "True",
                                "lastTransitionTime": kube.now()}]}]}})
