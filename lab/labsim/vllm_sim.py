"""OpenAI-compatible vLLM simulator (stdlib only).

The lab cannot run vLLM (no GPU) and the Go module proxy refuses llm-d-inference-sim, so each
InferenceService of the lab is answered by this process. It mimics what clients of vLLM observe:
/health (503 while "loading"), /v1/models, /v1/chat/completions and /v1/completions with SSE
streaming shaped like vLLM's, usage counts, OpenAI error bodies, failure injection and a few
Prometheus metrics. Tokens are whitespace-separated words; latencies are slept exactly so that a
client measuring time to first token sees the configured value.

Load model (all numbers are the simulator's, not a GPU's): like vLLM's scheduler
(vllm/v1/core/sched/scheduler.py), at most --max-num-seqs requests run at once and the others wait;
the time a request waits for a slot is part of the time to first token its client sees. Once
running, with b sequences in the batch (itself included):
  TTFT(b, p) = (--time-to-first-token + --prefill-ms-per-token * p) * (1 + --prefill-batch-slope * (b - 1))
  ITL(b)     = --inter-token-latency * (1 + --decode-batch-slope * (b - 1))
so the prefill of a prompt of p tokens is slower in a full batch, each sequence decodes more
slowly as the batch grows, and the batch's total rate b / ITL(b) rises and flattens out. b is read
again at every token. The defaults (0) keep the fixed TTFT/ITL of a lone request; the lab's
profile (profile.py) sets them from the predictor's vLLM flags (FP8/BF16, tensor parallel size).
"""

import argparse
import json
import random
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = (
    "the model answers with simulated tokens from the private ai lab running on kwok nodes "
    "while vllm is not available so latency and usage are modelled instead of computed"
).split()

FAILURES = {  # llm-d-inference-sim names and plain status codes
    "rate_limit": (429, "RateLimitError", "Rate limit reached"),
    "invalid_api_key": (401, "AuthenticationError", "Invalid API key"),
    "context_length": (400, "BadRequestError", "Context length exceeded"),
    "server_error": (503, "ServiceUnavailableError", "Server overloaded"),
    "invalid_request": (400, "BadRequestError", "Invalid request"),
    "model_not_found": (404, "NotFoundError", "Model not found"),
}
ERROR_TYPES = {400: "BadRequestError", 401: "AuthenticationError", 404: "NotFoundError",
               429: "RateLimitError", 500: "InternalServerError", 503: "ServiceUnavailableError"}
DEFAULT_MAX_TOKENS = 32


def count_tokens(text):
    """Number of lab tokens (whitespace-separated words) in text."""
    return len(str(text).split())


def message_text(messages):
    parts = []
    for msg in messages or []:
        content = msg.get("content") if isinstance(msg, dict) else None
        if isinstance(content, list):  # OpenAI content parts
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content:
            parts.append(str(content))
    return " ".join(parts)


class SimError(Exception):
    def __init__(self, status, message, etype=None):
        super().__init__(message)
        self.status = status
        self.etype = etype or ERROR_TYPES.get(status, "APIError")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0
        self.waiting = 0
        self.success = 0
        self.failed = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)


class Simulator:
    def __init__(self, opts):
        self.opts = opts
        self.started = time.monotonic()
        self.created = int(time.time())
        self.stats = Stats()
        self.slots = threading.BoundedSemaphore(max(1, opts.max_num_seqs))
        self.rng = random.Random()
        self.failure_types = [t.strip() for t in str(opts.failure_types or "").split(",") if t.strip()]

    def ready(self):
        return time.monotonic() - self.started >= self.opts.startup_duration

    def maybe_fail(self):
        if self.opts.failure_injection_rate <= 0:
            return
        if self.rng.uniform(0, 100) >= self.opts.failure_injection_rate:
            return
        kind = self.rng.choice(self.failure_types or ["server_error"])
        if kind.isdigit():
            status = int(kind)
            raise SimError(status, "Injected failure (HTTP %d)" % status)
        status, etype, msg = FAILURES.get(kind, FAILURES["server_error"])
        raise SimError(status, "Injected failure: %s" % msg, etype)

    def plan(self, body, prompt_text):
        """Validate a request; return (prompt_tokens, output words, finish_reason)."""
        model = body.get("model")
        if model not in (None, self.opts.served_model_name):
            raise SimError(404, "The model `%s` does not exist." % model, "NotFoundError")
        prompt_tokens = count_tokens(prompt_text)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        limit = self.opts.max_model_len
        if max_tokens is not None:
            if not isinstance(max_tokens, int) or max_tokens < 1:
                raise SimError(400, "max_tokens must be at least 1, got %s." % max_tokens)
            if prompt_tokens + max_tokens > limit:
                raise SimError(400, (
                    "This model's maximum context length is %d tokens. However, you requested "
                    "%d tokens (%d in the messages, %d in the completion). Please reduce the "
                    "length of the messages or completion.") % (
                        limit, prompt_tokens + max_tokens, prompt_tokens, max_tokens))
        elif prompt_tokens >= limit:
            raise SimError(400, (
                "This model's maximum context length is %d tokens. However, your request has "
                "%d input tokens. Please reduce the length of the input messages.") % (
                    limit, prompt_tokens))
        budget = max_tokens if max_tokens is not None else min(DEFAULT_MAX_TOKENS, limit - prompt_tokens)
        if self.opts.mode == "echo":
            words = prompt_text.split() or ["ok"]
            out = words[:budget]
            finish = "length" if len(words) > budget else "stop"
        else:
            out = [self.rng.choice(WORDS) for _ in range(budget)]
            finish = "length"
        return prompt_tokens, out, finish

    def batch(self):
        """Sequences running now (the caller included once it holds a slot)."""
        return max(1, self.stats.running)

    def ttft_seconds(self, prompt_tokens, batch):
        """Prefill time of a prompt of prompt_tokens in a batch of `batch` sequences (model above)."""
        o = self.opts
        base = o.time_to_first_token + o.prefill_ms_per_token * prompt_tokens
        return base * (1.0 + o.prefill_batch_slope * (max(1, batch) - 1)) / 1000.0

    def itl_seconds(self, batch):
        """Mean gap between two tokens of one sequence in a batch of `batch` (model above)."""
        o = self.opts
        return o.inter_token_latency * (1.0 + o.decode_batch_slope * (max(1, batch) - 1)) / 1000.0

    def itl(self):
        val = self.itl_seconds(self.batch())
        std = self.opts.inter_token_latency_std_dev / 1000.0
        if std > 0:
            val = max(0.0, self.rng.gauss(val, std))
        return val


def sleep_until(deadline):
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        time.sleep(left if left > 0.002 else 0.0005)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "labsim-vllm/1.0"
    sim = None  # set by serve()

    def log_message(self, fmt, *args):  # keep the sim's log to errors only
        return

    # -- plumbing -----------------------------------------------------------------------------
    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status, text, ctype="text/plain; charset=utf-8"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, err):
        self.send_json(err.status, {"object": "error", "message": str(err), "type": err.etype,
                                    "param": None, "code": err.status})

    def chunk(self, data):
        payload = ("data: %s\n\n" % data).encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self.wfile.flush()

    def not_ready(self):
        if self.sim.ready():
            return False
        self.send_error_json(SimError(503, "The model is still loading."))
        return True

    # -- routes -------------------------------------------------------------------------------
    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/health":
            if self.sim.ready():
                self.send_text(200, "")
            else:
                self.send_text(503, "loading")
        elif path == "/v1/models":
            if self.not_ready():
                return
            self.send_json(200, {"object": "list", "data": [{
                "id": self.sim.opts.served_model_name, "object": "model",
                "created": self.sim.created, "owned_by": "vllm",
                "root": self.sim.opts.served_model_name, "parent": None,
                "max_model_len": self.sim.opts.max_model_len}]})
        elif path == "/metrics":
            self.send_text(200, self.metrics(), "text/plain; version=0.0.4")
        else:
            self.send_error_json(SimError(404, "Not Found: %s" % path))

    def do_POST(self):
        path = self.path.split("?")[0]
        t0 = time.perf_counter()
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self.send_error_json(SimError(404, "Not Found: %s" % path))
            return
        if self.not_ready():
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            self.send_error_json(SimError(400, "Invalid JSON body: %s" % exc))
            return
        chat = path == "/v1/chat/completions"
        try:
            if chat:
                if not isinstance(body.get("messages"), list) or not body["messages"]:
                    raise SimError(400, "messages must be a non-empty list.")
                # vllm/entrypoints/openai/serving_chat.py: auto tool choice needs both flags
                if body.get("tool_choice") == "auto" and not self.sim.opts.enable_auto_tool_choice:
                    raise SimError(400, '"auto" tool choice requires --enable-auto-tool-choice and '
                                        '--tool-call-parser to be set')
                prompt = message_text(body["messages"])
            else:
                prompt = body.get("prompt", "")
                prompt = " ".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)
            self.sim.maybe_fail()
            plan = self.sim.plan(body, prompt)
        except SimError as err:
            self.sim.stats.add(failed=1)
            self.send_error_json(err)
            return
        # like vLLM's scheduler: at most --max-num-seqs requests run, the others wait (and
        # their time to first token grows by the wait)
        if not self.sim.slots.acquire(blocking=False):
            self.sim.stats.add(waiting=1)
            self.sim.slots.acquire()
            self.sim.stats.add(waiting=-1)
            t0 = time.perf_counter()  # the model starts on it once it has a slot
        self.sim.stats.add(running=1)
        try:
            if body.get("stream"):
                self.stream(body, chat, plan, t0)
            else:
                self.complete(body, chat, plan, t0)
            self.sim.stats.add(success=1, prompt_tokens=plan[0], generation_tokens=len(plan[1]))
        except (BrokenPipeError, ConnectionResetError):
            self.sim.stats.add(failed=1)
            self.close_connection = True
        finally:
            self.sim.stats.add(running=-1)
            self.sim.slots.release()

    def ids(self, chat):
        return ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex, int(time.time())

    def complete(self, body, chat, plan, t0):
        prompt_tokens, words, finish = plan
        deadline = t0 + self.sim.ttft_seconds(prompt_tokens, self.sim.batch())
        sleep_until(deadline)
        for _ in words[1:]:
            deadline += self.sim.itl()
            sleep_until(deadline)
        text = " ".join(words)
        rid, created = self.ids(chat)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text,
                                              "tool_calls": []},
                      "logprobs": None, "finish_reason": finish, "stop_reason": None}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish,
                      "stop_reason": None}
        self.send_json(200, {
            "id": rid, "object": "chat.completion" if chat else "text_completion",
            "created": created, "model": self.sim.opts.served_model_name, "choices": [choice],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                      "total_tokens": prompt_tokens + len(words)}})

    def stream(self, body, chat, plan, t0):
        prompt_tokens, words, finish = plan
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        rid, created = self.ids(chat)
        model = self.sim.opts.served_model_name
        obj = "chat.completion.chunk" if chat else "text_completion"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(delta_or_text, finish_reason=None):
            if chat:
                choice = {"index": 0, "delta": delta_or_text, "logprobs": None,
                          "finish_reason": finish_reason}
            else:
                choice = {"index": 0, "text": delta_or_text, "logprobs": None,
                          "finish_reason": finish_reason}
            msg = {"id": rid, "object": obj, "created": created, "model": model,
                   "choices": [choice]}
            if include_usage:
                msg["usage"] = None
            self.chunk(json.dumps(msg))

        deadline = t0 + self.sim.ttft_seconds(prompt_tokens, self.sim.batch())
        sleep_until(deadline)
        if chat:  # vLLM sends the role first, together with the first generated token
            event({"role": "assistant", "content": ""})
        for i, word in enumerate(words):
            if i:
                deadline += self.sim.itl()
                sleep_until(deadline)
            text = word if i == 0 else " " + word
            last = i == len(words) - 1
            event({"content": text} if chat else text, finish if last else None)
        if include_usage:
            self.chunk(json.dumps({
                "id": rid, "object": obj, "created": created, "model": model, "choices": [],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
                          "total_tokens": prompt_tokens + len(words)}}))
        self.chunk("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def metrics(self):
        s = self.sim.stats
        label = '{model_name="%s"}' % self.sim.opts.served_model_name
        rows = [
            ("vllm:num_requests_running", "gauge", s.running),
            ("vllm:num_requests_waiting", "gauge", s.waiting),
            ("vllm:request_success_total", "counter", s.success),
            ("vllm:request_failure_total", "counter", s.failed),
            ("vllm:prompt_tokens_total", "counter", s.prompt_tokens),
            ("vllm:generation_tokens_total", "counter", s.generation_tokens),
        ]
        out = []
        for name, kind, val in rows:
            out.append("# TYPE %s %s\n%s%s %s\n" % (name, kind, name, label, val))
        return "".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="labsim.vllm_sim", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--model", default="/mnt/models")
    p.add_argument("--served-model-name", default=None)
    p.add_argument("--max-model-len", type=int, default=8192)
    p.add_argument("--max-num-seqs", type=int, default=256, help="concurrent requests")
    p.add_argument("--time-to-first-token", type=float, default=0.0, help="ms")
    p.add_argument("--inter-token-latency", type=float, default=0.0, help="ms")
    p.add_argument("--inter-token-latency-std-dev", type=float, default=0.0, help="ms")
    p.add_argument("--prefill-ms-per-token", type=float, default=0.0,
                   help="ms of prefill per prompt token, added to the time to first token")
    p.add_argument("--prefill-batch-slope", type=float, default=0.0,
                   help="TTFT grows by this fraction per other running sequence")
    p.add_argument("--decode-batch-slope", type=float, default=0.0,
                   help="inter-token latency grows by this fraction per other running sequence")
    p.add_argument("--failure-injection-rate", type=float, default=0.0, help="percent 0-100")
    p.add_argument("--failure-types", default="")
    p.add_argument("--startup-duration", type=float, default=0.0, help="seconds")
    p.add_argument("--mode", choices=("echo", "random"), default="random")
    p.add_argument("--enable-auto-tool-choice", action="store_true")
    p.add_argument("--tool-call-parser", default=None)
    p.add_argument("--seed", type=int, default=None)
    opts = p.parse_args(argv)
    opts.served_model_name = opts.served_model_name or opts.model
    return opts


def make_server(opts):
    """Build (not start) the HTTP server for opts; used by tests and main()."""
    sim = Simulator(opts)
    if opts.seed is not None:
        sim.rng.seed(opts.seed)
    handler = type("BoundHandler", (Handler,), {"sim": sim})
    server = ThreadingHTTPServer((opts.host, opts.port), handler)
    server.daemon_threads = True
    return server


def main(argv=None):
    opts = parse_args(argv)
    server = make_server(opts)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    sys.stdout.write("vllm_sim serving %s on %s:%d\n" % (opts.served_model_name, opts.host,
                                                       server.server_address[1]))
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()


if __name__ == "__main__":
    main()
