# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boto3 S3 client s3_model_sync uses, and its one way to turn a failure into a sentence."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

BOTO3_IMPORT_ERROR = None
try:
    import boto3
    import botocore
    import botocore.handlers
    from botocore.config import Config
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        SSLError,
    )
    HAS_BOTO3 = True
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = traceback.format_exc()


def boto_versions():
    """Versions reported with every failure (as amazon.aws does)."""
    if not HAS_BOTO3:
        return {}
    return {"boto3_version": boto3.__version__, "botocore_version": botocore.__version__}


class S3SyncError(Exception):
    """A failure as one sentence: ``Failed to <doing>: <why>.`` plus details for the result."""

    def __init__(self, doing, why, **details):
        self.doing, self.why, self.details = doing, why, details
        super(S3SyncError, self).__init__(self.msg)

    @property
    def msg(self):
        return "Failed to %s: %s." % (self.doing, self.why.rstrip("."))


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
    if HAS_BOTO3 and isinstance(exc, ClientError):
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
    if HAS_BOTO3 and isinstance(exc, SSLError):
        return S3SyncError(doing, "TLS verification of %s failed (%s); set ca_bundle to the CA "
                           "that signed its certificate" % (where, _short(exc)),
                           error_code="SSLError")
    if HAS_BOTO3 and isinstance(exc, EndpointConnectionError):
        return S3SyncError(doing, "cannot connect to %s (%s)" % (where, _short(exc)),
                           error_code="EndpointConnectionError")
    if HAS_BOTO3 and isinstance(exc, NoCredentialsError):
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


def make_client(opts):
    """boto3 S3 client for MinIO and friends.

    Path-style addressing; checksums only when an operation requires them (boto3 >= 1.36 defaults
    to trailing CRC checksums that MinIO and other S3 servers reject); no SHA-256 of payloads:
    every body carries a signed Content-MD5 that the server verifies, which is as strong and costs
    one hash instead of two.
    """
    if not opts.get("access_key") or not opts.get("secret_key"):
        raise S3SyncError("connect to %s" % (opts.get("endpoint_url") or "S3"),
                          "no credentials: set access_key and secret_key or the environment "
                          "variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    concurrency = int(opts.get("concurrency") or 8)
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        retries={"mode": "standard", "max_attempts": 4},
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
