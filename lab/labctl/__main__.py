"""Start, stop and inspect the private-ai local lab.

    python -m labctl up       start every component (idempotent: healthy ones are kept)
    python -m labctl down     stop every component (and anything they started), remove the state
    python -m labctl status   one line per component, and the total RSS of the lab's processes

(run with lab/ on PYTHONPATH; the Makefile's lab-* targets do). The lab is made of real upstream
servers built by lab/build.sh (kube-apiserver, kube-controller-manager, kube-scheduler, kine, kwok,
MinIO, Model Registry, KServe, Kueue) plus MariaDB from Debian and the Python simulator in
lab/labsim/. Everything but KServe's webhook server listens on 127.0.0.1 only. State lives in .lab/
at the repository root (LAB_STATE_DIR overrides). `up` needs PyYAML and cryptography (the project
venv has them); `down` and `status` run on a bare python3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time

from .base import Lab, LabError, inventory_file, log
from .components import (APIServer, ControllerManager, Kine, KServe, Kueue, Kwok, MariaDB, MinIO,
                         ModelRegistry, Scheduler, Simulator)
from .procs import Component, kill_group, marked_pids, proc_alive, proc_rss_kib
from .registry_auth import RegistryProxy


def components(lab: Lab, tokens: dict[str, str] | None = None) -> list[Component]:
    tokens = tokens or {}
    db = MariaDB(lab)
    return [Kine(lab), APIServer(lab, tokens), ControllerManager(lab), Scheduler(lab), Kwok(lab),
            MinIO(lab), db, ModelRegistry(lab, db), RegistryProxy(lab), KServe(lab), Kueue(lab),
            Simulator(lab)]


def cmd_up(lab: Lab) -> int:
    try:
        import yaml  # noqa: F401,PLC0415
    except ImportError:
        raise LabError(f"PyYAML is missing from {sys.executable}: run `make setup` and use .venv/bin/python") from None
    from . import cluster, minio_user, openshift_ai, outputs, pki, registry_auth  # noqa: PLC0415 - need PyYAML/cryptography
    from .kube import Kube  # noqa: PLC0415

    started = time.monotonic()
    lab.state.mkdir(parents=True, exist_ok=True)
    os.chmod(lab.state, 0o700)
    pki.ensure_pki(lab)
    tokens = pki.ensure_tokens(lab)
    pki.ensure_kubeconfigs(lab, tokens)
    comps = {c.name: c for c in components(lab, tokens)}
    kube = Kube(lab.apiserver_url, tokens["admin"], lab.pki / "ca.crt")

    def step(name: str) -> None:
        t0 = time.monotonic()
        result = comps[name].up()
        log(f"{name:24} {result:8} {time.monotonic() - t0:6.1f}s")

    def timed(what: str, fn, *args):
        t0 = time.monotonic()
        out = fn(*args)
        log(f"{what:24} {'ready':8} {time.monotonic() - t0:6.1f}s")
        return out

    for name in ("kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        step(name)
    # The apiserver needs tens of seconds of CPU to establish the large KServe CRDs: start the
    # servers that do not depend on them meanwhile.
    crds = timed("CRDs (applied)", cluster.apply_crds, lab, kube)
    for name in ("minio", "mariadb", "model-registry"):
        step(name)
    timed("MinIO collection user", minio_user.ensure_collection_user, lab, minio_user.collection_buckets())
    timed("CRDs (established)", cluster.wait_crds_established, kube, crds)
    infra = cluster.ensure_infrastructure(lab, kube)
    cluster.ensure_machinesets(kube, infra)
    deployer_token = cluster.ensure_rbac(lab, kube)
    # The registry behind kube-rbac-proxy, as the model-registry-operator sets it up (its RBAC and
    # the ServiceAccount token the collection gets).
    timed("registry RBAC, token", registry_auth.ensure, lab, kube)
    step("registry-proxy")
    openshift_ai.ensure_namespaces_and_config(kube, lab)
    log(f"{'cluster objects':24} {'ready':8}          (infrastructure {infra})")
    # The managers' webhooks fail closed: register them only once their servers answer.
    for name in ("kserve", "kueue"):
        step(name)
    timed("webhooks (KServe, Kueue)", openshift_ai.register_webhooks, kube,
          openshift_ai.kserve_webhooks(lab) + openshift_ai.kueue_webhooks(lab))
    # The simulator reads lab.json, so write the outputs before starting it.
    outputs.write_outputs(lab, deployer_token, infra, comps["mariadb"])
    outputs.ensure_models(lab)
    step("labsim")
    timed("webhooks (odh operator)", openshift_ai.register_webhooks, kube,
          openshift_ai.odh_operator_webhooks(lab))
    timed("worker nodes, Kueue queue", cluster.wait_openshift_ai_queue, kube)
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
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
