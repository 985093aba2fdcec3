# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only half of S3 that s3_model_sync and the planner need, on the standard library alone.

Importing boto3 and building its S3 client costs 0.5-0.8 s of CPU (botocore loads and parses its
JSON service models), far more than the three requests an unchanged re-run makes: list the
prefix, list incomplete multipart uploads, and at times HEAD one object. This module makes exactly
those requests (and GETs of small objects for the planner: config.json and the like) with a
SigV4 signature (AWS Signature Version 4, as botocore's ``s3v4`` signer
computes it for path-style requests) over keep-alive connections, so a run with nothing to upload
never imports boto3. Writes always go through boto3.

Failures are raised as :class:`S3ResponseError` (an HTTP answer; shaped like botocore's
``ClientError.response``) or :class:`S3ConnectError` (no answer), which
``s3_sync_client.client_error`` turns into the same sentences as botocore's exceptions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import hmac
import os
import socket
import ssl
import threading
import time
from xml.etree import ElementTree

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.retry import Retry, retryable

try:
    from http import client as http_client
    from urllib.parse import quote, unquote_plus, urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    http_client = None

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
# Attempts per request, the first included, of this reader and of the boto3 client (make_client
# sets it as botocore's ``total_max_attempts``: its ``max_attempts`` would count retries only).
# The backoff is the collection's (common.retry), which has the shape of botocore's standard retry
# mode (botocore/retries/standard.py: ExponentialBackoff, rand * min(base * 2 ** i, 20 s), and
# TransientRetryableChecker, statuses 500/502/503/504; its throttling codes arrive as 429/503).
ATTEMPTS = 4
BACKOFF_BASE = 0.1
BACKOFF_MAX = 20.0


class S3ResponseError(Exception):
    """The server answered with an error; ``response`` has botocore's ``ClientError`` shape."""

    def __init__(self, status, code, message, operation):
        self.response = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status}}
        super(S3ResponseError, self).__init__(
            "An error occurred (%s) when calling the %s operation: %s" % (code, operation, message))


class S3ConnectError(Exception):
    """No answer from the endpoint (refused, unresolvable, timed out, reset)."""


def _uri_encode(text, safe="-_.~"):
    return quote(text, safe=safe)


def _sign(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def sigv4_headers(method, host, path, query, access_key, secret_key, region, session_token=None,
                  now=None, payload_hash=EMPTY_SHA256):
    """Headers (with ``Authorization``) of a SigV4-signed S3 request without a body.

    ``path`` is already URI-encoded (S3 does not encode it twice); ``query`` is a list of
    (name, value) pairs, unencoded.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    canonical_query = "&".join("%s=%s" % (_uri_encode(k), _uri_encode(v))
                               for k, v in sorted(query))
    canonical = "\n".join([method, path, canonical_query,
                           "".join("%s:%s\n" % (n, headers[n].strip()) for n in names),
                           ";".join(names), payload_hash])
    scope = "%s/%s/s3/aws4_request" % (day, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _sign(_sign(_sign(_sign(("AWS4" + secret_key).encode("utf-8"), day), region), "s3"),
                "aws4_request")
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key, scope, ";".join(names), hmac.new(key, to_sign.encode("utf-8"),
                                                     hashlib.sha256).hexdigest())
    return headers


def usable_for(opts):
    """True when this client can serve ``opts``: an explicit endpoint reached without a proxy.

    Without ``endpoint_url`` (AWS S3) botocore's endpoint resolution and region redirects are
    worth their start-up cost; behind a proxy botocore's proxy handling is used as well.
    """
    endpoint = opts.get("endpoint_url")
    if not endpoint or http_client is None:
        return False
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        return False
    if not any(name.lower().endswith("_proxy") and name.lower() != "no_proxy" and value
               for name, value in os.environ.items()):
        return True  # no proxy configured: spare the import of urllib.request
    from urllib.request import getproxies, proxy_bypass
    return not (getproxies().get(parts.scheme) and not proxy_bypass(parts.hostname))


def _tls_context(opts):
    if not opts.get("validate_certs", True) and not opts.get("ca_bundle"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = opts.get("ca_bundle")
    if not cafile:
        try:  # the bundle botocore verifies with, so both clients trust the same CAs
            import certifi
            cafile = certifi.where()
        except ImportError:
            cafile = None
    return ssl.create_default_context(cafile=cafile)


class S3Reader:
    """Lists objects and multipart uploads, HEADs and GETs objects; safe to share between threads.

    ``clock``, ``sleep`` and ``rng`` are those of the retry policy (tests give fakes)."""

    def __init__(self, opts, clock=time.monotonic, sleep=time.sleep, rng=None):
        parts = urlsplit(opts["endpoint_url"])
        self.endpoint = opts["endpoint_url"]
        self.https = parts.scheme == "https"
        self.hostname = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        default_port = parts.port is None or parts.port == (443 if self.https else 80)
        host = "[%s]" % parts.hostname if ":" in parts.hostname else parts.hostname
        self.host = host if default_port else "%s:%d" % (host, parts.port)
        self.access_key, self.secret_key = opts["access_key"], opts["secret_key"]
        self.session_token = opts.get("session_token") or None
        self.region = opts.get("region") or "us-east-1"
        self.context = _tls_context(opts) if self.https else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []
        self.page_size = None  # keys or uploads per listing request; None: the server's (1000)
        self._retry = dict(attempts=ATTEMPTS, base=BACKOFF_BASE, cap=BACKOFF_MAX, clock=clock,
                           sleep=sleep, rng=rng)

    def close(self):
        """Close every connection this reader opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def _connection(self, fresh=False):
        conn = getattr(self._local, "conn", None)
        if conn is not None and not fresh:
            return conn
        if conn is not None:
            conn.close()
        if self.https:
            conn = http_client.HTTPSConnection(self.hostname, self.port, timeout=10,
                                               context=self.context)
        else:
            conn = http_client.HTTPConnection(self.hostname, self.port, timeout=10)
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _request(self, method, bucket, key, query, operation):
        """(status, headers, body) of a signed request; retried as botocore's standard mode."""
        path = "/" + _uri_encode(bucket) + ("/" + _uri_encode(key, safe="/-_.~") if key else "/")
        target = path + ("?" + "&".join("%s=%s" % (_uri_encode(k), _uri_encode(v))
                                        for k, v in query) if query else "")
        retry = Retry(**self._retry)
        attempt = 0
        while True:
            # A kept-alive connection the server closed meanwhile fails at once: retry on a new one.
            conn = self._connection(fresh=attempt > 0)
            headers = sigv4_headers(method, self.host, path, query, self.access_key,
                                    self.secret_key, self.region, self.session_token)
            try:
                if conn.sock is None:
                    conn.connect()  # within the 10 s connect timeout; answers may take 120 s
                    conn.sock.settimeout(120)
                conn.request(method, target, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except ssl.SSLError:
                conn.close()
                raise
            except (http_client.HTTPException, socket.timeout, OSError) as exc:
                conn.close()
                if retry.again(attempt):
                    attempt += 1
                    continue
                raise S3ConnectError("cannot reach %s: %s" % (self.endpoint,
                                                              str(exc) or type(exc).__name__))
            # No Retry-After: botocore's standard mode reads only x-amz-retry-after (ExponentialBackoff).
            if retryable(resp.status) and retry.again(attempt):
                attempt += 1
                continue
            if resp.status >= 300:
                code, message = _error_of(resp.status, body)
                raise S3ResponseError(resp.status, code, message, operation)
            return resp.status, resp, body

    def list_objects(self, bucket, prefix, max_keys=None):
        """``{key: {size, etag}}`` under ``prefix`` (at most ``max_keys``); None: no such bucket."""
        objects, token = {}, None
        while True:
            query = [("list-type", "2"), ("prefix", prefix), ("encoding-type", "url")]
            if max_keys or self.page_size:
                query.append(("max-keys", str(max_keys or self.page_size)))
            if token:
                query.append(("continuation-token", token))
            try:
                _status, _resp, body = self._request("GET", bucket, None, query, "ListObjectsV2")
            except S3ResponseError as exc:
                if exc.response["Error"]["Code"] == "NoSuchBucket":
                    return None
                raise
            root = ElementTree.fromstring(body)
            for item in root.iter(_NS + "Contents"):
                objects[unquote_plus(item.findtext(_NS + "Key", ""))] = {
                    "size": int(item.findtext(_NS + "Size", "0")),
                    "etag": item.findtext(_NS + "ETag", "").strip('"')}
            token = root.findtext(_NS + "NextContinuationToken")
            if max_keys or root.findtext(_NS + "IsTruncated") != "true" or not token:
                return objects

    def list_uploads(self, bucket, prefix):
        """Incomplete multipart uploads whose key starts with ``prefix``: [{Key, UploadId, Initiated}]."""
        uploads, markers = [], []
        while True:
            query = [("uploads", ""), ("prefix", prefix), ("encoding-type", "url")] + markers
            if self.page_size:
                query.append(("max-uploads", str(self.page_size)))
            _status, _resp, body = self._request("GET", bucket, None, query,
                                                 "ListMultipartUploads")
            root = ElementTree.fromstring(body)
            for item in root.iter(_NS + "Upload"):
                uploads.append({"Key": unquote_plus(item.findtext(_NS + "Key", "")),
                                "UploadId": item.findtext(_NS + "UploadId", ""),
                                "Initiated": item.findtext(_NS + "Initiated", "")})
            # MinIO pages the uploads of one key with an empty NextKeyMarker: both markers are
            # sent back as they came, as botocore's paginator does.
            following = [("key-marker", unquote_plus(root.findtext(_NS + "NextKeyMarker") or "")),
                         ("upload-id-marker", root.findtext(_NS + "NextUploadIdMarker") or "")]
            if root.findtext(_NS + "IsTruncated") != "true" or following == markers \
                    or not any(value for _name, value in following):
                return uploads
            markers = following

    def get(self, bucket, key):
        """The content (bytes) of one small object."""
        return self._request("GET", bucket, key, [], "GetObject")[2]

    def head(self, bucket, key):
        """``{size, etag, metadata}`` of one object."""
        _status, resp, _body = self._request("HEAD", bucket, key, [], "HeadObject")
        prefix = "x-amz-meta-"
        return {"size": int(resp.getheader("Content-Length") or 0),
                "etag": (resp.getheader("ETag") or "").strip('"'),
                "metadata": dict((name[len(prefix):].lower(), value)
                                 for name, value in resp.getheaders()
                                 if name.lower().startswith(prefix))}


def _error_of(status, body):
    """(code, message) from an S3 error body; HEAD answers carry none, so the status names it."""
    code = message = None
    if body:
        try:
            root = ElementTree.fromstring(body)
            code, message = root.findtext("Code"), root.findtext("Message")
        except ElementTree.ParseError:
            message = body[:200].decode("utf-8", "replace")
    if not code:
        code = {403: "Forbidden", 404: "NotFound", 301: "PermanentRedirect",
                400: "BadRequest"}.get(status, str(status))
    return code, (message or "").strip()
