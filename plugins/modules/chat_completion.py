#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: chat_completion
short_description: Smoke-test an OpenAI-compatible (vLLM) endpoint and measure its latency
version_added: 0.1.0
description:
  - Checks one endpoint the way a client uses it. C(GET /health) must answer 200,
    C(GET /v1/models) must list O(model), and C(POST /v1/chat/completions) must return an answer,
    streamed as Server-Sent Events by default.
  - Measures, with the definitions of vLLM's benchmark tools, the time to first token (the
    first streamed chunk with non-empty content), the total latency, the output tokens (from the
    server's C(usage), else the number of content chunks) and the decode rate in tokens per second.
  - Connection errors and HTTP 429, 500, 502, 503 and 504 (model still loading, rate limited, route not
    ready) are retried with exponential backoff and full jitter until O(timeout) has passed, by the
    collection's one retry policy (C(module_utils/common/retry.py)); then, or on any other HTTP error,
    the module fails once with the status and an excerpt of the body.
  - The module only reads; it makes no change and runs in check mode too.
extends_documentation_fragment:
  - private_ai.llm_serving.tls
  - private_ai.llm_serving.token_secrets
author:
  - Private AI platform team (@private-ai)
options:
  url:
    description:
      - Base URL of the endpoint, for example the InferenceService C(status.url) or
        C(status.address.url). A trailing C(/v1) is accepted and removed.
      - Required unless O(endpoints) is given.
    type: str
  model:
    description:
      - The served model name (for an InferenceService on the vLLM runtime, its name).
      - Required unless O(endpoints) is given.
    type: str
  endpoints:
    description:
      - Several endpoints to test at once, concurrently, in one module run (one thread each).
        Each entry takes C(url), C(model), C(prompt) or C(messages), and optionally C(max_tokens)
        and C(expect) (over O(max_tokens) and O(expect)) and C(name) (the label in messages,
        default C(model)). The other options apply to all.
      - The result is RV(results), one entry per endpoint in the same order; when any fails, the
        module fails once, naming every failed endpoint.
    type: list
    elements: dict
  prompt:
    description:
      - The user message to send. Mutually exclusive with O(messages).
    type: str
  messages:
    description:
      - Full chat messages (list of C({role, content}) dicts). Mutually exclusive with O(prompt).
    type: list
    elements: dict
  max_tokens:
    description:
      - Maximum number of tokens to generate.
    type: int
    default: 32
  stream:
    description:
      - Stream the answer (SSE) and measure time to first token. With V(false) the time to first
        token is not measurable and is returned as null.
    type: bool
    default: true
  expect:
    description:
      - Regular expression (Python C(re.search)) the answer must match.
    type: str
  token:
    description:
      - Bearer token sent as C(Authorization) header, for endpoints with authentication enabled
        (C(security.opendatahub.io/enable-auth)).
    type: str
  tokens:
    description:
      - Per endpoint (its C(name), else its C(model)), the bearer token to send, over O(token).
        Like O(token), never shown (all its values are masked, the invocation at C(-vvv) included).
    type: dict
  proxy:
    description:
      - HTTP proxy through which to reach the endpoint (C(http://host:port)), for https URLs
        too (C(CONNECT)). Without it the C(https_proxy), C(http_proxy) and C(no_proxy)
        environment variables apply.
    type: str
  timeout:
    description:
      - Deadline in seconds for the whole test, retries included.
    type: float
    default: 300
  check_health:
    description:
      - Call C(GET /health) first. Turn off for gateways that do not route it.
    type: bool
    default: true
  extra_body:
    description:
      - Additional fields merged into the chat completion request (for example C(temperature)).
        O(model), O(messages), O(max_tokens) and O(stream) take precedence.
    type: dict
    default: {}
notes:
  - Uses only the Python standard library and C(ansible.module_utils.urls).
  - "O(token) is never written to the result, warnings or failure messages; response bodies
    quoted in failures have it masked."
"""

EXAMPLES = r"""
- name: Smoke-test a model and measure time to first token
  private_ai.llm_serving.chat_completion:
    url: "{{ isvc.url }}"
    model: mistral-24b-bf16
    prompt: Say hello in one short sentence.
    max_tokens: 32
    expect: "(?i)hello"
    token: "{{ llm_serving_endpoint_token | default(omit) }}"
    ca_path: /etc/pki/tls/certs/ingress-ca.pem
    timeout: 600
  register: smoke

- name: Non-streaming request with full messages
  private_ai.llm_serving.chat_completion:
    url: http://127.0.0.1:20001
    model: devstral-24b
    stream: false
    messages:
      - role: system
        content: You are terse.
      - role: user
        content: Name one prime number.
"""

RETURN = r"""
url:
  description: The endpoint base URL that was tested.
  returned: always
  type: str
  sample: https://mistral-24b-bf16-private-ai.apps.example.com
model:
  description: The model name requested.
  returned: always
  type: str
stream:
  description: Whether the answer was streamed.
  returned: always
  type: bool
health_status:
  description: HTTP status of C(GET /health) (200), when O(check_health) is true.
  returned: when check_health
  type: int
served_models:
  description: Model ids listed by C(GET /v1/models).
  returned: success
  type: list
  elements: str
ttft_seconds:
  description: Time to first token, from sending the request to the first chunk with content; null when not streaming.
  returned: success
  type: float
  sample: 0.1512
latency_seconds:
  description: Time from sending the request to the end of the answer.
  returned: success
  type: float
output_tokens:
  description: Generated tokens, from C(usage.completion_tokens) (see RV(output_tokens_source)).
  returned: success
  type: int
output_tokens_source:
  description: Where RV(output_tokens) came from, C(usage), C(chunks) (counted content chunks) or C(words).
  returned: success
  type: str
prompt_tokens:
  description: Prompt tokens from C(usage), null when the server did not report usage.
  returned: success
  type: int
tokens_per_second:
  description:
    - Decode rate, RV(output_tokens) / (RV(latency_seconds) - RV(ttft_seconds)); when not streaming,
      RV(output_tokens) / RV(latency_seconds).
  returned: success
  type: float
tpot_seconds:
  description: Time per output token after the first, (latency - ttft) / (output_tokens - 1), as vLLM's benchmarks define it.
  returned: success
  type: float
finish_reason:
  description: The finish reason of the answer (C(stop), C(length)).
  returned: success
  type: str
content:
  description: The generated answer.
  returned: success
  type: str
attempts:
  description: HTTP requests made, retries included.
  returned: always
  type: int
status:
  description: HTTP status of the failing request.
  returned: failure
  type: int
body_excerpt:
  description: First 300 characters of the failing response body, token masked.
  returned: failure
  type: str
results:
  description:
    - With O(endpoints), one result per endpoint in their order, each with the keys above and
      C(name); a failed endpoint has C(failed=true), C(msg), C(status) and C(body_excerpt).
  returned: when O(endpoints) is given
  type: list
  elements: dict
"""

import re
from concurrent.futures import ThreadPoolExecutor


from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.tokens import module_tokens, token_secrets_spec
from ansible_collections.private_ai.llm_serving.plugins.module_utils.openai.client import (
    EndpointError,
    run_smoke_test,
)

ENDPOINT_KEYS = ("url", "model", "prompt", "messages", "max_tokens", "expect", "name")


def argument_spec():
    return dict(
        url=dict(type="str"),
        model=dict(type="str"),
        endpoints=dict(type="list", elements="dict"),
        prompt=dict(type="str"),
        messages=dict(type="list", elements="dict"),
        max_tokens=dict(type="int", default=32, no_log=False),
        stream=dict(type="bool", default=True),
        expect=dict(type="str"),
        token=dict(type="str", no_log=True),
        tokens=dict(type="dict", no_log=True),
        token_secrets=token_secrets_spec(),
        ca_path=dict(type="path"),
        proxy=dict(type="str"),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="float", default=300),
        check_health=dict(type="bool", default=True),
        extra_body=dict(type="dict", default={}),
    )


def endpoint_problems(p, endpoints):
    """One sentence per bad option or endpoint entry (the module fails with all of them)."""
    problems = []
    if p["timeout"] <= 0:
        problems.append("timeout must be a positive number of seconds, got %s." % p["timeout"])
    if p["proxy"] and not re.match(r"^https?://[^/\s]+/?$", p["proxy"]):
        problems.append("proxy must be a URL such as http://proxy.example.com:3128, got %r." % p["proxy"])
    for i, e in enumerate(endpoints):
        where = "endpoints[%d]" % i if p["endpoints"] else "the options"
        unknown = sorted(set(e) - set(ENDPOINT_KEYS))
        if unknown:
            problems.append("%s: unknown key(s) %s; known: %s." % (where, ", ".join(unknown), ", ".join(ENDPOINT_KEYS)))
        for key in ("url", "model"):
            if not e.get(key):
                problems.append("%s: %s is required." % (where, key))
        if bool(e.get("prompt")) == bool(e.get("messages")):
            problems.append("%s: give exactly one of prompt and messages." % where)
        if not isinstance(e.get("max_tokens"), int) or isinstance(e.get("max_tokens"), bool) or e["max_tokens"] < 1:
            problems.append("%s: max_tokens must be at least 1, got %r." % (where, e.get("max_tokens")))
        if e.get("expect") is not None:
            try:
                re.compile(e["expect"])
            except re.error as err:
                problems.append("%s: expect is not a valid regular expression (%s): %r." % (where, err, e["expect"]))
    return problems


def smoke_test(p, e):
    """One endpoint's result, or its failure as data (the module fails once, with all of them)."""
    messages = e.get("messages") or [{"role": "user", "content": e["prompt"]}]
    try:
        result = run_smoke_test(
            e["url"], e["model"], messages, expect=e.get("expect"), check_health=p["check_health"],
            max_tokens=e["max_tokens"], stream=p["stream"], ca_path=p["ca_path"],
            token=(p["tokens"] or {}).get(e.get("name") or e["model"]) or p["token"],
            validate_certs=p["validate_certs"], timeout=p["timeout"], extra_body=p["extra_body"],
            proxy=p["proxy"])
    except EndpointError as err:
        result = dict(failed=True, msg=str(err), url=e["url"], model=e["model"], status=err.status,
                      body_excerpt=err.body, attempts=err.attempts)
    result["name"] = e.get("name") or e["model"]
    return result


def main():
    module = new_module(argument_spec=argument_spec(), supports_check_mode=True,
                        mutually_exclusive=[("endpoints", "url"), ("endpoints", "model")])
    p = module.params
    defaults = dict(max_tokens=p["max_tokens"], expect=p["expect"])
    single = dict((k, p[k]) for k in ("url", "model", "prompt", "messages"))
    endpoints = [dict(defaults, **dict((k, v) for k, v in e.items() if v is not None))
                 for e in (p["endpoints"] or [single])]
    problems = endpoint_problems(p, endpoints)
    if problems:
        module.fail_json(msg=" ".join(problems))
    if p["token_secrets"]:
        p["tokens"] = dict(p["tokens"] or {}, **module_tokens(module, p["token_secrets"]))
    with ThreadPoolExecutor(max_workers=min(len(endpoints), 16) or 1) as pool:
        results = list(pool.map(lambda e: smoke_test(p, e), endpoints))
    failed = [r for r in results if r.get("failed")]
    if not p["endpoints"]:
        result = dict(results[0])
        result.pop("name")
        if failed:
            module.fail_json(**result)
        module.exit_json(changed=False, **result)
    if failed:
        module.fail_json(msg="%d of %d endpoints failed the smoke test: %s"
                         % (len(failed), len(results), " ".join("%s: %s" % (r["name"], r["msg"]) for r in failed)),
                         results=results)
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
