"""The lab's paths, ports, pinned versions and per-lab secrets (`Lab`), and small shared helpers.

Imports nothing outside the standard library: `labctl down` and `status` run on a bare python3.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parents[1]
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
            "kserve-webhook": _env_int("LAB_KSERVE_WEBHOOK_PORT", 19443),
            "kserve-metrics": _env_int("LAB_KSERVE_METRICS_PORT", 18090),
            "kserve-health": _env_int("LAB_KSERVE_HEALTH_PORT", 18091),
            "kueue-webhook": _env_int("LAB_KUEUE_WEBHOOK_PORT", 19444),
            "kueue-health": _env_int("LAB_KUEUE_HEALTH_PORT", 18092),
            "labsim-webhook": _env_int("LAB_SIM_WEBHOOK_PORT", 19445),
            "proxy": _env_int("LAB_PROXY_PORT", 13128),
        }
        # Next to the registry's own port, so labs started with other ports files do not collide.
        self.ports["registry-proxy"] = _env_int("LAB_REGISTRY_PROXY_PORT", self.ports["model-registry"] + 3)
        self.ports["registry-proxy-health"] = _env_int("LAB_REGISTRY_PROXY_HEALTH_PORT",
                                                       self.ports["model-registry"] + 4)
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
    def registry_proxy_url(self) -> str:
        """The registry behind kube-rbac-proxy (https, lab CA, a bearer token), what the collection uses."""
        return f"https://127.0.0.1:{self.ports['registry-proxy']}"

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


def inventory_file() -> Path | None:
    """Where `up` writes the lab inventory's connection facts; LAB_INVENTORY_FILE="" disables it."""
    raw = os.environ.get("LAB_INVENTORY_FILE")
    if raw is None:
        return REPO / "inventories" / "lab" / "group_vars" / "all" / "lab_connection.yml"
    return Path(raw).resolve() if raw else None
