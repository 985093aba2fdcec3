# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded retries of the Kubernetes API while its server restarts, for the modules run through
``module.run_module``: an apiserver that restarts in the middle of a task (a control-plane upgrade,
an OOM kill) first refuses connections, then answers before it is ready.

Retried, with the collection's one backoff (``common.retry``) for at most ``API_RETRY_SECONDS``:
- the connection refused, reset or timed out (urllib3 gives up after its own few immediate tries);
- HTTP 429, 500, 502, 503, 504 on requests that may be sent twice (not POST: a create sent twice
  would answer 409 AlreadyExists);
- HTTP 403 while the server's ``/readyz`` (asked with the same credentials) is not ``ok``: a
  kube-apiserver serves requests before its RBAC informers have synced and denies them meanwhile
  (kubernetes/kubernetes#121635; the "informers not synced" reason of kubernetes/kubernetes#101422).
  A 403 from a ready server is the identity's real permissions and fails at once.

When the server never comes back the module fails with one sentence naming it and what to do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.retry import Retry

API_RETRY_SECONDS = 60
REPEATABLE = ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")  # PUT/DELETE carry preconditions
RETRY_STATUSES = (429, 500, 502, 503, 504)


class APIUnavailable(ModuleError):
    """The Kubernetes API server did not answer (or was not ready) within the retry window."""


def _server(url):
    """scheme://host:port of a request URL."""
    parts = url.split("/", 3)
    return "/".join(parts[:3])


def _why(exc):
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    for known in ("Connection refused", "Connection reset", "timed out", "Name or service not known",
                  "No route to host"):
        if known.lower() in text.lower():
            return known.lower()
    return text.split(": ", 1)[-1][:200]


class TransientRetry(object):
    """Wraps ``RESTClientObject.request`` (kubernetes.client.rest): every request of the module,
    discovery included, goes through it."""

    def __init__(self, request, timeout=API_RETRY_SECONDS, clock=time.monotonic, sleep=time.sleep):
        self.request = request
        self.timeout, self.clock, self.sleep = timeout, clock, sleep

    def readyz(self, rest, url, headers):
        """The server's /readyz answer ('ok' when ready), or why it could not be asked."""
        from kubernetes.client.rest import ApiException

        try:
            resp = self.request(rest, "GET", _server(url) + "/readyz", headers=dict(headers or {}, Accept="*/*"),
                                _request_timeout=5)
            return (resp.data or b"").decode("utf-8", "replace").strip() or "ok"
        except ApiException as exc:
            return "HTTP %s %s" % (exc.status, (exc.body or exc.reason or "")[:200])
        except Exception as exc:  # pylint: disable=broad-except
            return _why(exc)

    def __call__(self, rest, method, url, *args, **kwargs):
        import urllib3
        from kubernetes.client.rest import ApiException

        retry = Retry(timeout=self.timeout, clock=self.clock, sleep=self.sleep)
        attempt, last = 0, None
        while True:
            try:
                return self.request(rest, method, url, *args, **kwargs)
            except ApiException as exc:
                if exc.status in RETRY_STATUSES and method in REPEATABLE:
                    last = "HTTP %s %s" % (exc.status, exc.reason)
                elif exc.status == 403:
                    ready = self.readyz(rest, url, kwargs.get("headers") or (args[1] if len(args) > 1 else None))
                    if ready == "ok":
                        raise
                    last = "not ready (/readyz: %s)" % ready.replace("\n", " ")[:300]
                else:
                    raise
                error = exc
            except (urllib3.exceptions.MaxRetryError, urllib3.exceptions.NewConnectionError,
                    urllib3.exceptions.ConnectTimeoutError) as exc:
                last, error = _why(exc), exc
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError) as exc:
                if method not in REPEATABLE:
                    raise
                last, error = _why(exc), exc
            if not retry.again(attempt):
                break
            attempt += 1
        raise APIUnavailable(
            "The Kubernetes API server at %s did not answer for %ds (%s, last: %s): check that it is up and "
            "reachable from here, then run the playbook again." % (_server(url), self.timeout, method, last),
            api_server=_server(url), attempts=attempt + 1, error=str(error)[:500])


def install(timeout=API_RETRY_SECONDS):
    """Retry the API's transient failures in this (module) process; idempotent."""
    from kubernetes.client import rest

    if getattr(rest.RESTClientObject.request, "_llm_serving_retry", False):
        return
    wrapper = TransientRetry(rest.RESTClientObject.request, timeout=timeout)

    def request(self, method, url, *args, **kwargs):
        return wrapper(self, method, url, *args, **kwargs)

    request._llm_serving_retry = True
    rest.RESTClientObject.request = request
