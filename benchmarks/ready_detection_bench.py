#!/usr/bin/env python3
"""Ready-detection latency: inference_service_wait vs kubernetes.core.k8s_info (wait: true).

On a private kube-apiserver (the lab's binaries, no controllers: see
tests/integration/private_apiserver.py) the benchmark writes an InferenceService's status itself,
so the instant the Ready condition flips is known. For each flip both modules are started as
processes waiting on the same InferenceService; the flip happens once our watch is open and at a
random moment 2-7 s after the start (so it falls anywhere in k8s_info's polling cycle). Recorded
per module: flip -> result written to stdout, and flip -> process exit (what Ansible waits for).
k8s_info runs at its defaults (wait_sleep 5, wait_timeout 120) with wait_condition Ready=True.

Then one wait over 50 InferenceServices counts the apiserver's WATCH requests for
inferenceservices (apiserver_request_total) and the watches open during the wait
(apiserver_longrunning_requests): one watch, whatever the number of objects.

Usage: .venv/bin/python benchmarks/ready_detection_bench.py [--flips 20] [--many 50]
Prints numbers; asserts nothing about time (see docs/development.md).
"""

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import module_runner  # noqa: E402
from private_apiserver import KSERVE, PrivateAPIServer, binaries, isvc_body, set_status  # noqa: E402

OURS = "private_ai.llm_serving.inference_service_wait"
THEIRS = "kubernetes.core.k8s_info"


def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def run_flip(api, cust, ns, name, gen, rng):
    set_status(cust, ns, name, ready=False, observed_generation=gen)
    procs = {
        OURS: module_runner.start(OURS, {"kubeconfig": api.kubeconfig, "namespace": ns, "names": [name],
                                         "timeout": 120}),
        THEIRS: module_runner.start(THEIRS, {"kubeconfig": api.kubeconfig, "namespace": ns, "name": name,
                                             "api_version": "serving.kserve.io/v1beta1",
                                             "kind": "InferenceService", "wait": True,
                                             "wait_condition": {"type": "Ready", "status": "True"}}),
    }
    written, exits, results = {}, {}, {}

    def reap(key, proc):
        first = proc.stdout.read(1)  # the module writes its result in one go, then exits
        written[key] = time.monotonic()
        rest = proc.stdout.read()
        proc.wait(180)
        exits[key] = time.monotonic()
        os.unlink(proc.args_file)
        try:
            results[key] = json.loads((first + rest).decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            results[key] = {"rc": proc.returncode, "msg": proc.stderr.read().decode()[-2000:]}
        results[key]["rc"] = proc.returncode

    # Flip only once our watch is open (the apiserver's gauge; nothing else watches here) and
    # k8s_info has had time to start, then at a random point of k8s_info's 5 s polling cycle.
    started = time.monotonic()
    while api.metric("apiserver_longrunning_requests", verb="WATCH", resource="inferenceservices") < 1:
        if time.monotonic() - started > 60:
            raise RuntimeError("inference_service_wait did not open its watch within 60 s")
        time.sleep(0.1)
    time.sleep(max(0.0, started + 2.0 - time.monotonic()) + rng.uniform(0.0, 5.0))
    for key, proc in procs.items():
        if proc.poll() is not None:
            raise RuntimeError("%s returned before the flip: %s" % (key, module_runner.finish(proc)))
    threads = [threading.Thread(target=reap, args=item) for item in procs.items()]
    flip = time.monotonic()
    set_status(cust, ns, name, ready=True, observed_generation=gen)
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, res in results.items():
        if res["rc"] != 0:
            raise RuntimeError("%s failed: %s" % (key, res.get("msg")))
    return {key: (written[key] - flip, exits[key] - flip) for key in procs}


def many(api, cust, ns, count):
    names = ["many-%03d" % i for i in range(count)]
    for name in names:
        cust.create_namespaced_custom_object(*KSERVE, ns, "inferenceservices", isvc_body(name, labels={"bench": "many"}))
        set_status(cust, ns, name, ready=False, observed_generation=1)
    watches_before = api.metric("apiserver_request_total", verb="WATCH", resource="inferenceservices")
    lists_before = api.metric("apiserver_request_total", verb="LIST", resource="inferenceservices")
    proc = module_runner.start(OURS, {"kubeconfig": api.kubeconfig, "namespace": ns, "names": names,
                                      "timeout": 300})
    time.sleep(3)
    open_watches = api.metric("apiserver_longrunning_requests", verb="WATCH", resource="inferenceservices")
    t0 = time.monotonic()
    for name in names:
        set_status(cust, ns, name, ready=True, observed_generation=1)
    last_flip = time.monotonic()
    out = module_runner.finish(proc, timeout=300)
    done = time.monotonic()
    if out["rc"] != 0:
        raise RuntimeError(out.get("msg"))
    time.sleep(1)  # the apiserver counts a WATCH request when it ends
    watches = api.metric("apiserver_request_total", verb="WATCH", resource="inferenceservices") - watches_before
    lists = api.metric("apiserver_request_total", verb="LIST", resource="inferenceservices") - lists_before
    return {"count": count, "module": out["watch"], "apiserver_watch_requests": watches,
            "apiserver_list_requests": lists, "open_watches_during_wait": open_watches,
            "flip_seconds": last_flip - t0, "after_last_flip": done - last_flip,
            "all_ready": all(i["ready"] for i in out["inference_services"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=20)
    parser.add_argument("--many", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    opts = parser.parse_args()
    if not binaries():
        sys.exit("the lab's kube/kine binaries are not built: run `make lab-build` first")
    rng = random.Random(opts.seed)
    api = PrivateAPIServer()
    print("starting a private kube-apiserver on %s ..." % api.url, flush=True)
    api.start()
    print("load average before: %.2f %.2f %.2f (2 CPUs shared with the team)" % os.getloadavg(), flush=True)
    try:
        from kubernetes import client
        with api.api_client() as ac:
            cust = client.CustomObjectsApi(ac)
            ns = "bench-" + uuid.uuid4().hex[:6]
            client.CoreV1Api(ac).create_namespace({"metadata": {"name": ns}})
            cust.create_namespaced_custom_object(*KSERVE, ns, "inferenceservices", isvc_body("flip"))
            lat = {OURS: [], THEIRS: []}
            out = {OURS: [], THEIRS: []}
            for i in range(opts.flips):
                d = run_flip(api, cust, ns, "flip", 1, rng)
                for key, (wrote, exited) in d.items():
                    out[key].append(wrote)
                    lat[key].append(exited)
                print("flip %2d: inference_service_wait %.3f s (result written %.3f s)   "
                      "k8s_info %.3f s (result written %.3f s)"
                      % (i + 1, d[OURS][1], d[OURS][0], d[THEIRS][1], d[THEIRS][0]), flush=True)
            for title, data in (("condition flip -> module process exit (what Ansible waits for)", lat),
                                ("condition flip -> module result written to stdout", out)):
                print("\nDetection latency, %s, %d flips" % (title, opts.flips))
                print("%-46s %8s %8s %8s %8s" % ("", "p50", "p95", "max", "mean"))
                for key in (OURS, THEIRS):
                    v = data[key]
                    print("%-46s %7.3fs %7.3fs %7.3fs %7.3fs" % (key, pct(v, 50), pct(v, 95), max(v),
                                                                 statistics.mean(v)))
                print("p50 ratio k8s_info / inference_service_wait: %.1fx; p95 ratio: %.1fx"
                      % (pct(data[THEIRS], 50) / pct(data[OURS], 50), pct(data[THEIRS], 95) / pct(data[OURS], 95)))
            if opts.many:
                m = many(api, cust, ns, opts.many)
                print("\nOne wait over %d InferenceServices (all flipped Ready one by one in %.2f s; module returned "
                      "%.3f s after the last flip, all ready: %s)" % (m["count"], m["flip_seconds"],
                                                                      m["after_last_flip"], m["all_ready"]))
                print("  module: %s" % m["module"])
                print("  apiserver: WATCH requests on inferenceservices %d, LIST %d, WATCHes open during the wait %d"
                      % (m["apiserver_watch_requests"], m["apiserver_list_requests"], m["open_watches_during_wait"]))
    finally:
        api.stop()


if __name__ == "__main__":
    main()
