# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded retries of the Kubernetes API while its server restarts, for the modules run through
``module.run_module``: an apiserver that restarts in the middle of a task (a control-plane upgrade,
an OOM kill) first refuses connections, then answers before it is ready.

Retried, with the collection's one backoff (``common.retry``) for at most ``API_RETRY_SECONDS``:
- the connection refused or dropped (a request that may have reached the server only when it may be
  sent twice). Before the server has answered once in this run, only for ``FIRST_CONTACT_SECONDS``,
  then the client's own sentence: a server that is not there at all is a wrong host or kubeconfig
  far more often than a restart, and should not cost a minute; a certificate that does not verify
  is never retried;
- HTTP 429, 502, 503, 504 on requests that may be sent twice (not POST: a create sent twice
  would answer 409 AlreadyExists). Not 500: the API server answers 500 for what will not pass on
  its own (an admission webhook's error), and its message is the user's to read at once;
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
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError, ConnectionFailed

API_RETRY_SECONDS = 60
FIRST_CONTACT_SECONDS = 10
REPEATABLE = ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")  # PUT/DELETE carry preconditions
RETRY_STATUSES = (429, 502, 503, 504)


class APIUnavailable(ModuleError):
    """The Kubernetes API server did not answer (or was not ready) within the retry window."""


def _why(exc):
    text = getattr(exc, "msg", None) or str(exc)
    for known in ("Connection refused", "Connection reset", "timed out", "Name or service not known",
                  "No route to host", "the stream was cut", "Remote end closed connection"):
        if known.lower() in text.lower():
            return known.lower()
    return text.split(": ", 1)[-1][:200]


class TransientRetry(object):
    """A ``k8s.client`` client (``KubeClient`` or ``CoreClient``) whose requests are retried while the
    API server restarts; streams (watches) are the caller's to resume (isvc/wait.py does)."""

    def __init__(self, client, timeout=API_RETRY_SECONDS, clock=time.monotonic, sleep=time.sleep,
                 first_contact=FIRST_CONTACT_SECONDS):
        self.client = client
        self.timeout, self.clock, self.sleep = timeout, clock, sleep
        self.first_contact = first_contact
        self.answered = False  # the server has answered a request of this run (an HTTP error counts)

    def __getattr__(self, name):  # resource, stream, close, config...
        return getattr(self.client, name)

    def resource(self, api_version, kind):
        # discovery goes through self.request (below) only on KubeClient; retry it as a GET
        return self._retried("GET", lambda: self.client.resource(api_version, kind))

    def readyz(self):
        """The server's /readyz answer ('ok' when ready), or why it could not be asked."""
        try:
            return (self.client.request("GET", "/readyz", timeout=5, raw=True) or b"").decode("utf-8", "replace").strip() or "ok"
        except ApiError as exc:
            return "HTTP %s %s" % (exc.status, (exc.body or exc.reason or "")[:200])
        except ConnectionFailed as exc:
            return _why(exc)

    def request(self, method, path, *args, **kwargs):
        return self._retried(method, lambda: self.client.request(method, path, *args, **kwargs))

    def _retried(self, method, call):
        retry = Retry(timeout=self.timeout, clock=self.clock, sleep=self.sleep)
        started = self.clock()
        attempt, last = 0, None
        while True:
            try:
                answer = call()
                self.answered = True
                return answer
            except ApiError as exc:
                self.answered = True
                if exc.status in RETRY_STATUSES and method in REPEATABLE:
                    last = "HTTP %s %s" % (exc.status, exc.reason)
                elif exc.status == 403:
                    ready = self.readyz()
                    if ready == "ok":
                        raise
                    last = "not ready (/readyz: %s)" % ready.replace("\n", " ")[:300]
                else:
                    raise
            except ConnectionFailed as exc:
                if not exc.retry or (exc.sent and method not in REPEATABLE):
                    raise
                if not self.answered and self.clock() - started >= self.first_contact:
                    raise
                last = _why(exc)
            if not retry.again(attempt):
                break
            attempt += 1
        server = getattr(getattr(self.client, "config", None), "server", None) or "?"
        raise APIUnavailable(
            "The Kubernetes API server at %s did not answer for %ds (%s, last: %s): check that it is up and "
            "reachable from here, then run the playbook again." % (server, self.timeout, method, last),
            api_server=server, attempts=attempt + 1)
