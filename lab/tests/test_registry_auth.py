"""The Model Registry behind the real kube-rbac-proxy v0.19.1, as the model-registry-operator puts it
(lab/labctl/registry_auth.py): no token 401, a token the apiserver does not know 401, a valid token
without access to the registry's Service 403, the collection's ServiceAccount token 200 (reads and
the writes the model_registry module makes); the registry itself is unchanged behind it."""

import json
import ssl
import urllib.error
import urllib.request
import uuid

import pytest

API = "/api/model_registry/v1alpha3"


@pytest.fixture(scope="module")
def proxy(lab):
    if "registry_proxy" not in lab:
        pytest.skip("this lab predates the registry's proxy: make lab-down lab-up")
    return lab["registry_proxy"]


def call(proxy, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(proxy["url"] + API + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    ctx = ssl.create_default_context(cafile=proxy["ca"])
    try:
        with urllib.request.urlopen(req, timeout=15, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.fixture()
def outsider(core, lab):
    """A valid ServiceAccount token of an account the registry's Role is not bound to."""
    ns = lab["deployer"]["namespace"]
    name = "registry-outsider-" + uuid.uuid4().hex[:6]
    core.create_namespaced_service_account(ns, {"metadata": {"name": name}})
    token = core.create_namespaced_service_account_token(name, ns, {"spec": {}}).status.token
    yield token
    core.delete_namespaced_service_account(name, ns)


def test_no_token_is_401(proxy):
    assert call(proxy, "GET", "/registered_models")[0] == 401


def test_a_token_the_apiserver_does_not_know_is_401(proxy):
    assert call(proxy, "GET", "/registered_models", token="not-a-token-" + uuid.uuid4().hex)[0] == 401


def test_a_valid_token_without_the_registry_role_is_403(proxy, outsider):
    status, body = call(proxy, "GET", "/registered_models", token=outsider)
    assert status == 403, body
    assert call(proxy, "POST", "/registered_models", token=outsider, body={"name": "x"})[0] == 403


def test_the_collections_token_reads_and_writes(proxy):
    assert call(proxy, "GET", "/registered_models?pageSize=1", token=proxy["token"])[0] == 200
    name = "proxied-" + uuid.uuid4().hex[:8]
    status, body = call(proxy, "POST", "/registered_models", token=proxy["token"], body={"name": name})
    assert status == 201, body
    model_id = json.loads(body)["id"]
    status, body = call(proxy, "PATCH", "/registered_models/%s" % model_id, token=proxy["token"],
                        body={"description": "through the proxy"})
    assert status == 200 and json.loads(body)["description"] == "through the proxy", body


def test_the_proxy_serves_the_lab_ca_certificate_for_loopback(proxy):
    with pytest.raises(urllib.error.URLError):  # without the lab CA the certificate is not trusted
        urllib.request.urlopen(proxy["url"] + API + "/registered_models", timeout=5)


def test_the_token_is_bound_by_the_operators_role(lab, proxy):
    """The RBAC the operator makes (role.yaml.tmpl), bound to the collection's ServiceAccount."""
    from kubernetes import client
    from testing.labclient import kube_api_client
    api = kube_api_client(lab)
    try:
        rbac = client.RbacAuthorizationV1Api(api)
        ns, name = proxy["registry"].split("/")
        role = rbac.read_namespaced_role("registry-user-" + name, ns)
        assert [(r.resources, r.resource_names, r.verbs) for r in role.rules] == [
            (["services"], [name], ["get"]), (["endpoints"], [name], ["get"])]
        binding = rbac.read_namespaced_role_binding("registry-user-" + name, ns)
        sa_ns, sa = proxy["service_account"].split("/")
        assert [(s.kind, s.namespace, s.name) for s in binding.subjects] == [("ServiceAccount", sa_ns, sa)]
        delegator = rbac.read_cluster_role_binding(name + "-kube-rbac-proxy")
        assert delegator.role_ref.name == "system:auth-delegator"
    finally:
        api.close()
