"""What happens inside a predictor pod, in place of a kubelet and the pod's containers.

KServe creates the predictor Deployment, kube-controller-manager its ReplicaSet and pods, KServe's
pod webhook injects the storage initializer, Kueue gates and admits the pods, kube-scheduler binds
them to kwok's GPU nodes. From there a kubelet would run the containers; the lab has none, so for
every bound pod labelled `serving.kserve.io/inferenceservice` this controller plays the kubelet:

- the `storage-initializer` init container does what kserve v0.15.2
  `python/kserve/kserve/storage/storage.py` does for an s3:// URI (`_update_with_storage_spec`,
  `_download_s3`): credentials and endpoint from the STORAGE_CONFIG JSON (a secretKeyRef on the
  `storage-config` Secret) merged with STORAGE_OVERRIDE_CONFIG, then a listing of the bucket with
  the URI's path as a plain prefix. No object, or an S3 error, fails the container (exit code 1,
  the error as its termination message, as terminationMessagePolicy FallbackToLogsOnError gives
  the log's last lines) and the kubelet restarts it with CrashLoopBackOff back-off;
- `kserve-container` (vLLM) is the lab's OpenAI-compatible simulator (vllm_sim.py), one process per
  pod, started with the container's own args; the pod is Ready once its /health answers, and a
  simulator that dies is a container restart;
- `kube-rbac-proxy` (the sidecar OpenShift AI's KServe adds for `security.opendatahub.io/enable-auth`,
  odh_auth.py) is the real kube-rbac-proxy in front of that simulator (rbac_proxy.py); the pod is
  Ready once its /healthz answers too.

kwok does this for every other pod (lab/kwok/stages.yaml leaves predictor pods to this controller).
Pod IPs come from 10.245.0.0/16; the lab's network (network.py) maps <pod IP>:<container port> to
the simulator's loopback port.
"""

import base64
import fnmatch
import hashlib
import json
import os
import posixpath
import re
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from kubernetes.client.rest import ApiException

from . import kube, odh_auth, profile, rbac_proxy
from .network import issue

ISVC_LABEL = "serving.kserve.io/inferenceservice"
INIT = "storage-initializer"
MAIN = "kserve-container"
LATENCY_ANN = "lab.private-ai.io/latency"
# The kubelet's container restart back-off (pkg/kubelet/kubelet.go: 10 s doubling up to 5 min).
BACKOFF_FIRST_S = 10.0
BACKOFF_MAX_S = 300.0


def container(pod, name, init=False):
    for c in (pod.get("spec") or {}).get("initContainers" if init else "containers") or []:
        if c.get("name") == name:
            return c
    return None


def flag(args, name):
    """The value of --name=value or --name value in a container's args, else None."""
    args = [str(a) for a in args or []]
    for i, arg in enumerate(args):
        if arg.startswith("--%s=" % name):
            return arg.split("=", 1)[1]
        if arg == "--" + name and i + 1 < len(args):
            return args[i + 1]
    return None


def container_port(pod):
    main = container(pod, MAIN) or {}
    for port in main.get("ports") or []:
        if port.get("containerPort"):
            return int(port["containerPort"])
    return int(flag(main.get("args"), "port") or 8080)


def pod_ip(uid, taken):
    """A stable pod IP in 10.245.0.0/16 for a pod uid, avoiding the ones taken."""
    n = int(hashlib.sha256(uid.encode()).hexdigest(), 16)
    for i in range(65534):
        k = (n + i) % 65534 + 1
        ip = "10.245.%d.%d" % (k // 256, k % 256)
        if ip not in taken and not ip.endswith(".0") and not ip.endswith(".255"):
            return ip
    raise RuntimeError("no free pod IP in 10.245.0.0/16")


class StorageFailure(Exception):
    """The storage initializer's exit: str() is its termination message (the log's last line)."""


def run_storage_initializer(init, env_value):
    """Do the storage initializer's S3 listing; return (uri, objects, bytes) or raise StorageFailure.

    env_value(env_entry) resolves a container env entry (value or secretKeyRef) to a string."""
    args = init.get("args") or []
    uri = str(args[0]) if args else ""
    env = {e["name"]: env_value(e) for e in init.get("env") or [] if e.get("name")}
    config = json.loads(env.get("STORAGE_CONFIG") or "{}")
    config.update(json.loads(env.get("STORAGE_OVERRIDE_CONFIG") or "{}"))
    if not uri.startswith("s3://"):
        raise StorageFailure("ValueError: Cannot recognize storage type for %s" % uri)
    if config.get("type", "") != "s3":
        raise StorageFailure("botocore.exceptions.NoCredentialsError: Unable to locate credentials")
    bucket, _, path = uri[len("s3://"):].partition("/")
    path = path.lstrip("/")
    verify = str(config.get("verify_ssl", "")).lower() not in ("0", "false")
    s3 = boto3.client(
        "s3", endpoint_url=config.get("endpoint_url") or None,
        region_name=config.get("region") or "us-east-1",
        aws_access_key_id=config.get("access_key_id"),
        aws_secret_access_key=config.get("secret_access_key"),
        verify=verify,
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10,
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
    keys, size = [], 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=path):
            for obj in page.get("Contents") or []:
                if not obj["Key"].endswith("/"):
                    keys.append(obj["Key"])
                    size += int(obj.get("Size") or 0)
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise StorageFailure("botocore.exceptions.ClientError: An error occurred (%s) when calling "
                             "the ListObjects operation: %s" % (err.get("Code"), err.get("Message")))
    except BotoCoreError as exc:
        raise StorageFailure("botocore.exceptions.%s: %s" % (type(exc).__name__, exc))
    if not keys:
        raise StorageFailure("RuntimeError: Failed to fetch model. No model found in %s." % path)
    # storage.py strips the path prefix: what /mnt/models holds
    files = [re.sub("^" + re.escape(path) + "/?", "", k) for k in keys]
    return uri, files, size


def vllm_startup_error(args, files):
    """What vLLM says when its flags do not match the files in /mnt/models (None: it loads).

    vLLM's loaders: --load-format mistral reads consolidated*.safetensors, --config-format mistral
    params.json, --tokenizer-mode mistral tekken.json or tokenizer.model.v*; the default (auto)
    format reads config.json and the safetensors or .bin shards."""
    names = [posixpath.basename(f) for f in files]

    def has(*patterns):
        return any(fnmatch.fnmatch(n, p) for n in names for p in patterns)

    if flag(args, "load-format") == "mistral":
        if not has("consolidated*.safetensors"):
            return "RuntimeError: Cannot find any model weights with `/mnt/models`"
    elif not has("*.safetensors", "*.bin"):
        return "RuntimeError: Cannot find any model weights with `/mnt/models`"
    if flag(args, "config-format") == "mistral":
        if not has("params.json"):
            return "FileNotFoundError: [Errno 2] No such file or directory: '/mnt/models/params.json'"
    elif not has("config.json"):
        return "OSError: /mnt/models does not appear to have a file named config.json."
    if flag(args, "tokenizer-mode") == "mistral" and not has("tekken.json", "tokenizer.model.v*"):
        return "FileNotFoundError: Found 0 files matching the pattern: tekken.json or tokenizer.model.v* in /mnt/models"
    return None


class PodRuntime(kube.Controller):
    """Runs the containers of bound predictor pods (one reconcile per pod key)."""

    name = "pods"
    resync_seconds = 5.0

    def __init__(self, ctx):
        super().__init__(ctx)
        self.pods = ctx.informer("predictor-pods")
        self.sims = ctx.sims
        self.proxies = rbac_proxy.ProxyManager(ctx.state_dir, self.log)
        self.state = {}   # pod key -> {"uid", "ip", "init": {...}, "restarts", "next_try", ...}
        self.lock = threading.Lock()
        self.pods.add_handler(lambda t, o: self.queue.add(kube.key_of(o)))

    def informers(self):
        return [self.pods]

    def resync_keys(self):
        return [kube.key_of(p) for p in self.pods.list()] + self.sims.keys()

    def endpoints(self):
        """{(pod IP, container port): sim port} of every pod whose simulator runs."""
        out = {}
        with self.lock:
            items = list(self.state.items())
        for key, st in items:
            rec = self.sims.get(key)
            if rec and st.get("ip"):
                out[(st["ip"], st["port"])] = rec["port"]
                proxy = self.proxies.get(key)
                if proxy:
                    out[(st["ip"], odh_auth.PROXY_PORT)] = proxy["port"]
        return out

    # -- reconcile ----------------------------------------------------------------------------
    def reconcile(self, key):
        pod = self.pods.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            self._forget(key, gone=pod is None)
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            return  # gated by Kueue or not scheduled yet: nothing runs
        uid = pod["metadata"]["uid"]
        with self.lock:
            st = self.state.get(key)
            if st is None or st["uid"] != uid:
                taken = {s.get("ip") for s in self.state.values()}
                st = {"uid": uid, "ip": self._existing_ip(pod) or pod_ip(uid, taken),
                      "port": container_port(pod), "init_done": False, "init_restarts": 0,
                      "main_restarts": 0, "next_try": 0.0, "failure": None, "started": kube.now()}
                self.state[key] = st
        if not st["init_done"] and container(pod, INIT, init=True) is not None:
            self._run_init(key, pod, st)
            return
        st["init_done"] = True
        self._run_main(key, pod, st)

    def _existing_ip(self, pod):
        ip = (pod.get("status") or {}).get("podIP")
        return ip if ip and ip.startswith("10.245.") else None

    def _forget(self, key, gone):
        self.proxies.stop(key)
        self.sims.stop(key, release=gone)
        with self.lock:
            self.state.pop(key, None)

    def _run_init(self, key, pod, st):
        now = time.monotonic()
        if now < st["next_try"]:
            self._write(pod, st, phase="Pending", init_state=self._init_waiting(st))
            self.queue.add(key, st["next_try"] - now)
            return
        self._write(pod, st, phase="Pending", init_state={"running": {"startedAt": kube.now()}})
        try:
            uri, files, size = run_storage_initializer(
                container(pod, INIT, init=True),
                lambda e: self._env_value(pod["metadata"]["namespace"], e))
        except StorageFailure as exc:
            st["init_restarts"] += 1
            st["failure"] = {"exitCode": 1, "reason": "Error", "message": str(exc) + "\n",
                             "startedAt": kube.now(), "finishedAt": kube.now()}
            delay = min(BACKOFF_FIRST_S * 2 ** (st["init_restarts"] - 1), BACKOFF_MAX_S)
            st["next_try"] = time.monotonic() + delay
            self.log.info("pod %s: storage-initializer failed (%s), restart in %.0fs", key, exc,
                          delay)
            self._write(pod, st, phase="Pending", init_state={"terminated": st["failure"]})
            self.queue.add(key, 1.0)  # then CrashLoopBackOff until next_try
            return
        self.log.info("pod %s: storage-initializer found %d objects (%d bytes) at %s", key, len(files),
                      size, uri)
        st["init_done"] = True
        st["uri"] = uri
        st["files"] = files
        st["init_finished"] = kube.now()
        self._run_main(key, pod, st)

    def _init_waiting(self, st):
        return {"waiting": {"reason": "CrashLoopBackOff", "message": (
            "back-off %ds restarting failed container=%s" % (
                min(BACKOFF_FIRST_S * 2 ** (st["init_restarts"] - 1), BACKOFF_MAX_S), INIT))}}

    def _run_main(self, key, pod, st):
        main = container(pod, MAIN)
        if main is None:
            return
        args = [str(a) for a in main.get("args") or []]
        failure = vllm_startup_error(args, st.get("files") or [])
        if failure:
            self._crash(key, pod, st, failure)
            return
        meta = pod["metadata"]
        prof = profile.compute(args, self.ctx.latency(), st.get("uri", ""),
                               name=(meta.get("labels") or {}).get(ISVC_LABEL),
                               annotation=(meta.get("annotations") or {}).get(profile.ANNOTATION))
        self._annotate(pod, prof)
        rec = self.sims.get(key)
        if rec is None:
            if st.get("sim_started"):
                st["main_restarts"] += 1  # the simulator died: the kubelet restarts the container
            name = flag(args, "served-model-name") or pod["metadata"]["labels"].get(ISVC_LABEL)
            extra = ["--enable-auto-tool-choice"] if "--enable-auto-tool-choice" in args else []
            rec = self.sims.start(key, name, prof, extra)
            st["sim_started"] = kube.now()
        ready = self.sims.healthy(rec)
        sidecar = container(pod, odh_auth.PROXY)
        if sidecar is not None:
            ready = self._run_proxy(key, pod, sidecar, rec) and ready
        self._write(pod, st, phase="Running", ready=ready)
        if not ready:
            self.queue.add(key, 0.2)

    def _run_proxy(self, key, pod, sidecar, sim):
        """The kube-rbac-proxy container (rbac_proxy.py); True once its readiness probe passes."""
        proxy = self.proxies.get(key)
        if proxy is None:
            files = self._proxy_files(pod)
            if files is None:
                return False  # its ConfigMap is not there yet (the kubelet waits the same way)
            proxy = self.proxies.start(key, sidecar.get("args"), sim["port"], files)
        return self.proxies.healthy(proxy)

    def _proxy_files(self, pod):
        """What the pod's volumes and ServiceAccount give the proxy container, made for loopback."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ns, isvc = meta["namespace"], meta["labels"].get(ISVC_LABEL)
        sar = isvc + odh_auth.SAR_SUFFIX
        try:
            cm = self.core.read_namespaced_config_map(sar, ns)
        except ApiException as exc:
            if exc.status == 404:
                self.log.info("pod %s/%s: waiting for ConfigMap %s", ns, meta["name"], sar)
                return None
            raise
        sa = spec.get("serviceAccountName") or "default"
        token = self.core.create_namespaced_service_account_token(
            sa, ns, {"spec": {"expirationSeconds": 86400,
                              "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                 "name": meta["name"], "uid": meta["uid"]}}}).status.token
        svc = "%s-predictor.%s.svc" % (isvc, ns)
        cert, key = issue(os.path.join(self.ctx.state_dir, "pki"), [svc, svc + ".cluster.local"])
        server = self.core.api_client.configuration.host
        return {"cert": cert, "key": key, "config": (cm.data or {}).get("config-file.yaml", ""),
                "kubeconfig": rbac_proxy.kubeconfig(
                    server, os.path.join(self.ctx.state_dir, "pki", "ca.crt"), token)}

    def _crash(self, key, pod, st, message):
        """vLLM exits at start: the kubelet restarts it with back-off (CrashLoopBackOff)."""
        now = time.monotonic()
        if now >= st.get("main_next_try", 0):
            st["main_restarts"] += 1
            st["main_failure"] = {"exitCode": 1, "reason": "Error", "message": message + "\n",
                                  "startedAt": kube.now(), "finishedAt": kube.now()}
            st["main_next_try"] = now + min(BACKOFF_FIRST_S * 2 ** (st["main_restarts"] - 1), BACKOFF_MAX_S)
            self.log.info("pod %s: vLLM failed to start: %s", key, message)
        self._write(pod, st, phase="Running", ready=False)
        self.queue.add(key, max(1.0, st["main_next_try"] - now))

    def _annotate(self, pod, prof):
        value = json.dumps(prof, sort_keys=True)
        if (pod["metadata"].get("annotations") or {}).get(LATENCY_ANN) != value:
            kube.ignore_404(self.core.patch_namespaced_pod, pod["metadata"]["name"],
                            pod["metadata"]["namespace"],
                            {"metadata": {"annotations": {LATENCY_ANN: value}}})

    def _env_value(self, namespace, entry):
        if "value" in entry:
            return entry["value"]
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if not ref:
            return ""
        try:
            secret = self.core.read_namespaced_secret(ref["name"], namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise StorageFailure("CreateContainerConfigError: secret %r not found" % ref["name"])
            raise
        raw = (secret.data or {}).get(ref["key"])
        if raw is None:
            raise StorageFailure("CreateContainerConfigError: couldn't find key %s in Secret %s/%s"
                                 % (ref["key"], namespace, ref["name"]))
        return base64.b64decode(raw).decode()

    # -- status -------------------------------------------------------------------------------
    def _write(self, pod, st, phase, init_state=None, ready=False):
        spec = pod.get("spec") or {}
        now = kube.now()
        inits = []
        for c in spec.get("initContainers") or []:
            entry = {"name": c["name"], "image": c.get("image", ""), "imageID": "",
                     "restartCount": st["init_restarts"], "ready": False, "started": False}
            if c["name"] == INIT and init_state is not None:
                entry["state"] = init_state
                if st.get("failure") and "terminated" not in init_state:
                    entry["lastState"] = {"terminated": st["failure"]}
                elif st.get("failure") and st["init_restarts"] > 1:
                    entry["lastState"] = {"terminated": st["failure"]}
            else:
                entry["state"] = {"terminated": {"exitCode": 0, "reason": "Completed",
                                                 "startedAt": st["started"],
                                                 "finishedAt": st.get("init_finished", now)}}
            inits.append(entry)
        mains = []
        for c in spec.get("containers") or []:
            entry = {"name": c["name"], "image": c.get("image", ""), "imageID": "",
                     "restartCount": st["main_restarts"] if c["name"] == MAIN else 0}
            if phase == "Running" and c["name"] == MAIN and st.get("main_failure") and not ready:
                entry.update(ready=False, started=False, lastState={"terminated": st["main_failure"]},
                             state={"waiting": {"reason": "CrashLoopBackOff", "message": (
                                 "back-off %ds restarting failed container=%s" % (
                                     min(BACKOFF_FIRST_S * 2 ** (st["main_restarts"] - 1), BACKOFF_MAX_S), MAIN))}})
            elif phase == "Running":
                entry.update(ready=ready, started=True,
                             state={"running": {"startedAt": st.get("sim_started") or now}})
            else:
                entry.update(ready=False, started=False,
                             state={"waiting": {"reason": "PodInitializing"}})
            mains.append(entry)
        initialized = phase == "Running"
        conds = (pod.get("status") or {}).get("conditions") or []
        for ctype, value in (("PodReadyToStartContainers", True), ("Initialized", initialized),
                             ("ContainersReady", ready), ("Ready", ready)):
            extra = {}
            if not value and ctype in ("ContainersReady", "Ready"):
                extra = {"reason": "ContainersNotReady" if initialized else "ContainersNotInitialized"}
            elif not value:
                extra = {"reason": "ContainersNotInitialized"}
            conds = kube.set_condition(conds, ctype, "True" if value else "False",
                                       extra.get("reason", ""), "")
        for c in conds:
            if not c.get("reason"):
                c.pop("reason", None)
            if not c.get("message"):
                c.pop("message", None)
        node_ip = self._node_ip(spec.get("nodeName"))
        status = {"phase": phase, "conditions": conds, "initContainerStatuses": inits,
                  "containerStatuses": mains, "podIP": st["ip"], "podIPs": [{"ip": st["ip"]}],
                  "hostIP": node_ip, "hostIPs": [{"ip": node_ip}], "startTime": st["started"],
                  "qosClass": (pod.get("status") or {}).get("qosClass", "Guaranteed")}
        old = pod.get("status") or {}
        if _strip(old) == _strip(status):
            return
        kube.ignore_404(self.core.patch_namespaced_pod_status, pod["metadata"]["name"],
                        pod["metadata"]["namespace"], {"status": status})

    def _node_ip(self, node_name):
        nodes = self.ctx.informer("kwok-nodes")
        node = nodes.get(node_name) if node_name else None
        for addr in ((node or {}).get("status") or {}).get("addresses") or []:
            if addr.get("type") == "InternalIP":
                return addr["address"]
        return "10.0.0.1"


def _strip(status):
    """A pod status without timestamps, for a no-op check."""
    def walk(obj):
        if isinstance(obj, dict):
            return {k: walk(v) for k, v in obj.items()
                    if k not in ("lastTransitionTime", "lastProbeTime", "startedAt", "finishedAt",
                                 "startTime")}
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj
    return walk(status)
