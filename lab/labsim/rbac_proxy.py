"""Run the real kube-rbac-proxy (github.com/brancz/kube-rbac-proxy v0.19.1, built by lab/build.sh)
for a predictor pod's `kube-rbac-proxy` container, as the kubelet would run that container.

The container's own args (odh_auth.proxy_container, as the fork of KServe renders them) are kept,
with what a pod has and a loopback process does not translated:
- `--secure-listen-address=:8443` and `--proxy-endpoints-port=8643` -> two loopback ports of the
  lab's vLLM port range (sim port + 500 and + 750); network.py maps <pod IP>:8443 to the first;
- `--upstream=http://localhost:<port>` -> the pod's vLLM simulator;
- `--tls-cert-file`/`--tls-private-key-file` (the service-ca `<isvc>-predictor-serving-cert` on
  OpenShift) -> a pair signed by the lab CA for `<isvc>-predictor.<ns>.svc[.cluster.local]`;
- `--config-file` -> the SAR ConfigMap mounted at /etc/kube-rbac-proxy, read from the apiserver;
- the in-cluster config (the pod's ServiceAccount token) -> `--kubeconfig` with a TokenRequest
  token of the pod's ServiceAccount, so TokenReview and SubjectAccessReview go to the lab
  apiserver as that ServiceAccount (bound to system:auth-delegator by odh_auth.py);
- `--upstream-timeout` (a flag only the OpenShift AI fork has) is dropped.
"""

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT_OFFSET = 500
HEALTH_OFFSET = 750


def binary():
    """The pinned binary lab/build.sh made (lab/versions.env KUBE_RBAC_PROXY_VERSION)."""
    version = ""
    with open(os.path.join(LAB_DIR, "versions.env"), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("KUBE_RBAC_PROXY_VERSION="):
                version = line.strip().split("=", 1)[1]
    cache = os.environ.get("LAB_CACHE") or os.path.expanduser("~/.cache/private-ai-lab")
    return os.path.join(cache, "bin", "kube-rbac-proxy-" + version)


def _alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return b"kube-rbac-proxy" in fh.read()
    except OSError:
        return False


def translate(args, sim_port, port, health_port, files):
    """The container's args for a loopback process (see the module docstring)."""
    out = []
    for arg in (str(a) for a in args or []):
        name = arg.split("=", 1)[0]
        if name == "--secure-listen-address":
            out.append("--secure-listen-address=127.0.0.1:%d" % port)
        elif name == "--proxy-endpoints-port":
            out.append("--proxy-endpoints-port=%d" % health_port)
        elif name == "--upstream":
            out.append("--upstream=http://127.0.0.1:%d/" % sim_port)
        elif name == "--tls-cert-file":
            out.append("--tls-cert-file=" + files["cert"])
        elif name == "--tls-private-key-file":
            out.append("--tls-private-key-file=" + files["key"])
        elif name == "--config-file":
            out.append("--config-file=" + files["config"])
        elif name == "--upstream-timeout":
            continue  # OpenShift AI's fork only: upstream v0.19.1 exits on an unknown flag
        else:
            out.append(arg)
    return out + ["--kubeconfig=" + files["kubeconfig"]]


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(data)


class ProxyManager:
    """One kube-rbac-proxy process per pod (key), in its own process group."""

    def __init__(self, state_dir, log):
        self.dir = os.path.join(state_dir, "kube-rbac-proxy")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.log = log
        self.procs = {}  # key -> {"pid", "port", "health_port", "proc"}
        # A restarted labsim starts the proxies again (their token and files are re-made).
        for name in os.listdir(self.dir):
            if name.endswith(".pid"):
                try:
                    with open(os.path.join(self.dir, name), encoding="utf-8") as fh:
                        pid = int(fh.read().strip() or 0)
                    if pid and _alive(pid):
                        os.killpg(pid, signal.SIGTERM)
                except (OSError, ValueError):
                    pass
                os.unlink(os.path.join(self.dir, name))

    def _base(self, key):
        return os.path.join(self.dir, key.replace("/", "_"))

    def get(self, key):
        rec = self.procs.get(key)
        if rec and not _alive(rec["pid"]):
            self.log.warning("kube-rbac-proxy for %s (pid %d) died", key, rec["pid"])
            self.stop(key)
            return None
        return rec

    def start(self, key, args, sim_port, files_content):
        """Start the proxy of pod `key`; files_content: cert, key, config, kubeconfig (PEM/YAML)."""
        self.stop(key)
        base = self._base(key)
        files = {}
        for what, content in files_content.items():
            files[what] = "%s.%s" % (base, what)
            _write_private(files[what], content)
        port, health = sim_port + PORT_OFFSET, sim_port + HEALTH_OFFSET
        argv = [binary()] + translate(args, sim_port, port, health, files)
        logf = open(base + ".log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        logf.close()
        with open(base + ".pid", "w", encoding="utf-8") as fh:
            fh.write(str(proc.pid))
        rec = {"pid": proc.pid, "port": port, "health_port": health, "proc": proc}
        self.procs[key] = rec
        self.log.info("started kube-rbac-proxy for %s on 127.0.0.1:%d -> :%d (pid %d)", key, port,
                      sim_port, proc.pid)
        return rec

    def stop(self, key):
        rec = self.procs.pop(key, None)
        if rec:
            try:
                if _alive(rec["pid"]):
                    os.killpg(rec["pid"], signal.SIGTERM)
                    for _ in range(20):
                        if not _alive(rec["pid"]):
                            break
                        time.sleep(0.05)
                    else:
                        os.killpg(rec["pid"], signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            rec["proc"].poll()
            self.log.info("stopped kube-rbac-proxy for %s (pid %d)", key, rec["pid"])
        for ext in ("pid", "kubeconfig", "key"):  # the token and the key go with the process
            try:
                os.unlink("%s.%s" % (self._base(key), ext))
            except OSError:
                pass

    def stop_all(self):
        for key in list(self.procs):
            self.stop(key)

    @staticmethod
    def healthy(rec):
        """The readiness probe: GET https://<pod>:8643/healthz answers 200."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # as the kubelet's HTTPS probes: no verification
        try:
            with urllib.request.urlopen("https://127.0.0.1:%d/healthz" % rec["health_port"],
                                        timeout=0.5, context=ctx) as resp:
                return resp.status == 200
        except (OSError, ValueError):
            return False


def kubeconfig(server, ca_file, token):
    """A kubeconfig for the proxy: the lab apiserver, its CA, a ServiceAccount token."""
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "pod",
        "clusters": [{"name": "lab", "cluster": {"server": server, "certificate-authority": ca_file}}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "pod", "context": {"cluster": "lab", "user": "sa"}}]})
