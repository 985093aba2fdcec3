#!/usr/bin/env python3
"""Cross-check: llm_benchmark against GuideLLM on the same endpoint, with the same load, in one run.

The endpoint is the lab's vLLM simulator started as labsim starts it for an InferenceService
(lab/labsim/sims.py), with the latency and load profile the lab computes for the fp8_showcase
FP8 deployment (lab/labsim/profile.py; the load model is on, so TTFT and TPOT depend on the
batch), or any endpoint given with --url/--model. Both tools send the same prompts (llm_benchmark's
seeded dataset, given to GuideLLM as a JSONL file with prompt and output_tokens_count columns),
the same output length with ignore_eos, as N concurrent streams, for the same number of requests,
streaming chat completions. The runs alternate (GuideLLM, llm_benchmark, GuideLLM, ...) so neither
tool always meets a warmer or busier machine.

Definitions lined up (GuideLLM 0.8.1 guidellm/schemas/base/request_stats.py):
GuideLLM's inter_token_latency_ms is (last token - first token) / (output tokens - 1), which is
vLLM's TPOT (what llm_benchmark calls tpot); GuideLLM's time_per_output_token_ms includes the first
token (latency / output tokens) and is not compared. TTFT, request latency and output-token
throughput (tokens over the benchmark's duration) mean the same in both.

Client CPU per request: each tool runs as a child process twice, with --small and --requests
requests; (CPU of the large run - CPU of the small run) / (difference in requests) is the marginal
user+system CPU per request, start-up (GuideLLM imports torch and transformers) excluded.

GuideLLM runs from its own venv (.cache/guidellm-venv, benchmarks/requirements-guidellm.txt,
guidellm==0.8.1) with a local word-level tokenizer (one word, one token: the simulator's count),
so nothing is downloaded at run time.

Usage: .venv/bin/python benchmarks/llm_benchmark_vs_guidellm.py [--streams 8] [--requests 200]
Prints numbers and ratios; asserts nothing about time.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "collections"))  # the committed link to the checkout (ansible.cfg)
sys.path.insert(0, str(REPO / "lab"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark.dataset import VOCABULARY, Dataset  # noqa: E402
from labsim import profile  # noqa: E402

GUIDELLM_VENV = REPO / ".cache" / "guidellm-venv"
GUIDELLM = GUIDELLM_VENV / "bin" / "guidellm"
PY = str(REPO / ".venv" / "bin" / "python")
MODULE = REPO / "plugins" / "modules" / "llm_benchmark.py"
# the fp8_showcase FP8 deployment's vLLM flags, as the planner writes them
FP8_ARGS = ["--dtype=auto", "--tensor-parallel-size=1", "--max-model-len=32768", "--gpu-memory-utilization=0.9",
            "--kv-cache-dtype=fp8"]

TOKENIZER = r'''
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
vocab = {"[UNK]": 0, "[PAD]": 1}
for w in sys.argv[2:]:
    vocab.setdefault(w, len(vocab))
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]").save_pretrained(sys.argv[1])
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_sim(name):
    prof = profile.compute(FP8_ARGS, profile.load_config(), "s3://models/mistral-small-24b/fp8", name=name)
    port = free_port()
    args = [PY, "-m", "labsim.vllm_sim", "--port", str(port), "--served-model-name", name, "--model", "/mnt/models",
            "--max-model-len", str(prof["max_model_len"]), "--max-num-seqs", str(prof["max_num_seqs"]),
            "--time-to-first-token", str(prof["ttft_ms"]), "--inter-token-latency", str(prof["itl_ms"]),
            "--prefill-ms-per-token", str(prof["prefill_ms_per_token"]),
            "--prefill-batch-slope", str(prof["prefill_batch_slope"]),
            "--decode-batch-slope", str(prof["decode_batch_slope"]), "--mode", "random"]
    proc = subprocess.Popen(args, cwd=str(REPO / "lab"), env=dict(os.environ, PYTHONPATH=str(REPO / "lab")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, "http://127.0.0.1:%d" % port, prof
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the simulator did not start on port %d" % port)


def child_cpu(cmd, **kw):
    """Run cmd to completion; (its user+system CPU seconds, children included, completed process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc


def run_guidellm(url, model, work, data, streams, requests):
    out = work / ("guidellm-%d.json" % requests)
    cmd = [str(GUIDELLM), "run", "--backend", "kind=openai_http,target=%s,model=%s" % (url, model),
           "--tokenizer", "kind=huggingface_auto,model=%s" % (work / "tokenizer"),
           "--profile", "kind=concurrent,streams=%d" % streams,
           "--constraint", "kind=max_requests,count=%d" % requests,
           "--data", "kind=json_file,path=%s" % data, "--output", "kind=json,path=%s" % out,
           "--disable-console"]
    cpu, proc = child_cpu(cmd, cwd=str(work), env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    if proc.returncode != 0:
        raise SystemExit("guidellm failed (%d): %s" % (proc.returncode, (proc.stdout + proc.stderr)[-3000:]))
    bench = json.loads(out.read_text())["benchmarks"][0]
    m = bench["metrics"]

    def dist(key, field="mean"):
        d = m[key]["successful"]
        return d["percentiles"]["p50"] if field == "p50" else d[field]
    return cpu, {
        "completed": m["request_totals"]["successful"], "errored": m["request_totals"]["errored"],
        "ttft_mean_ms": dist("time_to_first_token_ms"), "ttft_p50_ms": dist("time_to_first_token_ms", "p50"),
        "tpot_mean_ms": dist("inter_token_latency_ms"), "tpot_p50_ms": dist("inter_token_latency_ms", "p50"),
        "e2el_mean_ms": 1000 * dist("request_latency"),
        "output_tokens_per_s": dist("output_tokens_per_second"), "requests_per_s": dist("requests_per_second"),
    }


def run_ours(url, model, work, streams, requests, args):
    path = work / ("ours-%d.json" % requests)
    margs = {"url": url, "model": model, "profile": "concurrent", "concurrency": streams, "max_requests": requests,
             "prompt_tokens": args.prompt_tokens, "output_tokens": args.output_tokens, "seed": args.seed,
             "dataset_size": args.dataset_size, "warmup_requests": 0, "output_path": str(path)}
    argfile = work / "module-args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": margs}))
    cpu, proc = child_cpu([PY, str(MODULE), str(argfile)],
                          env=dict(os.environ, PYTHONPATH=str(REPO / "collections")))
    result = json.loads(proc.stdout)
    if result.get("failed"):
        raise SystemExit("llm_benchmark failed: %s" % result.get("msg"))
    (r,) = result["runs"]
    return cpu, {
        "completed": r["completed"], "errored": r["failed"],
        "ttft_mean_ms": r["ttft_ms"]["mean"], "ttft_p50_ms": r["ttft_ms"]["p50"],
        "tpot_mean_ms": r["tpot_ms"]["mean"], "tpot_p50_ms": r["tpot_ms"]["p50"],
        "e2el_mean_ms": r["e2el_ms"]["mean"],
        "output_tokens_per_s": r["output_token_throughput"], "requests_per_s": r["request_throughput"],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", help="an OpenAI-compatible endpoint (default: start the lab's simulator)")
    p.add_argument("--model", default="mistral-24b-fp8")
    p.add_argument("--streams", type=int, default=8)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--small", type=int, default=40, help="requests of the run that measures start-up CPU")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--output-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset-size", type=int, default=1000)
    args = p.parse_args()
    if not GUIDELLM.exists():
        raise SystemExit("GuideLLM is not installed: python3 -m venv %s && %s/bin/pip install -r %s"
                         % (GUIDELLM_VENV, GUIDELLM_VENV, REPO / "benchmarks" / "requirements-guidellm.txt"))
    work = Path(tempfile.mkdtemp(prefix="guidellm-xcheck-"))
    subprocess.run([str(GUIDELLM_VENV / "bin" / "python"), "-c", TOKENIZER, str(work / "tokenizer"), "request-0"]
                   + [("request-%d" % i) for i in range(args.dataset_size)] + list(VOCABULARY), check=True)
    # the same requests for both tools: llm_benchmark's seeded dataset, request i in order
    dataset = Dataset(args.prompt_tokens, args.output_tokens, seed=args.seed, size=args.dataset_size)
    data = work / "data.jsonl"
    with data.open("w") as fh:
        for i in range(args.dataset_size):
            text, ptoks, otoks = dataset[i]
            fh.write(json.dumps({"prompt": text, "prompt_tokens_count": ptoks, "output_tokens_count": otoks}) + "\n")
    sim = None
    url = args.url
    if not url:
        sim, url, prof = start_sim(args.model)
        print("endpoint: lab vLLM simulator %s, profile of %s: %s" % (url, args.model, json.dumps(
            dict((k, prof[k]) for k in ("ttft_ms", "itl_ms", "prefill_ms_per_token", "prefill_batch_slope",
                                        "decode_batch_slope", "max_num_seqs")))))
    print("load: %d concurrent streams, %d requests (and %d for start-up CPU), prompt %d tokens, output %d tokens"
          % (args.streams, args.requests, args.small, args.prompt_tokens, args.output_tokens))
    try:
        cpu = {"guidellm": {}, "llm_benchmark": {}}
        res = {}
        for n in (args.small, args.requests):  # alternate the tools
            cpu["guidellm"][n], res[("guidellm", n)] = run_guidellm(url, args.model, work, data, args.streams, n)
            cpu["llm_benchmark"][n], res[("llm_benchmark", n)] = run_ours(url, args.model, work, args.streams, n, args)
    finally:
        if sim:
            sim.terminate()
            sim.wait(10)
    g, o = res[("guidellm", args.requests)], res[("llm_benchmark", args.requests)]
    print("\n%-22s %14s %14s %10s" % ("metric", "guidellm", "llm_benchmark", "ours/theirs"))
    for key in ("completed", "errored", "ttft_mean_ms", "ttft_p50_ms", "tpot_mean_ms", "tpot_p50_ms", "e2el_mean_ms",
                "output_tokens_per_s", "requests_per_s"):
        ratio = (o[key] / g[key]) if g[key] else float("nan")
        print("%-22s %14.3f %14.3f %10.3f" % (key, g[key], o[key], ratio))
    per_req = {}
    for tool in cpu:
        per_req[tool] = 1000.0 * (cpu[tool][args.requests] - cpu[tool][args.small]) / (args.requests - args.small)
        print("%-22s total CPU %6.2f s (%d req) / %6.2f s (%d req): %.3f ms CPU per request (marginal)" % (
            tool, cpu[tool][args.requests], args.requests, cpu[tool][args.small], args.small, per_req[tool]))
    print("%-22s %10.3f" % ("client CPU/request ours/theirs", per_req["llm_benchmark"] / per_req["guidellm"]
                                                            if per_req["guidellm"] else float("nan")))
    within = all(abs(o[k] / g[k] - 1) <= 0.05 for k in ("ttft_mean_ms", "tpot_mean_ms", "output_tokens_per_s") if g[k])
    print("target (TTFT, TPOT, throughput within 5%%; CPU per request not higher): %s, %s" % (
        "met" if within else "NOT met", "met" if per_req["llm_benchmark"] <= per_req["guidellm"] else "NOT met"))


if __name__ == "__main__":
    main()
