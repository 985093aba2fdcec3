# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every HTTP client of the collection shows of a response: one line, secrets masked; and
what it reads of one (the body of an error answer, the Retry-After header); and how it sends a
JSON body."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import ssl

BODY_EXCERPT = 300
MASK = "********"


def excerpt(body, secret=None, limit=BODY_EXCERPT):
    """The first ``limit`` characters of a response body on one line, with ``secret`` (a string or
    a list of strings: tokens, keys) masked wherever it appears; "" for no body."""
    if body is None:
        return ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    for value in ([secret] if isinstance(secret, str) else (secret or ())):
        if value:
            body = body.replace(value, MASK)
    body = " ".join(body.split())
    return body if len(body) <= limit else body[:limit] + "..."


def error_body(err):
    """The body of an HTTPError, b"" when it cannot be read (a courtesy: the status is what matters)."""
    try:
        body = err.read()
    except Exception:  # pylint: disable=broad-except
        return b""
    # an HTTPError made without a body reads "" (a str) on Python 3.11 before 3.11.4
    return body if isinstance(body, bytes) else (body or "").encode("utf-8", "replace")


def retry_after(headers):
    """Seconds of a response's Retry-After header (None when absent or an HTTP date)."""
    try:
        value = headers.get("Retry-After") if headers else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def tls_context(ca_path=None, validate_certs=True):
    """One TLS context for every request of a client: loading a CA store costs tens of
    milliseconds, which a client that measures latency must not pay per request."""
    context = ssl.create_default_context(cafile=ca_path)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def json_request(body):
    """(data, headers) of a request with ``body`` as JSON; (None, {}) for no body."""
    if body is None:
        return None, {}
    return json.dumps(body).encode("utf-8"), {"Content-Type": "application/json"}


def lines(resp):
    """The lines of a streamed HTTP response (``readline`` until EOF), as they arrive: what a
    Server-Sent Events parser reads."""
    while True:
        line = resp.readline()
        if not line:
            return
        yield line
