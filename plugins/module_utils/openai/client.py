# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke test of an OpenAI-compatible (vLLM) endpoint: health, model list, one chat completion.

Standard library only, so it runs in any execution environment.

Metric definitions (the ones vLLM's ``benchmark_serving`` uses):
- ``ttft_seconds``: from just before the request is sent until the first streamed chunk whose
  ``delta.content`` is non-empty (vLLM sends the role first with empty content: not a token).
- ``latency_seconds``: from just before the request is sent until the response is complete.
- ``output_tokens``: ``usage.completion_tokens`` when the server reports usage (we ask with
  ``stream_options.include_usage``), otherwise the number of chunks that carried content.
- ``tokens_per_second``: ``output_tokens / (latency_seconds - ttft_seconds)``, the decode rate
  after the first token; in non-streaming mode TTFT is unknown and it is
  ``output_tokens / latency_seconds``.
- ``tpot_seconds``: ``(latency_seconds - ttft_seconds) / (output_tokens - 1)``, vLLM's time per
  output token excluding the first.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.http import (
    error_body, excerpt, json_request, retry_after, tls_context)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.http import lines as http_lines
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.retry import Retry, retryable

import http.client
import json
import re
import socket
import ssl
import time
import urllib.request
from urllib.error import HTTPError, URLError


class EndpointError(ModuleError):
    """A failure of the smoke test; str() is one sentence for the operator, never a secret."""

    def __init__(self, msg, status=None, body=None, attempts=0):
        super(EndpointError, self).__init__(msg, status=status, body=body, attempts=attempts)


class _Transient(ModuleError):
    """An attempt that may succeed later (no answer, or a status of common.retry.RETRYABLE_STATUSES)."""

    def __init__(self, what, status=None, body=None, retry_after=None):
        super(_Transient, self).__init__(what, status=status, body=body, retry_after=retry_after)


class _SafeRedirects(urllib.request.HTTPRedirectHandler):
    """Follows the redirects of GET and HEAD only (what ansible.module_utils.urls calls "safe"):
    a POST redirected elsewhere is an HTTPError, not silently re-sent as a GET."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.get_method() not in ("GET", "HEAD"):
            return None
        return urllib.request.HTTPRedirectHandler.redirect_request(self, req, fp, code, msg, headers, newurl)


def opener(ca_path=None, validate_certs=True, proxy=None):
    """A urllib opener built once per client, its TLS context with it, so that no request
    measured for time to first token loads a CA store (ansible.module_utils.urls' Request builds
    a context per request on ansible-core 2.16, which takes no ``context``). With ``proxy``
    every request goes through it (https by CONNECT); without, urllib's ProxyHandler reads
    ``http_proxy``, ``https_proxy`` and ``no_proxy``."""
    handlers = [urllib.request.HTTPSHandler(context=tls_context(ca_path, validate_certs)), _SafeRedirects()]
    if proxy:
        handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
    return urllib.request.build_opener(*handlers)


def base_url(url):
    """Normalise an endpoint URL to its root: strip trailing slashes and a trailing /v1."""
    url = url.rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    return url


def iter_sse_data(lines):
    """Yield the ``data:`` payloads of a Server-Sent Events stream given as an iterable of lines.

    Multi-line data fields are joined with newlines as the SSE specification says; comments
    (``:``) and other fields (``event:``, ``id:``) are skipped. The terminating ``[DONE]``
    is yielded like any other payload so callers can tell a complete stream from a cut one.
    """
    data = []
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        field, dummy, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
    if data:
        yield "\n".join(data)


def chunk_content(chunk):
    """Text carried by one chat.completion.chunk (or text_completion) object, '' when none."""
    parts = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
        else:
            text = choice.get("text")
        if text:
            parts.append(text)
    return "".join(parts)


def derive_metrics(t_latency, t_first, output_tokens):
    """Rates from raw timings; see the module docstring for the definitions."""
    metrics = {"latency_seconds": round(t_latency, 6), "ttft_seconds": None,
               "tokens_per_second": None, "tpot_seconds": None}
    if t_first is not None:
        metrics["ttft_seconds"] = round(t_first, 6)
        decode = t_latency - t_first
        if output_tokens and decode > 0:
            metrics["tokens_per_second"] = round(output_tokens / decode, 3)
        if output_tokens and output_tokens > 1:
            metrics["tpot_seconds"] = round(decode / (output_tokens - 1), 6)
    elif output_tokens and t_latency > 0:
        metrics["tokens_per_second"] = round(output_tokens / t_latency, 3)
    return metrics


class StreamResult(object):
    """Accumulates a streamed chat completion and the time its first content arrived."""

    def __init__(self, t0, clock):
        self.t0 = t0
        self.clock = clock
        self.t_first = None
        self.content = []
        self.chunks_with_content = 0
        self.usage = None
        self.finish_reason = None
        self.done = False

    def feed(self, payload):
        if payload.strip() == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise EndpointError("The stream sent a data line that is not JSON: %s."
                                % excerpt(payload, limit=120))
        if not isinstance(chunk, dict):
            return
        if chunk.get("error"):
            raise EndpointError("The stream reported an error: %s." % excerpt(json.dumps(chunk["error"])))
        text = chunk_content(chunk)
        if text:
            if self.t_first is None:
                self.t_first = self.clock() - self.t0
            self.content.append(text)
            self.chunks_with_content += 1
        for choice in chunk.get("choices") or []:
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]


class ChatProbe(object):
    """Runs the smoke test against one endpoint until `timeout` seconds have passed.

    One deadline for all its requests (common.retry.Retry: jittered backoff, Retry-After
    honoured); `clock`, `sleep` and `rng` are injectable so the retries are testable without waiting.
    """

    def __init__(self, url, model, messages, max_tokens=32, stream=True, token=None,
                 ca_path=None, validate_certs=True, timeout=300.0, extra_body=None, proxy=None,
                 clock=time.monotonic, sleep=time.sleep, rng=None):
        self.root = base_url(url)
        self.model = model
        self.messages = messages
        self.max_tokens = max_tokens
        self.stream = stream
        self.token = token
        self.extra_body = extra_body or {}
        self.clock = clock
        self.retry = Retry(timeout, clock=clock, sleep=sleep, rng=rng)
        self.timeout = timeout
        self.attempts = 0
        self.t_sent = None
        self.headers = {"Accept": "application/json", "User-Agent": "private_ai.llm_serving"}
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        self.opener = opener(ca_path, validate_certs, proxy)

    def remaining(self):
        return self.retry.remaining()

    # -- transport -------------------------------------------------------------------------
    def _open(self, method, path, body=None):
        """One HTTP attempt; returns the open response or raises _Transient / EndpointError."""
        url = self.root + path
        left = self.remaining()
        if left <= 0:
            raise _Transient("the deadline passed before the request was sent")
        data, headers = json_request(body)
        self.attempts += 1
        self.t_sent = self.clock()  # per attempt: time spent in earlier retries is not latency
        try:
            request = urllib.request.Request(url, data=data, headers=dict(self.headers, **headers), method=method)
            return self.opener.open(request, timeout=max(left, 0.5))
        except HTTPError as err:
            text = error_body(err)
            # The collection's one set of retryable statuses (common.retry): since it, a 500 is
            # retried too (a model server or gateway restarting); a lasting one fails at the
            # deadline with the same "last answer" instead of at once.
            if retryable(err.code):
                raise _Transient("HTTP %d" % err.code, status=err.code, body=text,
                                 retry_after=retry_after(err.headers))
            raise EndpointError("%s %s returned HTTP %d: %s" % (
                method, url, err.code, excerpt(text, self.token) or err.reason),
                status=err.code, body=excerpt(text, self.token))
        except URLError as err:
            reason = err.reason
            if isinstance(reason, (ssl.SSLError, ssl.CertificateError)):
                raise EndpointError("%s %s failed TLS verification: %s (set ca_path to the CA "
                                    "bundle that signed the endpoint)." % (method, url, reason))
            raise _Transient("%s" % (reason,))
        except (socket.timeout, ConnectionError, OSError) as err:
            if isinstance(err, (ssl.SSLError, ssl.CertificateError)):
                raise EndpointError("%s %s failed TLS verification: %s." % (method, url, err))
            raise _Transient("%s" % (err,))

    def call(self, method, path, body=None, handler=None):
        """Retry one request on transient failures until the deadline, then fail once."""
        url = self.root + path
        tries = 0
        last = None
        while True:
            try:
                resp = self._open(method, path, body)
                try:
                    return handler(resp) if handler else resp.read()
                finally:
                    resp.close()
            except _Transient as err:
                last = err
            except (socket.timeout, ConnectionError, http.client.HTTPException) as err:  # cut mid-response
                last = _Transient("connection lost while reading the response: %s" % err)
            tries += 1
            if not self.retry.again(tries - 1, last.retry_after):
                what = ("HTTP %d: %s" % (last.status, excerpt(last.body, self.token))
                        if last.status else str(last))
                raise EndpointError(
                    "%s %s did not succeed within the %g s deadline after %d attempt(s); "
                    "last answer: %s" % (method, url, self.timeout, tries, what.rstrip(": ")),
                    status=last.status, body=excerpt(last.body, self.token), attempts=tries)

    # -- the three checks ------------------------------------------------------------------
    def health(self):
        self.call("GET", "/health")
        return 200

    def models(self):
        raw = self.call("GET", "/v1/models")
        try:
            data = json.loads(raw)
            served = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            raise EndpointError("GET %s/v1/models did not return an OpenAI model list: %s"
                                % (self.root, excerpt(raw, self.token)))
        if self.model not in served:
            raise EndpointError("GET %s/v1/models does not list the model %r; it serves %s."
                                % (self.root, self.model, ", ".join(map(str, served)) or "nothing"))
        return served

    def chat(self):
        body = dict(self.extra_body)
        body.update({"model": self.model, "messages": self.messages, "max_tokens": self.max_tokens,
                     "stream": self.stream})
        if self.stream:
            body["stream_options"] = {"include_usage": True}
        state = {}

        def read_stream(resp):
            result = StreamResult(self.t_sent, self.clock)
            for payload in iter_sse_data(http_lines(resp)):
                result.feed(payload)
                if result.done:
                    break
            state["t_end"] = self.clock()
            if not result.done and not result.content:
                raise _Transient("the stream ended before any content or [DONE]")
            return result

        def read_json(resp):
            raw = resp.read()
            state["t_end"] = self.clock()
            return raw

        out = self.call("POST", "/v1/chat/completions", body,
                        read_stream if self.stream else read_json)
        latency = state["t_end"] - self.t_sent
        if self.stream:
            content = "".join(out.content)
            usage = out.usage or {}
            tokens = usage.get("completion_tokens")
            source = "usage" if tokens is not None else "chunks"
            if tokens is None:
                tokens = out.chunks_with_content
            result = derive_metrics(latency, out.t_first, tokens)
            finish = out.finish_reason
        else:
            try:
                data = json.loads(out)
                choice = (data.get("choices") or [{}])[0]
                content = (choice.get("message") or {}).get("content") or choice.get("text") or ""
                usage = data.get("usage") or {}
                finish = choice.get("finish_reason")
            except (ValueError, AttributeError, IndexError):
                raise EndpointError("POST %s/v1/chat/completions did not return a chat completion: %s"
                                    % (self.root, excerpt(out, self.token)))
            tokens = usage.get("completion_tokens")
            source = "usage" if tokens is not None else "words"
            if tokens is None:
                tokens = len(content.split())
            result = derive_metrics(latency, None, tokens)
        result.update({"content": content, "output_tokens": tokens,
                       "prompt_tokens": usage.get("prompt_tokens"), "finish_reason": finish,
                       "output_tokens_source": source})
        return result


def run_smoke_test(url, model, messages, expect=None, check_health=True, **kwargs):
    """Health, model list and one chat completion against `url`; returns the module result.

    Raises EndpointError with one sentence on the first permanent failure or when the deadline
    passes; the token never appears in the message.
    """
    probe = ChatProbe(url, model, messages, **kwargs)
    result = {"url": probe.root, "model": model, "stream": probe.stream}
    try:
        if check_health:
            result["health_status"] = probe.health()
        result["served_models"] = probe.models()
        result.update(probe.chat())
    except EndpointError as err:
        err.attempts = probe.attempts
        raise
    result["attempts"] = probe.attempts
    if expect is not None and not re.search(expect, result["content"]):
        raise EndpointError("The answer of %r at %s does not match expect %r: %s"
                            % (model, probe.root, expect, excerpt(result["content"], limit=200)),
                            attempts=probe.attempts)
    return result
