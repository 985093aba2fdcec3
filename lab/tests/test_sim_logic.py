"""Unit tests of labsim's pure logic (no lab needed): latency profile, Machine API node shape,
odh-model-controller's storage-config and Route, the operator's connection webhook, the network's
name resolution."""

import base64
import json

import pytest

from labsim import machineapi, network, odh_model_controller, odh_webhooks, profile

def test_profile_fp8_and_tp_are_faster_and_overridable(tmp_path):
    bf16 = profile.compute(["--dtype=bfloat16"])
    fp8 = profile.compute(["--dtype=bfloat16", "--quantization", "fp8"])
    tp4 = profile.compute(["--dtype=bfloat16", "--tensor-parallel-size=4", "--max-model-len=32768"])
    assert (bf16["ttft_ms"], bf16["itl_ms"]) == (120.0, 25.0)
    assert fp8["itl_ms"] == pytest.approx(25 * 0.65, abs=0.1) and fp8["fp8"]
    assert tp4["itl_ms"] < bf16["itl_ms"] and tp4["ready_delay_s"] > bf16["ready_delay_s"]
    assert tp4["max_model_len"] == 32768 and tp4["tensor_parallel_size"] == 4
    assert 2 <= bf16["ready_delay_s"] <= 5 and tp4["ready_delay_s"] <= 5
    (tmp_path / "latency.yaml").write_text("base: {ttft_ms: 200}\n")
    cfg = profile.load_config(str(tmp_path), environ={"LABSIM_ITL_MS": "10"})
    assert profile.compute([], cfg)["ttft_ms"] == 200 and profile.compute([], cfg)["itl_ms"] == 10


def test_node_shape_per_instance_type():
    machine = {"metadata": {"name": "ms-abcde", "namespace": "openshift-machine-api"},
               "spec": {"providerID": "aws:///us-east-1a/i-1"}}
    node = machineapi.node_manifest("ip-10-0-1-2.ec2.internal", machine, "g6.12xlarge", "10.0.1.2")
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L4" and labels["nvidia.com/gpu.count"] == "4"
    assert labels["nvidia.com/gpu.memory"] == "23034" and labels["type"] == "kwok"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "4"
    assert node["status"]["capacity"]["cpu"] == "48" and node["spec"]["taints"][0]["key"] == \
        "nvidia.com/gpu"
    l40s = machineapi.node_manifest("n", machine, "g6e.xlarge", "10.0.1.3")
    assert l40s["metadata"]["labels"]["nvidia.com/gpu.memory"] == "46068"
    cpu_only = machineapi.node_manifest("n", machine, "m5.weird", "10.0.1.4")
    assert "nvidia.com/gpu" not in cpu_only["status"]["allocatable"]
    assert not cpu_only["spec"]["taints"]


def secret(name, annotations=None, **data):
    return {"metadata": {"name": name, "annotations": annotations or {},
                         "labels": {"opendatahub.io/managed": "true", "opendatahub.io/dashboard": "true"}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def test_storage_config_type_comes_only_from_the_connection_type_annotation():
    """secret_controller.go newStorageSecret: json.Marshal of a map (sorted, compact), the six keys
    always present, type from opendatahub.io/connection-type alone."""
    dashboard = secret("a", {"opendatahub.io/connection-type": "s3"}, AWS_ACCESS_KEY_ID="k",
                       AWS_SECRET_ACCESS_KEY="s", AWS_S3_ENDPOINT="https://minio:9000",
                       AWS_S3_BUCKET="b", AWS_DEFAULT_REGION="us-east-1")
    legacy = secret("b", {"opendatahub.io/connection-type-ref": "s3"}, AWS_S3_ENDPOINT="http://m")
    data = odh_model_controller.storage_config_data([dashboard, legacy], ca_bundle="PEM")
    assert data["a"] == ('{"access_key_id":"k","bucket":"b","cabundle_configmap":'
                         '"odh-kserve-custom-ca-bundle","endpoint_url":"https://minio:9000",'
                         '"region":"us-east-1","secret_access_key":"s","type":"s3"}')
    assert json.loads(data["b"])["type"] == "" and "cabundle_configmap" not in json.loads(data["b"])


def test_route_for_exposed_inference_services_only():
    isvc = {"metadata": {"name": "m", "namespace": "ns", "uid": "u",
                         "labels": {"networking.kserve.io/visibility": "exposed"}, "annotations": {}}}
    svc = {"metadata": {"name": "m-predictor", "labels": {
        "serving.kserve.io/inferenceservice": "m", "component": "predictor"}},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    route = odh_model_controller.desired_route(isvc, [svc])
    assert route["spec"]["to"]["name"] == "m-predictor" and route["spec"]["port"] == {"targetPort": "http"}
    assert route["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    assert route["metadata"]["ownerReferences"][0]["uid"] == "u"
    isvc["metadata"]["labels"] = {}
    assert odh_model_controller.desired_route(isvc, [svc]) is None


def test_connection_webhook_injection_and_change_actions():
    isvc = {"metadata": {"name": "m", "annotations": {}},
            "spec": {"predictor": {"model": {"storage": {"path": "mine"}}}}}
    out = odh_webhooks.inject_s3(isvc, "conn")
    assert out["spec"]["predictor"]["serviceAccountName"] == "conn-sa"
    assert out["spec"]["predictor"]["model"]["storage"] == {"key": "conn", "path": "mine"}
    isvc["spec"]["predictor"]["model"]["storage"] = {}
    isvc["metadata"]["annotations"]["opendatahub.io/connection-path"] = "annotated"
    assert odh_webhooks.inject_s3(isvc, "conn")["spec"]["predictor"]["model"]["storage"]["path"] == "annotated"
    assert odh_webhooks.change_action(None, ("conn", "s3", "")) == "inject"
    assert odh_webhooks.change_action(("conn", "s3", ""), ("conn", "s3", "")) == "none"
    assert odh_webhooks.change_action(("conn", "s3", ""), None) == "remove"
    assert odh_webhooks.change_action(("conn", "s3", "a"), ("conn", "s3", "b")) == "replace"
    removed = odh_webhooks.remove_s3(out, "conn")
    assert "serviceAccountName" not in removed["spec"]["predictor"]


class FakeInformer:
    def __init__(self, items):
        self.items = {"%s/%s" % (i["metadata"].get("namespace"), i["metadata"]["name"]): i for i in items}

    def list(self):
        return list(self.items.values())

    def get(self, key):
        return self.items.get(key)


class FakeCtx:
    def __init__(self, **informers):
        self.informers = informers

    def informer(self, name):
        return self.informers[name]


def test_network_resolves_headless_services_clusterip_services_and_routes():
    svc = {"metadata": {"name": "m-predictor", "namespace": "ns"},
           "spec": {"clusterIP": "None", "ports": [{"port": 80, "targetPort": 8080}]}}
    svc_ip = {"metadata": {"name": "web", "namespace": "ns"},
              "spec": {"clusterIP": "10.96.0.9", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    slices = [{"metadata": {"name": n + "-s1", "namespace": "ns", "labels": {"kubernetes.io/service-name": n}},
               "ports": [{"name": pn, "port": 8080}],
               "endpoints": [{"addresses": ["10.245.0.7"], "conditions": {"ready": True}}]}
              for n, pn in (("m-predictor", ""), ("web", "http"))]
    route = {"metadata": {"name": "m", "namespace": "ns"},
             "spec": {"to": {"name": "m-predictor"}, "port": {"targetPort": "http"},
                      "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}},
             "status": {"ingress": [{"host": "m-ns.apps.lab.local",
                                     "conditions": [{"type": "Admitted", "status": "True"}]}]}}
    ctx = FakeCtx(routes=FakeInformer([route]), services=FakeInformer([svc, svc_ip]),
                  endpointslices=FakeInformer(slices))
    net = network.Network(ctx, lambda: {("10.245.0.7", 8080): 20001})
    assert net.resolve("m-predictor.ns.svc.cluster.local", 8080, False) == 20001
    with pytest.raises(network.Resolution) as err:
        net.resolve("m-predictor.ns.svc.cluster.local", 80, False)
    assert err.value.status == 502 and "connection refused" in err.value.body
    assert net.resolve("web.ns.svc", 80, False) == 20001
    assert net.resolve("m-ns.apps.lab.local", 443, True) == 20001
    with pytest.raises(network.Resolution) as err:
        net.resolve("m-ns.apps.lab.local", 80, False)
    assert err.value.status == 302
    with pytest.raises(network.Resolution) as err:
        net.resolve("other-ns.apps.lab.local", 443, True)
    assert err.value.status == 503


def test_network_reencrypt_route_reaches_the_auth_proxy_over_tls():
    """A reencrypt Route (odh-model-controller with enable-auth) to port 8443: the router opens TLS
    to the pod's kube-rbac-proxy and verifies the Service name."""
    svc = {"metadata": {"name": "m-predictor", "namespace": "ns"},
           "spec": {"clusterIP": "None", "ports": [{"name": "https", "port": 8443, "targetPort": "https"}]}}
    slices = [{"metadata": {"name": "s1", "namespace": "ns", "labels": {"kubernetes.io/service-name": "m-predictor"}},
               "ports": [{"name": "https", "port": 8443}],
               "endpoints": [{"addresses": ["10.245.0.7"], "conditions": {"ready": True}}]}]
    route = {"metadata": {"name": "m", "namespace": "ns"},
             "spec": {"to": {"name": "m-predictor"}, "port": {"targetPort": 8443},
                      "tls": {"termination": "reencrypt", "insecureEdgeTerminationPolicy": "Redirect"}},
             "status": {"ingress": [{"host": "m-ns.apps.lab.local",
                                     "conditions": [{"type": "Admitted", "status": "True"}]}]}}
    ctx = FakeCtx(routes=FakeInformer([route]), services=FakeInformer([svc]), endpointslices=FakeInformer(slices))
    net = network.Network(ctx, lambda: {("10.245.0.7", 8080): 20001, ("10.245.0.7", 8443): 20501})
    backend = net.resolve("m-ns.apps.lab.local", 443, True)
    assert backend == 20501 and isinstance(backend, network.Backend)
    assert backend.server_name == "m-predictor.ns.svc"


def test_auth_webhook_renders_the_forks_sidecar_service_port_and_nothing_without_auth():
    from labsim import odh_auth
    deploy = {"kind": "Deployment", "metadata": {"labels": {"serving.kserve.io/inferenceservice": "m",
                                                            "component": "predictor"}},
              "spec": {"template": {"spec": {"containers": [
                  {"name": "kserve-container", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}}}
    on = {"annotations": {"security.opendatahub.io/enable-auth": "TRUE"}}
    assert odh_auth.mutate(deploy, {"annotations": {"security.opendatahub.io/enable-auth": "false"}}) is deploy
    pod = odh_auth.mutate(deploy, on)["spec"]["template"]["spec"]
    proxy = pod["containers"][-1]
    assert proxy["name"] == "kube-rbac-proxy" and "--upstream=http://localhost:8080" in proxy["args"]
    assert "--config-file=/etc/kube-rbac-proxy/config-file.yaml" in proxy["args"]
    assert pod["automountServiceAccountToken"] is True
    assert {v["name"] for v in pod["volumes"]} == {"proxy-tls", "m-kube-rbac-proxy-sar-config"}
    # idempotent: a second pass (KServe's dry-run update) renders the same object
    assert odh_auth.mutate(odh_auth.mutate(deploy, on), on) == odh_auth.mutate(deploy, on)
    svc = {"kind": "Service", "metadata": {"labels": {"serving.kserve.io/inferenceservice": "m",
                                                      "component": "predictor"}},
           "spec": {"clusterIP": "None", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}}
    out = odh_auth.mutate(svc, on)
    assert out["spec"]["ports"] == [{"name": "https", "port": 8443, "protocol": "TCP", "targetPort": "https"}]
    assert out["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"] == "m-predictor-serving-cert"


def test_rbac_proxy_args_are_translated_for_loopback_and_fork_only_flags_dropped():
    from labsim import odh_auth, rbac_proxy
    args = odh_auth.proxy_container("m", 8080)["args"] + ["--upstream-timeout=60s"]
    files = {"cert": "/c", "key": "/k", "config": "/cfg", "kubeconfig": "/kc"}
    out = rbac_proxy.translate(args, 24000, 24500, 24750, files)
    assert "--secure-listen-address=127.0.0.1:24500" in out and "--proxy-endpoints-port=24750" in out
    assert "--upstream=http://127.0.0.1:24000/" in out and "--config-file=/cfg" in out
    assert "--kubeconfig=/kc" in out and "--auth-header-fields-enabled=true" in out
    assert not [a for a in out if a.startswith("--upstream-timeout")]
