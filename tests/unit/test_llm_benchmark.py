"""llm_benchmark against real local HTTP servers started here (no lab): the lab's vLLM simulator
(lab/labsim/vllm_sim.py, stdlib) for the load profiles and a scripted server for the failures a
user must see counted. No assertion on time: counts, orderings and definitions only."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "lab"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark import bench, load, metrics  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.client import Endpoint, Worker  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.dataset import Dataset  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError  # noqa: E402
from labsim import vllm_sim  # noqa: E402

MODEL = "bench-model"
TOKEN = "sha256~bench-unit-token-7c1d"


def serve(server):
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return "http://127.0.0.1:%d" % server.server_address[1]


@pytest.fixture
def sim():
    servers = []

    def start(*args):
        opts = vllm_sim.parse_args(["--port", "0", "--served-model-name", MODEL, *args])
        server = vllm_sim.make_server(opts)
        servers.append(server)
        return serve(server)

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


class Scripted(BaseHTTPRequestHandler):
    """Answers request n (1-based, in arrival order) as ``plan(n)`` says: 'ok', an HTTP status,
    'cut' (closes mid-stream), 'hang' (never answers), 'garbage' (non-JSON data line)."""
    protocol_version = "HTTP/1.1"
    plan = staticmethod(lambda n: "ok")
    seen = None
    lock = threading.Lock()

    def log_message(self, *a):
        return

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.seen.append({"auth": self.headers.get("Authorization"), "body": body})
            n = len(self.seen)
        what = self.plan(n)
        if isinstance(what, int):
            data = json.dumps({"object": "error", "message": "scripted %d" % what}).encode()
            self.send_response(what)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if what == "hang":
            self.server.release.wait(10)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(obj):
            payload = ("data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            self.wfile.flush()
        event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        if what == "garbage":
            event("{not json")
        for i in range(body["max_tokens"]):
            event({"choices": [{"index": 0, "delta": {"content": " w%d" % i}}]})
            if what == "cut" and i == 1:
                self.close_connection = True
                return
        event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": body["max_tokens"]}})
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        if what == "ok-close":  # closes without saying so (Connection: close), as some proxies do
            self.close_connection = True


@pytest.fixture
def scripted():
    servers = []

    def start(plan, tls=None):
        handler = type("H", (Scripted,), {"plan": staticmethod(plan), "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.release = threading.Event()
        servers.append(server)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
            return serve(server).replace("http://", "https://"), handler.seen
        return serve(server), handler.seen

    yield start
    for s in servers:
        s.release.set()
        s.shutdown()
        s.server_close()


def params(url, **kw):
    p = dict(url=url, model=MODEL, profile="synchronous", concurrency=None, rate=None, sweep_points=5,
             sweep_rate_type="constant", max_concurrency=8, max_requests=6, max_seconds=None,
             prompt_tokens=8, output_tokens=5, ignore_eos=True, dataset_size=50, seed=1, warmup_requests=0,
             slo_ttft_ms=None, slo_tpot_ms=None, slo_e2el_ms=None, slo_attainment=0.9,
             percentiles=[50, 90, 99], request_timeout=10, token=None, ca_path=None, validate_certs=True,
             proxy=None, extra_body={}, output_path=None, targets=None)
    p.update(kw)
    return p


# -- definitions ------------------------------------------------------------------------------
def test_percentile_is_numpys_linear_interpolation():
    values = [4.0, 1.0, 3.0, 2.0]
    # numpy.percentile([1, 2, 3, 4], q): 50 -> 2.5, 90 -> 3.7, 99 -> 3.97, 0 -> 1, 100 -> 4
    assert metrics.percentile(values, 50) == pytest.approx(2.5)
    assert metrics.percentile(values, 90) == pytest.approx(3.7)
    assert metrics.percentile(values, 99) == pytest.approx(3.97)
    assert metrics.percentile(values, 0) == 1.0 and metrics.percentile(values, 100) == 4.0
    assert metrics.percentile([], 50) is None


def record(ttft, latency, tokens, start=0.0, itl=None):
    return {"ok": True, "start": start, "ttft": ttft, "latency": latency, "itl": itl or [],
            "output_tokens": tokens, "prompt_tokens": 10, "error": None}


def test_tpot_goodput_and_throughput_follow_vllm_bench_serve():
    recs = [record(0.1, 1.1, 11, 0.0), record(0.3, 0.8, 6, 0.5), record(0.2, 0.2, 1, 1.0),
            {"ok": False, "start": 1.0, "latency": 0.1, "ttft": None, "itl": [], "output_tokens": 0,
             "prompt_tokens": 10, "error": "http_503", "message": "HTTP 503"}]
    out = metrics.summarize(recs, 2.0, slo={"ttft_ms": 250, "tpot_ms": 100})
    # TPOT = (latency - TTFT) / (tokens - 1): 0.1 s and 0.1 s; the 1-token request has none
    assert out["tpot_ms"]["count"] == 2 and out["tpot_ms"]["mean"] == pytest.approx(100.0)
    # goodput: TTFT <= 250 ms and TPOT <= 100 ms (TPOT 0 for one token): requests 1 and 3
    assert out["good_requests"] == 2 and out["request_goodput"] == pytest.approx(1.0)
    assert out["completed"] == 3 and out["failed"] == 1 and out["errors"] == {"http_503": 1}
    assert out["output_tokens_total"] == 18 and out["output_token_throughput"] == pytest.approx(9.0)
    assert out["request_throughput"] == pytest.approx(1.5)
    assert out["total_token_throughput"] == pytest.approx((30 + 18) / 2.0)
    # the failure is counted, never averaged into a latency
    assert out["e2el_ms"]["count"] == 3 and out["ttft_ms"]["max"] == pytest.approx(300.0)
    assert out["max_concurrency_observed"] == 3  # [0, 1.1), [0.5, 1.3), [1.0, 1.2)


def test_dataset_is_seeded_and_within_bounds():
    spec = {"distribution": "normal", "mean": 20, "stddev": 10, "min": 5, "max": 30}
    a, b = Dataset(spec, {"distribution": "uniform", "min": 2, "max": 9}, seed=3, size=200), Dataset(spec, 4, seed=3, size=200)
    assert [x[:2] for x in a.items] == [x[:2] for x in b.items]
    assert all(5 <= p <= 30 and len(text.split()) == p for text, p, o in a.items)
    outs = [item[2] for item in a.items]
    assert all(2 <= o <= 9 for o in outs) and len(set(outs)) > 1
    assert len({item[0].split()[0] for item in a.items}) == 200  # no shared prefix
    with pytest.raises(ModuleError, match="prompt_tokens"):
        Dataset({"distribution": "zipf", "mean": 3}, 4)


def test_bad_options_are_refused_with_one_sentence_each():
    bad = bench.problems(params("ftp://x", profile="concurrent", max_requests=None, slo_ttft_ms=-1,
                                output_tokens={"mean": 0}))
    text = " ".join(bad)
    for word in ("url must be", "concurrency must be", "max_requests or max_seconds", "slo_ttft_ms", "output_tokens"):
        assert word in text
    assert bench.problems(params("http://h", profile="poisson", rate=0))[0].startswith("rate must be")


# -- against the lab's vLLM simulator ---------------------------------------------------------
def test_concurrent_profile_counts_every_token(sim):
    url = sim("--time-to-first-token", "0", "--inter-token-latency", "0")
    out = bench.run(params(url, profile="concurrent", concurrency=4, max_requests=20, output_tokens=5,
                           warmup_requests=1))
    (run,) = out["runs"]
    assert run["requests"] == 20 and run["completed"] == 20 and run["failed"] == 0
    assert run["output_tokens_total"] == 100 and run["prompt_tokens_total"] == 20 * 8
    assert run["ttft_ms"]["count"] == 20 and run["tpot_ms"]["count"] == 20
    assert run["itl_ms"]["count"] == 20 * 4  # 5 content chunks: 4 gaps each
    assert run["max_concurrency_observed"] <= 4 and out["warmup"] == {"requests": 1, "failed": 0, "errors": []}
    assert out["best"] == 0 and out["totals"]["completed"] == 20


def test_rate_profiles_send_exactly_max_requests(sim):
    url = sim()
    for profile in ("constant", "poisson"):
        (run,) = bench.run(params(url, profile=profile, rate=200.0, max_requests=12))["runs"]
        assert (run["profile"], run["requests"], run["completed"]) == (profile, 12, 12)
        assert run["rate"] == 200.0


def test_sweep_goes_from_synchronous_to_throughput(sim):
    url = sim("--time-to-first-token", "5", "--inter-token-latency", "1")
    out = bench.run(params(url, profile="sweep", sweep_points=4, max_requests=8, max_concurrency=4, output_tokens=3))
    names = [r["profile"] for r in out["runs"]]
    assert names == ["synchronous", "constant", "constant", "throughput"]
    rates = [r["rate"] for r in out["runs"][1:3]]
    low, high = out["runs"][0]["request_throughput"], out["runs"][-1]["request_throughput"]
    # GuideLLM's sweep: linspace(synchronous rate, throughput rate, sweep_points - 1)[1:], the last
    # rate the measured maximum
    assert low < rates[0] < rates[1] and rates[1] == pytest.approx(high, abs=1e-3)
    assert rates[0] == pytest.approx((low + high) / 2, abs=1e-3)
    assert out["runs"][0]["max_concurrency_observed"] == 1
    # ordered by load; sequence says when each ran: synchronous, throughput, then the rates
    assert [r["sequence"] for r in out["runs"]] == [0, 2, 3, 1]


def test_sweep_rates_are_guidellms_linspace():
    # numpy.linspace(2, 10, 4)[1:] == [4.667, 7.333, 10]; linspace(2, 10, 2)[1:] == [10]; sweep_size 2: none
    assert load.sweep_rates(2.0, 10.0, 5) == pytest.approx([14 / 3.0, 22 / 3.0, 10.0])
    assert load.sweep_rates(2.0, 10.0, 3) == [10.0]
    assert load.sweep_rates(2.0, 10.0, 2) == []
    assert load.sweep_rates(0.0, 3.0, 4) == pytest.approx([1.5, 3.0])
    assert load.sweep_rates(-4.0, 0.0, 4) == []  # GuideLLM stops at a rate that is not positive


def test_throughput_profile_keeps_max_concurrency_in_flight(sim):
    url = sim("--time-to-first-token", "20", "--inter-token-latency", "1")
    (run,) = bench.run(params(url, profile="throughput", max_concurrency=3, max_requests=9))["runs"]
    assert (run["profile"], run["concurrency"], run["completed"]) == ("throughput", 3, 9)
    assert 1 < run["max_concurrency_observed"] <= 3


def test_targets_are_interleaved_level_by_level_abba(sim):
    a, b = sim("--time-to-first-token", "1"), sim("--time-to-first-token", "1")
    out = bench.run(params(None, model=None, targets=[{"name": MODEL, "url": a}, {"name": "b", "url": b, "model": MODEL}],
                           profile="sweep", sweep_points=4, max_requests=4, max_concurrency=2, warmup_requests=1))
    # level 0: A B, level 1: B A, level 2: A B, level 3: B A
    assert out["sequence"] == [{"level": 0, "target": MODEL}, {"level": 0, "target": "b"},
                               {"level": 1, "target": "b"}, {"level": 1, "target": MODEL},
                               {"level": 2, "target": MODEL}, {"level": 2, "target": "b"},
                               {"level": 3, "target": "b"}, {"level": 3, "target": MODEL}]
    ra, rb = out["results"]
    assert (ra["name"], ra["model"], rb["name"], rb["model"]) == (MODEL, MODEL, "b", MODEL)
    assert ra["url"] == a and rb["url"] == b and "runs" not in out
    for r in (ra, rb):
        assert [x["profile"] for x in r["runs"]] == ["synchronous", "constant", "constant", "throughput"]
        assert r["totals"]["completed"] == 16 and r["warmup"]["requests"] == 1
    # each target's sweep rates come from its own synchronous and throughput levels
    assert ra["runs"][2]["rate"] == pytest.approx(ra["runs"][3]["request_throughput"], abs=1e-3)
    assert rb["runs"][2]["rate"] == pytest.approx(rb["runs"][3]["request_throughput"], abs=1e-3)


def test_targets_are_validated():
    text = " ".join(bench.problems(params(None, model=None, targets=[{"name": "a", "url": "ftp://x"}, {"url": "http://h"},
                                                                     {"name": "a", "url": "http://h", "token": "t"}])))
    assert "targets[0].url must be an http(s) URL" not in text  # names first: one sentence per problem
    assert "targets[1] needs a name" in text and "targets[2] repeats the name a" in text
    assert "targets[2] has unknown key(s) token" in text
    assert "targets[0].url must be an http(s) URL" in " ".join(
        bench.problems(params(None, model=None, targets=[{"name": "a", "url": "ftp://x"}])))
    assert "either targets or url and model" in " ".join(bench.problems(params("http://h", targets=[{"name": "a", "url": "http://h"}])))


def test_time_bound_ends_a_level(sim):
    url = sim("--time-to-first-token", "20")
    (run,) = bench.run(params(url, profile="concurrent", concurrency=2, max_requests=None, max_seconds=0.3))["runs"]
    assert 1 <= run["requests"] == run["completed"]


def test_slo_picks_the_best_level(sim):
    url = sim("--time-to-first-token", "1", "--inter-token-latency", "1")
    out = bench.run(params(url, profile="sweep", sweep_points=3, max_requests=6, max_concurrency=3,
                           slo_ttft_ms=60000, slo_tpot_ms=60000))
    assert all(r["meets_slo"] for r in out["runs"])
    best = out["runs"][out["best"]]
    assert best["output_token_throughput"] == max(r["output_token_throughput"] for r in out["runs"])
    out = bench.run(params(url, max_requests=3, slo_ttft_ms=0.000001))
    assert out["best"] is None and out["runs"][0]["good_requests"] == 0


# -- failures: counted and classified ----------------------------------------------------------
def test_http_errors_are_counted_per_status(scripted):
    url, seen = scripted(lambda n: {2: 503, 4: 429, 5: 503}.get(n, "ok"))
    (run,) = bench.run(params(url, max_requests=6))["runs"]
    assert run["completed"] == 3 and run["failed"] == 3
    assert run["errors"] == {"http_503": 2, "http_429": 1}
    assert "scripted 503" in run["error_samples"]["http_503"]
    assert run["ttft_ms"]["count"] == 3 and not run["meets_slo"]


def test_cut_streams_garbage_and_timeouts_are_classified(scripted):
    url, seen = scripted(lambda n: {1: "cut", 2: "garbage", 3: "hang"}.get(n, "ok"))
    (run,) = bench.run(params(url, max_requests=4, request_timeout=0.5))["runs"]
    assert run["errors"] == {"connection": 1, "stream": 1, "timeout": 1} or \
        run["errors"] == {"stream": 2, "timeout": 1}  # a cut chunked body reads as either
    assert run["completed"] == 1


def self_signed(tmp_path):
    """A CA-less self-signed certificate for 127.0.0.1 (cryptography comes with ansible-core)."""
    import datetime
    import ipaddress
    import ssl
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = tmp_path / "tls.crt", tmp_path / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(pem))
    return ctx, str(crt)


def test_tls_peer_closing_idle_connections_is_not_a_failure(scripted, tmp_path):
    # The lab's router closes each TLS connection after one answer without a close_notify or a
    # Connection: close header: a reused connection must be replaced, not counted as a failure.
    ctx, ca = self_signed(tmp_path)
    url, seen = scripted(lambda n: "ok-close", tls=ctx)
    (run,) = bench.run(params(url, profile="concurrent", concurrency=2, max_requests=8, ca_path=ca))["runs"]
    assert run["errors"] == {} and run["completed"] == 8 and len(seen) == 8


def test_tls_with_an_unknown_ca_is_a_tls_error(scripted, tmp_path):
    ctx, dummy = self_signed(tmp_path)
    url, seen = scripted(lambda n: "ok", tls=ctx)
    (run,) = bench.run(params(url, max_requests=2))["runs"]
    assert run["errors"] == {"tls": 2} and "ca_path" in run["error_samples"]["tls"]


def test_connection_refused_is_a_connection_error():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (run,) = bench.run(params("http://127.0.0.1:%d" % port, max_requests=2))["runs"]
    assert run["errors"] == {"connection": 2} and run["completed"] == 0


def test_request_body_and_token_header(scripted):
    url, seen = scripted(lambda n: "ok")
    ep = Endpoint(url + "/v1", MODEL, token=TOKEN, ignore_eos=True, extra_body={"temperature": 0})
    rec = Worker(ep).send("a b c", 3, 4)
    assert rec["ok"] and rec["output_tokens"] == 4 and len(rec["itl"]) == 3
    assert rec["ttft"] <= rec["latency"]
    body = seen[0]["body"]
    assert seen[0]["auth"] == "Bearer " + TOKEN
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 4 and body["ignore_eos"] is True and body["temperature"] == 0


# -- the module as Ansible runs it ---------------------------------------------------------------
def run_module(args, check=False):
    path = ROOT / ".cache" / "llm_benchmark-args.json"
    path.parent.mkdir(exist_ok=True)
    a = dict(args, _ansible_check_mode=check)
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": a}))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "collections"))
    p = subprocess.run([sys.executable, str(ROOT / "plugins" / "modules" / "llm_benchmark.py"), str(path)],
                       capture_output=True, text=True, env=env, cwd=str(ROOT), check=False)
    path.unlink()
    return json.loads(p.stdout)


def test_module_check_mode_sends_nothing(scripted, tmp_path):
    url, seen = scripted(lambda n: "ok")
    out = run_module({"url": url, "model": MODEL, "max_requests": 3, "output_path": str(tmp_path / "r.json")}, check=True)
    assert out["skipped"] is True and out["changed"] is False
    assert seen == [] and not (tmp_path / "r.json").exists()


def test_module_writes_the_file_and_never_the_token(scripted, tmp_path):
    url, seen = scripted(lambda n: 401 if n == 2 else "ok")
    out = run_module({"url": url, "model": MODEL, "max_requests": 3, "token": TOKEN, "output_tokens": 3,
                      "warmup_requests": 0, "output_path": str(tmp_path / "r.json")})
    assert out["changed"] is True and out["runs"][0]["errors"] == {"http_401": 1}
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text)["runs"][0]["completed"] == 2
    assert TOKEN not in text and TOKEN not in json.dumps(out)
    assert all(s["auth"] == "Bearer " + TOKEN for s in seen)


def test_module_refuses_bad_input_before_sending(scripted):
    url, seen = scripted(lambda n: "ok")
    out = run_module({"url": url, "model": MODEL, "profile": "constant"})
    assert out["failed"] and "rate must be" in out["msg"] and "max_requests or max_seconds" in out["msg"]
    assert seen == []


def test_module_takes_targets_and_writes_one_file(scripted, tmp_path):
    a, seen_a = scripted(lambda n: "ok")
    b, seen_b = scripted(lambda n: "ok")
    out = run_module({"targets": [{"name": "a", "url": a, "model": MODEL}, {"name": "b", "url": b, "model": MODEL}],
                      "profile": "sweep", "sweep_points": 3, "max_requests": 2, "max_concurrency": 2, "output_tokens": 2,
                      "warmup_requests": 0, "token": TOKEN, "output_path": str(tmp_path / "r.json")})
    assert [r["name"] for r in out["results"]] == ["a", "b"], out
    assert [s["target"] for s in out["sequence"]] == ["a", "b", "b", "a", "a", "b"]
    assert json.loads((tmp_path / "r.json").read_text())["results"][1]["totals"]["completed"] == 6
    assert TOKEN not in (tmp_path / "r.json").read_text() and TOKEN not in json.dumps(out)
    assert len(seen_a) == len(seen_b) == 6
    out = run_module({"targets": [{"name": "a", "url": a}], "url": a, "max_requests": 1})
    assert out["failed"] and "mutually exclusive" in out["msg"]
    out = run_module({"targets": [{"name": "a", "url": a}], "max_requests": 1}, check=True)
    assert out["skipped"] and out["results"] == [] and len(seen_a) == 6
