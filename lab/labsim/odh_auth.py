"""Token authentication of RawDeployment InferenceServices annotated
`security.opendatahub.io/enable-auth: "true"`, as OpenShift AI 3.0 sets it up, for what the lab's
upstream KServe v0.15.2 does not do (the opendatahub-io fork, which does, is not served by the Go
module proxy):

- the fork's KServe (kserve rhoai-3.0 / odh-v3.0
  `pkg/controller/v1beta1/inferenceservice/reconcilers/deployment/deployment_reconciler.go`,
  `addOauthContainerToDeployment`, `generateOauthProxyContainer`,
  `mountServingSecretCMVolumeToDeployment`, `createSarCm`; constants in `pkg/constants/constants.go`)
  adds the `kube-rbac-proxy` container to the predictor Deployment and makes the SAR ConfigMap
  `<isvc>-kube-rbac-proxy-sar-config`, and its Service reconciler turns the predictor Service's
  port 80 into the https port 8443. The lab does both to what upstream KServe writes with a
  mutating webhook on Deployments and Services (`/kserve-odh-auth`), so the objects carry them as
  the fork renders them, and KServe's dry-run comparison (`checkDeploymentExist`) sees the same
  object (its Service comparison has no dry run: its updates are no-ops once mutated);
- odh-model-controller rhoai-3.0 (`kserve_raw_clusterrolebinding_reconciler.go`,
  `resources/clusterrolebinding.go`) binds the predictor's ServiceAccount to
  `system:auth-delegator` (`<ns>-<sa>-auth-delegator`), so the proxy may ask the apiserver for
  TokenReviews and SubjectAccessReviews.

pods.py then runs the real kube-rbac-proxy (github.com/brancz/kube-rbac-proxy v0.19.1,
lab/build.sh) for that container, with the pod's ServiceAccount token, in front of the vLLM
simulator; network.py routes the Route's reencrypt traffic to it.

The verb gap (LAB ONLY): OpenShift AI's proxy image is a fork of v0.19.1 that reads
`resourceAttributes.verb` from the SAR config ("get"); upstream v0.19.1 ignores that field and takes
the verb from the HTTP method, so `POST /v1/chat/completions` is checked as `create`. The fork is
not served by the Go module proxy (neither opendatahub-io/kube-rbac-proxy nor the nested module of
opendatahub-io/kube-auth-proxy), so for every InferenceService with auth the lab grants `create` on
that InferenceService (by name) to every subject of its dashboard RoleBinding `<isvc>-view`: the
identities OpenShift AI lets POST (those with `get`) are the ones the lab lets POST. Nothing else is
granted; a token without `get` is still refused (403).
"""

import copy
import logging

from kubernetes.client.rest import ApiException

from . import kube

log = logging.getLogger("labsim.odh-auth")

AUTH_ANN = "security.opendatahub.io/enable-auth"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
PROXY = "kube-rbac-proxy"                       # constants.KubeRbacContainerName
PROXY_PORT = 8443                               # constants.OauthProxyPort
PROXY_PROBE_PORT = 8643                         # constants.OauthProxyProbePort
SAR_SUFFIX = "-kube-rbac-proxy-sar-config"      # constants.OauthProxySARCMName
SERVING_CERT_SUFFIX = "-serving-cert"           # constants.ServingCertSecretSuffix
# kserve config/overlays/odh/params.env (kube-rbac-proxy) and patch-inferenceservice-config.yaml
# (oauthProxy): the image and resources OpenShift AI's inferenceservice-config gives the sidecar.
PROXY_IMAGE = ("quay.io/opendatahub/odh-kube-auth-proxy@sha256:"
               "dcb09fbabd8811f0956ef612a0c9ddd5236804b9bd6548a0647d2b531c9d01b3")
PROXY_RESOURCES = {"requests": {"cpu": "100m", "memory": "64Mi"},
                   "limits": {"cpu": "200m", "memory": "128Mi"}}
LAB_GRANT_SUFFIX = "-lab-verb-gap"


def auth_enabled(meta):
    """The fork compares the annotation with "true" case-insensitively (strings.EqualFold)."""
    return str(((meta or {}).get("annotations") or {}).get(AUTH_ANN, "")).lower() == "true"


def upstream_port(pod_spec):
    """addOauthContainerToDeployment: the first containerPort of transformer-container or
    kserve-container, else 8080 (the agent port 9081 with a batcher or logger: none in the lab)."""
    for c in pod_spec.get("containers") or []:
        if c.get("name") in ("transformer-container", "kserve-container"):
            for p in c.get("ports") or []:
                if p.get("containerPort"):
                    return int(p["containerPort"])
    return 8080


def proxy_container(isvc_name, upstream):
    """generateOauthProxyContainer, without --upstream-timeout (set only from
    spec.predictor.timeout or oauthProxy.upstreamTimeoutSeconds, neither used here)."""
    probe = {"httpGet": {"path": "/healthz", "port": PROXY_PROBE_PORT, "scheme": "HTTPS"},
             "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3}
    return {
        "name": PROXY, "image": PROXY_IMAGE,
        "args": ["--secure-listen-address=:%d" % PROXY_PORT,
                 "--proxy-endpoints-port=%d" % PROXY_PROBE_PORT,
                 "--upstream=http://localhost:%d" % upstream,
                 "--auth-header-fields-enabled=true",
                 "--tls-cert-file=/etc/tls/private/tls.crt",
                 "--tls-private-key-file=/etc/tls/private/tls.key",
                 "--config-file=/etc/kube-rbac-proxy/config-file.yaml",
                 "--v=4"],
        "ports": [{"containerPort": PROXY_PORT, "name": "https", "protocol": "TCP"},
                  {"containerPort": PROXY_PROBE_PORT, "name": "proxy", "protocol": "TCP"}],
        "livenessProbe": dict(probe, initialDelaySeconds=30),
        "readinessProbe": dict(probe, initialDelaySeconds=5),
        "resources": copy.deepcopy(PROXY_RESOURCES),
        "volumeMounts": [{"name": "proxy-tls", "mountPath": "/etc/tls/private"},
                         {"name": isvc_name + SAR_SUFFIX, "mountPath": "/etc/kube-rbac-proxy",
                          "readOnly": True}],
    }


def mutate(obj, isvc_meta):
    """A predictor Deployment or Service as the fork renders it when its InferenceService (whose
    metadata is ``isvc_meta``) has auth: a copy, or ``obj`` itself when nothing changes. The fork
    reads the annotation from the component's metadata, which it fills from the InferenceService;
    upstream 0.15.2 does not carry this annotation over, so the InferenceService's own is read."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if not auth_enabled(isvc_meta) or labels.get("component") != "predictor":
        return obj
    if obj.get("kind") == "Service":
        return mutate_service(obj, labels[ISVC_LABEL])
    return mutate_deployment(obj, labels[ISVC_LABEL])


def mutate_service(svc, name):
    """reconcilers/service/service_reconciler.go createDefaultSvc (rhoai-3.0): every port 80 is
    replaced by the https port (8443 -> the container port named https), else it is appended; the
    service-ca annotation names the serving certificate Secret the proxy mounts."""
    new = copy.deepcopy(svc)
    https = {"name": "https", "port": PROXY_PORT, "protocol": "TCP", "targetPort": "https"}
    ports = new.setdefault("spec", {}).get("ports") or []
    replaced = [https if int(p.get("port") or 0) == 80 else p for p in ports]
    if https not in replaced:
        replaced.append(https)
    new["spec"]["ports"] = replaced
    anns = new["metadata"].setdefault("annotations", {})
    anns["service.beta.openshift.io/serving-cert-secret-name"] = "%s-predictor%s" % (name, SERVING_CERT_SUFFIX)
    return new


def mutate_deployment(deploy, name):
    """The predictor Deployment as the fork renders it with auth (a copy)."""
    new = copy.deepcopy(deploy)
    pod = new.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    containers = [c for c in pod.get("containers") or [] if c.get("name") != PROXY]
    containers.append(proxy_container(name, upstream_port(pod)))
    pod["containers"] = containers
    # ODH override (RHOAIENG-19904): the proxy needs the pod's token for TokenReview/SAR
    pod["automountServiceAccountToken"] = True
    volumes = [v for v in pod.get("volumes") or []
               if v.get("name") not in ("proxy-tls", name + SAR_SUFFIX)]
    volumes += [{"name": "proxy-tls", "secret": {"secretName": "%s-predictor%s" % (name, SERVING_CERT_SUFFIX),
                                                 "defaultMode": 420}},
                {"name": name + SAR_SUFFIX, "configMap": {"name": name + SAR_SUFFIX, "defaultMode": 420}}]
    pod["volumes"] = volumes
    for c in containers:  # mountServingSecretCMVolumeToDeployment: the TLS pair in kserve-container too
        if c.get("name") == "kserve-container":
            mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") != "proxy-tls"]
            c["volumeMounts"] = mounts + [{"name": "proxy-tls", "mountPath": "/etc/tls/private"}]
    return new


def sar_config(namespace, name):
    """createSarCm's config-file.yaml."""
    return ("authorization:\n  resourceAttributes:\n    namespace: \"%s\"\n"
            "    apiGroup: \"serving.kserve.io\"\n    apiVersion: \"v1beta1\"\n"
            "    resource: \"inferenceservices\"\n    name: \"%s\"\n    verb: \"get\"" % (namespace, name))


def owner(isvc, controller=True):
    meta = isvc["metadata"]
    return [{"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": meta["name"],
             "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": True}]


def predictor_sa(isvc):
    """odh-model-controller: spec.predictor.serviceAccountName, else "default"."""
    return ((isvc.get("spec") or {}).get("predictor") or {}).get("serviceAccountName") or "default"


class AuthController(kube.Controller):
    """Per InferenceService with auth: the SAR ConfigMap, the auth-delegator ClusterRoleBinding and
    the lab-only verb grant (keys "<ns>/<name>")."""

    name = "odh-auth"

    def __init__(self, ctx):
        super().__init__(ctx)
        from kubernetes import client
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)
        self.isvcs = ctx.informer("inferenceservices")
        self.isvcs.add_handler(lambda t, o: self.queue.add(kube.key_of(o)))

    def informers(self):
        return [self.isvcs]

    def resync_keys(self):
        return [kube.key_of(i) for i in self.isvcs.list()]

    def reconcile(self, key):
        isvc = self.isvcs.get(key)
        if isvc is None or isvc["metadata"].get("deletionTimestamp") or not auth_enabled(isvc["metadata"]):
            return  # what was made is owned by the InferenceService (garbage collector)
        namespace, name = key.split("/", 1)
        self._sar_configmap(isvc, namespace, name)
        self._delegator(isvc, namespace)
        self._lab_verb_grant(isvc, namespace, name)

    def _sar_configmap(self, isvc, namespace, name):
        """createSarCm: immutable; a changed one is deleted and made again."""
        cm_name = name + SAR_SUFFIX
        data = {"config-file.yaml": sar_config(namespace, name)}
        try:
            live = self.core.read_namespaced_config_map(cm_name, namespace)
            if (live.data or {}) == data:
                return
            self.core.delete_namespaced_config_map(cm_name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        body = {"metadata": {"name": cm_name, "namespace": namespace, "ownerReferences": owner(isvc)},
                "immutable": True, "data": data}
        try:
            self.core.create_namespaced_config_map(namespace, body)
            self.log.info("created ConfigMap %s/%s", namespace, cm_name)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _delegator(self, isvc, namespace):
        """resources/clusterrolebinding.go: no labels, no owner (deleted by odh-model-controller once
        no InferenceService uses the ServiceAccount; the lab leaves it)."""
        sa = predictor_sa(isvc)
        body = {"metadata": {"name": "%s-%s-auth-delegator" % (namespace, sa)},
                "subjects": [{"kind": "ServiceAccount", "namespace": namespace, "name": sa}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "system:auth-delegator"}}
        try:
            self.rbac.create_cluster_role_binding(body)
            self.log.info("created ClusterRoleBinding %s", body["metadata"]["name"])
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _lab_verb_grant(self, isvc, namespace, name):
        """LAB ONLY (see the module docstring): create on this InferenceService for the subjects of
        the dashboard's RoleBinding <isvc>-view, so a POST is allowed where the fork allows it."""
        try:
            view = self.rbac.read_namespaced_role_binding(name + "-view", namespace)
            subjects = self.api_client.sanitize_for_serialization(view.subjects or [])
        except ApiException as exc:
            if exc.status != 404:
                raise
            subjects = []
            # the collection (or the dashboard) makes it after the InferenceService: look again
            self.queue.add("%s/%s" % (namespace, name), 2.0)
        grant = name + LAB_GRANT_SUFFIX
        labels = {"lab.private-ai.io/verb-gap": "true"}
        role = {"metadata": {"name": grant, "namespace": namespace, "labels": labels,
                             "ownerReferences": owner(isvc, controller=False)},
                "rules": [{"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
                           "resourceNames": [name], "verbs": ["create"]}]}
        binding = {"metadata": {"name": grant, "namespace": namespace, "labels": labels,
                                "ownerReferences": owner(isvc, controller=False)},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": grant},
                   "subjects": subjects}
        for kind, read, create, replace, body in (
                ("Role", self.rbac.read_namespaced_role, self.rbac.create_namespaced_role,
                 self.rbac.replace_namespaced_role, role),
                ("RoleBinding", self.rbac.read_namespaced_role_binding,
                 self.rbac.create_namespaced_role_binding, self.rbac.replace_namespaced_role_binding,
                 binding)):
            try:
                live = self.api_client.sanitize_for_serialization(read(grant, namespace))
            except ApiException as exc:
                if exc.status != 404:
                    raise
                create(namespace, body)
                self.log.info("created lab-only %s %s/%s", kind, namespace, grant)
                continue
            want = body.get("rules") if kind == "Role" else body.get("subjects")
            have = live.get("rules") if kind == "Role" else live.get("subjects")
            if (want or []) != (have or []):
                body = dict(body, metadata=dict(body["metadata"],
                                                resourceVersion=live["metadata"]["resourceVersion"]))
                replace(grant, namespace, body)
                self.log.info("updated lab-only %s %s/%s", kind, namespace, grant)
