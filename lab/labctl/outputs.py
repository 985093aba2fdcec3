"""What `up` leaves for people and tests: lab.json, the env file, the lab inventory's connection
file, and the synthetic model directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from .base import DEPLOYER_NS, DEPLOYER_SA, REGION, REPO, Lab, inventory_file, write_private
from .cluster import deployer_namespaces
from .components import MariaDB
from .pki import kubeconfig

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
        # The lab's cluster network (Routes, Services, pods) is reached through its proxy, and the
        # router's certificates come from the lab CA.
        "llm_serving_inference_services_proxy": f"http://127.0.0.1:{lab.ports['proxy']}",
        "llm_serving_inference_services_ca_path": str(state / "ca.crt"),
    }
    header = "# Written by `make lab-up` (lab/labctl): connection facts only, no secrets.\n---\n"
    write_private(inv, header + yaml.safe_dump(connection, sort_keys=False, width=200), 0o644)


# ---------------------------------------------------------------------------------------------
# Commands


# The lab inventory's models and the published checkpoint each synthetic copy is made from (real
# config.json and index total_size, tiny shards): the planner sees the real sizes, uploads stay fast.
# Mistral's own repositories (Mistral-Small-24B-Instruct-2501, Devstral-Small-2505) hold both the
# Hugging Face files and the Mistral-native ones (params.json, tekken.json,
# consolidated.safetensors); the FP8-dynamic quantization only the Hugging Face ones.
LAB_MODELS = {
    "mistral-24b-bf16": ("mistral-small-24b-bf16", True),
    "mistral-24b-fp8": ("mistral-small-24b-fp8", False),
    "devstral-24b-bf16": ("devstral-small-2505", True),
}


def ensure_models(lab: Lab) -> None:
    """Write the synthetic model directories under <state>/models (byte-identical on re-runs)."""
    maker = REPO / "tests" / "fixtures" / "make_synthetic_model.py"
    for name, (preset, native) in LAB_MODELS.items():
        out = lab.state / "models" / name
        if (out / "config.json").exists():
            continue
        subprocess.run([sys.executable, str(maker), "--preset", preset, "--out", str(out)]
                       + (["--mistral-native"] if native else []), check=True, stdout=subprocess.DEVNULL)
