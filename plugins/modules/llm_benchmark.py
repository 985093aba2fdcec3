#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: llm_benchmark
short_description: Load-test OpenAI-compatible (vLLM) endpoints with vLLM's benchmark metrics
version_added: 0.1.0
description:
  - Sends streamed chat completions to one endpoint (O(url), O(model)) or several (O(targets)) from
    a concurrent client inside the module process (threads, one kept-alive connection each) under a
    load profile named as GuideLLM names them, and returns the metrics as C(vllm bench serve)
    defines them (vLLM's C(vllm/benchmarks/serve.py)) for each load level.
  - "Several targets run level by level, one target at a time, the order alternating from one level
    to the next (level 1 A then B, level 2 B then A, ...): the same seeded requests for each, and
    no target always first on a cold machine or last on a warm one."
  - "Time to first token (TTFT): from sending to the first chunk with content. Inter-token
    latency (ITL): gaps between content chunks. Time per output token (TPOT): (latency - TTFT) /
    (output tokens - 1). End-to-end latency (E2EL): sending to the last content chunk. Request,
    output-token and total-token throughput over the run's duration. Mean, standard deviation,
    min, max and percentiles (linear interpolation). Goodput: requests per second that meet every
    SLO given."
  - Failed requests are counted per class (C(http_<status>), C(timeout), C(connection), C(tls),
    C(stream)) with a sample message each; they never enter a latency distribution.
  - Prompts and output lengths are generated from O(seed) (fixed counts or distributions); nothing
    is downloaded. A prompt word is one token on the lab's simulator, about 1.3 on real tokenizers;
    the server's C(usage) counts are what the results report.
  - In check mode nothing is sent and the result has C(skipped=true).
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - private_ai.llm_serving.token_secrets
options:
  url:
    description:
      - Base URL of the endpoint (InferenceService C(status.url)); a trailing C(/v1) is removed.
      - Required (with O(model)) unless O(targets) is given.
    type: str
  model:
    description: The served model name. Required with O(url).
    type: str
  targets:
    description:
      - Several endpoints to benchmark in one run, interleaved level by level (see the description).
        Each entry takes C(name), C(url) and optionally C(model) (the served model name, default
        C(name)). Mutually exclusive with O(url) and O(model).
      - The result is then RV(results), one entry per target in this order, and RV(sequence).
    type: list
    elements: dict
  profile:
    description:
      - C(synchronous) (one request at a time), C(concurrent) (O(concurrency) streams),
        C(throughput) (O(max_concurrency) streams, the maximum throughput), C(constant) or
        C(poisson) (O(rate) requests per second, evenly spaced or with exponential gaps), or
        C(sweep) as GuideLLM's (synchronous, then throughput, then O(sweep_points) - 2 rates from
        C(linspace(synchronous rate, throughput rate, sweep_points - 1)[1:]), the last of which is
        the measured maximum; guidellm C(src/guidellm/benchmark/profiles/sweep.py)).
    type: str
    choices: [synchronous, concurrent, throughput, constant, poisson, sweep]
    default: synchronous
  concurrency:
    description: Streams for O(profile=concurrent).
    type: int
  rate:
    description: Requests per second for O(profile=constant) and O(profile=poisson).
    type: float
  sweep_points:
    description: Load levels of a sweep, synchronous and throughput included.
    type: int
    default: 5
  sweep_rate_type:
    description: How a sweep's intermediate rates send, C(constant) or C(poisson).
    type: str
    choices: [constant, poisson]
    default: constant
  max_concurrency:
    description:
      - Most requests in flight at once in a rate profile, and the streams of the throughput
        profile and of a sweep's throughput level. Requests beyond it wait on the client; their TTFT
        starts when they are sent.
    type: int
    default: 64
  max_requests:
    description: Requests per load level; a level ends at O(max_requests) or O(max_seconds), whichever comes first.
    type: int
  max_seconds:
    description: Seconds per load level during which new requests are sent.
    type: float
  prompt_tokens:
    description:
      - Prompt length in tokens, an integer or a distribution C({distribution, mean, min, max, stddev})
        with C(distribution) one of C(fixed), C(uniform), C(normal), C(exponential).
    type: raw
    default: 128
  output_tokens:
    description: Output length (C(max_tokens)), in the same form as O(prompt_tokens).
    type: raw
    default: 128
  ignore_eos:
    description: Send vLLM's C(ignore_eos) so that every answer has exactly its output length.
    type: bool
    default: true
  dataset_size:
    description: Distinct generated requests; request i of every level is the same.
    type: int
    default: 1000
  seed:
    description: Seed of the generated dataset and of Poisson arrivals.
    type: int
    default: 0
  warmup_requests:
    description: Requests sent (and not counted) before the first level.
    type: int
    default: 1
  slo_ttft_ms:
    description: TTFT target in milliseconds for goodput.
    type: float
  slo_tpot_ms:
    description: TPOT target in milliseconds for goodput.
    type: float
  slo_e2el_ms:
    description: End-to-end latency target in milliseconds for goodput.
    type: float
  slo_attainment:
    description:
      - Share of a level's requests (failed ones included) that must meet every SLO target for the
        level to meet the SLO; RV(best) is the level with the highest output-token throughput among
        those that do. A level with a failed request never meets it.
    type: float
    default: 0.9
  percentiles:
    description: Percentiles reported for TTFT, TPOT, ITL and E2EL.
    type: list
    elements: float
    default: [50, 90, 99]
  request_timeout:
    description: Seconds one request may take before it counts as a C(timeout) failure.
    type: float
    default: 300
  token:
    description: Bearer token for endpoints with authentication (every target's, unless O(token_secrets) names it).
    type: str
  ca_path:
    description: PEM CA bundle that signed the endpoint's certificate.
    type: path
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
  proxy:
    description:
      - HTTP proxy to reach the endpoint through (C(CONNECT) for https). Without it the
        C(https_proxy), C(http_proxy) and C(no_proxy) environment variables apply.
    type: str
  extra_body:
    description: Fields merged into every request body (for example C(temperature)).
    type: dict
    default: {}
  output_path:
    description: Also write the result as JSON to this file on the controller (no secret is in it).
    type: path
notes:
  - Uses only the Python standard library; runs on the controller or any host that reaches the endpoint.
  - "O(token) and the tokens of O(token_secrets) are never returned, logged or written to O(output_path)."
  - On a local connection the module runs inside the controller's worker (its action plugin), so
    its client CPU per request is measured without a module process start.
  - Numbers measured against the lab are its simulator's, not a GPU's.
"""

EXAMPLES = r"""
- name: Sweep an endpoint up to its maximum throughput
  private_ai.llm_serving.llm_benchmark:
    url: "{{ isvc.url }}"
    model: mistral-24b-fp8
    profile: sweep
    max_requests: 100
    max_seconds: 60
    prompt_tokens: 256
    output_tokens: {distribution: normal, mean: 128, stddev: 32, min: 16, max: 256}
    slo_ttft_ms: 500
    slo_tpot_ms: 50
    ca_path: /etc/pki/tls/certs/ingress-ca.pem
    output_path: results/mistral-24b-fp8.json
  register: bench

- name: FP8 and BF16 under the same load, interleaved level by level, with their token Secrets
  private_ai.llm_serving.llm_benchmark:
    targets:
      - {name: mistral-24b-full, url: "https://mistral-24b-full-private-ai.apps.example.com"}
      - {name: mistral-24b-fp8, url: "https://mistral-24b-fp8-private-ai.apps.example.com"}
    profile: sweep
    max_requests: 40
    token_secrets:
      namespace: private-ai
      names: {mistral-24b-full: default-token-mistral-24b-full-sa, mistral-24b-fp8: default-token-mistral-24b-fp8-sa}
    output_path: results/benchmark.json
  register: bench

- name: Eight concurrent streams for 30 seconds
  private_ai.llm_serving.llm_benchmark:
    url: http://127.0.0.1:8000
    model: m
    profile: concurrent
    concurrency: 8
    max_seconds: 30
"""

RETURN = r"""
runs:
  description:
    - One entry per load level, ordered by load (synchronous, then the rates or streams ascending,
      then throughput), which for a sweep is not the order run (synchronous, throughput, then the
      rates); C(level) and C(sequence) (the position in the whole run, all targets counted) say
      when each ran. Each with C(profile), C(concurrency), C(rate),
      C(requests), C(completed), C(failed), C(errors) (count per class), C(error_samples),
      C(duration_seconds), C(request_throughput), C(output_token_throughput),
      C(total_token_throughput), C(request_goodput), C(good_requests), C(ttft_ms), C(tpot_ms),
      C(itl_ms), C(e2el_ms) (each C(count), C(mean), C(std), C(min), C(max), C(p50)...),
      C(max_concurrency_observed), C(client_cpu_ms_per_request) and C(meets_slo).
  returned: success, with O(url)
  type: list
  elements: dict
best:
  description: Index in RV(runs) of the level with the highest output-token throughput meeting the SLO; null when none does.
  returned: success, with O(url)
  type: int
totals:
  description: Requests, completed, failed and errors per class over all levels.
  returned: success, with O(url)
  type: dict
results:
  description:
    - With O(targets), one entry per target in their order, each with C(name), C(model), C(url),
      RV(runs), RV(best), RV(totals) and C(warmup).
  returned: success, with O(targets)
  type: list
  elements: dict
sequence:
  description: With O(targets), the levels in the order run, each C({level, target}).
  returned: success, with O(targets)
  type: list
  elements: dict
slo:
  description: The SLO targets (milliseconds) and attainment used.
  returned: success
  type: dict
dataset:
  description: The prompt and output length specifications, seed and size.
  returned: success
  type: dict
environment:
  description: The client host, Python version and client settings.
  returned: success
  type: dict
output_path:
  description: The file written, when O(output_path) is set.
  returned: when output_path is set and not in check mode
  type: str
skipped:
  description: True in check mode (nothing was sent).
  returned: check mode
  type: bool
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark import bench
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError, fail
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.tokens import module_tokens, token_secrets_spec


def argument_spec():
    return dict(
        url=dict(type="str"),
        model=dict(type="str"),
        targets=dict(type="list", elements="dict"),
        profile=dict(type="str", default="synchronous", choices=list(bench.PROFILES)),
        concurrency=dict(type="int"),
        rate=dict(type="float"),
        sweep_points=dict(type="int", default=5),
        sweep_rate_type=dict(type="str", default="constant", choices=["constant", "poisson"]),
        max_concurrency=dict(type="int", default=64),
        max_requests=dict(type="int"),
        max_seconds=dict(type="float"),
        prompt_tokens=dict(type="raw", default=128, no_log=False),
        output_tokens=dict(type="raw", default=128, no_log=False),
        ignore_eos=dict(type="bool", default=True),
        dataset_size=dict(type="int", default=1000),
        seed=dict(type="int", default=0),
        warmup_requests=dict(type="int", default=1),
        slo_ttft_ms=dict(type="float"),
        slo_tpot_ms=dict(type="float"),
        slo_e2el_ms=dict(type="float"),
        slo_attainment=dict(type="float", default=0.9),
        percentiles=dict(type="list", elements="float", default=[50, 90, 99]),
        request_timeout=dict(type="float", default=300),
        token=dict(type="str", no_log=True),
        token_secrets=token_secrets_spec(),
        ca_path=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        proxy=dict(type="str"),
        extra_body=dict(type="dict", default={}),
        output_path=dict(type="path"),
    )


def main():
    module = new_module(argument_spec=argument_spec(), supports_check_mode=True,
                        mutually_exclusive=[("targets", "url"), ("targets", "model")],
                        required_one_of=[("targets", "url")], required_together=[("url", "model")])
    p = dict(module.params)
    for key in ("prompt_tokens", "output_tokens"):  # raw: "128" from a template is a number too
        if isinstance(p[key], str) and p[key].strip().isdigit():
            p[key] = int(p[key])
    bad = bench.problems(p)
    if bad:
        module.fail_json(msg=" ".join(bad))
    if module.check_mode:
        skipped = dict(changed=False, skipped=True, msg="check mode: no request sent", profile=p["profile"])
        if p["targets"]:
            module.exit_json(results=[], sequence=[], **skipped)
        module.exit_json(url=p["url"], model=p["model"], runs=[], best=None, **skipped)
    tokens = module_tokens(module, p["token_secrets"]) if p["token_secrets"] else {}
    error = result = None
    try:
        result = bench.run(p, tokens)
    except ModuleError as err:
        error = err
    if error is not None:
        fail(module, error)
    changed = False
    if p["output_path"]:
        result["output_path"] = bench.write(p["output_path"], result)
        changed = True
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
