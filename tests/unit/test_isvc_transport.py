"""The module process against a scripted HTTP apiserver: the wire side of LIST + WATCH.

A stand-in for kube-apiserver's list/watch protocol (chunked JSON lines) checks what
inference_service_wait sends (resourceVersion, bookmarks, selectors, timeouts) and that it
resumes after the server drops the connection. The real apiserver is exercised by
tests/integration/test_inference_service_wait.py.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
PATH = "/apis/serving.kserve.io/v1beta1/namespaces/ns/inferenceservices"
# The predictor Deployments and pods the wait watches besides (served as ready, never changing).
OWNED = {"/apis/apps/v1/namespaces/ns/deployments": "deps", "/api/v1/namespaces/ns/pods": "pods"}


def isvc(name, rv, ready):
    return {"metadata": {"name": name, "namespace": "ns", "generation": 1, "resourceVersion": str(rv)},
            "spec": {"predictor": {"model": {"args": ["--dtype=bfloat16"]}}},
            "status": {"observedGeneration": 1, "url": "http://%s.example" % name,
                       "deploymentMode": "RawDeployment",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def dep(name):
    return {"metadata": {"name": name + "-predictor", "generation": 1, "resourceVersion": "2",
                         "labels": {"serving.kserve.io/inferenceservice": name}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "kserve-container", "args": ["--port=8080", "--dtype=bfloat16"]}]}}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}


class FakeAPI:
    def __init__(self):
        self.items = []
        self.deps = []
        self.pods = []
        self.rv = 10
        self.requests = []
        self.closed = threading.Event()
        self.events = queue.Queue()  # dict -> send; "drop" -> cut the connection

    def start(self):
        api = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def open_stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def do_GET(self):
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                api.requests.append((url.path, q, self.headers.get("Authorization")))
                discovery = {"/version": {"major": "1", "minor": "35", "gitVersion": "v1.35.4"},
                             "/api": {"kind": "APIVersions", "versions": ["v1"]},
                             "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}}
                watch = q.get("watch", "").lower() == "true"
                if url.path in discovery:  # kubernetes.core's client discovers when it is created
                    self.reply(200, discovery[url.path])
                    return
                if url.path in OWNED:
                    if not watch:
                        self.reply(200, {"items": getattr(api, OWNED[url.path]), "metadata": {"resourceVersion": "5"}})
                        return
                    self.open_stream()
                    api.closed.wait(60)  # an open watch on which nothing happens
                    self.close_connection = True
                    return
                if url.path != PATH:
                    self.reply(404, {"kind": "Status", "code": 404, "message": "not found"})
                    return
                if not watch:
                    self.reply(200, {"items": api.items, "metadata": {"resourceVersion": str(api.rv)}})
                    return
                self.open_stream()
                while True:
                    ev = api.events.get()
                    if ev == "drop":
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    line = (json.dumps(ev) + "\n").encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        return self

    def watches(self):
        """The InferenceService watches."""
        return [r[1] for r in self.requests if r[0] == PATH and r[1].get("watch", "").lower() == "true"]


@pytest.fixture
def fake_api():
    api = FakeAPI().start()
    yield api
    api.closed.set()
    api.events.put("drop")
    api.srv.shutdown()
    api.srv.server_close()


def start_module(api, **args):
    args = dict({"host": api.url, "api_key": "unit-test-token", "namespace": "ns", "timeout": 30}, **args)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / ("isvc-args-%d.json" % os.getpid())
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=str(REPO / "collections"))
    return subprocess.Popen([sys.executable, str(REPO / "plugins" / "modules" / "inference_service_wait.py"),
                             str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def result(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError("no JSON: %s %s" % (out[-2000:], err[-2000:]))


def wait_until(pred, timeout=20):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_one_list_one_watch_and_prompt_return(fake_api):
    fake_api.items = [isvc("a", 3, False), isvc("b", 4, False)]
    fake_api.deps = [dep("a"), dep("b")]
    proc = start_module(fake_api, names=["a", "b"])
    wait_until(fake_api.watches)
    (w,) = fake_api.watches()
    assert w["resourceVersion"] == "10" and w["allowWatchBookmarks"].lower() == "true"
    assert 1 <= int(w["timeoutSeconds"]) <= 30 and "fieldSelector" not in w
    fake_api.events.put({"type": "MODIFIED", "object": isvc("a", 11, True)})
    fake_api.events.put({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}})
    time.sleep(0.3)
    assert proc.poll() is None
    t_flip = time.monotonic()
    fake_api.events.put({"type": "MODIFIED", "object": isvc("b", 13, True)})
    out = result(proc)
    assert time.monotonic() - t_flip < 2
    assert out["changed"] is False and [i["ready"] for i in out["inference_services"]] == [True, True]
    # one LIST and one WATCH each of InferenceServices, Deployments and pods
    assert out["watch"]["list_requests"] == 3 and out["watch"]["watch_requests"] == 3
    assert all(r[2] == "Bearer unit-test-token" for r in fake_api.requests)


def test_dropped_watch_is_resumed_from_the_last_resource_version(fake_api):
    fake_api.items = [isvc("a", 3, False)]
    fake_api.deps = [dep("a")]
    proc = start_module(fake_api, names=["a"])
    wait_until(fake_api.watches)
    assert fake_api.watches()[0]["fieldSelector"] == "metadata.name=a"
    fake_api.events.put({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "17"}}})
    fake_api.events.put("drop")
    wait_until(lambda: len(fake_api.watches()) == 2)
    assert fake_api.watches()[1]["resourceVersion"] == "17"
    fake_api.events.put({"type": "MODIFIED", "object": isvc("a", 18, True)})
    out = result(proc)
    assert out["inference_services"][0]["ready"]
    assert out["watch"]["list_requests"] == 3 and out["watch"]["reconnects"] == 1


def test_expired_resource_version_relists(fake_api):
    fake_api.items = [isvc("a", 3, False)]
    fake_api.deps = [dep("a")]
    proc = start_module(fake_api, names=["a"])
    wait_until(fake_api.watches)
    fake_api.items = [isvc("a", 40, True)]
    fake_api.rv = 41
    fake_api.events.put({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                     "message": "too old resource version: 10 (35)"}})
    out = result(proc)
    assert out["inference_services"][0]["ready"]
    assert out["watch"]["list_requests"] == 4 and out["watch"]["relists"] == 1


def test_missing_crd_fails_at_once(fake_api):
    proc = start_module(fake_api, names=["a"], namespace="other")
    out = result(proc)
    assert out["failed"] and out["msg"].startswith("Cannot watch InferenceServices in namespace other: GET ")
    assert "HTTP 404" in out["msg"]
