"""What OpenShift AI 3.0 sets up around KServe and Kueue, for the lab's real KServe and Kueue.

OpenShift AI 3.0 runs the opendatahub-io fork of KServe (odh-v3.0, based on upstream 0.15) and the
Red Hat build of Kueue (Kueue 0.14); the lab runs upstream KServe v0.15.2 and Kueue v0.14.8, built
from the Go module proxy, configured here as the OpenShift AI operator configures them:

- the `inferenceservice-config` ConfigMap: opendatahub-operator v3.0.0
  `internal/controller/components/kserve/kserve_support.go` (`updateInferenceCM`: RawDeployment
  forced, ingress creation disabled, headless predictor Services) over the manifests it renders,
  red-hat-data-services/kserve rhoai-3.0 `config/overlays/odh/patches/patch-inferenceservice-config.yaml`
  on `config/configmap/inferenceservice.yaml`;
- Kueue's manager Configuration: what openshift/kueue-operator release-1.2
  (`pkg/configmap/configmap.go`, `BuildConfigMap`) generates for the `Kueue` CR that
  opendatahub-operator v3.0.0 writes (`internal/controller/components/kueue/kueue_config.go`,
  `createKueueCR`: frameworks Deployment, Pod, PyTorchJob, RayCluster, RayJob, StatefulSet);
- the webhook configurations, read from each project's own `config/` at the pinned version, with
  the service reference replaced by a URL on 127.0.0.1 and the lab CA as caBundle (the lab has no
  Service networking or service-CA operator).

The deviations needed to run outside a pod are named where they are made.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

from .base import Lab, LabError

APPS_NS = "redhat-ods-applications"
KUEUE_NS = "openshift-kueue-operator"
KUEUE_MANAGED_LABEL = "kueue.openshift.io/managed"
# The lab's apps domain: OpenShift gives a Route without spec.host the host
# <route>-<namespace>.<ingress domain>.
ROUTE_DOMAIN = "apps.lab.local"

KSERVE_MODULE = "github.com/kserve/kserve"
KUEUE_MODULE = "sigs.k8s.io/kueue"


def module_dir(module: str, version: str) -> Path:
    """The Go module cache directory of module@version (downloaded when the cache lacks it)."""
    go = shutil.which(os.environ.get("GO", "go")) or "/usr/local/go/bin/go"
    try:
        out = subprocess.run([go, "mod", "download", "-json", f"{module}@{version}"],
                             capture_output=True, text=True, check=True, cwd="/")
        return Path(json.loads(out.stdout)["Dir"])
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise LabError(f"cannot find the sources of {module}@{version} in the Go module cache "
                       f"(`go mod download` failed: {detail.strip()[:300]}); run `make lab-build`") from None


def kserve_dir(lab: Lab) -> Path:
    return module_dir(KSERVE_MODULE, lab.versions["KSERVE_VERSION"])


def kueue_dir(lab: Lab) -> Path:
    return module_dir(KUEUE_MODULE, lab.versions["KUEUE_VERSION"])


def manager_crd_files(lab: Lab) -> list[Path]:
    """Every CRD of KServe and Kueue at the pinned versions. The KServe manager watches
    TrainedModels and InferenceGraphs and lists ClusterStorageContainers; Kueue indexes and
    watches all eleven of its kinds: both exit without them."""
    return (sorted((kserve_dir(lab) / "config" / "crd" / "full").glob("serving.kserve.io_*.yaml"))
            + sorted((kueue_dir(lab) / "config" / "components" / "crd" / "bases").glob("*.yaml")))


# --- KServe ------------------------------------------------------------------------------------

def _json(value: dict) -> str:
    return json.dumps(value, indent=1, sort_keys=True)


def inferenceservice_config() -> dict:
    """The `inferenceservice-config` ConfigMap as OpenShift AI 3.0 deploys it (the `_example` key
    left out; images are never pulled in the lab)."""
    agent = {"image": "quay.io/opendatahub/kserve-agent:v0.15-latest", "memoryRequest": "100Mi",
             "memoryLimit": "1Gi", "cpuRequest": "100m", "cpuLimit": "1"}
    data = {
        "agent": _json(agent),
        "batcher": _json(dict(agent, memoryRequest="1Gi", cpuRequest="1")),
        "logger": _json(dict(agent, defaultUrl="http://default-broker")),
        "router": _json({"image": "quay.io/opendatahub/kserve-router:v0.15-latest",
                         "memoryRequest": "100Mi", "memoryLimit": "1Gi", "cpuRequest": "100m",
                         "cpuLimit": "1", "headers": {"propagate": ["Authorization"]}}),
        "credentials": _json({
            "storageSpecSecretName": "storage-config",
            "storageSecretNameAnnotation": "serving.kserve.io/storageSecretName",
            "gcs": {"gcsCredentialFileName": "gcloud-application-credentials.json"},
            "s3": {"s3AccessKeyIDName": "AWS_ACCESS_KEY_ID",
                   "s3SecretAccessKeyName": "AWS_SECRET_ACCESS_KEY",
                   "s3Endpoint": "", "s3UseHttps": "", "s3Region": "", "s3VerifySSL": "",
                   "s3UseVirtualBucket": "", "s3UseAccelerate": "", "s3UseAnonymousCredential": "",
                   "s3CABundleConfigMap": "odh-kserve-custom-ca-bundle",
                   "s3CABundle": "/etc/ssl/custom-certs"}}),
        # kserve_support.go: "RawDeployment mode is the only supported mode".
        "deploy": _json({"defaultDeploymentMode": "RawDeployment"}),
        "explainers": "{}",
        "inferenceService": _json({"serviceAnnotationDisallowedList": [
            "autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale",
            "internal.serving.kserve.io/storage-initializer-sourceuri",
            "kubectl.kubernetes.io/last-applied-configuration",
            "security.opendatahub.io/enable-auth", "networking.knative.dev/visibility",
            "haproxy.router.openshift.io/timeout"]}),
        "ingress": _json({
            "disableIngressCreation": True,  # kserve_support.go: always, Routes come from odh-model-controller
            "disableIstioVirtualHost": False,
            # Lab deviation: OpenShift AI 3.0 has domainTemplate "example.com"; its KServe fork
            # does not use it for raw deployments (kube_ingress_reconciler.go createRawURLODH
            # reports the host of the InferenceService's admitted Route). Upstream 0.15.2 renders
            # status.url from this template, so the lab makes it produce that Route host.
            "domainTemplate": "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}",
            "enableGatewayApi": False,
            "ingressClassName": "istio",
            "ingressDomain": ROUTE_DOMAIN,
            "ingressGateway": "knative-serving/knative-ingress-gateway",
            "ingressService": "istio-ingressgateway.istio-system.svc.cluster.local",
            "knativeLocalGatewayService": "knative-local-gateway.istio-system.svc.cluster.local",
            "kserveIngressGateway": "openshift-ingress/openshift-ai-inference",
            "localGateway": "istio-system/kserve-local-gateway",
            "localGatewayService": "kserve-local-gateway.istio-system.svc.cluster.local",
            "urlScheme": "https"}),
        "localModel": _json({"enabled": False, "jobNamespace": "kserve-localmodel-jobs",
                             "defaultJobImage": "kserve/storage-initializer:latest", "fsGroup": 1000}),
        "metricsAggregator": _json({"enableMetricAggregation": "false",
                                    "enablePrometheusScraping": "false"}),
        "oauthProxy": _json({"image": "quay.io/opendatahub/odh-kube-auth-proxy:v3.0",
                             "memoryRequest": "64Mi", "memoryLimit": "128Mi",
                             "cpuRequest": "100m", "cpuLimit": "200m"}),
        "opentelemetryCollector": _json({"scrapeInterval": "5s",
                                         "metricReceiverEndpoint": "keda-otel-scaler.keda.svc:4317",
                                         "metricScalerEndpoint": "keda-otel-scaler.keda.svc:4318"}),
        "security": _json({"autoMountServiceAccountToken": False}),
        # kserve_support.go: headless unless the DSC asks for rawDeploymentServiceConfig: Headed.
        "service": _json({"serviceClusterIPNone": True}),
        "storageInitializer": _json({
            "image": "quay.io/rhoai/odh-kserve-storage-initializer-rhel9:v3.0",
            "memoryRequest": "100Mi", "memoryLimit": "24Gi", "cpuRequest": "100m", "cpuLimit": "1",
            "enableDirectPvcVolumeMount": True, "cpuModelcar": "10m", "memoryModelcar": "15Mi",
            "enableModelcar": True}),
    }
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "inferenceservice-config", "namespace": APPS_NS},
            "data": data}


# --- Kueue -------------------------------------------------------------------------------------

def kueue_configuration(lab: Lab) -> dict:
    """Kueue's manager Configuration as the Red Hat build of Kueue writes it for OpenShift AI 3.0,
    with the lab's deviations: loopback addresses, certificates from the lab CA, no leader
    election (one replica outside a pod), no metrics server and no visibility API server (both
    would listen on every interface and need an aggregated API)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta1",
        "kind": "Configuration",
        "namespace": KUEUE_NS,
        "clientConnection": {"burst": 100, "qps": 50},
        "controller": {"groupKindConcurrency": {
            "ClusterQueue.kueue.x-k8s.io": 1, "Job.batch": 5, "LocalQueue.kueue.x-k8s.io": 1,
            "Pod": 5, "ResourceFlavor.kueue.x-k8s.io": 1, "Workload.kueue.x-k8s.io": 5}},
        "fairSharing": {"enable": False},
        "health": {"healthProbeBindAddress": f"127.0.0.1:{lab.ports['kueue-health']}"},
        "integrations": {"frameworks": ["deployment", "pod", "kubeflow.org/pytorchjob",
                                        "ray.io/raycluster", "ray.io/rayjob", "statefulset"]},
        "internalCertManagement": {"enable": False},
        "leaderElection": {"leaderElect": False},
        "manageJobsWithoutQueueName": False,
        "managedJobsNamespaceSelector": {"matchLabels": {KUEUE_MANAGED_LABEL: "true"}},
        "metrics": {"bindAddress": "0"},
        "waitForPodsReady": {"enable": False},
        "webhook": {"host": "127.0.0.1", "port": lab.ports["kueue-webhook"],
                    "certDir": str(lab.state / "kueue" / "webhook-certs")},
        "featureGates": {"VisibilityOnDemand": False},
    }


# --- webhooks ----------------------------------------------------------------------------------

def _ca_bundle(lab: Lab) -> str:
    return base64.b64encode((lab.pki / "ca.crt").read_bytes()).decode()


def _by_url(lab: Lab, hook: dict, port: int) -> dict:
    hook = copy.deepcopy(hook)
    path = hook["clientConfig"]["service"]["path"]
    hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": _ca_bundle(lab)}
    return hook


def _load_yaml_docs(path: Path) -> list[dict]:
    import yaml  # noqa: PLC0415 - `down`/`status` import this module on a bare python3
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kserve_webhooks(lab: Lab) -> list[dict]:
    """KServe's own webhook configurations (config/webhook/manifests.yaml at the pinned version):
    InferenceService defaulter and validator, the pod mutator that injects the storage
    initializer, the ServingRuntime, TrainedModel, InferenceGraph and LocalModelCache validators."""
    out = []
    for doc in _load_yaml_docs(kserve_dir(lab) / "config" / "webhook" / "manifests.yaml"):
        doc["metadata"].pop("creationTimestamp", None)
        doc["webhooks"] = [_by_url(lab, h, lab.ports["kserve-webhook"]) for h in doc["webhooks"]]
        out.append(doc)
    return out


# Kueue webhooks for workload kinds the lab has (the Red Hat operator keeps only those of enabled
# frameworks) and Kueue's own kinds.
_KUEUE_FRAMEWORK_RESOURCES = {"pods", "deployments", "statefulsets"}
_KUEUE_OWN_GROUP = "kueue.x-k8s.io"


def kueue_webhooks(lab: Lab) -> list[dict]:
    """Kueue's webhook configurations (config/components/webhook/manifests.yaml at the pinned
    version), named with kustomize's `kueue-` prefix. The pod, Deployment and StatefulSet webhooks
    get the namespaceSelector of config/components/webhook/kustomization.yaml plus the Red Hat
    operator's `kueue.openshift.io/managed In [true]` (kueue-operator pkg/webhook/pod_webhook.go)."""
    out = []
    for doc in _load_yaml_docs(kueue_dir(lab) / "config" / "components" / "webhook" / "manifests.yaml"):
        doc["metadata"] = {"name": "kueue-" + doc["metadata"]["name"]}
        hooks = []
        for hook in doc["webhooks"]:
            rule = hook["rules"][0]
            resources = set(rule["resources"])
            if rule["apiGroups"] != [_KUEUE_OWN_GROUP] and not resources & _KUEUE_FRAMEWORK_RESOURCES:
                continue
            hook = _by_url(lab, hook, lab.ports["kueue-webhook"])
            if resources & _KUEUE_FRAMEWORK_RESOURCES:
                hook["namespaceSelector"] = {"matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                     "values": ["kube-system", KUEUE_NS]},
                    {"key": KUEUE_MANAGED_LABEL, "operator": "In", "values": ["true"]}]}
            hook["timeoutSeconds"] = 23  # kueue-operator sets it on every webhook it keeps
            hooks.append(hook)
        doc["webhooks"] = hooks
        out.append(doc)
    return out


def odh_operator_webhooks(lab: Lab) -> list[dict]:
    """The two opendatahub-operator v3.0.0 webhooks on InferenceServices (config/webhook/manifests.yaml),
    served by the lab's simulator (lab/labsim/odh_webhooks.py): the data connection injector and
    the Kueue queue-name validator; and the lab's stand-in for what the opendatahub-io fork of
    KServe adds for token auth."""
    rules = [{"apiGroups": ["serving.kserve.io"], "apiVersions": ["v1beta1"],
              "operations": ["CREATE", "UPDATE"], "resources": ["inferenceservices"]}]

    def hook(name: str, path: str, side_effects: str) -> dict:
        return {"name": name, "admissionReviewVersions": ["v1"], "failurePolicy": "Fail",
                "sideEffects": side_effects, "rules": rules,
                "clientConfig": {"url": f"https://127.0.0.1:{lab.ports['labsim-webhook']}{path}",
                                 "caBundle": _ca_bundle(lab)}}

    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "opendatahub-operator-mutating-webhook-configuration"},
         "webhooks": [hook("connection-isvc.opendatahub.io", "/platform-connection-isvc",
                           "NoneOnDryRun")]},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": "opendatahub-operator-validating-webhook-configuration"},
         "webhooks": [hook("kserve-isvc-kueuelabels-validator.opendatahub.io", "/validate-kueue",
                           "None")]},
        # Not the operator's: what the opendatahub-io fork of KServe adds to a predictor Deployment
        # with security.opendatahub.io/enable-auth (lab/labsim/odh_auth.py); upstream KServe
        # v0.15.2 writes the Deployment and Service, this webhook adds the kube-rbac-proxy sidecar
        # and the https port.
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": "lab-kserve-odh-auth"},
         "webhooks": [dict(hook("kserve-odh-auth.lab.private-ai.io", "/kserve-odh-auth", "None"),
                           rules=[{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                   "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]},
                                  {"apiGroups": [""], "apiVersions": ["v1"],
                                   "operations": ["CREATE", "UPDATE"], "resources": ["services"]}],
                           objectSelector={"matchExpressions": [
                               {"key": "serving.kserve.io/inferenceservice", "operator": "Exists"}]})]},
    ]


# --- OpenShift templates ---------------------------------------------------------------------

# openshift-apiserver serves template.openshift.io (not a CRD): the lab serves it as a CRD without
# a schema, enough to store and read OpenShift AI's runtime Templates.
TEMPLATE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "templates.template.openshift.io"},
    "spec": {"group": "template.openshift.io", "scope": "Namespaced",
             "names": {"plural": "templates", "singular": "template", "kind": "Template"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}

# The RHOAI build of the vLLM CUDA image on the rhoai-3.0 branch of rhods-operator (RHAIIS 3.2.5);
# the collection's fallback is the 3.0.0 GA one, so a run that takes the Template's shows.
LAB_VLLM_IMAGE = ("registry.redhat.io/rhaiis/vllm-cuda-rhel9@sha256:"
                  "094db84a1da5e8a575d0c9eade114fa30f4a2061064a338e3e032f3578f8082a")


def vllm_cuda_runtime_template() -> dict:
    """odh-model-controller rhoai-3.0 config/runtimes/vllm-cuda-template.yaml, rendered as the
    operator deploys it into the applications namespace."""
    return {
        "apiVersion": "template.openshift.io/v1", "kind": "Template",
        "metadata": {"name": "vllm-cuda-runtime-template", "namespace": APPS_NS,
                     "labels": {"opendatahub.io/dashboard": "true", "opendatahub.io/ootb": "true"},
                     "annotations": {"openshift.io/display-name": "vLLM NVIDIA GPU ServingRuntime for KServe",
                                     "opendatahub.io/modelServingSupport": '["single"]',
                                     "opendatahub.io/apiProtocol": "REST",
                                     "opendatahub.io/model-type": '["generative"]'}},
        "objects": [{
            "apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
            "metadata": {"name": "vllm-cuda-runtime", "labels": {"opendatahub.io/dashboard": "true"},
                         "annotations": {"openshift.io/display-name": "vLLM NVIDIA GPU ServingRuntime for KServe",
                                         "opendatahub.io/recommended-accelerators": '["nvidia.com/gpu"]',
                                         "opendatahub.io/runtime-version": "v0.9.1.0"}},
            "spec": {"annotations": {"opendatahub.io/kserve-runtime": "vllm", "prometheus.io/port": "8080",
                                     "prometheus.io/path": "/metrics"},
                     "multiModel": False,
                     "supportedModelFormats": [{"autoSelect": True, "name": "vLLM"}],
                     "containers": [{"name": "kserve-container", "image": LAB_VLLM_IMAGE,
                                     "command": ["python", "-m", "vllm.entrypoints.openai.api_server"],
                                     "args": ["--port=8080", "--model=/mnt/models",
                                              "--served-model-name={{.Name}}"],
                                     "env": [{"name": "HF_HOME", "value": "/tmp/hf_home"}],
                                     "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}],
    }


def ensure_namespaces_and_config(kube, lab: Lab) -> None:
    """The operator's namespaces and the KServe ConfigMap, before the managers start (KServe exits
    without its ConfigMap), and OpenShift AI's vLLM runtime Template."""
    for ns in (APPS_NS, KUEUE_NS):
        kube.create_if_absent({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kube.apply(inferenceservice_config())
    kube.apply(TEMPLATE_CRD)
    kube.apply(vllm_cuda_runtime_template(), retry_not_found=60)


def register_webhooks(kube, docs: list[dict]) -> None:
    for doc in docs:
        kube.apply(doc)
