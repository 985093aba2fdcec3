"""The Model Registry behind a token, as OpenShift AI 3.0's model-registry-operator puts it.

The operator (opendatahub-io/model-registry-operator, internal/controller/config/templates/
deployment.yaml.tmpl, its `kube-rbac-proxy` container) runs kube-rbac-proxy in the registry's pod:
`--secure-listen-address`, `--upstream=http://127.0.0.1:<rest port>/`, `--proxy-endpoints-port`,
`--config-file` from `<name>-kube-rbac-proxy-config` (kube-rbac-proxy/kube-rbac-proxy-config.yaml.tmpl:
resourceAttributes apiVersion v1, resource services, verb get, the registry's namespace and name),
TLS from the service CA. The pod's ServiceAccount `<name>` is bound to system:auth-delegator
(kube-rbac-proxy/kube-rbac-proxy-role-binding.yaml.tmpl) so the proxy may ask the apiserver for
TokenReviews and SubjectAccessReviews. Who may use the registry is whoever the Role
`registry-user-<name>` (role.yaml.tmpl: get on the Service and the Endpoints named <name>) is bound
to; the dashboard's "Manage permissions" adds users, groups and projects to its RoleBinding.

The lab does the same with the real kube-rbac-proxy v0.19.1 in front of the real registry, on
loopback: a lab-CA certificate for 127.0.0.1 instead of the service CA, a kubeconfig with the
registry ServiceAccount's token instead of the in-cluster config. The collection's identity is the
ServiceAccount `llm-serving-registry` in llm-serving-system, bound to `registry-user-<name>`; its
long-lived token is what the lab inventory passes as llm_serving_registry_token.

Verb gap (LAB ONLY, as for the InferenceServices' proxy, docs/authentication.md): the fork OpenShift
AI ships reads `verb: get` from the config and checks every request as `get`; upstream v0.19.1 has
no such field (pkg/authz/auth.go ResourceAttributes) and derives the verb from the HTTP method
(pkg/proxy/proxy.go: POST create, PATCH patch, PUT update, DELETE delete). The model_registry module
POSTs and PATCHes, so the lab grants those verbs on the same Service to the same subjects
(Role/RoleBinding `registry-user-<name>-lab-verb-gap`), which on OpenShift AI `get` alone covers.
"""

from __future__ import annotations

import json

from .base import DEPLOYER_NS, Lab, LabError, write_private
from .kube import http_status
from .procs import Component

REGISTRY_NAME = "private-ai-registry"     # serving_plan/settings.py: registry_name's default
REGISTRY_NS = "rhoai-model-registries"    # serving_plan/settings.py: registry_namespace's default
CLIENT_SA = "llm-serving-registry"
TOKEN_FILE = "registry-token"
PROXY_KUBECONFIG = "registry-proxy.kubeconfig"
LABELS = {"app": REGISTRY_NAME, "component": "model-registry",
          "app.kubernetes.io/managed-by": "private-ai-lab"}


def _meta(name, namespace=None, **extra):
    meta = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def _token_secret(sa: str, namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": _meta(f"{sa}-token", namespace,
                              annotations={"kubernetes.io/service-account.name": sa})}


def manifests() -> list[dict]:
    """Namespace, ServiceAccounts, the operator's RBAC and the lab's verb-gap grant, token Secrets
    last (the token controller fills them once their ServiceAccount exists)."""
    rbac = "rbac.authorization.k8s.io"
    user_role = f"registry-user-{REGISTRY_NAME}"
    gap = f"{user_role}-lab-verb-gap"
    client = [{"kind": "ServiceAccount", "name": CLIENT_SA, "namespace": DEPLOYER_NS}]
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": REGISTRY_NS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(REGISTRY_NAME, REGISTRY_NS)},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(CLIENT_SA, DEPLOYER_NS)},
        {"apiVersion": f"{rbac}/v1", "kind": "ClusterRoleBinding",
         "metadata": _meta(f"{REGISTRY_NAME}-kube-rbac-proxy"),
         "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "system:auth-delegator"},
         "subjects": [{"kind": "ServiceAccount", "name": REGISTRY_NAME, "namespace": REGISTRY_NS}]},
        {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": _meta(user_role, REGISTRY_NS),
         "rules": [{"apiGroups": [""], "resources": ["services"], "resourceNames": [REGISTRY_NAME],
                    "verbs": ["get"]},
                   {"apiGroups": [""], "resources": ["endpoints"], "resourceNames": [REGISTRY_NAME],
                    "verbs": ["get"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": _meta(user_role, REGISTRY_NS),
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": user_role}, "subjects": client},
        {"apiVersion": f"{rbac}/v1", "kind": "Role",
         "metadata": _meta(gap, REGISTRY_NS, annotations={"lab.private-ai.io/verb-gap": "true"}),
         "rules": [{"apiGroups": [""], "resources": ["services"], "resourceNames": [REGISTRY_NAME],
                    "verbs": ["create", "patch", "update"]}]},
        {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": _meta(gap, REGISTRY_NS),
         "roleRef": {"apiGroup": rbac, "kind": "Role", "name": gap}, "subjects": client},
        _token_secret(REGISTRY_NAME, REGISTRY_NS),
        _token_secret(CLIENT_SA, DEPLOYER_NS),
    ]


def ensure(lab: Lab, kube) -> None:
    """Apply the objects, then write the proxy's kubeconfig and the collection's token (0600)."""
    docs = manifests()
    for doc in docs:
        if doc["kind"] in ("Namespace", "Secret"):
            kube.create_if_absent(doc)
        else:
            kube.apply(doc)
    from .cluster import wait_token  # noqa: PLC0415 - PyYAML, which `labctl down` may run without

    proxy_token = wait_token(lab, kube, docs[-2])
    client_token = wait_token(lab, kube, docs[-1])
    write_private(lab.state / PROXY_KUBECONFIG, json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "registry",
        "clusters": [{"name": "lab", "cluster": {"server": lab.apiserver_url,
                                                 "certificate-authority": str(lab.pki / "ca.crt")}}],
        "users": [{"name": REGISTRY_NAME, "user": {"token": proxy_token}}],
        "contexts": [{"name": "registry", "context": {"cluster": "lab", "user": REGISTRY_NAME}}]}))
    write_private(lab.state / TOKEN_FILE, client_token + "\n")


def proxy_config() -> str:
    # kube-rbac-proxy/kube-rbac-proxy-config.yaml.tmpl, verbatim but for `verb: get`, which
    # upstream v0.19.1 does not read (see the module docstring).
    return json.dumps({"authorization": {"resourceAttributes": {
        "apiVersion": "v1", "resource": "services", "namespace": REGISTRY_NS, "name": REGISTRY_NAME}}})


class RegistryProxy(Component):
    """kube-rbac-proxy v0.19.1 in front of the Model Registry REST API (https, lab CA)."""

    def __init__(self, lab: Lab):
        super().__init__(lab, "registry-proxy", lab.ports["registry-proxy"], 60)

    def argv(self):
        pki, state = self.lab.pki, self.lab.state
        return [str(self.lab.binary("kube-rbac-proxy", "KUBE_RBAC_PROXY_VERSION")),
                f"--secure-listen-address=127.0.0.1:{self.port}",
                f"--upstream=http://127.0.0.1:{self.lab.ports['model-registry']}/",
                f"--proxy-endpoints-port={self.lab.ports['registry-proxy-health']}",
                "--logtostderr=true", "--v=0",
                f"--config-file={state / 'registry-proxy-config.yaml'}",
                f"--tls-cert-file={pki / 'loopback.crt'}", f"--tls-private-key-file={pki / 'loopback.key'}",
                f"--kubeconfig={state / PROXY_KUBECONFIG}"]

    def prepare(self):
        write_private(self.lab.state / "registry-proxy-config.yaml", proxy_config() + "\n", 0o644)
        if not (self.lab.state / PROXY_KUBECONFIG).exists():
            raise LabError("the registry proxy's kubeconfig is missing: `up` writes it (registry_auth.ensure)")

    def healthy(self):
        # The readiness probe of the operator's container: GET https://:<proxy-endpoints-port>/healthz.
        return http_status(f"https://127.0.0.1:{self.lab.ports['registry-proxy-health']}/healthz",
                           ca=self.lab.pki / "ca.crt") == 200
