"""A private kube-apiserver (+ kine) for tests and benchmarks that must own InferenceService status.

The lab's KServe reconciles every InferenceService and rewrites its status, and its
kube-controller-manager does the same for Deployments, so a test that flips `Ready` or a rollout
itself at a known instant (detection latency, a rollout in progress) or restarts the apiserver
mid-wait cannot use the shared lab without fighting them or disturbing the other engineers. This
starts the lab's own binaries (same versions, from the lab's build cache) on free loopback ports,
with a throwaway CA, token auth and only the InferenceService CRD installed: no controllers, so
status changes only when the test writes it (`set_status`, `set_deployment`, as KServe and the
Deployment controller would).
"""

import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CRD = Path(os.environ.get("LAB_SHARED_DIR") or REPO.parent / "shared") / "crds" / \
    "serving.kserve.io_inferenceservices.yaml"
KSERVE = ("serving.kserve.io", "v1beta1")


def _versions():
    out = {}
    for line in (REPO / "lab" / "versions.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def binaries():
    """(kube, kine) paths in the lab's build cache, or None when the lab was not built."""
    v = _versions()
    bin_dir = Path(os.environ.get("LAB_CACHE") or Path.home() / ".cache" / "private-ai-lab") / "bin"
    kube, kine = bin_dir / ("kube-" + v["KUBERNETES_VERSION"]), bin_dir / ("kine-" + v["KINE_VERSION"])
    if os.access(kube, os.X_OK) and os.access(kine, os.X_OK):
        return kube, kine
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


class PrivateAPIServer:
    """kine + kube-apiserver; `kubeconfig` is an admin kubeconfig verifying a private CA."""

    def __init__(self):
        found = binaries()
        if not found:
            raise RuntimeError("the lab's kube/kine binaries are not built: run `make lab-build`")
        self.kube, self.kine_bin = found
        self.dir = Path(tempfile.mkdtemp(prefix="isvc-wait-apiserver-"))
        self.kine_port, self.port = free_port(), free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.token = os.urandom(16).hex()
        self.procs = {}
        self._pki()
        self.kubeconfig = str(self.dir / "kubeconfig")
        Path(self.kubeconfig).write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "private", "cluster": {"server": self.url,
                                                         "certificate-authority": str(self.dir / "ca.crt")}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "admin@private", "context": {"cluster": "private", "user": "admin"}}],
            "current-context": "admin@private"}))
        os.chmod(self.kubeconfig, 0o600)

    def _pki(self):
        d = str(self.dir)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=isvc-wait-test-ca",
                 "-days", "2", cwd=d)
        _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver", cwd=d)
        (self.dir / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=d)
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
        (self.dir / "tokens.csv").write_text('%s,admin,admin,"system:masters"\n' % self.token)

    def _spawn(self, name, argv):
        log = open(self.dir / ("%s.log" % name), "ab")
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        log.close()

    def start_kine(self):
        self._spawn("kine", [str(self.kine_bin), "--endpoint", "sqlite://%s/state.db?_journal=WAL&cache=shared&_busy_timeout=30000" % self.dir,
                             "--listen-address", "127.0.0.1:%d" % self.kine_port,
                             "--metrics-bind-address", "127.0.0.1:%d" % free_port()])

    def start_apiserver(self):
        d = self.dir
        self._spawn("apiserver", [
            str(self.kube), "apiserver", "--etcd-servers=http://127.0.0.1:%d" % self.kine_port,
            "--secure-port=%d" % self.port, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none", "--tls-cert-file=%s" % (d / "server.crt"),
            "--tls-private-key-file=%s" % (d / "server.key"), "--client-ca-file=%s" % (d / "ca.crt"),
            "--token-auth-file=%s" % (d / "tokens.csv"), "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-account-key-file=%s" % (d / "sa.pub"),
            "--service-account-signing-key-file=%s" % (d / "sa.key"),
            "--service-cluster-ip-range=10.97.0.0/16", "--profiling=false",
            "--storage-media-type=application/vnd.kubernetes.protobuf", "-v=0"])

    def get(self, path, timeout=5):
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        req = urllib.request.Request(self.url + path, headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()

    def wait_ready(self, timeout=180):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.procs["apiserver"].poll() is not None:
                raise RuntimeError("kube-apiserver exited: %s" % self.tail())
            try:
                if self.get("/readyz", timeout=2)[0] == 200:
                    return
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
            time.sleep(0.2)
        raise RuntimeError("kube-apiserver not ready after %ss (%s): %s" % (timeout, last, self.tail()))

    def tail(self, n=20):
        path = self.dir / "apiserver.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""

    def start(self):
        try:
            self.start_kine()
            self.start_apiserver()
            self.wait_ready()
            self.install_crd()
        except BaseException:
            self.stop()  # never leave a half-started control plane behind
            raise
        return self

    def restart_apiserver(self, down_seconds=1.0):
        """Kill the apiserver (SIGKILL: every open watch drops at once), wait, start it again."""
        proc = self.procs["apiserver"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        time.sleep(down_seconds)
        self.start_apiserver()
        self.wait_ready()

    def stop(self):
        for name in ("apiserver", "kine"):
            proc = self.procs.get(name)
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)

    # -- kubernetes client helpers ---------------------------------------------------------
    def api_client(self):
        from kubernetes import client, config
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        return client.ApiClient(cfg)

    def install_crd(self):
        import yaml
        from kubernetes import client
        api = self.api_client()
        ext = client.ApiextensionsV1Api(api)
        body = yaml.safe_load(CRD.read_text())
        ext.create_custom_resource_definition(body)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            crd = ext.read_custom_resource_definition(body["metadata"]["name"])
            if any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or []):
                return
            time.sleep(0.2)
        raise RuntimeError("CRD %s not Established" % body["metadata"]["name"])

    def metric(self, name, **labels):
        """Sum of a counter/gauge in the apiserver's /metrics over series matching labels."""
        total = 0.0
        for line in self.get("/metrics", timeout=10)[1].splitlines():
            if not line.startswith(name + "{"):
                continue
            series, value = line.rsplit(" ", 1)
            if all('%s="%s"' % (k, v) in series for k, v in labels.items()):
                total += float(value)
        return total


ARGS = ["--dtype=bfloat16"]


def isvc_body(name, labels=None, args=None):
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "labels": labels or {},
                         "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "args": list(args or ARGS),
                                             "storageUri": "s3://models/%s" % name}}}}


def set_deployment(apps, ns, name, args=None, labels=None, old_pods=0, available=1):
    """Create or update the predictor Deployment as KServe would (its pod template carries the
    InferenceService's args and labels) and write its status as the Deployment controller would:
    `old_pods` pods of an older template still running beside the new one (a rolling update)."""
    from kubernetes.client.rest import ApiException
    dep_name = name + "-predictor"
    tmpl_labels = dict(labels or {}, **{"serving.kserve.io/inferenceservice": name, "app": "isvc." + dep_name})
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": dep_name, "labels": {"serving.kserve.io/inferenceservice": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "isvc." + dep_name}},
                     "template": {"metadata": {"labels": tmpl_labels}, "spec": {"containers": [{
                         "name": "kserve-container", "image": "vllm",
                         "args": ["--port=8080", "--model=/mnt/models", "--served-model-name=" + name]
                         + list(args or ARGS)}]}}}}
    try:
        dep = apps.create_namespaced_deployment(ns, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        dep = apps.replace_namespaced_deployment(dep_name, ns, dict(
            body, metadata=dict(body["metadata"], resourceVersion=apps.read_namespaced_deployment(
                dep_name, ns).metadata.resource_version)))
    status = {"observedGeneration": dep.metadata.generation, "replicas": 1 + old_pods,
              "updatedReplicas": 1, "readyReplicas": available + old_pods,
              "availableReplicas": available + old_pods}
    return apps.patch_namespaced_deployment_status(dep_name, ns, {"status": status})


def set_status(custom, ns, name, ready, observed_generation, url=None):
    """Write status as KServe would (status subresource); returns the patched object."""
    status = {"observedGeneration": observed_generation,
              "conditions": [{"type": t, "status": "True" if ready else "False",
                              "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                             for t in ("IngressReady", "PredictorReady", "Ready")],
              "modelStatus": {"transitionStatus": "UpToDate" if ready else "InProgress",
                              "states": {"activeModelState": "Loaded" if ready else "Loading",
                                         "targetModelState": "Loaded"}}}
    if ready:
        status["url"] = url or "http://%s-%s.apps.test" % (name, ns)
        status["address"] = {"url": "http://%s-predictor.%s.svc.cluster.local" % (name, ns)}
    return custom.patch_namespaced_custom_object_status(*KSERVE, ns, "inferenceservices", name,
                                                        {"status": status})
