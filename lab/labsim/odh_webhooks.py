"""The opendatahub-operator v3.0.0 admission webhooks on InferenceServices (the operator is not
served by the Go module proxy), on https://127.0.0.1:<LAB_SIM_WEBHOOK_PORT> with the lab CA:

- `/platform-connection-isvc` (`connection-isvc.opendatahub.io`, mutating;
  `internal/webhook/serving/mutating_isvc.go` with `pkg/webhook/utils.go`): an InferenceService
  annotated `opendatahub.io/connections: <secret>` is refused when that Secret does not exist; for
  an S3 connection (Secret annotation `opendatahub.io/connection-type-protocol`, else
  `opendatahub.io/connection-type-ref`, equal to `s3`) it sets `spec.predictor.serviceAccountName`
  to `<secret>-sa` (and creates that ServiceAccount listing the Secret, unless dry run) and
  `spec.predictor.model.storage.key` to the Secret; `storage.path` keeps the user's value, else
  takes the annotation `opendatahub.io/connection-path`, else the old object's. Removing the
  annotation removes what was injected.
- `/validate-kueue` (`kserve-isvc-kueuelabels-validator.opendatahub.io`;
  `internal/webhook/kueue/validating.go`): in a namespace labelled `kueue.openshift.io/managed`
  or `kueue-managed` = "true" (the lab's DataScienceCluster has Kueue Unmanaged), an
  InferenceService must carry a non-empty `kueue.x-k8s.io/queue-name` label.

And, not the operator's: `/kserve-odh-auth` (mutating, on predictor Deployments and Services) adds what the
opendatahub-io fork of KServe adds for `security.opendatahub.io/enable-auth` (odh_auth.py).
"""

import base64
import copy
import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kubernetes.client.rest import ApiException

from . import odh_auth

log = logging.getLogger("labsim.odh-webhooks")

CONNECTIONS = "opendatahub.io/connections"
CONNECTION_PATH = "opendatahub.io/connection-path"
PROTOCOL = "opendatahub.io/connection-type-protocol"
TYPE_REF = "opendatahub.io/connection-type-ref"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
MANAGED_LABELS = ("kueue.openshift.io/managed", "kueue-managed")
# pkg/webhook: the connection-type-protocol values uri, s3, oci and connection-type-ref values
# uri-v1, s3, oci-v1 that the InferenceService webhook accepts.
S3_TYPES = ("s3",)
ALLOWED_TYPES = ("uri", "s3", "oci", "uri-v1", "oci-v1")


class _Denied(Exception):
    pass


def change_action(old, new):
    """DetermineConnectionChangeAction: none, inject, remove or replace."""
    if old and not new:
        return "remove"
    if not old and not new:
        return "none"
    if not old:
        return "inject"
    if old[0] != new[0] or old[1] != new[1]:
        return "replace"
    if new[1] in S3_TYPES and old[2] != new[2]:
        return "replace"
    return "none"


def _json_patch(old, new):
    """A JSON patch replacing the whole object (what controller-runtime's PatchResponseFromRaw
    amounts to for the apiserver)."""
    return [{"op": "replace", "path": "/spec", "value": new.get("spec") or {}}] \
        if old.get("spec") != new.get("spec") else []


def connection_type(secret_meta):
    anns = secret_meta.get("annotations") or {}
    return anns.get(PROTOCOL) or anns.get(TYPE_REF) or ""


def inject_s3(obj, secret_name, old_obj=None):
    """Mutate obj (an InferenceService dict) as injectS3StorageKeyPath and
    InjectServiceAccountName do; return the new object."""
    obj = copy.deepcopy(obj)
    predictor = obj.setdefault("spec", {}).setdefault("predictor", {})
    predictor["serviceAccountName"] = secret_name + "-sa"
    model = predictor.get("model")
    if model is None:
        raise ValueError("failed to inject S3 .spec.predictor.model.storage: not found "
                         ".spec.predictor.model in resource")
    storage = model.setdefault("storage", {})
    storage["key"] = secret_name
    path = (obj["metadata"].get("annotations") or {}).get(CONNECTION_PATH, "")
    old_path = ((((old_obj or {}).get("spec") or {}).get("predictor") or {}).get("model") or {}) \
        .get("storage", {}).get("path", "")
    if not storage.get("path"):
        if path:
            storage["path"] = path
        elif old_path:
            storage["path"] = old_path
    return obj


def remove_s3(obj, secret_name):
    obj = copy.deepcopy(obj)
    predictor = (obj.get("spec") or {}).get("predictor") or {}
    if predictor.get("serviceAccountName") == secret_name + "-sa":
        predictor.pop("serviceAccountName")
    model = predictor.get("model") or {}
    storage = model.get("storage")
    if isinstance(storage, dict):
        storage.pop("key", None)
        if not storage:
            model.pop("storage")
    return obj


class Webhooks:
    def __init__(self, ctx, port):
        self.ctx = ctx
        self.port = port
        from . import kube
        self.api = kube.new_client(ctx.kubeconfig)
        from kubernetes import client
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    # -- handlers -----------------------------------------------------------------------------
    def _conn(self, ns, obj):
        """(secret name, type, path) of obj's connection annotation; raises _Denied for a
        missing Secret (ValidateServingConnectionAnnotation); an unknown or absent type is no
        connection."""
        meta = obj.get("metadata") or {}
        name = (meta.get("annotations") or {}).get(CONNECTIONS, "")
        if not name:
            return None
        try:
            secret = self.core.read_namespaced_secret(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                raise _Denied("Secret '%s' referenced in annotation '%s' not found in namespace '%s'"
                              % (name, CONNECTIONS, ns))
            raise
        ctype = connection_type(self.api.sanitize_for_serialization(secret.metadata))
        if ctype not in ALLOWED_TYPES:
            return None
        return (name, ctype, (meta.get("annotations") or {}).get(CONNECTION_PATH, ""))

    def _old_conn(self, ns, old):
        """GetOldConnectionInfo: the old annotation's Secret and type ("" once the Secret is gone)."""
        meta = old.get("metadata") or {}
        name = (meta.get("annotations") or {}).get(CONNECTIONS, "")
        if not name:
            return None
        try:
            secret = self.core.read_namespaced_secret(name, ns)
            ctype = connection_type(self.api.sanitize_for_serialization(secret.metadata))
        except ApiException as exc:
            if exc.status != 404:
                raise
            ctype = ""
        return (name, ctype, (meta.get("annotations") or {}).get(CONNECTION_PATH, ""))

    def connection(self, req):
        obj = req.get("object") or {}
        if obj.get("metadata", {}).get("deletionTimestamp") or req["operation"] not in ("CREATE", "UPDATE"):
            return {"allowed": True}
        ns = req["namespace"]
        try:
            new_conn = self._conn(ns, obj)
        except _Denied as exc:
            return {"allowed": False, "status": {"code": 403, "message": str(exc)}}
        old = req.get("oldObject") or {}
        if req["operation"] == "CREATE":
            action = "inject" if new_conn else "none"
            old_conn = None
        else:
            old_conn = self._old_conn(ns, old)
            action = change_action(old_conn, new_conn)
        new = obj
        if action in ("remove", "replace") and old_conn and old_conn[1] in S3_TYPES + ("",):
            new = remove_s3(new, old_conn[0])
        if action in ("inject", "replace") and new_conn and new_conn[1] in S3_TYPES:
            if not req.get("dryRun"):
                self._ensure_sa(ns, new_conn[0])
            new = inject_s3(new, new_conn[0], old if req["operation"] == "UPDATE" else None)
        patch = _json_patch(obj, new)
        resp = {"allowed": True}
        if patch:
            resp.update(patchType="JSONPatch",
                        patch=base64.b64encode(json.dumps(patch).encode()).decode())
        return resp

    def _ensure_sa(self, ns, secret_name):
        body = {"metadata": {"name": secret_name + "-sa", "namespace": ns},
                "secrets": [{"name": secret_name}]}
        try:
            self.core.create_namespaced_service_account(ns, body)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def kueue_labels(self, req):
        obj = req.get("object") or {}
        if obj.get("metadata", {}).get("deletionTimestamp") or req["operation"] not in ("CREATE", "UPDATE"):
            return {"allowed": True}
        ns = self.core.read_namespace(req["namespace"])
        labels = ns.metadata.labels or {}
        if not any(labels.get(k) == "true" for k in MANAGED_LABELS):
            return {"allowed": True}
        value = (obj["metadata"].get("labels") or {}).get(QUEUE_LABEL)
        if value is None:
            msg = 'Kueue label validation failed: missing required label "%s"' % QUEUE_LABEL
        elif value == "":
            msg = 'Kueue label validation failed: label "%s" is set but empty' % QUEUE_LABEL
        else:
            return {"allowed": True}
        return {"allowed": False, "status": {"code": 403, "message": msg}}

    def kserve_auth(self, req):
        """What the fork of KServe renders for auth on predictor Deployments and Services (odh_auth.py)."""
        obj = req.get("object") or {}
        name = ((obj.get("metadata") or {}).get("labels") or {}).get(odh_auth.ISVC_LABEL)
        if req["operation"] not in ("CREATE", "UPDATE") or not name:
            return {"allowed": True}
        try:
            isvc = self.custom.get_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", req["namespace"], "inferenceservices", name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return {"allowed": True}
        new = odh_auth.mutate(obj, isvc.get("metadata") or {})
        patch = [] if new is obj else [{"op": "replace", "path": "/spec", "value": new["spec"]},
                                       {"op": "add", "path": "/metadata/annotations",
                                        "value": new["metadata"].get("annotations") or {}}]
        resp = {"allowed": True}
        if patch:
            resp.update(patchType="JSONPatch",
                        patch=base64.b64encode(json.dumps(patch).encode()).decode())
        return resp

    # -- server -------------------------------------------------------------------------------
    def start(self, certfile, keyfile):
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):  # noqa: A002 - stdlib signature
                log.debug(fmt, *args)

            def do_POST(self):  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                review = json.loads(self.rfile.read(length) or b"{}")
                req = review.get("request") or {}
                handler = {"/platform-connection-isvc": hooks.connection,
                           "/validate-kueue": hooks.kueue_labels,
                           "/kserve-odh-auth": hooks.kserve_auth}.get(self.path.split("?")[0])
                try:
                    resp = handler(req) if handler else {
                        "allowed": False, "status": {"code": 404, "message": "no webhook at " + self.path}}
                except Exception as exc:  # noqa: BLE001 - answered as the 500 of a real webhook
                    log.exception("webhook %s failed", self.path)
                    resp = {"allowed": False, "status": {"code": 500, "message": str(exc)}}
                resp["uid"] = req.get("uid", "")
                body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                   "response": resp}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(certfile, keyfile)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, name="odh-webhooks", daemon=True).start()
        log.info("opendatahub-operator webhooks on https://127.0.0.1:%d", self.port)
