#!/usr/bin/env python3
"""Start, stop and inspect the private-ai local lab.

    labctl.py up       start every component (idempotent: healthy ones are kept)
    labctl.py down     stop every component (and anything they started) and remove the state
    labctl.py status   one line per component, and the total RSS of the lab's processes

The lab is made of real upstream servers built by lab/build.sh (kube-apiserver,
kube-controller-manager, kube-scheduler, kine, kwok, MinIO, Model Registry) plus MariaDB from
Debian and the Python simulator in lab/labsim/. Everything listens on 127.0.0.1 only. State lives in
.lab/ at the repository root (LAB_STATE_DIR overrides). Runs with the project venv's Python
(PyYAML and cryptography come with ansible-core).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

try:  # `down` and `status` also run on a bare python3 (e.g. `make clean` after the venv is gone)
    import yaml
except ImportError:
    yaml = None

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent
FIELD_MANAGER = "private-ai-lab"
CRD_HASH = "lab.private-ai/source-sha256"
# Every process the lab starts carries this variable; `down` and `status` use it to find the
# processes that components (the simulator above all) started themselves.
MARKER = "PRIVATE_AI_LAB_STATE"

DEPLOYER_NS = "llm-serving-system"
DEPLOYER_SA = "llm-serving-deployer"
MACHINE_API_NS = "openshift-machine-api"
REGION = "us-east-1"
ZONE = "us-east-1a"
# instance type -> (vCPU, memory MiB, GPUs): what the AWS machine controller annotates on MachineSets.
GPU_INSTANCE_TYPES = {
    "g6.4xlarge": (16, 65536, 1),
    "g6.12xlarge": (48, 196608, 4),
    "g6e.xlarge": (4, 32768, 1),
}


def log(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


class LabError(Exception):
    """A failure the user can act on; printed as one sentence without a traceback."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise LabError(f"{name}={raw!r} is not a port number") from None


def read_versions() -> dict[str, str]:
    out = {}
    for line in (LAB_DIR / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def write_private(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write a file atomically, created with `mode` from the start (secrets never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def random_token(nbytes: int = 24) -> str:
    return secrets.token_hex(nbytes)


class Lab:
    """Paths, ports, binaries and the state of one lab."""

    def __init__(self) -> None:
        self.state = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab").resolve()
        self.shared = Path(os.environ.get("LAB_SHARED_DIR") or REPO.parent / "shared").resolve()
        cache = os.environ.get("LAB_CACHE") or str(Path.home() / ".cache" / "private-ai-lab")
        self.bin_dir = Path(cache) / "bin"
        self.versions = read_versions()
        self.ports = {
            "kine": _env_int("LAB_KINE_PORT", 12379),
            "kine-metrics": _env_int("LAB_KINE_METRICS_PORT", 12380),
            "apiserver": _env_int("LAB_APISERVER_PORT", 16443),
            "controller-manager": _env_int("LAB_KCM_PORT", 10257),
            "scheduler": _env_int("LAB_SCHEDULER_PORT", 10259),
            "kwok": _env_int("LAB_KWOK_PORT", 10247),
            "minio": _env_int("LAB_MINIO_PORT", 19000),
            "minio-console": _env_int("LAB_MINIO_CONSOLE_PORT", 19001),
            "mariadb": _env_int("LAB_DB_PORT", 13306),
            "model-registry": _env_int("LAB_REGISTRY_PORT", 18080),
        }
        self.vllm_port_base = _env_int("LAB_VLLM_PORT_BASE", 20000)
        self.pki = self.state / "pki"
        self.logs = self.state / "logs"
        self.pids = self.state / "pids"
        self.kubeconfigs = self.state / "kubeconfigs"

    # -- binaries ---------------------------------------------------------------------------
    def binary(self, tool: str, version_key: str) -> Path:
        path = self.bin_dir / f"{tool}-{self.versions[version_key]}"
        if not os.access(path, os.X_OK):
            raise LabError(f"{path} is missing: run `make lab-build` (lab/build.sh {tool}) first")
        return path

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['model-registry']}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['minio']}"

    def secret(self, name: str, nbytes: int = 24) -> str:
        """A per-lab random secret kept in .lab/<name> (0600), created on first use."""
        path = self.state / name
        if path.exists():
            return path.read_text().strip()
        value = random_token(nbytes)
        write_private(path, value + "\n")
        return value

    def infrastructure_name(self) -> str:
        path = self.state / "infrastructure-name"
        if path.exists():
            return path.read_text().strip()
        alphabet = string.ascii_lowercase + string.digits
        name = "lab-" + "".join(secrets.choice(alphabet) for _ in range(5))
        write_private(path, name + "\n", 0o644)
        return name


# ---------------------------------------------------------------------------------------------
# PKI


def ensure_pki(lab: Lab) -> None:
    """Lab CA, apiserver and loopback serving certs, service-account signing key (once per lab)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki = lab.pki
    pki.mkdir(parents=True, exist_ok=True)
    os.chmod(pki, 0o700)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=365)

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def load_ca():
        key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
        return key, cert

    if not (pki / "ca.crt").exists():
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "private-ai-lab-ca")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(pki / "ca.key", pem_key(key))
        write_private(pki / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)
    ca_key, ca_cert = load_ca()
    shutil.copyfile(pki / "ca.crt", lab.state / "ca.crt")

    def issue(stem: str, common_name: str, dns: list[str], ips: list[str]) -> None:
        if (pki / f"{stem}.crt").exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        write_private(pki / f"{stem}.key", pem_key(key))
        write_private(pki / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)

    issue("apiserver", "kube-apiserver",
          ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local"], ["127.0.0.1", "10.96.0.1"])
    issue("loopback", "private-ai-lab-loopback", ["localhost"], ["127.0.0.1"])

    if not (pki / "sa.key").exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_private(pki / "sa.key", pem_key(key))
        write_private(pki / "sa.pub", key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)


# Static token identities. The controllers run as system:masters: acceptable for a lab, and it
# avoids --use-service-account-credentials (one identity per controller) for nothing we test.
TOKEN_USERS = {
    "admin": ("lab-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", "system:masters"),
    "scheduler": ("system:kube-scheduler", ""),
    "kwok": ("system:kwok-controller", "system:masters"),
    "simulator": ("system:private-ai-labsim", "system:masters"),
}


def ensure_tokens(lab: Lab) -> dict[str, str]:
    tokens = {name: lab.secret(f"pki/token-{name}") for name in TOKEN_USERS}
    lines = []
    for name, (user, groups) in TOKEN_USERS.items():
        lines.append(f'{tokens[name]},{user},{user},"{groups}"' if groups else f"{tokens[name]},{user},{user}")
    write_private(lab.pki / "tokens.csv", "\n".join(lines) + "\n")
    return tokens


def kubeconfig(lab: Lab, user: str, token: str) -> str:
    ca = base64.b64encode((lab.pki / "ca.crt").read_bytes()).decode()
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "private-ai-lab", "cluster": {
            "server": lab.apiserver_url, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": f"{user}@private-ai-lab", "context": {
            "cluster": "private-ai-lab", "user": user}}],
        "current-context": f"{user}@private-ai-lab",
        "preferences": {},
    }, sort_keys=False)


def ensure_kubeconfigs(lab: Lab, tokens: dict[str, str]) -> None:
    lab.kubeconfigs.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.kubeconfigs, 0o700)
    for name in TOKEN_USERS:
        write_private(lab.kubeconfigs / f"{name}.kubeconfig", kubeconfig(lab, name, tokens[name]))
    write_private(lab.state / "kubeconfig", kubeconfig(lab, "admin", tokens["admin"]))


# ---------------------------------------------------------------------------------------------
# HTTP / health helpers


def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(url: str, *, ca: Path | None = None, token: str | None = None, timeout: float = 2.0) -> int:
    """Status code of a GET, 0 when the server is not answering."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ssl.SSLError, urllib.error.URLError):
        return 0


class Kube:
    """A minimal Kubernetes REST client (stdlib only) for bootstrapping the lab's objects."""

    # kind -> (api path prefix, plural, namespaced)
    KINDS = {
        "Namespace": ("/api/v1", "namespaces", False),
        "ServiceAccount": ("/api/v1", "serviceaccounts", True),
        "Secret": ("/api/v1", "secrets", True),
        "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
        "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
        "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
        "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
        "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
        "Infrastructure": ("/apis/config.openshift.io/v1", "infrastructures", False),
        "MachineSet": ("/apis/machine.openshift.io/v1beta1", "machinesets", True),
    }

    def __init__(self, server: str, token: str, ca: Path) -> None:
        self.server = server
        self.token = token
        self.ctx = ssl.create_default_context(cafile=str(ca))

    def request(self, method: str, path: str, body=None, content_type: str = "application/json",
                query: dict | None = None):
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ctx) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"message": raw.decode(errors="replace")[:300]}

    def path(self, obj: dict, subresource: str = "") -> str:
        kind = obj["kind"]
        prefix, plural, namespaced = self.KINDS[kind]
        meta = obj["metadata"]
        ns = f"/namespaces/{meta['namespace']}" if namespaced else ""
        sub = f"/{subresource}" if subresource else ""
        return f"{prefix}{ns}/{plural}/{meta['name']}{sub}"

    def apply(self, obj: dict, subresource: str = "", retry_not_found: float = 0.0) -> dict:
        """Server-side apply (force) with strict field validation; retries while a new CRD is served."""
        deadline = time.monotonic() + retry_not_found
        while True:
            status, body = self.request(
                "PATCH", self.path(obj, subresource), obj, "application/apply-patch+yaml",
                {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"})
            if status < 300:
                return body
            if status == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise LabError(f"applying {obj['kind']} {obj['metadata']['name']} failed with HTTP {status}: "
                           f"{body.get('message', body)}")

    def create_if_absent(self, obj: dict, retry_not_found: float = 0.0) -> bool:
        """Create an object unless it exists (the lab's seed objects are never reset by `up`)."""
        status, _ = self.request("GET", self.path(obj))
        if status == 200:
            return False
        self.apply(obj, retry_not_found=retry_not_found)
        return True

    def get(self, obj: dict) -> tuple[int, dict]:
        return self.request("GET", self.path(obj))


# ---------------------------------------------------------------------------------------------
# Processes


def proc_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def proc_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def carries_marker(pid: int, state: Path) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{MARKER}={state}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def marked_pids(state: Path) -> list[int]:
    """Every live process started by this lab (directly or by one of its components)."""
    needle = f"{MARKER}={state}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if needle in env and proc_alive(int(entry)):
            out.append(int(entry))
    return out


class Component:
    """One long-running lab process: how to start it and how to tell that it is healthy."""

    def __init__(self, lab: Lab, name: str, port: int | None, timeout: float = 60.0) -> None:
        self.lab = lab
        self.name = name
        self.port = port
        self.timeout = timeout

    # subclasses define argv(), and may override env(), prepare(), healthy(), configure()
    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def cwd(self) -> Path:
        return self.lab.state

    def enabled(self) -> bool:
        return True

    def prepare(self) -> None:
        """One-time setup before the first start (data directories, database init)."""

    def healthy(self) -> bool:
        return self.port is not None and tcp_open(self.port)

    def configure(self) -> None:
        """Work done once the component is healthy (idempotent)."""

    @property
    def pidfile(self) -> Path:
        return self.lab.pids / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.lab.logs / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        # A pid file outliving its process (a reboot) may name someone else's process by now.
        return pid if proc_alive(pid) and carries_marker(pid, self.lab.state) else None

    def start(self) -> None:
        self.lab.logs.mkdir(parents=True, exist_ok=True)
        self.lab.pids.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env())
        env[MARKER] = str(self.lab.state)
        argv = self.argv()
        with open(self.logfile, "ab") as logfh:
            logfh.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {argv[0]}\n".encode())
            logfh.flush()
            # Own session = own process group: `down` signals the whole group, children included.
            proc = subprocess.Popen(argv, cwd=self.cwd(), env=env, stdin=subprocess.DEVNULL,
                                    stdout=logfh, stderr=subprocess.STDOUT, start_new_session=True)
        self.pidfile.write_text(f"{proc.pid}\n")
        self.proc = proc

    def running(self) -> bool:
        # Right after exec /proc/<pid>/environ can still read empty (the marker check would fail):
        # for a process started by this run, ask the kernel through the Popen handle instead.
        proc = getattr(self, "proc", None)
        if proc is not None:
            return proc.poll() is None
        return self.pid() is not None

    def runs_expected_binary(self, pid: int) -> bool:
        """False when the process runs another executable (e.g. a version bump in versions.env)."""
        try:
            return os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(self.argv()[0])
        except (OSError, LabError):
            return True

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if not self.running():
                raise LabError(f"{self.name} exited during start-up; last log lines:\n{self.tail()}")
            time.sleep(0.2)
        raise LabError(f"{self.name} (pid {self.pid()}) was not healthy after {self.timeout:.0f}s; "
                       f"last log lines:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return
        kill_group(pid, grace)
        self.pidfile.unlink(missing_ok=True)

    def up(self) -> str:
        if not self.enabled():
            return "skipped"
        pid = self.pid()
        if pid is not None and not self.runs_expected_binary(pid):
            log(f"{self.name} (pid {pid}) runs another binary than {self.argv()[0]}: restarting it")
            self.stop()
            pid = None
        if pid is not None:
            if self.healthy():
                self.configure()
                return "kept"
            try:
                self.wait_healthy()
                self.configure()
                return "kept"
            except LabError:
                log(f"{self.name} (pid {pid}) is running but unhealthy: restarting it")
                self.stop()
        if self.port is not None and tcp_open(self.port):
            raise LabError(f"port {self.port} for {self.name} is already taken by a process this lab "
                           f"did not start; free it or set the port's LAB_*_PORT variable")
        self.prepare()
        self.start()
        self.wait_healthy()
        self.configure()
        return "started"


def kill_group(pid: int, grace: float) -> None:
    """SIGTERM the process group led by pid, then SIGKILL whatever is left after `grace` seconds."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not proc_alive(pid) and not _group_alive(pgid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) also succeeds for zombies; look for a live member.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and proc_alive(int(entry)):
                    return True
            except (ProcessLookupError, PermissionError):
                continue
    return False


# ---------------------------------------------------------------------------------------------
# The components, in start order


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


# ---------------------------------------------------------------------------------------------
# Cluster bootstrap objects


def crd_digest(kube: Kube, name: str) -> str | None:
    status, body = kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
    return body["metadata"].get("annotations", {}).get(CRD_HASH) if status == 200 else None


def apply_crds(lab: Lab, kube: Kube) -> list[str]:
    """Server-side apply the upstream CRDs; returns their names (not waited for)."""
    crd_dir = lab.shared / "crds"
    files = sorted(crd_dir.glob("*.yaml"))
    if not files:
        raise LabError(f"no CRDs found in {crd_dir}: set LAB_SHARED_DIR to the folder holding crds/")
    # Parsing and applying the large KServe CRDs costs seconds: files whose digest matches the one
    # recorded on the live CRDs are skipped (a warm `up` only GETs them).
    cache_file = lab.state / "crds-applied.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    names = []
    for path in files:
        text = path.read_text()
        digest = hashlib.sha256(text.encode()).hexdigest()
        cached = cache.get(path.name, {})
        if cached.get("digest") == digest and all(
                crd_digest(kube, name) == digest for name in cached.get("names", [])):
            names.extend(cached["names"])
            continue
        file_names = []
        for doc in yaml.load_all(text, Loader=loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            doc["metadata"].setdefault("annotations", {})[CRD_HASH] = digest
            kube.apply(doc)
            file_names.append(doc["metadata"]["name"])
        cache[path.name] = {"digest": digest, "names": file_names}
        names.extend(file_names)
    write_private(cache_file, json.dumps(cache, indent=1) + "\n", 0o644)
    return names


def wait_crds_established(kube: Kube, names: list[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            status, body = kube.request(
                "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            conds = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions") or []}
            if status == 200 and conds.get("Established") == "True":
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if pending:
        raise LabError(f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}")


def ensure_infrastructure(lab: Lab, kube: Kube) -> str:
    obj = {"apiVersion": "config.openshift.io/v1", "kind": "Infrastructure",
           "metadata": {"name": "cluster"}}
    status, body = kube.get(obj)
    if status == 200 and body.get("status", {}).get("infrastructureName"):
        name = body["status"]["infrastructureName"]
        write_private(lab.state / "infrastructure-name", name + "\n", 0o644)
        return name
    name = lab.infrastructure_name()
    kube.apply({**obj, "spec": {"cloudConfig": {"name": ""}, "platformSpec": {"type": "AWS", "aws": {}}}},
               retry_not_found=30)
    # status is a subresource: it must be written through /status.
    kube.apply({**obj, "status": {
        "infrastructureName": name, "platform": "AWS",
        "platformStatus": {"type": "AWS", "aws": {"region": REGION}},
        "apiServerURL": lab.apiserver_url, "apiServerInternalURI": lab.apiserver_url,
        "etcdDiscoveryDomain": "", "controlPlaneTopology": "HighlyAvailable",
        "infrastructureTopology": "HighlyAvailable", "cpuPartitioning": "None"}}, "status")
    return name


def machineset(infra: str, instance_type: str) -> dict:
    """A MachineSet shaped like the ones OpenShift's installer makes on AWS, for one GPU type."""
    vcpu, memory_mib, gpus = GPU_INSTANCE_TYPES[instance_type]
    name = f"{infra}-gpu-{instance_type.replace('.', '-')}-{ZONE}"
    return {
        "apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
        "metadata": {
            "name": name, "namespace": MACHINE_API_NS,
            "labels": {"machine.openshift.io/cluster-api-cluster": infra},
            "annotations": {
                "capacity.cluster-autoscaler.kubernetes.io/labels": "kubernetes.io/arch=amd64",
                "machine.openshift.io/GPU": str(gpus),
                "machine.openshift.io/memoryMb": str(memory_mib),
                "machine.openshift.io/vCPU": str(vcpu),
            },
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {
                "machine.openshift.io/cluster-api-cluster": infra,
                "machine.openshift.io/cluster-api-machineset": name}},
            "template": {
                "metadata": {"labels": {
                    "machine.openshift.io/cluster-api-cluster": infra,
                    "machine.openshift.io/cluster-api-machine-role": "worker",
                    "machine.openshift.io/cluster-api-machine-type": "worker",
                    "machine.openshift.io/cluster-api-machineset": name}},
                "spec": {
                    "lifecycleHooks": {},
                    "metadata": {},
                    "providerSpec": {"value": {
                        "apiVersion": "machine.openshift.io/v1beta1",
                        "kind": "AWSMachineProviderConfig",
                        "ami": {"id": "ami-0c5d3e3b8d5f6a7e1"},
                        "blockDevices": [{"ebs": {"encrypted": True, "iops": 0, "kmsKey": {"arn": ""},
                                                  "volumeSize": 200, "volumeType": "gp3"}}],
                        "credentialsSecret": {"name": "aws-cloud-credentials"},
                        "deviceIndex": 0,
                        "iamInstanceProfile": {"id": f"{infra}-worker-profile"},
                        "instanceType": instance_type,
                        "metadataServiceOptions": {},
                        "placement": {"availabilityZone": ZONE, "region": REGION},
                        "securityGroups": [
                            {"filters": [{"name": "tag:Name", "values": [f"{infra}-node"]}]},
                            {"filters": [{"name": "tag:Name", "values": [f"{infra}-lb"]}]}],
                        "subnet": {"filters": [{"name": "tag:Name",
                                                "values": [f"{infra}-subnet-private-{ZONE}"]}]},
                        "tags": [{"name": f"kubernetes.io/cluster/{infra}", "value": "owned"}],
                        "userDataSecret": {"name": "worker-user-data"},
                    }},
                },
            },
        },
    }


def ensure_machinesets(kube: Kube, infra: str) -> None:
    kube.create_if_absent({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": MACHINE_API_NS}})
    for instance_type in GPU_INSTANCE_TYPES:
        kube.create_if_absent(machineset(infra, instance_type), retry_not_found=30)


def deployer_namespaces() -> list[str]:
    raw = os.environ.get("LAB_DEPLOYER_NAMESPACES", "private-ai")
    return [ns.strip() for ns in raw.split(",") if ns.strip()]


def ensure_rbac(lab: Lab, kube: Kube) -> str:
    """The deployer ServiceAccount with only what the collection needs; returns its token."""
    docs = [d for d in yaml.safe_load_all((LAB_DIR / "manifests" / "rbac.yaml").read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Namespace":
            kube.create_if_absent(doc)
        else:
            kube.apply(doc)
    # Namespaced rights (secrets above all) only in the namespaces the collection deploys into.
    for ns in deployer_namespaces():
        kube.create_if_absent({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        kube.apply({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "llm-serving-deployer", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "llm-serving-deployer-namespaced"},
            "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER_SA, "namespace": DEPLOYER_NS}]})
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
              "metadata": {"name": f"{DEPLOYER_SA}-token", "namespace": DEPLOYER_NS,
                           "annotations": {"kubernetes.io/service-account.name": DEPLOYER_SA}}}
    kube.create_if_absent(secret)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, body = kube.get(secret)
        token = body.get("data", {}).get("token") if status == 200 else None
        if token:
            return base64.b64decode(token).decode()
        time.sleep(0.2)
    raise LabError(f"the token controller did not fill Secret {DEPLOYER_NS}/{DEPLOYER_SA}-token in 60s "
                   f"(is kube-controller-manager healthy? see {lab.logs / 'kube-controller-manager.log'})")


# ---------------------------------------------------------------------------------------------
# Outputs


def inventory_file() -> Path | None:
    """Where `up` writes the lab inventory's connection facts; LAB_INVENTORY_FILE="" disables it."""
    raw = os.environ.get("LAB_INVENTORY_FILE")
    if raw is None:
        return REPO / "inventories" / "lab" / "group_vars" / "all" / "lab_connection.yml"
    return Path(raw).resolve() if raw else None


def write_outputs(lab: Lab, deployer_token: str, infra: str, db: MariaDB) -> None:
    state = lab.state
    write_private(state / "deployer.kubeconfig", kubeconfig(lab, DEPLOYER_SA, deployer_token))
    access_key = lab.secret("minio-user", 10)
    secret_key = lab.secret("minio-password", 24)
    facts = {
        "kubeconfig": str(state / "kubeconfig"),
        "deployer_kubeconfig": str(state / "deployer.kubeconfig"),
        "simulator_kubeconfig": str(lab.kubeconfigs / "simulator.kubeconfig"),
        "ca": str(state / "ca.crt"),
        "apiserver": lab.apiserver_url,
        "s3": {"endpoint": lab.s3_endpoint, "access_key": access_key, "secret_key": secret_key,
               "region": REGION},
        "registry_url": lab.registry_url,
        "infrastructure_name": infra,
        "deployer": {"namespace": DEPLOYER_NS, "service_account": DEPLOYER_SA,
                     "namespaces": deployer_namespaces()},
        "vllm_port_base": lab.vllm_port_base,
        "kwok_port": lab.ports["kwok"],
        "state_dir": str(state),
        "db": {"host": "127.0.0.1", "port": db.port, "database": db.DATABASE, "user": db.USER,
               "password": lab.secret("db-password", 18), "socket": str(db.socket)},
    }
    write_private(state / "lab.json", json.dumps(facts, indent=2) + "\n")
    env = {
        "KUBECONFIG": facts["kubeconfig"],
        "K8S_AUTH_KUBECONFIG": facts["deployer_kubeconfig"],
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_S3_ENDPOINT": lab.s3_endpoint,
        "LAB_REGISTRY_URL": lab.registry_url,
        "LAB_STATE_DIR": str(state),
    }
    write_private(state / "env", "".join(f"export {k}='{v}'\n" for k, v in env.items()))
    inv = inventory_file()
    if inv is None:
        return
    connection = {
        "llm_serving_kubeconfig": facts["deployer_kubeconfig"],
        "llm_serving_s3_endpoint": lab.s3_endpoint,
        "llm_serving_s3_region": REGION,
        "llm_serving_s3_access_key": f"{{{{ lookup('ansible.builtin.file', '{state / 'minio-user'}') }}}}",
        "llm_serving_s3_secret_key": f"{{{{ lookup('ansible.builtin.file', '{state / 'minio-password'}') }}}}",
        "llm_serving_registry_url": lab.registry_url,
    }
    header = "# Written by `make lab-up` (lab/labctl.py): connection facts only, no secrets.\n---\n"
    write_private(inv, header + yaml.safe_dump(connection, sort_keys=False, width=200), 0o644)


# ---------------------------------------------------------------------------------------------
# Commands


# The lab inventory's models and the published checkpoint each synthetic copy is made from (real
# config.json and index total_size, tiny shards): the planner sees the real sizes, uploads stay fast.
LAB_MODELS = {
    "mistral-24b-bf16": "mistral-small-24b-bf16",
    "mistral-24b-fp8": "mistral-small-24b-fp8",
    "devstral-24b-bf16": "devstral-small-2505",
}


def ensure_models(lab: Lab) -> None:
    """Write the synthetic model directories under <state>/models (byte-identical on re-runs)."""
    maker = REPO / "tests" / "fixtures" / "make_synthetic_model.py"
    for name, preset in LAB_MODELS.items():
        out = lab.state / "models" / name
        if (out / "config.json").exists():
            continue
        subprocess.run([sys.executable, str(maker), "--preset", preset, "--out", str(out)],
                       check=True, stdout=subprocess.DEVNULL)


def components(lab: Lab, tokens: dict[str, str] | None = None) -> list[Component]:
    tokens = tokens or {}
    db = MariaDB(lab)
    return [Kine(lab), APIServer(lab, tokens), ControllerManager(lab), Scheduler(lab), Kwok(lab),
            MinIO(lab), db, ModelRegistry(lab, db), Simulator(lab)]


def cmd_up(lab: Lab) -> int:
    started = time.monotonic()
    if yaml is None:
        raise LabError(f"PyYAML is missing from {sys.executable}: run `make setup` and use .venv/bin/python")
    lab.state.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.state, 0o700)
    ensure_pki(lab)
    tokens = ensure_tokens(lab)
    ensure_kubeconfigs(lab, tokens)
    comps = {c.name: c for c in components(lab, tokens)}
    kube = Kube(lab.apiserver_url, tokens["admin"], lab.pki / "ca.crt")

    def step(name: str) -> None:
        t0 = time.monotonic()
        result = comps[name].up()
        log(f"{name:24} {result:8} {time.monotonic() - t0:6.1f}s")

    for name in ("kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        step(name)
    # The apiserver needs tens of seconds of CPU to establish the large KServe CRDs: start the
    # servers that do not depend on them meanwhile.
    t0 = time.monotonic()
    crds = apply_crds(lab, kube)
    log(f"{'CRDs':24} {'ensured':8} {time.monotonic() - t0:6.1f}s")
    for name in ("minio", "mariadb", "model-registry"):
        step(name)
    t0 = time.monotonic()
    wait_crds_established(kube, crds)
    infra = ensure_infrastructure(lab, kube)
    ensure_machinesets(kube, infra)
    deployer_token = ensure_rbac(lab, kube)
    log(f"{'cluster objects':24} {'ready':8} {time.monotonic() - t0:6.1f}s  (infrastructure {infra})")
    # The simulator reads lab.json, so write the outputs before starting it.
    write_outputs(lab, deployer_token, infra, comps["mariadb"])
    ensure_models(lab)
    step("labsim")
    log(f"lab is up in {time.monotonic() - started:.1f}s: `. {lab.state / 'env'}` or "
        f"`export KUBECONFIG={lab.state / 'kubeconfig'}`")
    return 0


def cmd_down(lab: Lab) -> int:
    if not lab.state.exists():
        log(f"no lab state at {lab.state}: nothing to stop")
        return 0
    for comp in reversed(components(lab)):
        if comp.pid() is not None:
            log(f"stopping {comp.name} (pid {comp.pid()})")
        comp.stop()
    # Anything a component started in a session of its own still carries the lab's marker.
    leftovers = marked_pids(lab.state)
    for pid in leftovers:
        log(f"stopping leftover process {pid}")
        kill_group(pid, 5.0)
        if proc_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(lab.state, ignore_errors=True)
    inv = inventory_file()
    # Only remove the inventory file when it describes this lab (a second lab may own it).
    if inv is not None and inv.exists() and str(lab.state) in inv.read_text():
        inv.unlink()
    log(f"lab stopped; removed {lab.state}")
    return 0


def cmd_status(lab: Lab) -> int:
    tokens = {}
    token_file = lab.pki / "token-admin"
    if token_file.exists():
        tokens["admin"] = token_file.read_text().strip()
    rows = []
    all_healthy = True
    for comp in components(lab, tokens):
        if not comp.enabled():
            rows.append((comp.name, "-", comp.port or "-", "not installed", 0))
            continue
        pid = comp.pid()
        healthy = pid is not None and comp.healthy()
        all_healthy &= healthy
        rss = proc_rss_kib(pid) if pid else 0
        rows.append((comp.name, pid or "-", comp.port or "-", "healthy" if healthy else "down", rss))
    print(f"{'component':24} {'pid':>8} {'port':>6}  {'state':14} {'rss':>9}")
    for name, pid, port, state, rss in rows:
        print(f"{name:24} {pid!s:>8} {port!s:>6}  {state:14} {rss / 1024:7.0f}Mi")
    pids = marked_pids(lab.state) if lab.state.exists() else []
    total = sum(proc_rss_kib(p) for p in pids)
    print(f"total RSS of {len(pids)} lab processes: {total / 1024:.0f} MiB")
    return 0 if all_healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    lab = Lab()
    try:
        return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](lab)
    except LabError as exc:
        print(f"[lab] error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
