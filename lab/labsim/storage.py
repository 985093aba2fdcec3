"""The model controller's storage check: are there weights at the InferenceService's S3 location?

KServe's storage-initializer would fail to download and the model would go FailedToLoad; the lab
checks the same thing up front with boto3 against MinIO, using the data connection Secret.
"""

import base64

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


class StorageError(Exception):
    """Raised with a message KServe-like status can carry (lastFailureInfo.message)."""


def _secret_data(secret):
    data = {}
    for k, v in ((secret.get("data") or {}).items()):
        data[k] = base64.b64decode(v).decode()
    data.update(secret.get("stringData") or {})
    return data


def location(isvc):
    """(secret name or None, bucket or None, path) from predictor.model storage settings."""
    model = ((isvc.get("spec") or {}).get("predictor") or {}).get("model") or {}
    storage = model.get("storage") or {}
    anns = isvc["metadata"].get("annotations") or {}
    secret = storage.get("key") or anns.get("opendatahub.io/connections")
    uri = model.get("storageUri") or ""
    bucket, path = None, storage.get("path") or ""
    if uri.startswith("s3://"):
        rest = uri[len("s3://"):]
        bucket, _, upath = rest.partition("/")
        path = path or upath
    params = storage.get("parameters") or {}
    bucket = params.get("bucket") or bucket
    return secret, bucket, path.strip("/")


def check(isvc, read_secret):
    """Raise StorageError unless the model's S3 prefix holds at least one object.

    read_secret(namespace, name) returns the Secret as a dict or None. Returns the s3:// URI.
    """
    ns = isvc["metadata"]["namespace"]
    secret_name, bucket, path = location(isvc)
    if not secret_name:
        uri = ((isvc["spec"].get("predictor") or {}).get("model") or {}).get("storageUri", "")
        if not uri:
            raise StorageError("no storage configured: set predictor.model.storage.key/path "
                               "or predictor.model.storageUri")
        raise StorageError("no data connection for %s: set predictor.model.storage.key or the "
                           "opendatahub.io/connections annotation" % uri)
    secret = read_secret(ns, secret_name)
    if secret is None:
        raise StorageError("data connection Secret %s/%s not found" % (ns, secret_name))
    data = _secret_data(secret)
    bucket = bucket or data.get("AWS_S3_BUCKET")
    endpoint = data.get("AWS_S3_ENDPOINT")
    if not bucket or not endpoint:
        raise StorageError("data connection Secret %s/%s lacks AWS_S3_ENDPOINT or AWS_S3_BUCKET"
                           % (ns, secret_name))
    uri = "s3://%s/%s" % (bucket, path)
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name=data.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=data.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=data.get("AWS_SECRET_ACCESS_KEY"),
        verify=False if endpoint.startswith("https") else None,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                      connect_timeout=3, read_timeout=5,
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
    prefix = path + "/" if path else ""
    try:
        resp = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise StorageError("failed to list s3://%s/%s at %s: %s" % (bucket, path, endpoint, code))
    except BotoCoreError as exc:
        raise StorageError("failed to reach %s for %s: %s" % (endpoint, uri, type(exc).__name__))
    if not resp.get("KeyCount"):
        raise StorageError(
            "Failed to download model: no objects found at %s (endpoint %s); upload the "
            "weights or fix predictor.model.storage.path" % (uri, endpoint))
    return uri
