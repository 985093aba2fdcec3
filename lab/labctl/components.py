"""The lab's long-running components, in start order: how each starts and when it is healthy."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

from . import openshift_ai
from .base import LAB_DIR, REGION, Lab, LabError
from .kube import http_status, tcp_open
from .procs import Component

class Kine(Component):
    def __init__(self, lab):
        super().__init__(lab, "kine", lab.ports["kine"], 30)

    def argv(self):
        db = self.lab.state / "kine" / "state.db"
        return [str(self.lab.binary("kine", "KINE_VERSION")),
                "--endpoint", f"sqlite://{db}?_journal=WAL&cache=shared&_busy_timeout=30000",
                "--listen-address", f"127.0.0.1:{self.port}",
                "--metrics-bind-address", f"127.0.0.1:{self.lab.ports['kine-metrics']}"]

    def prepare(self):
        (self.lab.state / "kine").mkdir(parents=True, exist_ok=True)


class APIServer(Component):
    def __init__(self, lab, tokens):
        super().__init__(lab, "kube-apiserver", lab.ports["apiserver"], 120)
        self.tokens = tokens

    def argv(self):
        pki = self.lab.pki
        return [str(self.lab.binary("kube", "KUBERNETES_VERSION")), "apiserver",
                f"--etcd-servers=http://127.0.0.1:{self.lab.ports['kine']}",
                f"--secure-port={self.port}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                # Endpoints may not hold loopback addresses: do not reconcile the kubernetes service.
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={pki / 'tokens.csv'}",
                # Front-proxy settings make the extension-apiserver-authentication ConfigMap whole
                # (the controllers' delegated authentication reads it); no front-proxy cert exists.
                f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
                "--enable-admission-plugins=NodeRestriction", "--profiling=false",
                "--storage-media-type=application/vnd.kubernetes.protobuf", "-v=1"]

    def healthy(self):
        return http_status(f"{self.lab.apiserver_url}/readyz", ca=self.lab.pki / "ca.crt",
                           token=self.tokens["admin"]) == 200


class ControllerManager(Component):
    def __init__(self, lab):
        super().__init__(lab, "kube-controller-manager", lab.ports["controller-manager"], 60)

    def argv(self):
        pki, kc = self.lab.pki, self.lab.kubeconfigs / "controller-manager.kubeconfig"
        return [str(self.lab.binary("kube", "KUBERNETES_VERSION")), "controller-manager",
                f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1", f"--secure-port={self.port}",
                f"--tls-cert-file={pki / 'loopback.crt'}", f"--tls-private-key-file={pki / 'loopback.key'}",
                "--leader-elect=false", "--cluster-name=private-ai-lab",
                f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
                # kwok gives pods their IPs: no node CIDR allocation.
                "--controllers=*,-nodeipam", "--profiling=false", "-v=1"]

    def healthy(self):
        return http_status(f"https://127.0.0.1:{self.port}/healthz", ca=self.lab.pki / "ca.crt") == 200


class Scheduler(Component):
    def __init__(self, lab):
        super().__init__(lab, "kube-scheduler", lab.ports["scheduler"], 60)

    def argv(self):
        pki, kc = self.lab.pki, self.lab.kubeconfigs / "scheduler.kubeconfig"
        return [str(self.lab.binary("kube", "KUBERNETES_VERSION")), "scheduler",
                f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                "--bind-address=127.0.0.1", f"--secure-port={self.port}",
                f"--tls-cert-file={pki / 'loopback.crt'}", f"--tls-private-key-file={pki / 'loopback.key'}",
                "--leader-elect=false", "--profiling=false", "-v=1"]

    def healthy(self):
        return http_status(f"https://127.0.0.1:{self.port}/healthz", ca=self.lab.pki / "ca.crt") == 200


class Kwok(Component):
    def __init__(self, lab):
        super().__init__(lab, "kwok", lab.ports["kwok"], 60)

    def argv(self):
        argv = [str(self.lab.binary("kwok", "KWOK_VERSION")),
                f"--kubeconfig={self.lab.kubeconfigs / 'kwok.kubeconfig'}",
                "--manage-all-nodes=false", "--manage-nodes-with-label-selector=type=kwok",
                f"--server-address=127.0.0.1:{self.port}",
                "--cidr=10.244.0.0/16"]
        stages = LAB_DIR / "kwok" / "stages.yaml"
        if stages.exists():
            argv.append(f"--config={stages}")
        return argv

    def healthy(self):
        return http_status(f"http://127.0.0.1:{self.port}/healthz") == 200


class MinIO(Component):
    def __init__(self, lab):
        super().__init__(lab, "minio", lab.ports["minio"], 60)

    def argv(self):
        return [str(self.lab.binary("minio", "MINIO_VERSION")), "server", str(self.lab.state / "minio" / "data"),
                "--address", f"127.0.0.1:{self.port}",
                "--console-address", f"127.0.0.1:{self.lab.ports['minio-console']}",
                "--certs-dir", str(self.lab.state / "minio" / "certs"), "--quiet"]

    def env(self):
        return {"MINIO_ROOT_USER": self.lab.secret("minio-user", 10),
                "MINIO_ROOT_PASSWORD": self.lab.secret("minio-password", 24),
                "MINIO_BROWSER": "off", "MINIO_UPDATE": "off", "MINIO_SITE_REGION": REGION,
                "MINIO_PROMETHEUS_AUTH_TYPE": "jwt"}

    def prepare(self):
        (self.lab.state / "minio" / "data").mkdir(parents=True, exist_ok=True)
        (self.lab.state / "minio" / "certs").mkdir(parents=True, exist_ok=True)

    def healthy(self):
        return http_status(f"{self.lab.s3_endpoint}/minio/health/live") == 200


def mariadb_tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LabError(f"{name} is missing: run `make lab-build` (lab/build.sh mariadb installs mariadb-server)")


class MariaDB(Component):
    DATABASE = "model_registry"
    USER = "modelregistry"

    def __init__(self, lab):
        super().__init__(lab, "mariadb", lab.ports["mariadb"], 60)
        self.datadir = lab.state / "mariadb" / "data"
        self.socket = lab.state / "mysql.sock"

    def _user_args(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def argv(self):
        return [mariadb_tool("mariadbd"), "--no-defaults", f"--datadir={self.datadir}",
                f"--port={self.port}", "--bind-address=127.0.0.1", f"--socket={self.socket}",
                f"--pid-file={self.lab.state / 'mariadb' / 'mariadbd.pid'}", "--skip-name-resolve",
                "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--performance-schema=OFF",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
                *self._user_args()]

    def prepare(self):
        if (self.datadir / "mysql").is_dir():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.lab.logs.mkdir(parents=True, exist_ok=True)
        with open(self.lab.logs / "mariadb-install-db.log", "ab") as fh:
            rc = subprocess.call([mariadb_tool("mariadb-install-db"), "--no-defaults",
                                  f"--datadir={self.datadir}", "--auth-root-authentication-method=socket",
                                  "--skip-test-db", *self._user_args()],
                                 stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if rc != 0:
            raise LabError(f"mariadb-install-db failed with exit code {rc}; see "
                           f"{self.lab.logs / 'mariadb-install-db.log'}")

    def healthy(self):
        return self.socket.exists() and tcp_open(self.port)

    def configure(self):
        # Root authenticates over the socket as the OS user; the password only travels on stdin.
        password = self.lab.secret("db-password", 18)
        sql = (f"CREATE DATABASE IF NOT EXISTS {self.DATABASE} CHARACTER SET utf8mb4;\n"
               f"CREATE USER IF NOT EXISTS '{self.USER}'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
               f"ALTER USER '{self.USER}'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
               f"GRANT ALL PRIVILEGES ON {self.DATABASE}.* TO '{self.USER}'@'127.0.0.1';\n"
               "FLUSH PRIVILEGES;\n")
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
        proc = subprocess.run([mariadb_tool("mariadb"), "--no-defaults", f"--socket={self.socket}",
                               "-u", user, "--batch"], input=sql.encode(), capture_output=True)
        if proc.returncode != 0:
            raise LabError(f"creating database {self.DATABASE} failed: "
                           f"{proc.stderr.decode(errors='replace').strip()}")

    def dsn(self) -> str:
        return (f"{self.USER}:{self.lab.secret('db-password', 18)}@tcp(127.0.0.1:{self.port})/"
                f"{self.DATABASE}?charset=utf8mb4&parseTime=true")


class ModelRegistry(Component):
    def __init__(self, lab, db: MariaDB):
        super().__init__(lab, "model-registry", lab.ports["model-registry"], 90)
        self.db = db

    def argv(self):
        return [str(self.lab.binary("model-registry", "MODEL_REGISTRY_VERSION")), "proxy",
                "--hostname", "127.0.0.1", "--port", str(self.port),
                "--datastore-type", "embedmd", "--embedmd-database-type", "mysql",
                "--logtostderr=true"]

    def env(self):
        # The DSN holds the database password: pass it in the environment, not on the command line.
        return {"MR_EMBEDMD_DATABASE_DSN": self.db.dsn(), "HOME": str(self.lab.state / "mariadb")}

    def healthy(self):
        return http_status(f"{self.lab.registry_url}/api/model_registry/v1alpha3/registered_models") == 200


class Simulator(Component):
    def __init__(self, lab):
        super().__init__(lab, "labsim", None, 120)
        self.ready = lab.state / "labsim.ready"

    def enabled(self):
        return (LAB_DIR / "labsim" / "__main__.py").exists()

    def cwd(self):
        return LAB_DIR

    def argv(self):
        return [sys.executable, "-m", "labsim", "--state-dir", str(self.lab.state)]

    def env(self):
        return {"KUBECONFIG": str(self.lab.state / "kubeconfig"), "LAB_STATE_DIR": str(self.lab.state),
                "PYTHONUNBUFFERED": "1"}

    def prepare(self):
        self.ready.unlink(missing_ok=True)

    def healthy(self):
        return self.ready.exists() and self.running()

    def runs_expected_binary(self, pid):
        """False once lab/labsim changed since this process started (`up` restarts it)."""
        try:
            ready = json.loads(self.ready.read_text())
        except (OSError, ValueError):
            return True  # still starting
        return ready.get("code_digest") == labsim_digest()


class KServe(Component):
    """KServe's controller manager v0.15.2 (InferenceService reconciler and webhooks), configured
    as OpenShift AI 3.0 configures it (openshift_ai.py). Its webhook server has no flag for the
    listen host (cmd/manager/main.go sets only the port) and so listens on every interface; the
    metrics and health endpoints are on loopback."""

    def __init__(self, lab):
        super().__init__(lab, "kserve", lab.ports["kserve-webhook"], 120)
        self.tmp = lab.state / "kserve" / "tmp"

    def argv(self):
        return [str(self.lab.binary("kserve", "KSERVE_VERSION")),
                f"--metrics-addr=127.0.0.1:{self.lab.ports['kserve-metrics']}",
                f"--health-probe-addr=127.0.0.1:{self.lab.ports['kserve-health']}",
                f"--webhook-port={self.port}", "--leader-elect=false", "--zap-log-level=info"]

    def env(self):
        # controller-runtime's webhook server reads <os.TempDir()>/k8s-webhook-server/serving-certs.
        return {"KUBECONFIG": str(self.lab.kubeconfigs / "kserve.kubeconfig"),
                "POD_NAMESPACE": openshift_ai.APPS_NS, "TMPDIR": str(self.tmp)}

    def prepare(self):
        certs = self.tmp / "k8s-webhook-server" / "serving-certs"
        certs.mkdir(parents=True, exist_ok=True)
        _copy_serving_pair(self.lab, certs)

    def healthy(self):
        return http_status(f"http://127.0.0.1:{self.lab.ports['kserve-health']}/readyz") == 200


class Kueue(Component):
    """Kueue's manager v0.14.8 with the Configuration of the Red Hat build of Kueue
    (openshift_ai.kueue_configuration).

    With internal certificate management off, cmd/kueue/main.go loads a metrics certificate from
    the hard-coded /etc/kueue/metrics/certs, whatever the configuration says. The lab does not
    write to /etc: Kueue runs in a private mount namespace (unshare) whose /etc is an overlay
    holding that one directory."""

    def __init__(self, lab):
        super().__init__(lab, "kueue", lab.ports["kueue-webhook"], 120)
        self.dir = lab.state / "kueue"

    def executable(self):
        return str(self.lab.binary("kueue", "KUEUE_VERSION"))

    def argv(self):
        unshare = shutil.which("unshare") or "/usr/bin/unshare"
        userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        overlay = (f"lowerdir=/etc,upperdir={self.dir / 'etc-upper'},workdir={self.dir / 'etc-work'}")
        return [unshare, *userns, "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", f'mount -t overlay overlay -o {overlay} /etc && exec "$0" "$@"',
                self.executable(), f"--config={self.dir / 'config.yaml'}",
                f"--kubeconfig={self.lab.kubeconfigs / 'kueue.kubeconfig'}", "--zap-log-level=2"]

    def prepare(self):
        import yaml  # noqa: PLC0415 - `down`/`status` run on a bare python3
        webhook_certs = self.dir / "webhook-certs"
        metrics_certs = self.dir / "etc-upper" / "kueue" / "metrics" / "certs"
        for d in (webhook_certs, metrics_certs, self.dir / "etc-work"):
            d.mkdir(parents=True, exist_ok=True)
        _copy_serving_pair(self.lab, webhook_certs)
        _copy_serving_pair(self.lab, metrics_certs)
        (self.dir / "config.yaml").write_text(
            yaml.safe_dump(openshift_ai.kueue_configuration(self.lab), sort_keys=False))

    def healthy(self):
        return http_status(f"http://127.0.0.1:{self.lab.ports['kueue-health']}/readyz") == 200


def labsim_digest() -> str:
    """sha256 over labsim's sources, as labsim writes it into its ready file."""
    digest = hashlib.sha256()
    here = LAB_DIR / "labsim"
    for path in sorted(here.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _copy_serving_pair(lab: Lab, dest) -> None:
    """The lab CA's loopback serving certificate (SANs 127.0.0.1, localhost) as tls.crt/tls.key."""
    for src, name in (("loopback.crt", "tls.crt"), ("loopback.key", "tls.key")):
        shutil.copyfile(lab.pki / src, dest / name)
        os.chmod(dest / name, 0o600)
