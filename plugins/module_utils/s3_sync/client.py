# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's S3 clients, and its one way to turn an S3 failure into a sentence.

:func:`make_reader` is the one reader factory (list, list multipart uploads, HEAD, GET of small
objects): with an explicit ``endpoint_url`` reached without a proxy it is the standard library one
in ``s3_sync_http``, so neither s3_model_sync's unchanged re-run nor the planner pays for importing
boto3; else a :class:`BotoReader` on :func:`make_client`, the one boto3 client factory.
:class:`S3Session` (s3_model_sync) adds the boto3 client for writes, built only when there is
something to write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError

import importlib.util
import re
import ssl
import sys
import threading
import traceback

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import http as s3_sync_http


def s3_options():
    """The argument spec of the S3 connection options (documented by the private_ai.llm_serving.s3 doc
    fragment): endpoint, credentials (from the AWS_* environment variables when not given), region, TLS."""
    from ansible.module_utils.basic import env_fallback

    return dict(
        endpoint_url=dict(type="str"),
        access_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"])),
        secret_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"])),
        session_token=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SESSION_TOKEN"])),
        region=dict(type="str", default="us-east-1"),
        ca_bundle=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
    )


BOTO3_IMPORT_ERROR = None
try:
    # Found, not imported: the import is deferred until a write needs the client.
    HAS_BOTO3 = importlib.util.find_spec("boto3") is not None \
        and importlib.util.find_spec("botocore") is not None
except (ImportError, ValueError, AttributeError):
    HAS_BOTO3 = False
if not HAS_BOTO3:
    BOTO3_IMPORT_ERROR = "boto3 and botocore are not importable by %s" % sys.executable


def boto_versions():
    """Versions reported with every failure (as amazon.aws does)."""
    if not HAS_BOTO3:
        return {}
    try:
        from importlib import metadata
        return {"boto3_version": metadata.version("boto3"),
                "botocore_version": metadata.version("botocore")}
    except Exception:  # pylint: disable=broad-except
        return {}


def _botocore_exceptions():
    """botocore's exception module when boto3 has been imported (else nothing can be one)."""
    return sys.modules.get("botocore.exceptions")


class S3SyncError(ModuleError):
    """A failure as one sentence: ``Failed to <doing>: <why>.`` plus details for the result
    (``why`` may grow after the fact: ``msg`` is always made from it)."""

    def __init__(self, doing, why, **details):
        self.doing, self.why = doing, why
        super(S3SyncError, self).__init__(None, **details)

    @property
    def msg(self):
        return "Failed to %s: %s." % (self.doing, self.why.rstrip("."))

    @msg.setter
    def msg(self, value):
        pass  # ModuleError sets it; here it is derived from doing and why

    def __str__(self):
        return self.msg


_CODES = {
    "InvalidAccessKeyId": "the endpoint does not know the access key (InvalidAccessKeyId); "
                          "check access_key or AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "the secret key does not belong to the access key "
                             "(SignatureDoesNotMatch); check secret_key or AWS_SECRET_ACCESS_KEY",
    "InvalidToken": "the session token is invalid (InvalidToken); check session_token or "
                    "AWS_SESSION_TOKEN",
    "ExpiredToken": "the session token has expired (ExpiredToken); renew AWS_SESSION_TOKEN",
    "AccessDenied": "access denied (AccessDenied); the credentials lack the S3 permission for "
                    "bucket %(bucket)s",
    "InvalidBucketName": "%(bucket)r is not a valid bucket name (InvalidBucketName)",
}


def missing_bucket(bucket, endpoint):
    """Error for a bucket that does not exist and may not be created."""
    return S3SyncError("sync to bucket %s" % bucket,
                       "bucket %s does not exist at %s and create_bucket is false"
                       % (bucket, endpoint or "the S3 endpoint"), error_code="NoSuchBucket")


def client_error(exc, doing, endpoint, bucket):
    """Translate a botocore/urllib3 exception raised while ``doing`` into an S3SyncError."""
    if isinstance(exc, S3SyncError):
        return exc
    where = endpoint or "the S3 endpoint"
    botoexc = _botocore_exceptions()
    if isinstance(exc, s3_sync_http.S3ResponseError) or (
            botoexc and isinstance(exc, botoexc.ClientError)):
        err = exc.response.get("Error", {})
        code = err.get("Code") or str(exc.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", "?"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return missing_bucket(bucket, endpoint)
        if code in _CODES:
            why = _CODES[code] % {"bucket": bucket}
        elif code in ("403", "Forbidden"):
            why = "%s answered 403 Forbidden; check the credentials and their permissions" % where
        else:
            message = (err.get("Message") or "").strip().rstrip(".")
            why = "%s answered %s%s" % (where, code, " (%s)" % message if message else "")
        return S3SyncError(doing, why, error_code=code, status_code=status)
    if isinstance(exc, ssl.SSLError) or (botoexc and isinstance(exc, botoexc.SSLError)):
        return S3SyncError(doing, "TLS verification of %s failed (%s); set ca_bundle to the CA "
                           "that signed its certificate" % (where, _short(exc)),
                           error_code="SSLError")
    if isinstance(exc, s3_sync_http.S3ConnectError) or (
            botoexc and isinstance(exc, botoexc.EndpointConnectionError)):
        # botocore's sentence only repeats the request URL (an upload's id and part number): the server is enough
        detail = _short(exc)
        detail = "" if detail.startswith("Could not connect to the endpoint URL") else " (%s)" % re.sub(r"\?\S*", "", detail)
        return S3SyncError(doing, "cannot connect to %s%s; check that the S3 server is up and reachable from "
                           "here, then run again" % (where, detail), error_code="EndpointConnectionError")
    if botoexc and isinstance(exc, botoexc.NoCredentialsError):
        return S3SyncError(doing, "no credentials: set access_key/secret_key or "
                           "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
                           error_code="NoCredentials")
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return S3SyncError(doing, "%s: %s" % (exc.filename, exc.strerror or exc))
    return S3SyncError(doing, "%s (%s)" % (_short(exc), type(exc).__name__),
                       error_code=type(exc).__name__)


def _short(exc):
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def check_credentials(opts):
    """Both keys are needed (from the options or the AWS_* environment): say so before connecting."""
    if not opts.get("access_key") or not opts.get("secret_key"):
        raise S3SyncError("connect to %s" % (opts.get("endpoint_url") or "S3"),
                          "no credentials: set access_key and secret_key or the environment "
                          "variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")


def make_client(opts):
    """boto3 S3 client for MinIO and friends.

    Path-style addressing; checksums only where this module sends them itself (boto3 >= 1.36
    defaults to trailing CRC checksums that MinIO and other S3 servers reject); no SHA-256 of
    payloads: every part carries a checksum the server verifies (``checksum``), which costs one
    cheap hash instead of two.
    """
    check_credentials(opts)
    try:
        import boto3
        import botocore.handlers
        from botocore.config import Config
    except ImportError:
        raise S3SyncError("load boto3", "boto3/botocore cannot be imported by %s (%s)"
                          % (sys.executable, traceback.format_exc().strip().splitlines()[-1]))
    concurrency = int(opts.get("concurrency") or 8)
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        # the reader's attempt count; botocore's "max_attempts" would count the retries only
        retries={"mode": "standard", "total_max_attempts": s3_sync_http.ATTEMPTS},
        max_pool_connections=concurrency + 4,
        connect_timeout=10,
        read_timeout=120,
        tcp_keepalive=True,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    verify = opts.get("ca_bundle") or bool(opts.get("validate_certs", True))
    session = boto3.session.Session(
        aws_access_key_id=opts["access_key"],
        aws_secret_access_key=opts["secret_key"],
        aws_session_token=opts.get("session_token") or None,
        region_name=opts.get("region") or "us-east-1",
    )
    client = session.client("s3", endpoint_url=opts.get("endpoint_url") or None, verify=verify,
                            config=config)
    # "Expect: 100-continue" costs a round trip per part; the bodies here are bounded (one part)
    # and an early refusal (bad credentials) is caught by the listing before any upload.
    client.meta.events.unregister("before-call.s3", botocore.handlers.add_expect_header)
    return client


class BotoReader:
    """The reader interface of ``s3_sync_http.S3Reader`` on a boto3 client (AWS S3, proxies)."""

    def __init__(self, client):
        self.client = client

    def list_objects(self, bucket, prefix, max_keys=None):
        """``{key: {size, etag}}`` under ``prefix``; None when the bucket does not exist."""
        objects = {}
        paging = {"MaxItems": max_keys} if max_keys else {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix, PaginationConfig=paging):
                for obj in page.get("Contents", []):
                    objects[obj["Key"]] = {"size": obj["Size"],
                                           "etag": obj.get("ETag", "").strip('"')}
        except _botocore_exceptions().ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
                return None
            raise
        return objects

    def list_uploads(self, bucket, prefix):
        """Incomplete multipart uploads under ``prefix``: [{Key, UploadId, Initiated}]."""
        return [upload for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix) for upload in page.get("Uploads", [])]

    def get(self, bucket, key):
        """The content (bytes) of one small object."""
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def head(self, bucket, key):
        """``{size, etag, metadata}`` of one object."""
        head = self.client.head_object(Bucket=bucket, Key=key)
        return {"size": head.get("ContentLength"), "etag": head.get("ETag", "").strip('"'),
                "metadata": head.get("Metadata", {})}

    def close(self):
        """Nothing to close: the boto3 client's pool belongs to the session."""


def make_reader(opts):
    """The reader for ``opts``: the standard-library one where it can serve them, else boto3's."""
    check_credentials(opts)
    if s3_sync_http.usable_for(opts):
        return s3_sync_http.S3Reader(opts)
    return BotoReader(make_client(opts))


def reader_errors():
    """The exceptions a reader raises for S3's or the network's sake (``client_error`` words them)."""
    errors = (s3_sync_http.S3ResponseError, s3_sync_http.S3ConnectError, S3SyncError, ssl.SSLError,
              OSError)
    botoexc = _botocore_exceptions()
    if botoexc:
        errors += (botoexc.BotoCoreError, botoexc.ClientError)
    return errors


class S3Session:
    """The reader for planning and, each created on first use, the boto3 client for writes and
    the pool of ``concurrency`` worker threads (fingerprints, listings per key, parts)."""

    def __init__(self, opts):
        self.opts = opts
        self._client = None
        self._pool = None
        self._lock = threading.Lock()
        self.reader = make_reader(opts)
        if isinstance(self.reader, BotoReader):
            self._client = self.reader.client  # one boto3 client for reads and writes

    @property
    def client(self):
        """The boto3 client (imports boto3 the first time)."""
        with self._lock:
            if self._client is None:
                self._client = make_client(self.opts)
            return self._client

    @property
    def pool(self):
        """The worker threads (a ThreadPoolExecutor)."""
        with self._lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor
                self._pool = ThreadPoolExecutor(max_workers=int(self.opts.get("concurrency") or 8),
                                                thread_name_prefix="s3sync")
            return self._pool

    @property
    def boto3_loaded(self):
        """Whether this run needed boto3."""
        return self._client is not None

    def close(self):
        """Stop the worker threads and close the reader's connections."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.reader.close()
