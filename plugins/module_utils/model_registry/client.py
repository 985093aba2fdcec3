# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""REST client for the Kubeflow Model Registry API v1alpha3.

Standard library and ``ansible.module_utils.urls`` only, so it runs on any target
without extra packages. Every failure is raised as one ``RegistryError`` whose
message is a sentence a person can act on; the bearer token never appears in it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.http import (
    error_body, excerpt, json_request, retry_after)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.retry import Retry, retryable

import json
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import Request

API_PATH = "/api/model_registry/v1alpha3"
BODY_EXCERPT = 300
PAGE_SIZE = 100
# A request answered with a retryable status (common.retry: 429, 500, 502, 503, 504) is tried again
# with the collection's retry policy, a jittered backoff of uniform(0, 2), (0, 4), then (0, 8) s, a
# Retry-After honoured, until RETRY_TIMEOUT seconds have passed. The registry answers 503 while it
# connects to its database and 500 while that database is down (the lab's upstream registry:
# "error listing registered models: dial tcp ...: connect: connection refused"); a router or the
# kube-rbac-proxy in front of it answers 502/504 while its pod restarts. A database pod that
# restarts (a node drained) is back in tens of seconds, longer than a few attempts last, hence a
# deadline rather than a count. Nothing was written on such an answer, so every method may be
# retried.
RETRY_TIMEOUT = 60
BACKOFF_BASE = 2.0
BACKOFF_MAX = 8.0


class RegistryError(ModuleError):
    """The one error type of the client.

    ``status`` is the HTTP status (None when no response came back), ``body`` an
    excerpt of the response body, ``url`` the request URL (no credentials in it).
    """

    retry_after = None  # the answer's Retry-After (seconds), for the retry; not a reported fact

    def __init__(self, msg, status=None, body=None, url=None, method=None):
        super(RegistryError, self).__init__(msg, status=status, body=body, url=url, method=method)


def api_base(url):
    """Return the API base URL for a registry URL given with or without the API path."""
    base = (url or "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise RegistryError(
            "The Model Registry url '%s' must start with http:// or https://." % url, url=url)
    if base.endswith(API_PATH):
        return base
    return base + API_PATH


def _excerpt(data, secret=None):
    return excerpt(data, secret, limit=BODY_EXCERPT)


def _is_registry_error_body(data):
    """True when a 404 body is the registry's own JSON Error (code + message).

    A wrong base URL also answers 404, but with the router's plain text; treating
    that as "absent" would make check mode promise creations that then fail.
    """
    try:
        doc = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (ValueError, AttributeError):
        return False
    return isinstance(doc, dict) and "message" in doc and "code" in doc


class RegistryClient:
    """Minimal Model Registry REST client (RegisteredModel, ModelVersion, ModelArtifact)."""

    def __init__(self, url, token=None, ca_path=None, validate_certs=True, timeout=30,
                 retry_timeout=RETRY_TIMEOUT, clock=time.monotonic, sleep=time.sleep, rng=None):
        self.base = api_base(url)
        self._clock = clock
        self._retry = dict(timeout=retry_timeout, base=BACKOFF_BASE, cap=BACKOFF_MAX, clock=clock,
                           sleep=sleep, rng=rng)
        self._token = token or None
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = "Bearer %s" % self._token
        # Redirects are not followed: an OAuth proxy that does not accept the token
        # redirects to its login page, which must not be mistaken for an answer.
        self._request = Request(headers=headers, validate_certs=validate_certs, ca_path=ca_path,
                                timeout=timeout, follow_redirects="none", use_netrc=False,
                                http_agent="private_ai.llm_serving.model_registry")

    # -- transport ---------------------------------------------------------------------------

    def request(self, method, path, query=None, body=None, absent_ok=False):
        """Send one request and return the decoded JSON body.

        With ``absent_ok`` a 404 carrying the registry's JSON error body returns None
        (the API's "not found" for the find-by-name endpoints). A retryable status is tried
        again until the retry timeout before it is raised, saying for how long it was tried.
        """
        retry = Retry(**self._retry)
        started = self._clock()
        attempt = 0
        while True:
            try:
                return self._request_once(method, path, query, body, absent_ok)
            except RegistryError as e:
                # No answer at all is not retried: refused or unresolvable means a wrong url or no
                # registry, said at once; a timeout may come after a POST was written, and a second
                # POST would then fail on the name it created.
                if e.status is None or not retryable(e.status):
                    raise
                if not retry.again(attempt, e.retry_after):
                    if attempt:
                        e.msg = "%s (%d attempts over %.0f s)" % (e.msg.rstrip("."), attempt + 1,
                                                                  self._clock() - started)
                        e.args = (e.msg,)
                    raise
            attempt += 1

    def _request_once(self, method, path, query, body, absent_ok):
        url = self.base + path
        if query:
            url += "?" + urlencode(query)
        data, headers = json_request(body)
        try:
            resp = self._request.open(method, url, data=data, headers=headers)
            raw = resp.read()
        except HTTPError as e:
            raw = error_body(e)
            if e.code == 404 and absent_ok and _is_registry_error_body(raw):
                return None
            error = self._http_error(method, url, e.code, raw)
            error.retry_after = retry_after(e.headers)
            raise error
        except (UrlsConnectionError, URLError, socket.timeout, ssl.SSLError, OSError) as e:
            raise self._connection_error(method, url, e)
        if not raw:
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise RegistryError(
                "The Model Registry at %s answered %s %s with a body that is not JSON "
                "(is the url pointing at the registry REST API?): %s"
                % (self.base, method, path, _excerpt(raw, self._token)),
                status=getattr(resp, "status", None), body=_excerpt(raw, self._token),
                url=url, method=method)

    def _http_error(self, method, url, status, raw):
        body = _excerpt(raw, self._token)
        if status == 403 and self._token:
            # kube-rbac-proxy (and OpenShift's OAuth proxy) answer 403 to a token they could
            # authenticate whose identity fails the SubjectAccessReview (get on the registry's
            # Service): the token is fine, its permissions are not.
            msg = ("Model Registry authorization failed at %s: the token is valid but its identity "
                   "may not use this registry (HTTP 403); grant it access (on OpenShift AI: the "
                   "registry's Manage permissions, a RoleBinding to the Role registry-user-<registry "
                   "name>) or set llm_serving_registry_token to a token that has it." % self.base)
        elif status in (401, 403):
            if self._token:
                why = "the registry rejected the token"
            else:
                why = "the registry requires a bearer token and none was given"
            msg = ("Model Registry authentication failed at %s: %s (HTTP %d); set a valid "
                   "token (llm_serving_registry_token) with access to this registry."
                   % (self.base, why, status))
        elif status in (502, 504):
            # A gateway error: the registry's kube-rbac-proxy (or the router) got no answer from
            # the registry container behind it (kube-rbac-proxy answers 502 with an empty body).
            msg = ("The Model Registry behind %s is not answering: the proxy or router in front of "
                   "it answered HTTP %d to %s%s; check that the registry's pod is running and ready."
                   % (self.base, status, method, " (%s)" % body if body else ""))
        elif 300 <= status < 400:
            msg = ("The Model Registry at %s redirected %s (HTTP %d), which is what an OAuth "
                   "proxy does when it does not accept the token; set a valid bearer token."
                   % (self.base, method, status))
        elif status == 500:
            # The upstream registry answers any error that is not bad request, not found or
            # conflict with 500 and the error's text (kubeflow/model-registry v0.3.0
            # pkg/api/error.go ErrToStatus); while its database is down that text is the
            # repository's, internal/db/service/generic_repository.go: "error listing registered
            # models: dial tcp ...: connect: connection refused".
            msg = ("The Model Registry at %s failed on its side: %s %s answered HTTP 500: %s; a "
                   "database error there means the registry cannot reach its database: check the "
                   "registry's database pod, then run again."
                   % (self.base, method, url, body or "(empty body)"))
        else:
            msg = "Model Registry request %s %s failed with HTTP %d: %s" % (
                method, url, status, body or "(empty body)")
        return RegistryError(msg, status=status, body=body, url=url, method=method)

    def _connection_error(self, method, url, exc):
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, ConnectionRefusedError):
            detail = "connection refused (is the registry running and the url right?)"
        elif isinstance(reason, (socket.timeout, TimeoutError)):
            detail = "timed out after %ss" % self._request.timeout
        elif isinstance(reason, socket.gaierror):
            detail = "host name not resolved (%s)" % reason
        elif isinstance(reason, ssl.SSLError) or "CERTIFICATE" in str(reason).upper():
            detail = ("TLS verification failed (%s); give the registry's CA with ca_path "
                      "(llm_serving_registry_ca_bundle)" % reason)
        else:
            detail = str(reason)
        return RegistryError("Cannot reach the Model Registry at %s: %s." % (self.base, detail),
                             url=url, method=method)

    # -- finds ---------------------------------------------------------------------------------

    def find_registered_model(self, name):
        """The RegisteredModel called ``name``, or None."""
        return self.request("GET", "/registered_model", {"name": name}, absent_ok=True)

    def find_model_version(self, name, registered_model_id):
        """The ModelVersion ``name`` of the given RegisteredModel, or None."""
        return self.request("GET", "/model_version",
                            {"name": name, "parentResourceId": registered_model_id},
                            absent_ok=True)

    def list_version_artifacts(self, version_id):
        """All artifacts of a ModelVersion (every page)."""
        items = []
        token = None
        path = "/model_versions/%s/artifacts" % quote(str(version_id), safe="")
        while True:
            query = {"pageSize": PAGE_SIZE, "orderBy": "ID"}
            if token:
                query["nextPageToken"] = token
            page = self.request("GET", path, query) or {}
            items.extend(page.get("items") or [])
            token = page.get("nextPageToken")
            if not token or not page.get("items"):
                return items

    # -- writes --------------------------------------------------------------------------------

    def create_registered_model(self, body):
        """POST /registered_models; returns the created RegisteredModel."""
        return self.request("POST", "/registered_models", body=body)

    def create_model_version(self, registered_model_id, body):
        """POST /registered_models/{id}/versions; returns the created ModelVersion."""
        return self.request("POST", "/registered_models/%s/versions"
                            % quote(str(registered_model_id), safe=""), body=body)

    def create_version_artifact(self, version_id, body):
        """POST /model_versions/{id}/artifacts; returns the created artifact."""
        return self.request("POST", "/model_versions/%s/artifacts"
                            % quote(str(version_id), safe=""), body=body)

    def patch_registered_model(self, model_id, body):
        """PATCH /registered_models/{id}; returns the updated RegisteredModel."""
        return self.request("PATCH", "/registered_models/%s" % quote(str(model_id), safe=""),
                            body=body)

    def patch_model_version(self, version_id, body):
        """PATCH /model_versions/{id}; returns the updated ModelVersion."""
        return self.request("PATCH", "/model_versions/%s" % quote(str(version_id), safe=""),
                            body=body)

    def patch_model_artifact(self, artifact_id, body):
        """PATCH /model_artifacts/{id}; returns the updated ModelArtifact."""
        return self.request("PATCH", "/model_artifacts/%s" % quote(str(artifact_id), safe=""),
                            body=body)
