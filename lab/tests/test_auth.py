"""Token authentication of an InferenceService annotated security.opendatahub.io/enable-auth:
"true", enforced as on OpenShift AI 3.0 by the real kube-rbac-proxy (v0.19.1) in the predictor
pod, asking the lab apiserver for TokenReviews and SubjectAccessReviews (lab/labsim/odh_auth.py).

The client side is what the dashboard creates for "Require token authentication" (odh-dashboard
v3.0.0 packages/kserve/src/deployUtils.ts): ServiceAccount <isvc>-sa, Role <isvc>-view-role (get
on the InferenceService), RoleBinding <isvc>-view, token Secret; the collection's copy of them is
tested by molecule and tests/integration.
"""

import base64

import pytest
from kubernetes import client

from testing.labclient import wait_for
from testing.serving import KSERVE, create_isvc, get_isvc, isvc_manifest, isvc_ready, new_namespace, via_proxy

pytestmark = pytest.mark.usefixtures("gpu_pool", "current_labsim")


def dashboard_token_objects(core, rbac, ns, isvc):
    """The dashboard's four objects for one token, owned by the InferenceService; its token."""
    name, owner = isvc["metadata"]["name"], [{
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "name": isvc["metadata"]["name"], "uid": isvc["metadata"]["uid"], "blockOwnerDeletion": False}]
    core.create_namespaced_service_account(ns, {"metadata": {"name": name + "-sa", "ownerReferences": owner}})
    rbac.create_namespaced_role(ns, {
        "metadata": {"name": name + "-view-role", "ownerReferences": owner},
        "rules": [{"verbs": ["get"], "apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"],
                   "resourceNames": [name]}]})
    rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": name + "-view", "ownerReferences": owner},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name + "-view-role"},
        "subjects": [{"kind": "ServiceAccount", "name": name + "-sa"}]})
    secret = "default-token-%s-sa" % name
    core.create_namespaced_secret(ns, {
        "metadata": {"name": secret, "ownerReferences": owner,
                     "annotations": {"kubernetes.io/service-account.name": name + "-sa"}},
        "type": "kubernetes.io/service-account-token"})
    filled = wait_for(lambda: core.read_namespaced_secret(secret, ns), lambda s: (s.data or {}).get("token"),
                      30, "the token controller to fill %s" % secret)
    return base64.b64decode(filled.data["token"]).decode()


def test_enable_auth_401_without_token_403_other_namespace_200_own_token(custom, core, api_client, serving_ns,
                                                                         gpu_pool, lab):
    rbac = client.RbacAuthorizationV1Api(api_client)
    ns, name = serving_ns, "authed"
    body = isvc_manifest(name, gpu_pool)
    body["metadata"]["annotations"]["security.opendatahub.io/enable-auth"] = "true"
    create_isvc(custom, ns, body)
    token = dashboard_token_objects(core, rbac, ns, get_isvc(custom, ns, name))
    other_ns = new_namespace(core, "labtest-other")
    try:
        core.create_namespaced_service_account(other_ns, {"metadata": {"name": "intruder"}})
        other = core.create_namespaced_service_account_token("intruder", other_ns, {"spec": {}}).status.token
        isvc = wait_for(lambda: get_isvc(custom, ns, name), isvc_ready, 120, "InferenceService %s Ready" % name)

        # What OpenShift AI's KServe renders (the lab's webhook adds it to upstream's objects)
        pod = client.AppsV1Api(api_client).read_namespaced_deployment(name + "-predictor", ns).spec.template.spec
        proxy = next(c for c in pod.containers if c.name == "kube-rbac-proxy")
        assert "--secure-listen-address=:8443" in proxy.args and "--upstream=http://localhost:8080" in proxy.args
        assert [(p.name, p.port) for p in core.read_namespaced_service(name + "-predictor", ns).spec.ports] == [
            ("https", 8443)]
        route = custom.get_namespaced_custom_object("route.openshift.io", "v1", ns, "routes", name)
        assert route["spec"]["tls"]["termination"] == "reencrypt" and route["spec"]["port"]["targetPort"] == 8443
        sa = isvc["spec"]["predictor"].get("serviceAccountName") or "default"
        rbac.read_cluster_role_binding("%s-%s-auth-delegator" % (ns, sa))

        url = isvc["status"]["url"]
        chat = {"model": name, "max_tokens": 4, "messages": [{"role": "user", "content": "Say hello"}]}
        results = {}
        for who, headers in (("no token", {}), ("another namespace's ServiceAccount",
                                                {"Authorization": "Bearer " + other}),
                             ("its own token", {"Authorization": "Bearer " + token})):
            results[who] = (via_proxy(lab, url + "/v1/models", headers=headers),
                            via_proxy(lab, url + "/v1/chat/completions", chat, headers=headers))
            print("%s: GET /v1/models %d, POST /v1/chat/completions %d"
                  % (who, results[who][0][0], results[who][1][0]))
        assert [r[0] for r in results["no token"]] == [401, 401], results["no token"]
        assert [r[0] for r in results["another namespace's ServiceAccount"]] == [403, 403]
        assert "user=system:serviceaccount:%s:intruder" % other_ns in results["another namespace's ServiceAccount"][1][1]
        assert [r[0] for r in results["its own token"]] == [200, 200], results["its own token"]
        assert '"content"' in results["its own token"][1][1]

        # In the cluster: the headless Service's https port, TLS with the serving certificate
        internal = "https://%s-predictor.%s.svc.cluster.local:8443" % (name, ns)
        assert via_proxy(lab, internal + "/v1/models")[0] == 401
        assert via_proxy(lab, internal + "/v1/models", headers={"Authorization": "Bearer " + token})[0] == 200
    finally:
        core.delete_namespace(other_ns)
        custom.delete_namespaced_custom_object(*KSERVE, ns, "inferenceservices", name)
        for crb in rbac.list_cluster_role_binding().items:  # cluster-scoped: not deleted with ns
            if crb.metadata.name.startswith(ns + "-"):
                rbac.delete_cluster_role_binding(crb.metadata.name)
