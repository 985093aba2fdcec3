# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One streamed chat completion over a kept-alive ``http.client`` connection, timed.

Standard library only: each load-generator thread owns one connection (as aiohttp's pool gives
vLLM's benchmark one per concurrent request), so no request pays a TCP or TLS handshake after the
first. TLS is verified with the given CA bundle; an https endpoint behind an HTTP proxy is reached
by CONNECT, as ``chat_completion`` (urllib) does. The timing and chunk rules are vLLM's (see
metrics.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import http.client
import json
import select
import socket
import ssl
import time
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.http import excerpt, tls_context
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.http import lines as http_lines
from ansible_collections.private_ai.llm_serving.plugins.module_utils.openai.client import (
    base_url,
    chunk_content,
    iter_sse_data,
)

USER_AGENT = "private_ai.llm_serving-llm_benchmark"


class _Failure(Exception):
    def __init__(self, kind, message, status=None):
        super(_Failure, self).__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


class Endpoint(object):
    """Where and how to send: URL, model, TLS, proxy and headers (the token only in a header)."""

    def __init__(self, url, model, token=None, ca_path=None, validate_certs=True, proxy=None,
                 timeout=300.0, ignore_eos=True, extra_body=None):
        self.root = base_url(url)
        parts = urlsplit(self.root)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ModuleError("url must be an http(s) URL such as https://model.apps.example.com; got %r." % url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.model = model
        self.token = token
        self.timeout = float(timeout)
        self.ignore_eos = ignore_eos
        self.extra_body = dict(extra_body or {})
        self.context = None
        if self.scheme == "https":
            self.context = tls_context(ca_path, validate_certs)
        if proxy is None:
            env = getproxies()
            proxy = None if proxy_bypass(self.host) else env.get(self.scheme)
        self.proxy = None
        if proxy:
            pp = urlsplit(proxy if "://" in proxy else "http://" + proxy)
            self.proxy = (pp.hostname, pp.port or 80)
        self.headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                        "User-Agent": USER_AGENT}
        if token:
            self.headers["Authorization"] = "Bearer %s" % token

    def connect(self):
        """A new (not yet opened) connection; opened by its first request."""
        if self.proxy and self.scheme == "https":
            conn = http.client.HTTPSConnection(self.proxy[0], self.proxy[1], timeout=self.timeout,
                                               context=self.context)
            conn.set_tunnel(self.host, self.port)
        elif self.proxy:
            conn = http.client.HTTPConnection(self.proxy[0], self.proxy[1], timeout=self.timeout)
        elif self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def path(self, suffix):
        """The request target: absolute through a plain-HTTP proxy, else the path."""
        if self.proxy and self.scheme == "http":
            return "%s%s" % (self.root, suffix)
        return self.prefix + suffix

    def body(self, prompt, max_tokens):
        body = dict(self.extra_body)
        body.update({"model": self.model, "messages": [{"role": "user", "content": prompt}],
                     "max_tokens": max_tokens, "stream": True,
                     "stream_options": {"include_usage": True}})
        if self.ignore_eos:
            body["ignore_eos"] = True  # vLLM's extension: generate exactly max_tokens
        return json.dumps(body).encode("utf-8")


class Worker(object):
    """One connection, reused request after request (re-opened after an error)."""

    def __init__(self, endpoint, clock=time.perf_counter):
        self.ep = endpoint
        self.clock = clock
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, prompt, prompt_tokens, max_tokens):
        """Send one request and return its record (see metrics.summarize); never raises for the
        endpoint's failures: they are the record's ``error`` class and ``message``."""
        data = self.ep.body(prompt, max_tokens)
        if self.conn is not None and _closed_by_peer(self.conn.sock):
            self.close()  # the server or a proxy closed the idle connection: open a new one first
        fresh = self.conn is None
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self.ep.connect()
            start = self.clock()
            try:
                self.conn.request("POST", self.ep.path("/v1/chat/completions"), body=data, headers=self.ep.headers)
                resp = self.conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    ssl.SSLEOFError, ssl.SSLZeroReturnError) as err:
                self.close()
                if attempt == 0 and not fresh:
                    continue  # the server closed an idle kept-alive connection: not the request's fault
                return self._failed(start, prompt_tokens, _Failure("connection", str(err) or type(err).__name__))
            except Exception as err:  # classified below; a load generator must not stop on one request
                self.close()
                return self._failed(start, prompt_tokens, classify(err))
            try:
                return self._read(resp, start, prompt_tokens)
            except Exception as err:
                self.close()
                return self._failed(start, prompt_tokens, err if isinstance(err, _Failure) else classify(err))
        return None  # not reached

    def _failed(self, start, prompt_tokens, failure):
        return {"ok": False, "start": start, "latency": self.clock() - start, "ttft": None, "itl": [],
                "output_tokens": 0, "prompt_tokens": prompt_tokens, "error": failure.kind,
                "status": failure.status, "message": excerpt(failure.message, self.ep.token, limit=200)}

    def _read(self, resp, start, prompt_tokens):
        if resp.status != 200:
            body = resp.read()
            if resp.will_close:
                self.close()
            raise _Failure("http_%d" % resp.status, "HTTP %d: %s" % (resp.status, excerpt(body, self.ep.token, limit=200)),
                           status=resp.status)
        deadline = start + self.ep.timeout
        first = last = None
        itl = []
        chunks = 0
        usage = None
        done = False
        for payload in iter_sse_data(http_lines(resp)):
            now = self.clock()
            if now > deadline:
                raise _Failure("timeout", "no complete answer within %g s" % self.ep.timeout)
            if payload.strip() == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                raise _Failure("stream", "a data line is not JSON: %s" % excerpt(payload, limit=120))
            if isinstance(chunk, dict) and chunk.get("error"):
                raise _Failure("stream", "the stream reported an error: %s" % excerpt(json.dumps(chunk["error"])))
            if not isinstance(chunk, dict):
                continue
            if chunk_content(chunk):
                if first is None:
                    first = now
                else:
                    itl.append(now - last)
                last = now
                chunks += 1
            if chunk.get("usage"):
                usage = chunk["usage"]
        if not done:
            self.close()
            raise _Failure("stream", "the stream ended before [DONE]")
        if resp.will_close:
            self.close()
        else:
            resp.read()  # drain the chunked terminator so the connection can be reused
        if first is None:
            raise _Failure("stream", "the answer carried no content")
        tokens = (usage or {}).get("completion_tokens")
        return {"ok": True, "start": start, "ttft": first - start, "latency": last - start, "itl": itl,
                "output_tokens": int(tokens) if tokens is not None else chunks,
                "prompt_tokens": (usage or {}).get("prompt_tokens", prompt_tokens),
                "error": None, "status": 200}


def classify(err):
    """The failure class of an exception: timeout, tls, connection or stream."""
    if isinstance(err, _Failure):
        return err
    if isinstance(err, (socket.timeout, TimeoutError)):
        return _Failure("timeout", "no answer within the request timeout (%s)" % (err or "timed out"))
    if isinstance(err, (ssl.SSLError, ssl.CertificateError)):
        return _Failure("tls", "TLS failed: %s (set ca_path to the CA that signed the endpoint)" % err)
    if isinstance(err, (ConnectionError, OSError, http.client.HTTPException)):
        return _Failure("connection", "%s: %s" % (type(err).__name__, err))
    return _Failure("stream", "%s: %s" % (type(err).__name__, err))


def _closed_by_peer(sock):
    """True when an idle kept-alive socket is readable: the peer closed it (or sent what nobody
    asked for); reusing it would fail the next request for a reason that is not the server's."""
    if sock is None:
        return False
    try:
        readable, dummy, dummy2 = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
