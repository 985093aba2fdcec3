"""Lab latency profile: how fast a simulated vLLM loads and answers, from its vLLM flags.

The numbers are not measurements; they are chosen so that the lab's FP8/BF16/TP comparisons move
in the direction real L4/L40S deployments do (FP8 faster per token, more GPUs faster per token but
slower to load). Override with `<state-dir>/latency.yaml` (same keys as DEFAULTS, merged) or with
the environment: LABSIM_READY_DELAY_S, LABSIM_TTFT_MS, LABSIM_ITL_MS (base values), and
LABSIM_LATENCY (a YAML/JSON mapping merged like the file).

Per InferenceService: `models: {<isvc name>: {...}}` in that file, or the InferenceService
annotation `lab.private-ai.io/latency-profile` (YAML/JSON, same keys, merged last). KServe copies
an InferenceService's annotations onto its predictor pods (kserve v0.15.2
pkg/controller/v1beta1/inferenceservice/components/predictor.go, buildObjectMeta), where pods.py
reads it.

Load (see vllm_sim.py for the formulas): `load` holds the prefill cost per prompt token and how
much TTFT and the per-sequence inter-token latency grow per extra running sequence; FP8 (more KV
cache room, faster kernels) and tensor parallelism (more GPUs per batch) scale the growth down.
"""

import json
import os

import yaml

DEFAULTS = {
    "base": {"ttft_ms": 120.0, "itl_ms": 25.0, "itl_std_dev_ms": 0.0, "ready_delay_s": 3.0},
    # multipliers on ttft and itl
    "dtype": {"auto": 1.0, "bfloat16": 1.0, "float16": 1.0, "half": 1.0, "float32": 2.0,
              "float": 2.0},
    "fp8": {"ttft": 0.65, "itl": 0.65},          # --quantization fp8 or an FP8 checkpoint
    "kv_cache_fp8": {"ttft": 1.0, "itl": 0.95},  # --kv-cache-dtype fp8*
    "tensor_parallel": {"1": 1.0, "2": 0.6, "4": 0.45, "8": 0.35},
    # model load time: base + per extra TP rank (NCCL init), capped
    "ready_delay_per_extra_rank_s": 0.5,
    "ready_delay_max_s": 5.0,
    "max_model_len": 8192,
    "load": {"prefill_ms_per_token": 0.05, "prefill_batch_slope": 0.03, "decode_batch_slope": 0.02},
    # multipliers on the load growth (slopes) and on the prefill cost per token
    "fp8_load": {"prefill_ms_per_token": 0.6, "prefill_batch_slope": 0.8, "decode_batch_slope": 0.8},
    "tensor_parallel_load": {"1": 1.0, "2": 0.7, "4": 0.5, "8": 0.4},
    "models": {},
}
ANNOTATION = "lab.private-ai.io/latency-profile"


def _merge(dst, src):
    for key, val in (src or {}).items():
        if isinstance(val, dict) and isinstance(dst.get(key), dict):
            _merge(dst[key], val)
        else:
            dst[key] = val
    return dst


def load_config(state_dir=None, environ=None):
    """DEFAULTS merged with <state_dir>/latency.yaml and the LABSIM_* environment."""
    env = os.environ if environ is None else environ
    cfg = json.loads(json.dumps(DEFAULTS))
    if state_dir:
        path = os.path.join(state_dir, "latency.yaml")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                _merge(cfg, yaml.safe_load(fh) or {})
    if env.get("LABSIM_LATENCY"):
        _merge(cfg, yaml.safe_load(env["LABSIM_LATENCY"]) or {})
    for var, key in (("LABSIM_READY_DELAY_S", "ready_delay_s"), ("LABSIM_TTFT_MS", "ttft_ms"),
                     ("LABSIM_ITL_MS", "itl_ms")):
        if env.get(var):
            cfg["base"][key] = float(env[var])
    return cfg


def parse_args(args):
    """vLLM flags from an args list (`--k=v` or `--k v`) as a dict of flag -> value."""
    out = {}
    args = [str(a) for a in (args or [])]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            if "=" in arg:
                key, val = arg[2:].split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                key, val = arg[2:], args[i + 1]
                i += 1
            else:
                key, val = arg[2:], "true"
            out[key.replace("_", "-")] = val
        i += 1
    return out


def for_service(cfg, name=None, annotation=None):
    """cfg with the InferenceService's overrides merged: `models[name]`, then the annotation's
    YAML/JSON (an unparsable annotation is ignored: a lab must not crash on a typo)."""
    cfg = json.loads(json.dumps(cfg or DEFAULTS))
    _merge(cfg, (cfg.get("models") or {}).get(name) or {})
    if annotation:
        try:
            extra = yaml.safe_load(annotation)
        except yaml.YAMLError:
            extra = None
        if isinstance(extra, dict):
            _merge(cfg, extra)
    return cfg


def compute(args, cfg=None, storage_path="", name=None, annotation=None):
    """Latency profile for a vLLM args list: dict with ttft_ms, itl_ms, ready_delay_s, the load
    model's prefill_ms_per_token / prefill_batch_slope / decode_batch_slope, ..."""
    cfg = for_service(_merge(json.loads(json.dumps(DEFAULTS)), cfg or {}), name, annotation)
    flags = parse_args(args)
    base = cfg["base"]
    dtype = flags.get("dtype", "auto").lower()
    quant = flags.get("quantization", "").lower()
    kv = flags.get("kv-cache-dtype", "auto").lower()
    try:
        tp = max(1, int(flags.get("tensor-parallel-size", "1")))
    except ValueError:
        tp = 1
    # a pre-quantized FP8 checkpoint is recognisable only by its path in the lab
    fp8 = quant in ("fp8", "fbgemm_fp8", "compressed-tensors") or "fp8" in storage_path.lower()
    ttft = base["ttft_ms"] * float(cfg["dtype"].get(dtype, 1.0))
    itl = base["itl_ms"] * float(cfg["dtype"].get(dtype, 1.0))
    if fp8:
        ttft *= cfg["fp8"]["ttft"]
        itl *= cfg["fp8"]["itl"]
    if kv.startswith("fp8"):
        ttft *= cfg["kv_cache_fp8"]["ttft"]
        itl *= cfg["kv_cache_fp8"]["itl"]
    tp_table = {int(k): float(v) for k, v in cfg["tensor_parallel"].items()}
    tp_factor = tp_table.get(tp) or min(tp_table.items(), key=lambda kv_: abs(kv_[0] - tp))[1]
    ttft *= tp_factor
    itl *= tp_factor
    ready = min(float(cfg["ready_delay_max_s"]),
                float(base["ready_delay_s"]) + (tp - 1) * float(cfg["ready_delay_per_extra_rank_s"]))
    try:
        max_len = int(flags.get("max-model-len", cfg["max_model_len"]))
    except ValueError:
        max_len = int(cfg["max_model_len"])
    try:
        max_seqs = int(flags.get("max-num-seqs", 256))
    except ValueError:
        max_seqs = 256
    load = dict(cfg["load"])
    tp_load = {int(k): float(v) for k, v in cfg["tensor_parallel_load"].items()}
    tp_load_factor = tp_load.get(tp) or min(tp_load.items(), key=lambda kv_: abs(kv_[0] - tp))[1]
    for key in ("prefill_ms_per_token", "prefill_batch_slope", "decode_batch_slope"):
        load[key] = float(load[key]) * tp_load_factor * (float(cfg["fp8_load"].get(key, 1.0)) if fp8 else 1.0)
    return {
        "prefill_ms_per_token": round(load["prefill_ms_per_token"], 4),
        "prefill_batch_slope": round(load["prefill_batch_slope"], 4),
        "decode_batch_slope": round(load["decode_batch_slope"], 4),
        "ttft_ms": round(ttft, 1),
        "itl_ms": round(itl, 1),
        "itl_std_dev_ms": float(base.get("itl_std_dev_ms", 0.0)),
        "ready_delay_s": round(ready, 2),
        "max_model_len": max_len,
        "max_num_seqs": max_seqs,
        "dtype": dtype,
        "fp8": fp8,
        "kv_cache_dtype": kv,
        "tensor_parallel_size": tp,
    }
