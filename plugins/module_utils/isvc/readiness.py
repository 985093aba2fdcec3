# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When is a KServe InferenceService in raw deployment mode ready, and when can it never be?

Pure functions of the InferenceService, its predictor Deployment and its pods (dicts as the API
returns them), unit-tested without a cluster; `isvc_wait.Waiter` feeds them from watches.

What KServe (v0.15 and the OpenShift AI 3.0 fork alike) guarantees in raw mode, and what not:
- `status.observedGeneration` is the predictor Deployment's `status.observedGeneration`, not the
  InferenceService's (pkg/apis/serving/v1beta1/inference_service_status.go PropagateRawStatus,
  kserve/kserve#6081): it says nothing about whether the current spec was reconciled.
- `PredictorReady`/`Ready` copy the Deployment's `Available` condition, which stays True during a
  RollingUpdate (kserve/kserve#4626): a changed spec can be Ready on the old pod.
- KServe's InferenceService controller watches Deployments and Services, not pods: a failing
  storage initializer reaches `modelStatus` only at the next reconcile; a pod the pod webhook
  refuses shows only in the Deployment's `ReplicaFailure` condition.
So a spec is served when KServe has written it into the predictor Deployment (`reflects`), that
Deployment's rollout is complete (`rollout`, as `kubectl rollout status` decides) and Ready is
True. An unchanged spec passes at once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.quantity import quantity

ISVC_LABEL = "serving.kserve.io/inferenceservice"
MAIN_CONTAINER = "kserve-container"
STORAGE_INITIALIZER = "storage-initializer"
# Container states a kubelet does not leave without a change of the pod or its inputs.
STUCK_WAITING = ("CrashLoopBackOff", "CreateContainerConfigError", "InvalidImageName",
                 "ErrImageNeverPull")


def deployment_name(name):
    """The predictor Deployment KServe creates for an InferenceService in raw mode."""
    return name + "-predictor"


def raw_mode(isvc):
    status = (isvc or {}).get("status") or {}
    annotations = ((isvc or {}).get("metadata") or {}).get("annotations") or {}
    mode = status.get("deploymentMode") or annotations.get("serving.kserve.io/deploymentMode")
    return mode in (None, "", "RawDeployment", "Standard")


def conditions(obj):
    return dict((c.get("type"), c) for c in ((obj or {}).get("status") or {}).get("conditions") or []
                if isinstance(c, dict))


def _container(pod_spec, name):
    for c in (pod_spec or {}).get("containers") or []:
        if c.get("name") == name:
            return c
    return None


def _model(isvc):
    predictor = ((isvc.get("spec") or {}).get("predictor")) or {}
    return predictor.get("model") or _container(predictor, MAIN_CONTAINER) or {}


def _resources_differ(want, have):
    for kind in ("requests", "limits"):
        for key, value in ((want or {}).get(kind) or {}).items():
            got = ((have or {}).get(kind) or {}).get(key)
            if got is None or quantity(value) != quantity(got):
                return "%s.%s is %s, the InferenceService asks %s" % (kind, key, got, value)
    return None


def reflects(isvc, dep):
    """(True, '') when the predictor Deployment carries what the InferenceService's spec says
    (KServe has reconciled it), else (False, the first difference)."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    template = ((dep.get("spec") or {}).get("template")) or {}
    pod_spec = template.get("spec") or {}
    main = _container(pod_spec, MAIN_CONTAINER)
    if main is None:
        return False, "its pod template has no %s container" % MAIN_CONTAINER
    model = _model(isvc)
    args = [str(a) for a in model.get("args") or []]
    have_args = [str(a) for a in main.get("args") or []]
    if args and have_args[-len(args):] != args:
        return False, "its container args are %s, the InferenceService asks %s" % (have_args, args)
    have_env = dict((e.get("name"), e.get("value")) for e in main.get("env") or [])
    for e in model.get("env") or []:
        if "value" in e and have_env.get(e.get("name")) != e.get("value"):
            return False, "its container env %s differs" % e.get("name")
    why = _resources_differ(model.get("resources"), main.get("resources"))
    if why:
        return False, "its container resources differ: " + why
    labels = (template.get("metadata") or {}).get("labels") or {}
    for key, value in (((isvc.get("metadata") or {}).get("labels")) or {}).items():
        if labels.get(key) != value:
            return False, "its pod template label %s is %r, the InferenceService has %r" % (
                key, labels.get(key), value)
    selector = pod_spec.get("nodeSelector") or {}
    for key, value in (predictor.get("nodeSelector") or {}).items():
        if selector.get(key) != value:
            return False, "its nodeSelector %s is %r, the InferenceService asks %r" % (
                key, selector.get(key), value)
    tolerations = pod_spec.get("tolerations") or []
    for tol in predictor.get("tolerations") or []:
        if tol not in tolerations:
            return False, "its tolerations lack %s" % tol
    strategy = (predictor.get("deploymentStrategy") or {}).get("type")
    have_strategy = ((dep.get("spec") or {}).get("strategy") or {}).get("type") or "RollingUpdate"
    if strategy and strategy != have_strategy:
        return False, "its strategy is %s, the InferenceService asks %s" % (have_strategy, strategy)
    account = predictor.get("serviceAccountName")
    if account and pod_spec.get("serviceAccountName") != account:
        return False, "its serviceAccountName is %s, the InferenceService asks %s" % (
            pod_spec.get("serviceAccountName"), account)
    return True, ""


def rollout(dep):
    """(True, '') when the Deployment's rollout is complete (kubectl rollout status), else
    (False, what it waits for)."""
    meta = dep.get("metadata") or {}
    status = dep.get("status") or {}
    name = meta.get("name")
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, "the Deployment controller has not seen generation %s of %s yet" % (
            meta.get("generation"), name)
    desired = (dep.get("spec") or {}).get("replicas")
    desired = 1 if desired is None else desired
    updated = status.get("updatedReplicas") or 0
    total = status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < desired:
        return False, "%s of %d pods of %s run the current pod template" % (updated, desired, name)
    if total > updated:
        return False, ("%s is rolling out: %d old pod(s) still run beside the %d new one(s)"
                       % (name, total - updated, updated))
    if available < updated:
        return False, "%d of %d new pods of %s are available" % (available, updated, name)
    return True, ""


def _current_pods(dep, pods):
    """Pods of the Deployment's current pod template (same kserve-container args), not deleting."""
    main = _container((((dep or {}).get("spec") or {}).get("template") or {}).get("spec"), MAIN_CONTAINER) or {}
    out = []
    for pod in pods or []:
        if ((pod.get("metadata") or {}).get("deletionTimestamp")):
            continue
        pod_main = _container(pod.get("spec"), MAIN_CONTAINER) or {}
        if [str(a) for a in pod_main.get("args") or []] == [str(a) for a in main.get("args") or []]:
            out.append(pod)
    return out


def _pod_failure(pod):
    name = (pod.get("metadata") or {}).get("name")
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        last = (cs.get("lastState") or {}).get("terminated") or state.get("terminated") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        failed_init = (cs.get("name") == STORAGE_INITIALIZER and
                       (state.get("terminated") or {}).get("reason") == "Error")
        if waiting in STUCK_WAITING or failed_init:
            what = "the storage initializer" if cs.get("name") == STORAGE_INITIALIZER else \
                "container %s" % cs.get("name")
            text = "%s of pod %s is %s" % (what, name, waiting or "terminated")
            if last:
                message = " ".join(str(last.get("message") or "").split())
                text += " (exit code %s%s)" % (last.get("exitCode"), ": " + message if message else "")
            elif (state.get("waiting") or {}).get("message"):
                text += " (%s)" % state["waiting"]["message"]
            return text
    return None


def terminal_failure(isvc, dep=None, pods=()):
    """A sentence when the InferenceService's current spec can never become ready, else None.

    Terminal: KServe's InvalidSpec; a model load failure KServe recorded once it reconciled the
    current spec; pods the ReplicaSet cannot create (the Deployment's ReplicaFailure, e.g. a pod
    webhook refusing them); a pod of the current template whose storage initializer failed or
    whose container is stuck (CrashLoopBackOff, missing Secret or ConfigMap, bad image name).
    """
    if not isvc:
        return None
    ms = ((isvc.get("status") or {}).get("modelStatus")) or {}
    info = ms.get("lastFailureInfo") or {}
    detail = ""
    if info.get("reason") or info.get("message"):
        detail = ": %s: %s" % (info.get("reason") or "failure", " ".join(str(info.get("message") or "no message").split()))
        if info.get("exitCode") is not None:
            detail += " (exit code %s)" % info["exitCode"]
    if ms.get("transitionStatus") == "InvalidSpec":
        return "KServe finds its spec invalid (transitionStatus InvalidSpec)%s" % detail
    if not raw_mode(isvc) or dep is None:
        return None
    current, _why = reflects(isvc, dep)
    if not current:
        return None
    states = ms.get("states") or {}
    if ms.get("transitionStatus") == "BlockedByFailedLoad" or (
            "FailedToLoad" in (states.get("activeModelState"), states.get("targetModelState")) and info):
        return "the model failed to load (transitionStatus %s)%s" % (ms.get("transitionStatus"), detail)
    failure = conditions(dep).get("ReplicaFailure") or {}
    if failure.get("status") == "True":
        return "its predictor pods cannot be created: %s: %s" % (
            failure.get("reason"), " ".join(str(failure.get("message") or "").split()))
    for pod in _current_pods(dep, pods):
        text = _pod_failure(pod)
        if text:
            return text
    return None


def readiness(isvc, dep=None, pods=()):
    """(ready, why not) of an InferenceService given its predictor Deployment and pods."""
    if not isvc:
        return False, "it does not exist"
    meta = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    if meta.get("deletionTimestamp"):
        return False, "it is being deleted"
    if not status:
        return False, "it has no status yet (KServe has not reconciled it)"
    ready = conditions(isvc).get("Ready")
    if raw_mode(isvc):
        name = deployment_name(meta.get("name"))
        if dep is None:
            return False, "its predictor Deployment %s does not exist yet" % name
        current, why = reflects(isvc, dep)
        if not current:
            return False, "KServe has not applied its current spec to %s yet (%s)" % (name, why)
        done, why = rollout(dep)
        if not done:
            return False, why
    elif status.get("observedGeneration") != meta.get("generation"):
        return False, ("Ready was observed at generation %s but the spec is at generation %s"
                       % (status.get("observedGeneration"), meta.get("generation")))
    if ready is None:
        return False, "it has no Ready condition yet"
    if ready.get("status") != "True":
        detail = ": ".join(x for x in (ready.get("reason"), ready.get("message")) if x)
        return False, "Ready is %s%s" % (ready.get("status"), " (%s)" % detail if detail else "")
    return True, "Ready"


def internal_url(isvc, service=None, dep=None):
    """The URL a client inside the cluster reaches the predictor at.

    KServe reports `status.address.url` as the predictor Service's name without a port (the odh
    fork as http://, upstream with its urlScheme). OpenShift AI 3.0 makes that Service headless
    (opendatahub-operator kserve_support.go serviceClusterIPNone), and a headless name resolves to
    the pod IPs: port 80 there reaches nothing, the container port (8080) reaches vLLM. A
    ClusterIP Service maps its own port. None when KServe reported no address."""
    address = (((isvc or {}).get("status") or {}).get("address") or {}).get("url")
    if not address:
        return None
    host = address.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    ports = ((service or {}).get("spec") or {}).get("ports") or []
    if not ports:
        return address
    port = ports[0]
    target = port.get("targetPort")
    if not isinstance(target, int) and not str(target).isdigit():
        main = _container((((dep or {}).get("spec") or {}).get("template") or {}).get("spec"), MAIN_CONTAINER) or {}
        named = [p.get("containerPort") for p in main.get("ports") or [] if p.get("name") == target]
        target = named[0] if named else None
    headless = ((service or {}).get("spec") or {}).get("clusterIP") == "None"
    number = int(target) if headless and target is not None else int(port.get("port") or 80)
    scheme = "https" if port.get("name") == "https" or number in (443, 8443) else "http"
    return "%s://%s:%d" % (scheme, host, number)


def summary(name, isvc, seconds_to_ready=None, ready=False, service=None, dep=None):
    """The per-InferenceService result entry of the module (isvc None: not found)."""
    isvc = isvc or {}
    meta = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    return {
        "name": name,
        "ready": bool(ready),
        "url": status.get("url"),
        "internal_url": internal_url(isvc, service, dep),
        "address_url": (status.get("address") or {}).get("url"),
        "seconds_to_ready": seconds_to_ready if ready else None,
        "generation": meta.get("generation"),
        "observed_generation": status.get("observedGeneration"),
    }
