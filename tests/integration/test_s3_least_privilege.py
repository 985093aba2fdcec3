"""The collection works with nothing more than the lab's least-privilege MinIO user, and that user
can do nothing more than the collection needs.

`make lab-up` creates the user (lab/labctl/minio_user.py, lab/go/minio-admin): a canned policy that
allows object reads/writes/deletes, listings and multipart uploads in the models bucket(s) only;
lab.json `s3_collection` holds its keys (the lab inventory reads them from .lab/), `s3` MinIO's root
keys, used here only to make and remove what a test needs. The bucket that is missing and may not
be created runs on a private MinIO (the lab's binary), since the lab's own bucket must stay.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import S3SyncError  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.sync import sync  # noqa: E402

LAB_JSON = Path(os.environ.get("LAB_STATE_DIR") or ROOT / ".lab") / "lab.json"
RUN = uuid.uuid4().hex[:8]


def _client(s3):
    return boto3.client("s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["access_key"],
                        aws_secret_access_key=s3["secret_key"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


@pytest.fixture(scope="module")
def lab():
    if not LAB_JSON.exists():
        pytest.skip("lab not running: %s missing (make lab-up)" % LAB_JSON)
    facts = json.loads(LAB_JSON.read_text())
    if "s3_collection" not in facts:
        pytest.skip("this lab predates the collection's MinIO user: make lab-down lab-up")
    return facts


@pytest.fixture(scope="module")
def user(lab):
    return lab["s3_collection"]


@pytest.fixture(scope="module")
def admin(lab):
    return _client(lab["s3"])


@pytest.fixture()
def other_bucket(admin):
    """A bucket the admin made that the collection's policy does not name."""
    bucket = "not-the-models-" + RUN
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="secret.txt", Body=b"not yours")
    yield bucket
    admin.delete_object(Bucket=bucket, Key="secret.txt")
    admin.delete_bucket(Bucket=bucket)


def _code(call):
    with pytest.raises(Exception) as info:
        call()
    response = getattr(info.value, "response", {})
    return response.get("Error", {}).get("Code"), response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _opts(s3, src, bucket, prefix, tmp_path, **extra):
    opts = {"src": str(src), "bucket": bucket, "prefix": prefix, "endpoint_url": s3["endpoint"],
            "access_key": s3["access_key"], "secret_key": s3["secret_key"], "region": "us-east-1",
            "validate_certs": True, "delete": False, "create_bucket": True, "part_size_mb": 5,
            "concurrency": 2, "cache_dir": str(tmp_path / "cache"), "exclude": []}
    opts.update(extra)
    return opts


def _model(root):
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"architectures": ["MistralForCausalLM"]}))
    (root / "model.safetensors").write_bytes(os.urandom(6 * 1024 * 1024 + 7))
    return root


def test_the_user_is_not_root_and_its_policy_names_only_the_models_bucket(lab, user):
    assert user["access_key"] != lab["s3"]["access_key"]
    assert user["buckets"] == ["models"]  # every profile's llm_serving_s3_bucket, and the default
    inventory = (ROOT / "inventories" / "lab" / "group_vars" / "all" / "lab_connection.yml").read_text()
    # the lab inventory reads the user's keys from files; the root keys are nowhere in it
    assert "s3-collection-user" in inventory and "s3-collection-secret" in inventory
    assert "minio-user" not in inventory and "minio-password" not in inventory


def test_the_user_reads_writes_lists_and_deletes_in_the_models_bucket(user):
    s3, key = _client(user), "lp-%s/probe.txt" % RUN
    s3.put_object(Bucket="models", Key=key, Body=b"hello")
    assert s3.get_object(Bucket="models", Key=key)["Body"].read() == b"hello"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="models", Prefix="lp-%s/" % RUN)["Contents"]] == [key]
    upload = s3.create_multipart_upload(Bucket="models", Key=key + ".mp")["UploadId"]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="models", Prefix=key + ".mp")["Uploads"]] == [upload]
    s3.abort_multipart_upload(Bucket="models", Key=key + ".mp", UploadId=upload)
    s3.head_bucket(Bucket="models")
    s3.delete_object(Bucket="models", Key=key)


def test_the_user_cannot_touch_another_bucket_or_make_one(user, other_bucket):
    s3 = _client(user)
    assert _code(lambda: s3.list_objects_v2(Bucket=other_bucket)) == ("AccessDenied", 403)
    assert _code(lambda: s3.get_object(Bucket=other_bucket, Key="secret.txt")) == ("AccessDenied", 403)
    assert _code(lambda: s3.put_object(Bucket=other_bucket, Key="x", Body=b"x")) == ("AccessDenied", 403)
    assert _code(lambda: s3.delete_object(Bucket=other_bucket, Key="secret.txt")) == ("AccessDenied", 403)
    assert _code(lambda: s3.create_bucket(Bucket="made-by-the-collection-" + RUN)) == ("AccessDenied", 403)
    assert _code(lambda: s3.delete_bucket(Bucket="models")) == ("AccessDenied", 403)


def test_listing_buckets_shows_the_models_bucket_only(user, other_bucket):
    # Without s3:ListAllMyBuckets MinIO answers ListBuckets with the buckets the user may list
    # (cmd/bucket-handlers.go ListBucketsHandler filters by s3:ListBucket), never the others.
    names = [b["Name"] for b in _client(user).list_buckets()["Buckets"]]
    assert names == ["models"] and other_bucket not in names


def _signed(s3, method, path):
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method=method, url=s3["endpoint"] + path, data=b"")
    S3SigV4Auth(Credentials(s3["access_key"], s3["secret_key"]), "s3", "us-east-1").add_auth(request)
    req = urllib.request.Request(request.url, method=method, headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_the_user_cannot_use_the_admin_api(lab, user):
    # The same signed request as root proves the call itself is right.
    assert _signed(lab["s3"], "GET", "/minio/admin/v3/list-users")[0] == 200
    for path in ("/minio/admin/v3/list-users", "/minio/admin/v3/list-canned-policies",
                 "/minio/admin/v3/info"):
        status, body = _signed(user, "GET", path)
        assert status == 403 and b"AccessDenied" in body, (path, status, body[:200])


def test_s3_model_sync_as_the_user_uses_the_existing_bucket_and_reruns_unchanged(user, admin, tmp_path):
    src, prefix = _model(tmp_path / "model"), "lp-%s/sync" % RUN
    try:
        first = sync(_opts(user, src, "models", prefix, tmp_path))
        assert first["bucket_created"] is False and first["files_uploaded"] == 2
        again = sync(_opts(user, src, "models", prefix, tmp_path))
        assert again["changed"] is False and again["bytes_uploaded"] == 0
        assert sync(_opts(user, src, "models", prefix, tmp_path), check_mode=True)["changed"] is False
    finally:
        for obj in admin.list_objects_v2(Bucket="models", Prefix=prefix + "/").get("Contents", []):
            admin.delete_object(Bucket="models", Key=obj["Key"])


def test_s3_model_sync_as_the_user_on_another_bucket_is_one_sentence(user, other_bucket, tmp_path):
    src = _model(tmp_path / "model")
    with pytest.raises(S3SyncError) as info:
        sync(_opts(user, src, other_bucket, "p", tmp_path))
    assert info.value.msg == ("Failed to list s3://%s/p/: access denied (AccessDenied); the credentials "
                              "lack the S3 permission for bucket %s." % (other_bucket, other_bucket))
    assert user["secret_key"] not in info.value.msg


@pytest.fixture()
def private_minio_with_user(tmp_path):
    """A private MinIO (the lab's binary) with a user made by the lab's minio-admin for bucket
    `gone-<run>`, which the admin then deletes: the policy allows it, the bucket is missing."""
    sys.path.insert(0, str(ROOT / "lab"))
    from labctl.base import Lab, LabError
    from labctl import minio_user
    from test_s3_model_sync import MinIO, _minio_binary  # the same private server helper
    try:
        tool = minio_user.binary(Lab())
    except LabError as exc:
        pytest.skip(str(exc))
    if not _minio_binary():
        pytest.skip("no MinIO binary (lab/build.sh minio)")
    data = tempfile.mkdtemp(prefix="lp-minio-", dir=str(tmp_path))
    server = MinIO(_minio_binary(), os.path.join(data, "data"))
    server.start()
    bucket = "gone-" + RUN
    facts = {"endpoint": server.endpoint, "access_key": "collection-" + RUN, "secret_key": uuid.uuid4().hex}
    try:
        env = dict(os.environ, MINIO_ROOT_USER=server.access_key, MINIO_ROOT_PASSWORD=server.secret_key,
                   LAB_S3_USER=facts["access_key"], LAB_S3_SECRET=facts["secret_key"])
        subprocess.run([str(tool), "-endpoint", "127.0.0.1:%d" % server.port, "-policy", "p",
                        "-bucket", bucket], env=env, check=True, capture_output=True, timeout=60)
        _client({"endpoint": server.endpoint, "access_key": server.access_key,
                 "secret_key": server.secret_key}).delete_bucket(Bucket=bucket)
        yield facts, bucket
    finally:
        server.stop()


def test_a_missing_bucket_the_user_may_not_create_is_one_sentence(private_minio_with_user, tmp_path):
    s3, bucket = private_minio_with_user
    src = _model(tmp_path / "model")
    with pytest.raises(S3SyncError) as info:
        sync(_opts(s3, src, bucket, "p", tmp_path))
    assert info.value.msg == (
        "Failed to create bucket %s: bucket %s does not exist at %s and these credentials may not "
        "create it (AccessDenied); have an administrator create it, or set a bucket they may write."
        % (bucket, bucket, s3["endpoint"]))
    assert s3["secret_key"] not in info.value.msg
