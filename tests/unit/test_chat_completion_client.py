"""chat_completion's SSE parsing, metrics and retry/failure behaviour, against a scripted local
HTTP server (no lab): what the operator sees when an endpoint is slow, flaky or wrong."""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.openai.client import (  # noqa: E402
    EndpointError,
    base_url,
    chunk_content,
    derive_metrics,
    excerpt,
    iter_sse_data,
    run_smoke_test,
)

TOKEN = "sha256~unit-test-bearer-token"
MSGS = [{"role": "user", "content": "hi"}]


# -- pure functions ----------------------------------------------------------------------------
def test_sse_parsing_handles_crlf_comments_multiline_and_missing_final_blank_line():
    raw = [b": keep-alive\r\n", b"\r\n", b"data: {\"a\": 1}\r\n", b"\r\n", b"event: x\n",
           b"data: line1\n", b"data:line2\n", b"\n", b"id: 3\n", b"data: [DONE]"]
    assert list(iter_sse_data(raw)) == ['{"a": 1}', "line1\nline2", "[DONE]"]


def test_chunk_content_ignores_role_only_and_usage_chunks():
    assert chunk_content({"choices": [{"delta": {"role": "assistant", "content": ""}}]}) == ""
    assert chunk_content({"choices": [], "usage": {"completion_tokens": 3}}) == ""
    assert chunk_content({"choices": [{"delta": {"content": " world"}}]}) == " world"
    assert chunk_content({"choices": [{"text": "legacy"}]}) == "legacy"


def test_metric_definitions():
    m = derive_metrics(t_latency=1.0, t_first=0.2, output_tokens=33)
    assert m["ttft_seconds"] == 0.2 and m["latency_seconds"] == 1.0
    assert m["tokens_per_second"] == pytest.approx(33 / 0.8, rel=1e-3)
    assert m["tpot_seconds"] == pytest.approx(0.8 / 32, rel=1e-3)
    n = derive_metrics(t_latency=2.0, t_first=None, output_tokens=10)
    assert n["ttft_seconds"] is None and n["tokens_per_second"] == 5.0 and n["tpot_seconds"] is None


def test_helpers():
    assert base_url("https://x.example/v1/") == "https://x.example"
    assert excerpt("bad %s token" % TOKEN, TOKEN) == "bad ******** token"
    assert len(excerpt("x" * 1000)) == 303


# -- against a scripted server -----------------------------------------------------------------
class Script:
    def __init__(self):
        self.lock = threading.Lock()
        self.routes = {}
        self.seen = []

    def add(self, method, path, *answers):
        """answers are (status, body, headers) tuples used in order; the last one repeats."""
        self.routes[(method, path)] = list(answers)

    def next(self, method, path):
        with self.lock:
            answers = self.routes.get((method, path)) or [(404, {"message": "no route"}, {})]
            return answers.pop(0) if len(answers) > 1 else answers[0]


def sse(chunks, usage=None, ttft=0.0, gap=0.0):
    def gen():
        time.sleep(ttft)
        yield {"choices": [{"delta": {"role": "assistant", "content": ""}}]}
        for i, c in enumerate(chunks):
            if i:
                time.sleep(gap)
            yield {"choices": [{"delta": {"content": c}, "finish_reason": "stop" if i == len(chunks) - 1 else None}]}
        if usage:
            yield {"choices": [], "usage": usage}
    return gen


@pytest.fixture()
def server():
    script = Script()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def handle_any(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            script.seen.append((method, self.path, dict(self.headers), body))
            status, payload, headers = script.next(method, self.path)
            if callable(payload):
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for obj in payload():
                    data = ("data: %s\n\n" % json.dumps(obj)).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                done = b"data: [DONE]\n\n"
                self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
                return
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    script.url = "http://127.0.0.1:%d" % srv.server_address[1]
    yield script
    srv.shutdown()
    srv.server_close()


def healthy(script, model="m"):
    script.add("GET", "/health", (200, b"", {}))
    script.add("GET", "/v1/models", (200, {"object": "list", "data": [{"id": model}]}, {}))


def test_streaming_measures_ttft_and_uses_usage(server):
    healthy(server)
    server.add("POST", "/v1/chat/completions",
               (200, sse(["Hello", " there", " friend"], {"prompt_tokens": 1, "completion_tokens": 3},
                         ttft=0.2, gap=0.05), {}))
    out = run_smoke_test(server.url + "/v1", "m", MSGS, expect="(?i)hello", token=TOKEN, timeout=10)
    assert out["content"] == "Hello there friend"
    assert out["output_tokens"] == 3 and out["output_tokens_source"] == "usage" and out["prompt_tokens"] == 1
    # Orderings the server's own pauses guarantee (0.2 s before the first chunk, then two gaps),
    # not wall-clock bounds a loaded machine can stretch.
    assert out["ttft_seconds"] >= 0.2
    assert out["latency_seconds"] > out["ttft_seconds"]
    assert out["tokens_per_second"] == pytest.approx(3 / (out["latency_seconds"] - out["ttft_seconds"]), rel=1e-2)
    assert out["attempts"] == 3 and out["finish_reason"] == "stop"
    post = [s for s in server.seen if s[0] == "POST"][0]
    assert post[3]["stream"] is True and post[3]["stream_options"] == {"include_usage": True}
    assert post[2]["Authorization"] == "Bearer " + TOKEN
    assert TOKEN not in json.dumps(out)


def test_streaming_without_usage_counts_chunks(server):
    healthy(server)
    server.add("POST", "/v1/chat/completions", (200, sse(["a", " b"]), {}))
    out = run_smoke_test(server.url, "m", MSGS, timeout=5)
    assert out["output_tokens"] == 2 and out["output_tokens_source"] == "chunks"


def test_non_streaming(server):
    healthy(server)
    server.add("POST", "/v1/chat/completions", (200, {
        "choices": [{"message": {"role": "assistant", "content": "four words right here"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 4}}, {}))
    out = run_smoke_test(server.url, "m", MSGS, stream=False, timeout=5)
    assert out["ttft_seconds"] is None and out["output_tokens"] == 4
    assert out["tokens_per_second"] == pytest.approx(4 / out["latency_seconds"], rel=1e-2)
    assert [s for s in server.seen if s[0] == "POST"][0][3]["stream"] is False


def test_503_and_429_are_retried_then_pass(server):
    server.add("GET", "/health", (503, b"loading", {}), (503, b"loading", {}), (200, b"", {}))
    server.add("GET", "/v1/models", (429, {"message": "slow down"}, {"Retry-After": "0"}),
               (200, {"data": [{"id": "m"}]}, {}))
    server.add("POST", "/v1/chat/completions", (503, {"message": "overloaded"}, {}), (200, sse(["ok"]), {}))
    out = run_smoke_test(server.url, "m", MSGS, timeout=20)
    assert out["content"] == "ok" and out["attempts"] == 7


def test_permanent_error_fails_at_once_with_status_and_body(server, fake_time):
    healthy(server)
    server.add("POST", "/v1/chat/completions",
               (404, {"object": "error", "message": "The model `m` does not exist. key=%s" % TOKEN}, {}))
    with pytest.raises(EndpointError) as exc:
        run_smoke_test(server.url, "m", MSGS, token=TOKEN, timeout=30, **fake_time.retry_kwargs())
    assert fake_time.sleeps == []  # not retried
    msg = str(exc.value)
    assert msg.startswith("POST %s/v1/chat/completions returned HTTP 404: " % server.url)
    assert "does not exist" in msg and TOKEN not in msg and "********" in msg
    assert exc.value.status == 404 and exc.value.attempts == 3


def test_deadline_gives_one_failure_with_last_status(server, fake_time):
    server.add("GET", "/health", (503, {"message": "model still loading"}, {}))
    with pytest.raises(EndpointError) as exc:
        run_smoke_test(server.url, "m", MSGS, timeout=2, **fake_time.retry_kwargs())
    assert fake_time.now == pytest.approx(1002.0)  # waited the whole deadline, not past it
    msg = str(exc.value)
    assert "did not succeed within the 2 s deadline" in msg
    assert "HTTP 503" in msg and "model still loading" in msg
    assert exc.value.status == 503 and exc.value.attempts >= 3
    assert exc.value.attempts == len(fake_time.sleeps)  # a backoff after every failed attempt


def test_500_is_retried_like_every_client_does(server, fake_time):
    """One set of retryable statuses (common.retry): a 500 while the server restarts is not final."""
    healthy(server)
    server.add("POST", "/v1/chat/completions", (500, {"message": "engine restarting"}, {}),
               (200, sse(["ok"]), {}))
    out = run_smoke_test(server.url, "m", MSGS, timeout=20, **fake_time.retry_kwargs())
    assert out["content"] == "ok" and out["attempts"] == 4 and len(fake_time.sleeps) == 1


def test_retry_after_is_honoured_and_the_backoff_is_jittered(server, fake_time):
    server.add("GET", "/health", (503, b"loading", {}), (503, b"loading", {}), (503, b"loading", {}),
               (429, b"slow down", {"Retry-After": "3"}), (429, b"slow down", {"Retry-After": "3600"}),
               (200, b"", {}))
    server.add("GET", "/v1/models", (200, {"data": [{"id": "m"}]}, {}))
    server.add("POST", "/v1/chat/completions", (200, sse(["ok"]), {}))
    run_smoke_test(server.url, "m", MSGS, timeout=300, **fake_time.retry_kwargs())
    backoff, after = fake_time.sleeps[:3], fake_time.sleeps[3:]
    assert all(0 <= d <= 0.25 * 2 ** i for i, d in enumerate(backoff))
    assert after == [3.0, 10.0]  # Retry-After, followed up to 10 s


def test_connection_refused_is_retried_until_deadline():
    with pytest.raises(EndpointError) as exc:
        run_smoke_test("http://127.0.0.1:9", "m", MSGS, timeout=1.5)
    assert "Connection refused" in str(exc.value) and exc.value.attempts >= 2


def test_model_not_listed(server):
    healthy(server, model="other")
    with pytest.raises(EndpointError, match=r"does not list the model 'm'; it serves other"):
        run_smoke_test(server.url, "m", MSGS, timeout=5)


def test_expect_mismatch(server):
    healthy(server)
    server.add("POST", "/v1/chat/completions", (200, sse(["bonjour"]), {}))
    with pytest.raises(EndpointError, match=r"does not match expect '\^hello': bonjour"):
        run_smoke_test(server.url, "m", MSGS, expect="^hello", timeout=5)


def test_stream_error_payload(server):
    healthy(server)
    server.add("POST", "/v1/chat/completions", (200, lambda: iter([{"error": {"message": "engine dead"}}]), {}))
    with pytest.raises(EndpointError, match="engine dead"):
        run_smoke_test(server.url, "m", MSGS, timeout=5)


@pytest.fixture()
def tls_server(server, tmp_path):
    """The scripted server behind TLS with a certificate from a private CA (ca.crt)."""
    import ssl
    import subprocess

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=tmp_path, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ossl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=unit-ca", "-days", "1")
    ossl("req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    (tmp_path / "san").write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "srv.crt", "-days", "1", "-extfile", "san")
    import socket as _socket
    port = int(server.url.rsplit(":", 1)[1])
    # a TLS front on another port that relays to the scripted plain server
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tmp_path / "srv.crt"), str(tmp_path / "srv.key"))
    lsock = _socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)

    def pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(_socket.SHUT_RDWR)
                except OSError:
                    pass

    def accept():
        while True:
            try:
                raw, _addr = lsock.accept()
            except OSError:
                return
            try:
                tls = ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()
                continue
            back = _socket.create_connection(("127.0.0.1", port))
            threading.Thread(target=pipe, args=(tls, back), daemon=True).start()
            threading.Thread(target=pipe, args=(back, tls), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    server.tls_url = "https://127.0.0.1:%d" % lsock.getsockname()[1]
    server.ca = str(tmp_path / "ca.crt")
    yield server
    lsock.close()


def test_tls_with_ca_bundle(tls_server):
    healthy(tls_server)
    tls_server.add("POST", "/v1/chat/completions", (200, sse(["secure"]), {}))
    out = run_smoke_test(tls_server.tls_url, "m", MSGS, ca_path=tls_server.ca, token=TOKEN, timeout=10)
    assert out["content"] == "secure"


def test_the_ca_bundle_is_loaded_once_per_client_not_inside_a_measured_request(tls_server, monkeypatch):
    """Loading a CA store takes tens of milliseconds: done per request, it lands inside the time to
    first token the smoke test reports. ansible.module_utils.urls' Request builds a TLS context at
    each open() on ansible-core 2.16 (AAP 2.5's minimal EE; scripts/test-core-2.16.sh runs this file
    there), which takes no ``context`` argument."""
    import ssl
    loads = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self, *args, **kwargs):
        loads.append(args or kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    healthy(tls_server)
    tls_server.add("POST", "/v1/chat/completions", (200, sse(["once"]), {}))
    out = run_smoke_test(tls_server.tls_url, "m", MSGS, ca_path=tls_server.ca, timeout=10)
    assert out["content"] == "once"
    assert len(loads) == 1, "%d CA loads for one client's 3 requests" % len(loads)


def test_tls_without_the_ca_fails_at_once_and_says_so(tls_server):
    healthy(tls_server)
    t0 = time.monotonic()
    with pytest.raises(EndpointError) as exc:
        run_smoke_test(tls_server.tls_url, "m", MSGS, timeout=20)
    assert time.monotonic() - t0 < 5
    assert "failed TLS verification" in str(exc.value) and "ca_path" in str(exc.value)


def test_tls_validate_certs_false(tls_server):
    healthy(tls_server)
    tls_server.add("POST", "/v1/chat/completions", (200, sse(["insecure"]), {}))
    assert run_smoke_test(tls_server.tls_url, "m", MSGS, validate_certs=False, timeout=10)["content"] == "insecure"
