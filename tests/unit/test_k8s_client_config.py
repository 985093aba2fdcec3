"""The collection's Kubernetes client (module_utils/k8s/client.py): which connection it builds from
kubernetes.core's options, the environment and the kubeconfig, and what it hands to kubernetes.core.

The requests themselves go to the lab's real kube-apiserver in every integration test that applies
or reads (tests/integration/test_k8s_client.py for client certificates and the fallback)."""

import base64
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import client as kc  # noqa: E402


def B64(raw):  # pylint: disable=invalid-name
    return base64.b64encode(raw).decode()


def kubeconfig(user, cluster=None, context="lab", extra_contexts=()):
    cluster = dict({"server": "https://api.example:6443", "certificate-authority-data": B64(b"PEM CA")}, **(cluster or {}))
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": cluster}, {"name": "other", "cluster": {"server": "https://other:6443"}}],
        "users": [{"name": "u", "user": user}, {"name": "other", "user": {"token": "other-token"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u"}}] + list(extra_contexts),
    }


def write(tmp_path, doc, name="kubeconfig"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_kubeconfig_token_server_and_ca_data(tmp_path):
    cfg = kc.load_config({"kubeconfig": write(tmp_path, kubeconfig({"token": "t0k"}))}, environ={})
    assert (cfg.server, cfg.token, cfg.ca_data, cfg.verify) == ("https://api.example:6443", "t0k", "PEM CA", True)


def test_context_option_picks_another_context(tmp_path):
    other = {"name": "second", "context": {"cluster": "other", "user": "other"}}
    path = write(tmp_path, kubeconfig({"token": "t0k"}, extra_contexts=[other]))
    cfg = kc.load_config({"kubeconfig": path, "context": "second"}, environ={})
    assert (cfg.server, cfg.token) == ("https://other:6443", "other-token")


def test_a_context_that_is_not_there_is_named(tmp_path):
    with pytest.raises(ModuleError, match="no context named 'nope'"):
        kc.load_config({"kubeconfig": write(tmp_path, kubeconfig({"token": "t"})), "context": "nope"}, environ={})


def test_relative_paths_are_relative_to_the_kubeconfig_and_token_file_is_read(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    user = {"tokenFile": "token", "client-certificate": "c.crt", "client-key": "c.key"}
    cluster = {"certificate-authority": "ca.crt", "certificate-authority-data": None}
    cfg = kc.load_config({"kubeconfig": write(tmp_path, kubeconfig(user, cluster))}, environ={})
    assert cfg.token == "from-file"
    assert (cfg.ca_file, cfg.cert_file, cfg.key_file) == tuple(str(tmp_path / n) for n in ("ca.crt", "c.crt", "c.key"))


def test_kubeconfig_env_and_insecure_skip_tls_verify(tmp_path):
    path = write(tmp_path, kubeconfig({"token": "t"}, {"insecure-skip-tls-verify": True}))
    cfg = kc.load_config({}, environ={"KUBECONFIG": path}, in_cluster_dir=str(tmp_path / "none"))
    assert cfg.verify is False and cfg.ssl_context().verify_mode == 0


def test_aap_credential_variables_need_no_kubeconfig():
    """An AAP OpenShift or Kubernetes API Bearer Token credential injects these (awx
    awx/main/models/credential/injectors.py: K8S_AUTH_HOST, _API_KEY, _VERIFY_SSL, _SSL_CA_CERT)."""
    env = {"K8S_AUTH_HOST": "https://api.cluster:6443/", "K8S_AUTH_API_KEY": "sha256~x",
           "K8S_AUTH_VERIFY_SSL": "False", "K8S_AUTH_SSL_CA_CERT": "/runner/ca.crt", "KUBECONFIG": "/nonexistent"}
    cfg = kc.load_config({}, environ=env)
    assert (cfg.server, cfg.token, cfg.verify, cfg.ca_file) == ("https://api.cluster:6443", "sha256~x", False, "/runner/ca.crt")


def test_options_override_the_kubeconfig(tmp_path):
    params = {"kubeconfig": write(tmp_path, kubeconfig({"token": "t"})), "api_key": "given", "validate_certs": False,
              "impersonate_user": "alice", "impersonate_groups": ["a", "b"]}
    cfg = kc.load_config(params, environ={})
    assert (cfg.token, cfg.verify, cfg.impersonate_user, cfg.impersonate_groups) == ("given", False, "alice", ["a", "b"])


def test_in_cluster_service_account(tmp_path):
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("CA")
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    cfg = kc.load_config({}, environ=env, in_cluster_dir=str(tmp_path))
    assert (cfg.server, cfg.token, cfg.ca_file) == ("https://[fd00::1]:443", "sa-token", str(tmp_path / "ca.crt"))


def test_no_configuration_at_all_says_what_to_give(tmp_path):
    with pytest.raises(ModuleError, match="llm_serving_kubeconfig.*K8S_AUTH_HOST"):
        kc.load_config({}, environ={"KUBECONFIG": str(tmp_path / "missing")}, in_cluster_dir=str(tmp_path))


@pytest.mark.parametrize("params, user, cluster, env", [
    ({"proxy": "http://proxy:3128"}, {"token": "t"}, {}, {}),
    ({}, {"token": "t"}, {}, {"K8S_AUTH_PROXY_HEADERS_USER_AGENT": "x"}),
    ({"username": "u", "password": "p"}, {"token": "t"}, {}, {}),
    ({}, {"exec": {"command": "oc", "apiVersion": "client.authentication.k8s.io/v1"}}, {}, {}),
    ({}, {"auth-provider": {"name": "oidc"}}, {}, {}),
    ({}, {"token": "t"}, {"proxy-url": "http://proxy:3128"}, {}),
    ({}, {"token": "t"}, {"tls-server-name": "api"}, {}),
], ids=["proxy", "proxy-headers-env", "basic-auth", "exec-plugin", "auth-provider", "cluster-proxy-url", "tls-server-name"])
def test_what_only_kubernetes_core_does_is_handed_over(tmp_path, params, user, cluster, env):
    params = dict(params, kubeconfig=write(tmp_path, kubeconfig(user, cluster)))
    with pytest.raises(kc.Unsupported):
        kc.load_config(params, environ=env)


def test_several_kubeconfig_files_are_handed_over(tmp_path):
    env = {"KUBECONFIG": "%s%s%s" % (tmp_path / "a", os.pathsep, tmp_path / "b")}
    with pytest.raises(kc.Unsupported):
        kc.load_config({}, environ=env, in_cluster_dir=str(tmp_path))


def test_query_string_uses_the_api_names_and_skips_none():
    assert kc.query_string({"label_selector": "a=b", "watch": True, "field_selector": None}) == \
        "?labelSelector=a%3Db&watch=true"
    assert kc.query_string([]) == ""


def test_resource_paths():
    ns = kc.Resource("serving.kserve.io/v1beta1", "InferenceService", "inferenceservices", True)
    assert ns.path(name="m", namespace="p") == "/apis/serving.kserve.io/v1beta1/namespaces/p/inferenceservices/m"
    assert ns.path() == "/apis/serving.kserve.io/v1beta1/inferenceservices"
    assert kc.Resource("v1", "Namespace", "namespaces", False).path(name="x", namespace="ignored") == "/api/v1/namespaces/x"


def test_api_error_reads_the_status_message():
    body = json.dumps({"kind": "Status", "message": "leases.coordination.k8s.io \"x\" is forbidden",
                       "details": {"name": "x", "kind": "leases"}})
    err = kc.ApiError(403, "Forbidden", body.encode())
    assert err.message.startswith("leases.coordination.k8s.io") and err.status == 403
    assert err.status_details() == {"name": "x", "kind": "leases"}
    assert kc.ApiError(502, "Bad Gateway", b"<html>").message == "Bad Gateway"


def test_a_short_timeout_of_one_request_does_not_stay_on_the_kept_alive_connection():
    """TransientRetry probes /readyz with a 5 s timeout; the apply after it on the same connection must
    have the client's own timeout again, or an apply through slow admission webhooks times out."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # pylint: disable=invalid-name
            if self.path.startswith("/slow"):
                time.sleep(1.5)
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        config = kc.load_config({"host": "http://127.0.0.1:%d" % httpd.server_address[1], "api_key": "t"}, environ={})
        kube = kc.KubeClient(config, timeout=10)
        assert kube.request("GET", "/readyz", timeout=0.5) == {}
        assert kube.request("GET", "/slow") == {}  # on the same kept-alive connection, with 10 s again
    finally:
        httpd.shutdown()
        httpd.server_close()
