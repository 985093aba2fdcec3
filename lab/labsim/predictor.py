"""What KServe's RawDeployment reconciler creates for an InferenceService: runtime selection and
the predictor Deployment, Service and Route manifests (as dicts)."""

import copy
import hashlib
import json

KUEUE_GATE = "kueue.x-k8s.io/admission"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
ISVC_LABEL = "serving.kserve.io/inferenceservice"
HASH_ANN = "lab.private-ai.io/spec-hash"
ISVC_API = "serving.kserve.io/v1beta1"


class RuntimeError_(Exception):
    """No usable runtime: .reason is a lastFailureInfo reason."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def model_spec(isvc):
    return ((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}


def select_runtime(isvc, runtimes):
    """The ServingRuntime (dict) for isvc among runtimes of its namespace, or RuntimeError_."""
    model = model_spec(isvc)
    fmt = ((model.get("modelFormat") or {}).get("name") or "")
    name = model.get("runtime")
    ns = isvc["metadata"]["namespace"]
    if name:
        rt = next((r for r in runtimes if r["metadata"]["name"] == name), None)
        if rt is None:
            raise RuntimeError_("RuntimeNotRecognized",
                                "Specified runtime %s does not exist in namespace %s" % (name, ns))
        if rt.get("spec", {}).get("disabled"):
            raise RuntimeError_("RuntimeDisabled", "Specified runtime %s is disabled" % name)
        return rt
    if not fmt:
        raise RuntimeError_("InvalidPredictorSpec",
                            "predictor.model.modelFormat.name is required to select a runtime")
    candidates = []
    for rt in runtimes:
        spec = rt.get("spec") or {}
        if spec.get("disabled"):
            continue
        for f in spec.get("supportedModelFormats") or []:
            if f.get("name", "").lower() == fmt.lower() and f.get("autoSelect"):
                candidates.append((-(f.get("priority") or 0), rt["metadata"]["name"], rt))
    if not candidates:
        raise RuntimeError_("NoSupportingRuntime",
                            "No runtime found to support predictor with model type: {%s}: no "
                            "ServingRuntime in namespace %s lists it with autoSelect: true"
                            % (fmt, ns))
    return sorted(candidates, key=lambda c: c[:2])[0][2]


def _merge_named(base, extra):
    out = {item.get("name"): item for item in copy.deepcopy(base or [])}
    for item in extra or []:
        out[item.get("name")] = copy.deepcopy(item)
    return list(out.values())


def _gpus(resources):
    for part in ("limits", "requests"):
        val = ((resources or {}).get(part) or {}).get("nvidia.com/gpu")
        if val is not None:
            return int(str(val))
    return 0


def replicas(isvc):
    pred = (isvc.get("spec") or {}).get("predictor") or {}
    val = pred.get("minReplicas")
    return 1 if val is None else max(1, int(val))


def deployment(isvc, runtime, storage_uri):
    """The predictor Deployment manifest; its pod template carries the Kueue gate if queued."""
    meta = isvc["metadata"]
    name, ns = meta["name"], meta["namespace"]
    pred = isvc["spec"].get("predictor") or {}
    model = model_spec(isvc)
    rspec = runtime.get("spec") or {}
    containers = copy.deepcopy(rspec.get("containers") or [])
    main = next((c for c in containers if c.get("name") == "kserve-container"), containers[0])
    main["args"] = [str(a).replace("{{.Name}}", name) for a in main.get("args") or []]
    main["args"] += [str(a) for a in model.get("args") or []]
    if model.get("command"):
        main["command"] = list(model["command"])
    main["env"] = _merge_named(main.get("env"), model.get("env"))
    if model.get("resources"):
        main["resources"] = copy.deepcopy(model["resources"])
    mounts = _merge_named(main.get("volumeMounts"), model.get("volumeMounts"))
    mounts = [m for m in mounts if m.get("mountPath") != "/mnt/models"]
    mounts.append({"name": "kserve-provision-location", "mountPath": "/mnt/models",
                   "readOnly": True})
    main["volumeMounts"] = mounts
    for key in ("env", "volumeMounts"):
        if not main[key]:
            del main[key]
    # registry link labels arrive after the model is served; a rollout for them would be churn
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if not k.startswith("modelregistry.opendatahub.io/")}
    labels.update({ISVC_LABEL: name, "app": "isvc.%s-predictor" % name,
                   "component": "predictor"})
    pod_spec = {
        "initContainers": [{
            "name": "storage-initializer", "image": "quay.io/opendatahub/kserve-storage-initializer:lab",
            "args": [storage_uri, "/mnt/models"],
            "resources": {"requests": {"cpu": "100m", "memory": "100Mi"},
                          "limits": {"cpu": "1", "memory": "1Gi"}},
            "volumeMounts": [{"name": "kserve-provision-location", "mountPath": "/mnt/models"}],
        }],
        "containers": containers,
        "volumes": _merge_named(rspec.get("volumes"), pred.get("volumes"))
        + [{"name": "kserve-provision-location", "emptyDir": {}}],
    }
    for key in ("tolerations", "nodeSelector", "affinity", "serviceAccountName",
                "imagePullSecrets", "priorityClassName", "schedulerName", "runtimeClassName"):
        val = pred.get(key) if pred.get(key) is not None else rspec.get(key)
        if val:
            pod_spec[key] = copy.deepcopy(val)
    if labels.get(QUEUE_LABEL):
        # real Kueue's pod webhook adds this gate; the lab's KServe puts it in the template
        pod_spec["schedulingGates"] = [{"name": KUEUE_GATE}]
    template = {"metadata": {"labels": labels,
                             "annotations": dict(rspec.get("annotations") or {})},
                "spec": pod_spec}
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "%s-predictor" % name, "namespace": ns, "labels": labels,
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
            "ownerReferences": [owner_ref(isvc)],
        },
        "spec": {
            "replicas": replicas(isvc),
            "selector": {"matchLabels": {"app": "isvc.%s-predictor" % name}},
            # GPU pods cannot surge onto the GPUs they are about to free: recreate instead
            "strategy": {"type": "Recreate"} if _gpus(main.get("resources")) else
            {"type": "RollingUpdate"},
            "template": template,
        },
    }
    digest = hashlib.sha256(json.dumps(body["spec"], sort_keys=True).encode()).hexdigest()[:16]
    body["metadata"]["annotations"][HASH_ANN] = digest
    return body


def owner_ref(isvc):
    meta = isvc["metadata"]
    return {"apiVersion": ISVC_API, "kind": "InferenceService", "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def service(isvc, port=8080):
    meta = isvc["metadata"]
    name = meta["name"]
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "%s-predictor" % name, "namespace": meta["namespace"],
                     "labels": {ISVC_LABEL: name, "app": "isvc.%s-predictor" % name},
                     "ownerReferences": [owner_ref(isvc)]},
        "spec": {"selector": {"app": "isvc.%s-predictor" % name},
                 "ports": [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}]},
    }


def route(isvc):
    meta = isvc["metadata"]
    name, ns = meta["name"], meta["namespace"]
    return {
        "apiVersion": "route.openshift.io/v1", "kind": "Route",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {ISVC_LABEL: name},
                     "ownerReferences": [owner_ref(isvc)]},
        "spec": {"host": route_host(isvc),
                 "to": {"kind": "Service", "name": "%s-predictor" % name, "weight": 100},
                 "port": {"targetPort": "http"},
                 "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
                 "wildcardPolicy": "None"},
    }


def route_host(isvc):
    meta = isvc["metadata"]
    return "%s-%s.apps.lab.local" % (meta["name"], meta["namespace"])


def container_port(runtime):
    for c in (runtime.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("containerPort"):
                return int(p["containerPort"])
    return 8080
