"""What `up` leaves for people and tests: lab.json, the env file, the lab inventory's connection
file, and the synthetic model directories."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from .base import DEPLOYER_NS, DEPLOYER_SA, REGION, REPO, Lab, inventory_file, log, write_private
from .cluster import deployer_namespaces
from .components import MariaDB
from .minio_user import POLICY, SECRET_FILE, USER_FILE, collection_buckets, credentials
from .registry_auth import CLIENT_SA, REGISTRY_NAME, REGISTRY_NS, TOKEN_FILE
from .pki import kubeconfig


def write_outputs(lab: Lab, deployer_token: str, infra: str, db: MariaDB) -> None:
    state = lab.state
    write_private(state / "deployer.kubeconfig", kubeconfig(lab, DEPLOYER_SA, deployer_token))
    # MinIO's root credentials: the lab's tests (scratch buckets, admin checks), never the collection.
    access_key = lab.secret("minio-user", 10)
    secret_key = lab.secret("minio-password", 24)
    # What the collection gets: a user limited to its buckets (minio_user.py).
    user_key, user_secret = credentials(lab)
    facts = {
        "kubeconfig": str(state / "kubeconfig"),
        "deployer_kubeconfig": str(state / "deployer.kubeconfig"),
        "simulator_kubeconfig": str(lab.kubeconfigs / "simulator.kubeconfig"),
        "ca": str(state / "ca.crt"),
        "apiserver": lab.apiserver_url,
        "s3": {"endpoint": lab.s3_endpoint, "access_key": access_key, "secret_key": secret_key,
               "region": REGION},
        "s3_collection": {"endpoint": lab.s3_endpoint, "access_key": user_key, "secret_key": user_secret,
                          "region": REGION, "buckets": collection_buckets(), "policy": POLICY},
        # the registry server itself (plain HTTP, no auth: the lab's tests of the module), and
        # the registry behind kube-rbac-proxy with the collection's token (what site.yml uses)
        "registry_url": lab.registry_url,
        "registry_proxy": {"url": lab.registry_proxy_url, "ca": str(state / "ca.crt"),
                           "token": (state / TOKEN_FILE).read_text().strip(),
                           "service_account": f"{DEPLOYER_NS}/{CLIENT_SA}",
                           "registry": f"{REGISTRY_NS}/{REGISTRY_NAME}"},
        "infrastructure_name": infra,
        "deployer": {"namespace": DEPLOYER_NS, "service_account": DEPLOYER_SA,
                     "namespaces": deployer_namespaces()},
        "vllm_port_base": lab.vllm_port_base,
        "proxy_port": lab.ports["proxy"],
        "proxy_url": f"http://127.0.0.1:{lab.ports['proxy']}",
        "labsim_webhook_port": lab.ports["labsim-webhook"],
        "kserve_webhook_port": lab.ports["kserve-webhook"],
        "kwok_port": lab.ports["kwok"],
        "state_dir": str(state),
        "db": {"host": "127.0.0.1", "port": db.port, "database": db.DATABASE, "user": db.USER,
               "password": lab.secret("db-password", 18), "socket": str(db.socket)},
    }
    write_private(state / "lab.json", json.dumps(facts, indent=2) + "\n")
    env = {
        "KUBECONFIG": facts["kubeconfig"],
        "K8S_AUTH_KUBECONFIG": facts["deployer_kubeconfig"],
        "AWS_ACCESS_KEY_ID": user_key,
        "AWS_SECRET_ACCESS_KEY": user_secret,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_S3_ENDPOINT": lab.s3_endpoint,
        "LAB_REGISTRY_URL": lab.registry_url,
        "LAB_REGISTRY_PROXY_URL": lab.registry_proxy_url,
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
        "llm_serving_s3_access_key": f"{{{{ lookup('ansible.builtin.file', '{state / USER_FILE}') }}}}",
        "llm_serving_s3_secret_key": f"{{{{ lookup('ansible.builtin.file', '{state / SECRET_FILE}') }}}}",
        # The registry behind its authenticating proxy, with the collection's ServiceAccount token.
        "llm_serving_registry_url": lab.registry_proxy_url,
        "llm_serving_registry_token": f"{{{{ lookup('ansible.builtin.file', '{state / TOKEN_FILE}') }}}}",
        "llm_serving_registry_ca_bundle": str(state / "ca.crt"),
        # The lab's cluster network (Routes, Services, pods) is reached through its proxy, and the
        # router's certificates come from the lab CA.
        "llm_serving_inference_services_proxy": f"http://127.0.0.1:{lab.ports['proxy']}",
        "llm_serving_inference_services_ca_path": str(state / "ca.crt"),
    }
    header = "# Written by `make lab-up` (lab/labctl): connection facts only, no secrets.\n---\n"
    write_private(inv, header + yaml.safe_dump(connection, sort_keys=False, width=200), 0o644)


# ---------------------------------------------------------------------------------------------
# Commands


# Every profile runs on the lab (`-i inventories/<profile> -i inventories/lab`): the lab inventory
# sets llm_serving_models_root to <state>/models, and `up` writes there a synthetic copy of each
# checkpoint a profile reads from `{{ llm_serving_models_root }}/<checkpoint>`, made from the
# fixture of the same name (tests/fixtures/checkpoints/<checkpoint>: the real config.json, the real
# total size, the formats it is published in; tiny shards).
MODELS_ROOT = re.compile(r"^\{\{\s*llm_serving_models_root\s*\}\}/([^/]+)/?$")
SYNTH = REPO / "tests" / "fixtures" / "make_synthetic_model.py"
FIXTURES = REPO / "tests" / "fixtures" / "checkpoints"


def profile_checkpoints() -> dict[str, list[str]]:
    """{checkpoint directory: ["<profile>/<model>", ...]} of every profile inventory's local weights
    under llm_serving_models_root."""
    out: dict[str, list[str]] = {}
    for inv in sorted((REPO / "inventories").iterdir()):
        if inv.name == "lab" or not (inv / "group_vars").is_dir():
            continue
        for path in sorted((inv / "group_vars").rglob("*.yml")):
            data = yaml.safe_load(path.read_text()) or {}
            for model in data.get("llm_serving_models") or []:
                weights = model.get("weights") or {}
                match = MODELS_ROOT.match(str(weights.get("local_dir") or ""))
                if weights.get("source", "local") == "local" and match:
                    out.setdefault(match.group(1), []).append(f"{inv.name}/{model.get('name')}")
    return out


def _fixture_digest(name: str) -> str:
    h = hashlib.sha256(SYNTH.read_bytes())
    for f in sorted((FIXTURES / name).iterdir()):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def ensure_models(lab: Lab) -> None:
    """Write the synthetic checkpoints of every profile under <state>/models, again only when the
    fixture or the generator changed (the output is byte-identical for the same inputs)."""
    root = lab.state / "models"
    stamps = lab.state / "models.stamps"
    stamps.mkdir(parents=True, exist_ok=True)
    for name, users in profile_checkpoints().items():
        if not (FIXTURES / name / "checkpoint.json").is_file():
            log(f"warning: no synthetic checkpoint for {name} (used by {', '.join(users)}): add "
                f"tests/fixtures/checkpoints/{name}/ with its config.json and checkpoint.json")
            continue
        digest = _fixture_digest(name)
        stamp = stamps / name
        if stamp.is_file() and stamp.read_text() == digest and (root / name / "config.json").is_file():
            continue
        if (root / name).is_dir():
            shutil.rmtree(root / name)
        subprocess.run([sys.executable, str(SYNTH), "--checkpoint", name, "--out", str(root / name)],
                       check=True, stdout=subprocess.DEVNULL)
        stamp.write_text(digest)
