"""labsim: the lab's simulator of what has no upstream build the lab could run: the Machine API on
AWS, odh-model-controller, the opendatahub-operator's Kueue defaults and InferenceService webhooks,
what runs inside
a predictor pod (storage initializer, vLLM), and the cluster network (an HTTP(S) proxy standing in
for cluster DNS, kube-proxy and the OpenShift router). One process, one thread per controller.

    python -m labsim --state-dir /abs/path/.lab [--kubeconfig ...]

Writes `<state-dir>/labsim.ready` once every watch has synced, the controllers run and the proxy
and the webhook server listen.
"""

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time

from kubernetes import client

from . import kube, network, profile
from .machineapi import MachineAPIController
from .odh_auth import AuthController
from .odh_model_controller import ODHModelController
from .odh_operator import KueueDefaults
from .odh_webhooks import Webhooks
from .pods import PodRuntime
from .sims import SimManager

ISVC_LABEL = "serving.kserve.io/inferenceservice"
RESOURCES = {
    "machinesets": dict(kind="MachineSet", plural="machinesets", group="machine.openshift.io",
                        version="v1beta1"),
    "machines": dict(kind="Machine", plural="machines", group="machine.openshift.io",
                     version="v1beta1"),
    "kwok-nodes": dict(kind="Node", plural="nodes", label_selector="type=kwok",
                       list_method=(client.CoreV1Api, "list_node")),
    "inferenceservices": dict(kind="InferenceService", plural="inferenceservices",
                              group="serving.kserve.io", version="v1beta1"),
    "predictor-pods": dict(kind="Pod", plural="pods", label_selector=ISVC_LABEL,
                           list_method=(client.CoreV1Api, "list_pod_for_all_namespaces")),
    # odh-model-controller watches Secrets labelled opendatahub.io/managed=true (secret_controller.go)
    "odh-secrets": dict(kind="Secret", plural="secrets", label_selector="opendatahub.io/managed=true",
                        list_method=(client.CoreV1Api, "list_secret_for_all_namespaces")),
    "services": dict(kind="Service", plural="services",
                     list_method=(client.CoreV1Api, "list_service_for_all_namespaces")),
    "endpointslices": dict(kind="EndpointSlice", plural="endpointslices",
                           group="discovery.k8s.io", version="v1"),
    "routes": dict(kind="Route", plural="routes", group="route.openshift.io", version="v1"),
    "nodes": dict(kind="Node", plural="nodes", list_method=(client.CoreV1Api, "list_node")),
    "namespaces": dict(kind="Namespace", plural="namespaces",
                       list_method=(client.CoreV1Api, "list_namespace")),
    "localqueues": dict(kind="LocalQueue", plural="localqueues", group="kueue.x-k8s.io", version="v1beta1"),
    "clusterqueues": dict(kind="ClusterQueue", plural="clusterqueues", group="kueue.x-k8s.io",
                          version="v1beta1"),
    "resourceflavors": dict(kind="ResourceFlavor", plural="resourceflavors", group="kueue.x-k8s.io",
                            version="v1beta1"),
}


def code_digest():
    """sha256 over labsim's sources: tests compare it to tell a labsim running older code."""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as fh:
                digest.update(name.encode() + b"\0" + fh.read())
    return digest.hexdigest()


class Context:
    """What controllers share: kubeconfig, state dir, informers by name, the sim manager."""

    def __init__(self, state_dir, kubeconfig, port_base):
        self.state_dir = state_dir
        self.kubeconfig = kubeconfig
        self.informers = {}
        self.sims = SimManager(state_dir, port_base, logging.getLogger("labsim.vllm"))

    def informer(self, name):
        if name not in self.informers:
            self.informers[name] = kube.Informer(self.kubeconfig, kube.Resource(**RESOURCES[name]))
        return self.informers[name]

    def latency(self):
        return profile.load_config(self.state_dir)


def main(argv=None):
    p = argparse.ArgumentParser(prog="labsim", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", required=True)
    p.add_argument("--kubeconfig")
    p.add_argument("--vllm-port-base", type=int)
    opts = p.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("labsim")
    state_dir = os.path.abspath(opts.state_dir)
    lab = {}
    lab_json = os.path.join(state_dir, "lab.json")
    if os.path.exists(lab_json):
        with open(lab_json, encoding="utf-8") as fh:
            lab = json.load(fh)
    kubeconfig = opts.kubeconfig or lab.get("kubeconfig") or os.path.join(state_dir, "kubeconfig")
    port_base = opts.vllm_port_base or int(lab.get("vllm_port_base") or
                                           os.environ.get("LAB_VLLM_PORT_BASE", 20000))
    ready_file = os.path.join(state_dir, "labsim.ready")
    if os.path.exists(ready_file):
        os.unlink(ready_file)

    ctx = Context(state_dir, kubeconfig, port_base)
    ctx.informer("kwok-nodes")
    pods = PodRuntime(ctx)
    controllers = [MachineAPIController(ctx), ODHModelController(ctx), AuthController(ctx), KueueDefaults(ctx),
                   pods]
    proxy = network.Proxy(network.Network(ctx, pods.endpoints), network.Certs(state_dir),
                          int(lab.get("proxy_port") or os.environ.get("LAB_PROXY_PORT", 13128)))
    hooks = Webhooks(ctx, int(lab.get("labsim_webhook_port") or
                              os.environ.get("LAB_SIM_WEBHOOK_PORT", 19445)))

    stop = threading.Event()

    def shutdown(signum, _frame):
        log.info("signal %d: stopping vLLM simulators", signum)
        stop.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)

    for inf in ctx.informers.values():
        inf.start()
    t0 = time.monotonic()
    while not stop.is_set():
        waiting = [n for n, inf in ctx.informers.items() if not inf.synced.is_set()]
        if not waiting:
            break
        if time.monotonic() - t0 > 10:
            log.info("waiting for the first list of: %s", ", ".join(waiting))
            t0 = time.monotonic()
        stop.wait(0.2)
    if not stop.is_set():
        for ctl in controllers:
            ctl.start()
        proxy.start()
        pki = os.path.join(state_dir, "pki")
        hooks.start(os.path.join(pki, "loopback.crt"), os.path.join(pki, "loopback.key"))
        with open(ready_file, "w", encoding="utf-8") as fh:
            json.dump({"pid": os.getpid(), "code_digest": code_digest()}, fh)
        log.info("labsim ready: %s, network proxy, odh webhooks (vLLM ports from %d)",
                 ", ".join(c.name for c in controllers), port_base)
    stop.wait()
    pods.proxies.stop_all()
    ctx.sims.stop_all()
    if os.path.exists(ready_file):
        os.unlink(ready_file)
    log.info("labsim stopped")


if __name__ == "__main__":
    main()
