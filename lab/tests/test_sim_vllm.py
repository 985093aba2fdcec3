"""Unit tests of the vLLM simulator (no lab needed): timing, usage, errors, failure injection."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from labsim import vllm_sim

MODEL = "test-model"


@pytest.fixture
def sim(request):
    """Start a simulator on a free port with extra CLI args; yields its base URL."""
    servers = []

    def start(*args):
        opts = vllm_sim.parse_args(["--port", "0", "--served-model-name", MODEL, *args])
        server = vllm_sim.make_server(opts)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return "http://127.0.0.1:%d" % server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def call(url, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def stream(url, body):
    """POST a streaming request; return (seconds to first content chunk, events, total seconds)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    first = None
    events = []
    with urllib.request.urlopen(req, timeout=20) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            payload = line[len("data: "):]
            if payload == "[DONE]":
                events.append(payload)
                break
            event = json.loads(payload)
            events.append(event)
            choices = event.get("choices") or []
            if first is None and choices and (choices[0].get("delta", {}).get("content")
                                              or choices[0].get("text")):
                first = time.perf_counter() - t0
    return first, events, time.perf_counter() - t0


def test_ttft_within_five_percent(sim):
    base = sim("--time-to-first-token", "300", "--inter-token-latency", "10")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "max_tokens": 5}
    # the best of 5: the simulator's clock starts when it has read the request, so scheduling
    # noise on a busy machine can only add to what the client sees
    ttfts = [stream(base + "/v1/chat/completions", body)[0] for _ in range(5)]
    measured = min(ttfts) * 1000
    assert measured >= 300 * 0.99
    assert abs(measured - 300) / 300 < 0.05, "measured TTFT %.1f ms, configured 300 ms" % measured


def test_inter_token_latency_and_stream_shape(sim):
    base = sim("--time-to-first-token", "50", "--inter-token-latency", "40")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "max_tokens": 11, "stream_options": {"include_usage": True}}
    first, events, total = stream(base + "/v1/chat/completions", body)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(e["object"] == "chat.completion.chunk" for e in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [e for e in chunks if e["choices"] and e["choices"][0]["delta"].get("content")]
    assert len(content) == 11
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    usage = chunks[-1]
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 11
    # 10 gaps of 40 ms after the first token
    assert 0.4 * 0.95 < total - first < 0.4 * 1.25, (first, total)


def test_non_streaming_usage_counts_echo(sim):
    base = sim("--mode", "echo")
    prompt = "one two three four five six"
    status, text = call(base + "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": prompt}], "max_tokens": 4})
    assert status == 200, text
    body = json.loads(text)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "one two three four"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
    status, text = call(base + "/v1/completions", {"model": MODEL, "prompt": "a b", "max_tokens": 9})
    body = json.loads(text)
    assert body["object"] == "text_completion" and body["choices"][0]["text"] == "a b"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 4


def test_models_metrics_and_errors(sim):
    base = sim("--max-model-len", "10")
    status, text = call(base + "/v1/models")
    assert status == 200
    model = json.loads(text)["data"][0]
    assert model["id"] == MODEL and model["max_model_len"] == 10
    status, text = call(base + "/v1/chat/completions", {
        "model": "other", "messages": [{"role": "user", "content": "x"}]})
    assert status == 404
    err = json.loads(text)
    assert err["object"] == "error" and err["code"] == 404 and "other" in err["message"]
    status, text = call(base + "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "w " * 12}]})
    assert status == 400 and "maximum context length is 10" in json.loads(text)["message"]
    call(base + "/v1/completions", {"model": MODEL, "prompt": "a b c", "max_tokens": 3})
    status, metrics = call(base + "/metrics")
    assert 'vllm:request_success_total{model_name="test-model"} 1' in metrics
    assert 'vllm:prompt_tokens_total{model_name="test-model"} 3' in metrics
    assert 'vllm:generation_tokens_total{model_name="test-model"} 3' in metrics


def test_failure_injection(sim):
    always = sim("--failure-injection-rate", "100", "--failure-types", "429")
    status, text = call(always + "/v1/chat/completions", {
        "model": MODEL, "messages": [{"role": "user", "content": "x"}]})
    assert status == 429
    assert json.loads(text)["type"] == "RateLimitError"
    half = sim("--failure-injection-rate", "50", "--failure-types", "503,429", "--seed", "7")
    codes = [call(half + "/v1/completions", {"model": MODEL, "prompt": "x", "max_tokens": 1})[0]
             for _ in range(60)]
    assert set(codes) == {200, 429, 503}
    assert 15 < codes.count(200) < 45


def test_startup_duration(sim):
    base = sim("--startup-duration", "0.6")
    assert call(base + "/health")[0] == 503
    assert call(base + "/v1/models")[0] == 503
    time.sleep(0.7)
    assert call(base + "/health")[0] == 200


def test_max_num_seqs_queues_requests(sim):
    base = sim("--max-num-seqs", "1", "--time-to-first-token", "200")
    body = {"model": MODEL, "prompt": "x", "max_tokens": 1}
    done = []

    def one():
        t0 = time.perf_counter()
        assert call(base + "/v1/completions", body)[0] == 200
        done.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # one request waited for the other's slot
    assert max(done) >= 0.4 * 0.95 and min(done) < 0.4


# -- the load model (deterministic: the formulas and the scheduler's bound, no clock) ----------
def load_sim(*args):
    return vllm_sim.Simulator(vllm_sim.parse_args(["--served-model-name", MODEL, *args]))


def test_load_model_ttft_and_decode_follow_the_batch():
    s = load_sim("--time-to-first-token", "100", "--inter-token-latency", "20", "--prefill-ms-per-token", "0.5",
                 "--prefill-batch-slope", "0.05", "--decode-batch-slope", "0.02")
    # a lone request: the configured numbers (plus prefill per prompt token)
    assert s.ttft_seconds(0, 1) == pytest.approx(0.100) and s.itl_seconds(1) == pytest.approx(0.020)
    assert s.ttft_seconds(200, 1) == pytest.approx(0.200)
    batches = [1, 2, 4, 8, 16, 64, 256]
    ttft = [s.ttft_seconds(128, b) for b in batches]
    per_seq = [1 / s.itl_seconds(b) for b in batches]
    total = [b / s.itl_seconds(b) for b in batches]
    assert ttft == sorted(ttft) and len(set(ttft)) == len(ttft)             # TTFT grows with the batch
    assert per_seq == sorted(per_seq, reverse=True) and per_seq[0] > per_seq[-1]  # each sequence slows
    assert total == sorted(total)                                            # the batch's rate still rises
    gains = [b2 / b1 for b1, b2 in zip(total, total[1:])]
    assert gains[-1] < gains[0]                                              # ... and flattens out
    # without the load flags, a request sees the fixed numbers whatever the batch
    flat = load_sim("--time-to-first-token", "100", "--inter-token-latency", "20")
    assert flat.ttft_seconds(500, 64) == pytest.approx(0.1) and flat.itl_seconds(64) == pytest.approx(0.02)


def test_profile_fp8_and_tensor_parallel_change_the_load_profile():
    from labsim import profile
    bf16_tp1 = profile.compute(["--dtype=bfloat16"])
    bf16_tp4 = profile.compute(["--dtype=bfloat16", "--tensor-parallel-size=4"])
    fp8_tp1 = profile.compute(["--kv-cache-dtype=fp8"], storage_path="s3://models/mistral/fp8")
    for key in ("decode_batch_slope", "prefill_batch_slope", "prefill_ms_per_token"):
        assert fp8_tp1[key] < bf16_tp1[key] and bf16_tp4[key] < bf16_tp1[key], key
    assert fp8_tp1["itl_ms"] < bf16_tp1["itl_ms"] and bf16_tp4["itl_ms"] < fp8_tp1["itl_ms"]

    def tokens_per_s(p, batch):  # the simulator's batch rate with these flags
        s = load_sim("--inter-token-latency", str(p["itl_ms"]), "--decode-batch-slope", str(p["decode_batch_slope"]))
        return batch / s.itl_seconds(batch)
    # per GPU, one FP8 L40S out-serves BF16 on four GPUs; in total the four are faster
    assert tokens_per_s(fp8_tp1, 32) > tokens_per_s(bf16_tp4, 32) / 4
    assert tokens_per_s(bf16_tp4, 32) > tokens_per_s(fp8_tp1, 32)


def test_profile_per_inference_service_overrides():
    from labsim import profile
    cfg = profile.load_config(environ={"LABSIM_LATENCY": "models: {slow: {base: {ttft_ms: 900}, load: {decode_batch_slope: 0.5}}}"})
    assert profile.compute([], cfg, name="slow")["ttft_ms"] == 900
    assert profile.compute([], cfg, name="slow")["decode_batch_slope"] == 0.5
    assert profile.compute([], cfg, name="other")["ttft_ms"] == 120
    ann = '{"base": {"itl_ms": 7}, "load": {"prefill_batch_slope": 0.0}}'
    p = profile.compute([], cfg, name="slow", annotation=ann)
    assert (p["ttft_ms"], p["itl_ms"], p["prefill_batch_slope"]) == (900, 7, 0.0)
    assert profile.compute([], cfg, annotation="{not: [yaml")["ttft_ms"] == 120  # a typo is ignored


def test_max_num_seqs_bounds_the_batch(sim):
    base = sim("--max-num-seqs", "2", "--time-to-first-token", "1", "--inter-token-latency", "30")
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True, "max_tokens": 40}
    threads = [threading.Thread(target=stream, args=(base + "/v1/chat/completions", body)) for _ in range(5)]
    for th in threads:
        th.start()
    seen = []
    while any(th.is_alive() for th in threads):
        text = call(base + "/metrics")[1]
        gauges = dict(line.split("{")[0:1] + line.rsplit(" ", 1)[1:] for line in text.splitlines()
                      if line.startswith("vllm:num_requests_"))
        seen.append((int(gauges["vllm:num_requests_running"]), int(gauges["vllm:num_requests_waiting"])))
        time.sleep(0.02)
    for th in threads:
        th.join()
    assert max(r for r, w in seen) == 2               # never more than --max-num-seqs in the batch
    assert max(w for r, w in seen) == 3               # the others waited
    assert 'vllm:request_success_total{model_name="test-model"} 5' in call(base + "/metrics")[1]
