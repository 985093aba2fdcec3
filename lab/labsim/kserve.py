"""KServe RawDeployment simulator: InferenceService -> runtime, storage check, predictor
Deployment/Service/Route, a vllm_sim per ready predictor, and the InferenceService status."""

import json
import threading
import time

from kubernetes.client.rest import ApiException

from . import kube, predictor, profile, storage
from . import sims as sims_mod

GROUP, VERSION = "serving.kserve.io", "v1beta1"
LATENCY_ANN = "lab.private-ai.io/latency"


def _null_missing(old, new):
    """A merge patch turning old into new: keys only in old become None."""
    out = dict(new)
    for key, val in (old or {}).items():
        if key not in new:
            out[key] = None
        elif isinstance(val, dict) and isinstance(new[key], dict):
            out[key] = _null_missing(val, new[key])
    return out


def _strip_times(obj):
    if isinstance(obj, dict):
        return {k: _strip_times(v) for k, v in obj.items()
                if k not in ("lastTransitionTime", "time")}
    if isinstance(obj, list):
        return [_strip_times(v) for v in obj]
    return obj


def _ready_reason(status):
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("reason") or cond.get("status")
    return None


class KServeController(kube.Controller):
    name = "kserve"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.isvcs = ctx.informer("inferenceservices")
        self.runtimes = ctx.informer("servingruntimes")
        self.deps = ctx.informer("predictor-deployments")
        self.pods = ctx.informer("predictor-pods")
        self.workloads = ctx.informer("workloads")
        self.sims = ctx.sims
        self.storage_ok = {}  # key -> (generation, uri)
        self.ensured = {}  # (uid, exposed) -> monotonic time Service/Route were ensured
        self.isvcs.add_handler(lambda t, o: self.queue.add(kube.key_of(o)))
        self.runtimes.add_handler(self._on_runtime)
        for inf in (self.deps, self.pods):
            inf.add_handler(self._on_owned)

    def informers(self):
        return [self.isvcs, self.runtimes, self.deps, self.pods, self.workloads]

    def start(self):
        super().start()
        threading.Thread(target=self._watch_sims, name="kserve-sims", daemon=True).start()

    def _watch_sims(self):
        """A sim that dies (killed, crashed) gets its InferenceService reconciled at once."""
        while True:
            time.sleep(1.0)
            for key, pid in self.sims.pids():
                if not sims_mod.alive(pid):
                    self.queue.add(key)

    def resync_keys(self):
        return [kube.key_of(o) for o in self.isvcs.list()] + self.sims.keys()

    def _on_runtime(self, etype, rt):
        ns = rt["metadata"]["namespace"]
        for isvc in self.isvcs.list():
            if isvc["metadata"]["namespace"] == ns:
                self.queue.add(kube.key_of(isvc))

    def _on_owned(self, etype, obj):
        name = (obj["metadata"].get("labels") or {}).get(predictor.ISVC_LABEL)
        if name:
            self.queue.add("%s/%s" % (obj["metadata"]["namespace"], name))

    # -- reconcile ----------------------------------------------------------------------------
    def reconcile(self, key):
        isvc = self.isvcs.get(key)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            if key in self.sims.keys():
                self.log.info("InferenceService %s is gone", key)
            self.sims.stop(key, release=isvc is None)
            self.storage_ok.pop(key, None)
            return
        ns, name = key.split("/", 1)
        gen = isvc["metadata"].get("generation", 1)
        runtimes = [r for r in self.runtimes.list() if r["metadata"]["namespace"] == ns]
        try:
            runtime = predictor.select_runtime(isvc, runtimes)
        except predictor.RuntimeError_ as exc:
            self.sims.stop(key)
            self._write_failure(isvc, "InvalidSpec", "FailedToLoad", exc.reason, str(exc))
            return
        uri = self._check_storage(key, isvc, gen)
        if uri is None:
            self.queue.add(key, 10.0)  # weights may be uploaded later
            return
        prof = profile.compute(predictor.model_spec(isvc).get("args"), self.ctx.latency(),
                               uri)
        self._annotate(isvc, prof)
        desired = predictor.deployment(isvc, runtime, uri)
        spec_hash = desired["metadata"]["annotations"][predictor.HASH_ANN]
        self._apply_deployment(desired)
        self._ensure_service_route(isvc, predictor.container_port(runtime))
        want = predictor.replicas(isvc)
        ready, reason, message = self._predictor_ready(isvc, spec_hash, want)
        rec = self.sims.get(key)
        if rec and (rec["hash"] != spec_hash or rec["generation"] != gen):
            self.sims.stop(key)
            rec = None
        if not ready:
            self.sims.stop(key)
            self._write_progress(isvc, reason, message, "Pending")
            return
        if rec is None:
            rec = self.sims.start(key, spec_hash, gen, name, prof)
        if not self.sims.healthy(rec):
            self._write_progress(isvc, "ModelLoading", "vLLM is loading the model (lab load time "
                                 "%ss)" % prof["ready_delay_s"], "Loading")
            self.queue.add(key, 0.2)
            return
        self._write_ready(isvc, rec, want)

    def _check_storage(self, key, isvc, gen):
        cached = self.storage_ok.get(key)
        if cached and cached[0] == gen:
            return cached[1]
        try:
            uri = storage.check(isvc, self._read_secret)
        except storage.StorageError as exc:
            self.sims.stop(key)
            self._write_failure(isvc, "BlockedByFailedLoad", "FailedToLoad", "ModelLoadFailed",
                                str(exc), exit_code=1)
            return None
        self.storage_ok[key] = (gen, uri)
        return uri

    def _read_secret(self, ns, name):
        try:
            return self.api_client.sanitize_for_serialization(
                self.core.read_namespaced_secret(name, ns))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _annotate(self, isvc, prof):
        value = json.dumps(prof, sort_keys=True)
        if (isvc["metadata"].get("annotations") or {}).get(LATENCY_ANN) != value:
            meta = isvc["metadata"]
            self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, meta["namespace"], "inferenceservices", meta["name"],
                {"metadata": {"annotations": {LATENCY_ANN: value}}})

    def _apply_deployment(self, desired):
        meta = desired["metadata"]
        current = self.deps.get("%s/%s" % (meta["namespace"], meta["name"]))
        if current and (current["metadata"].get("annotations") or {}).get(
                predictor.HASH_ANN) == meta["annotations"][predictor.HASH_ANN]:
            return
        try:
            live = self.apps.read_namespaced_deployment(meta["name"], meta["namespace"])
        except ApiException as exc:
            if exc.status != 404:
                raise
            self.apps.create_namespaced_deployment(meta["namespace"], desired)
            self.log.info("created Deployment %s/%s", meta["namespace"], meta["name"])
            return
        if (live.metadata.annotations or {}).get(predictor.HASH_ANN) == \
                meta["annotations"][predictor.HASH_ANN]:
            return
        desired["metadata"]["resourceVersion"] = live.metadata.resource_version
        self.apps.replace_namespaced_deployment(meta["name"], meta["namespace"], desired)
        self.log.info("updated Deployment %s/%s", meta["namespace"], meta["name"])

    def _ensure_service_route(self, isvc, port):
        exposed = (isvc["metadata"].get("labels") or {}).get(
            "networking.kserve.io/visibility") == "exposed"
        memo = (isvc["metadata"]["uid"], exposed)
        if time.monotonic() - self.ensured.get(memo, -1e9) < 30:
            return  # done recently; resync re-checks every 30 s
        self._ensure_service_route_now(isvc, port, exposed)
        self.ensured[memo] = time.monotonic()

    def _ensure_service_route_now(self, isvc, port, exposed):
        ns = isvc["metadata"]["namespace"]
        svc = predictor.service(isvc, port)
        try:
            self.core.create_namespaced_service(ns, svc)
        except ApiException as exc:
            if exc.status != 409:
                raise
        name = isvc["metadata"]["name"]
        if exposed:
            try:
                self.custom.create_namespaced_custom_object(
                    "route.openshift.io", "v1", ns, "routes", predictor.route(isvc))
                self.custom.patch_namespaced_custom_object_status(
                    "route.openshift.io", "v1", ns, "routes", name, {"status": {"ingress": [{
                        "host": predictor.route_host(isvc), "routerName": "default",
                        "wildcardPolicy": "None",
                        "conditions": [{"type": "Admitted", "status": "True",
                                        "lastTransitionTime": kube.now()}]}]}})
            except ApiException as exc:
                if exc.status != 409:
                    raise
        else:
            kube.ignore_404(self.custom.delete_namespaced_custom_object,
                            "route.openshift.io", "v1", ns, "routes", name)

    def _predictor_ready(self, isvc, spec_hash, want):
        """(ready, reason, message) for the predictor Deployment of the current spec."""
        ns, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        dep = self.deps.get("%s/%s-predictor" % (ns, name))
        if dep is None or (dep["metadata"].get("annotations") or {}).get(
                predictor.HASH_ANN) != spec_hash:
            return False, "PredictorUpdating", "Waiting for the predictor Deployment to be updated"
        st = dep.get("status") or {}
        if (st.get("observedGeneration") or 0) >= dep["metadata"].get("generation", 1) and \
                (st.get("updatedReplicas") or 0) >= want and \
                (st.get("readyReplicas") or 0) >= want and (st.get("replicas") or 0) == want:
            return True, "", ""
        return (False,) + self._pod_problem(ns, name, want)

    def _pod_problem(self, ns, name, want):
        pods = [p for p in self.pods.list() if p["metadata"]["namespace"] == ns
                and (p["metadata"].get("labels") or {}).get(predictor.ISVC_LABEL) == name
                and not p["metadata"].get("deletionTimestamp")]
        if not pods:
            return "PodsNotCreated", "Waiting for the predictor Deployment to create pods"
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            pname = pod["metadata"]["name"]
            spec, st = pod.get("spec") or {}, pod.get("status") or {}
            gates = [g["name"] for g in spec.get("schedulingGates") or []]
            if gates:
                return "SchedulingGated", "pod %s is gated by %s%s" % (
                    pname, ", ".join(gates), self._workload_note(ns, name))
            for cond in st.get("conditions") or []:
                if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                    return cond.get("reason") or "Unschedulable", "pod %s: %s" % (
                        pname, cond.get("message", "not scheduled"))
            if st.get("phase") != "Running":
                return "PodPending", "pod %s is %s" % (pname, st.get("phase") or "Pending")
        return "PodsNotReady", "%d of %d predictor pods are not ready yet" % (len(pods), want)

    def _workload_note(self, ns, name):
        wl = self.workloads.get("%s/%s-predictor" % (ns, name))
        for cond in ((wl or {}).get("status") or {}).get("conditions") or []:
            if cond.get("type") == "QuotaReserved" and cond.get("status") == "False":
                return " (Kueue Workload %s-predictor: %s)" % (name, cond.get("message"))
        return ""

    # -- status -------------------------------------------------------------------------------
    def _conditions(self, isvc, ready, reason="", message="", ingress=True):
        old = (isvc.get("status") or {}).get("conditions")
        conds = kube.set_condition(old, "IngressReady", "True" if ingress else "False",
                                   "" if ingress else reason, "" if ingress else message)
        for ctype in ("PredictorReady", "Ready"):
            conds = kube.set_condition(conds, ctype, "True" if ready else "False",
                                       "" if ready else reason, "" if ready else message)
        for c in conds:  # KServe leaves empty reason/message out
            for k in ("reason", "message"):
                if not c.get(k):
                    c.pop(k, None)
        return sorted(conds, key=lambda c: c["type"])

    def _write_status(self, isvc, status):
        old = isvc.get("status") or {}
        status["observedGeneration"] = isvc["metadata"].get("generation", 1)
        status.setdefault("deploymentMode", "RawDeployment")
        if _strip_times(old) == _strip_times(status):
            return
        meta = isvc["metadata"]
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], "inferenceservices", meta["name"],
            {"status": _null_missing(old, status)})
        ms = status.get("modelStatus", {})
        summary = (status["observedGeneration"], ms.get("transitionStatus"),
                   _ready_reason(status), (ms.get("lastFailureInfo") or {}).get("reason", ""))
        old_ms = old.get("modelStatus") or {}
        if summary != (old.get("observedGeneration"), old_ms.get("transitionStatus"),
                       _ready_reason(old), (old_ms.get("lastFailureInfo") or {}).get("reason", "")):
            self.log.info("InferenceService %s/%s gen %s: %s %s %s", meta["namespace"],
                          meta["name"], *summary)

    def _addresses(self, isvc):
        meta = isvc["metadata"]
        return {"address": {"url": "http://%s-predictor.%s.svc.cluster.local" % (
            meta["name"], meta["namespace"])}}

    def _write_failure(self, isvc, transition, state, reason, message, exit_code=None):
        info = {"reason": reason, "message": message, "time": kube.now()}
        if exit_code is not None:
            info["exitCode"] = exit_code
        status = {"conditions": self._conditions(isvc, False, reason, message,
                                                 ingress=transition != "InvalidSpec"),
                  "modelStatus": {"transitionStatus": transition,
                                  "states": {"activeModelState": state,
                                             "targetModelState": state},
                                  "lastFailureInfo": info}}
        old_info = ((isvc.get("status") or {}).get("modelStatus") or {}).get("lastFailureInfo")
        if old_info and old_info.get("message") == message:
            info["time"] = old_info.get("time", info["time"])
        self._write_status(isvc, status)

    def _write_progress(self, isvc, reason, message, active):
        status = dict(self._addresses(isvc))
        status["conditions"] = self._conditions(isvc, False, reason, message)
        status["modelStatus"] = {"transitionStatus": "InProgress",
                                 "states": {"activeModelState": active,
                                            "targetModelState": "Loading"}}
        self._write_status(isvc, status)

    def _write_ready(self, isvc, rec, copies):
        url = "http://127.0.0.1:%d" % rec["port"]
        status = dict(self._addresses(isvc))
        status.update({
            "url": url,
            "conditions": self._conditions(isvc, True),
            "modelStatus": {"transitionStatus": "UpToDate",
                            "states": {"activeModelState": "Loaded",
                                       "targetModelState": "Loaded"},
                            "copies": {"failedCopies": 0, "totalCopies": copies}},
            "components": {"predictor": {"url": url, "restUrl": url,
                                         "address": self._addresses(isvc)["address"]}},
        })
        self._write_status(isvc, status)
