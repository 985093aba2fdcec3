"""Integration tests of s3_model_sync against a real MinIO.

The shared lab's MinIO (`.lab/lab.json`, `make lab-up`) is used when it is up; otherwise a private
MinIO is started from the lab's binary (~/.cache/private-ai-lab/bin/minio-*). The test that stops
MinIO in the middle of an upload always runs its own instance on another port, never the lab's.
Skipped, with the reason, when neither exists. Every test uses a prefix unique to the run.
"""

import glob
import hashlib
import json
import os
import signal
import datetime
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.sync import sync  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import (  # noqa: E402
    S3SyncError,
)

LAB_JSON = ROOT / ".lab" / "lab.json"
MINIO_GLOB = os.path.expanduser(os.environ.get("LAB_CACHE", "~/.cache/private-ai-lab") + "/bin/minio-*")
MIB = 1024 * 1024
RUN = uuid.uuid4().hex[:8]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _live(endpoint, context=None):
    try:
        with urllib.request.urlopen(endpoint + "/minio/health/live", timeout=2,
                                    context=context) as resp:
            return resp.status == 200
    except OSError:
        return False


class MinIO:
    """A private MinIO server (the lab's binary) on a free port, stoppable and restartable."""

    def __init__(self, binary, data_dir, certs_dir=None, ca_file=None):
        self.binary, self.data_dir, self.certs_dir = binary, data_dir, certs_dir
        self.context = ssl.create_default_context(cafile=ca_file) if certs_dir else None
        self.port, self.console = _free_port(), _free_port()
        self.endpoint = "%s://127.0.0.1:%d" % ("https" if certs_dir else "http", self.port)
        self.access_key, self.secret_key = "s3sync-" + RUN, "secret-" + uuid.uuid4().hex
        self.proc = None
        self.log = open(os.path.join(os.path.dirname(data_dir), "minio.log"), "ab")

    def start(self):
        env = dict(os.environ, MINIO_ROOT_USER=self.access_key, MINIO_ROOT_PASSWORD=self.secret_key,
                   MINIO_BROWSER="off")
        certs = ["--certs-dir", self.certs_dir] if self.certs_dir else []
        self.proc = subprocess.Popen(
            [self.binary, "server", self.data_dir, "--address", "127.0.0.1:%d" % self.port,
             "--console-address", "127.0.0.1:%d" % self.console, "--quiet"] + certs,
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _live(self.endpoint, self.context):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("minio exited with %s (log %s)" % (self.proc.returncode, self.log.name))
            time.sleep(0.2)
        raise RuntimeError("minio did not become live in 60 s")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def _minio_binary():
    found = sorted(glob.glob(MINIO_GLOB))
    return found[-1] if found else None


@pytest.fixture(scope="module")
def private_minio():
    binary = _minio_binary()
    if not binary:
        pytest.skip("no MinIO binary at %s (lab/build.sh minio)" % MINIO_GLOB)
    tmp = tempfile.mkdtemp(prefix="s3sync-minio-")
    server = MinIO(binary, os.path.join(tmp, "data"))
    server.start()
    yield server
    server.stop()
    subprocess.run(["rm", "-rf", tmp], check=False)


@pytest.fixture(scope="module")
def s3(private_minio_or_lab):
    return private_minio_or_lab


def _empty(client, bucket, prefix="", drop_bucket=False):
    """Delete what a test left in the shared lab's MinIO (objects under prefix, then the bucket)."""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        if drop_bucket:
            client.delete_bucket(Bucket=bucket)
    except Exception:  # pylint: disable=broad-except
        pass  # cleanup is best effort; the prefix is unique to the run


@pytest.fixture(scope="module")
def private_minio_or_lab(request):
    """Connection facts of the lab's MinIO when up (cleaned after the module), else a private one."""
    if LAB_JSON.exists():
        lab = json.loads(LAB_JSON.read_text()).get("s3") or {}
        if lab.get("endpoint") and _live(lab["endpoint"]):
            facts = {"endpoint": lab["endpoint"], "access_key": lab["access_key"],
                     "secret_key": lab["secret_key"], "source": "lab"}
            yield facts
            _empty(_client(facts), "s3sync-it", "it-%s/" % RUN)
            return
    server = request.getfixturevalue("private_minio")
    yield {"endpoint": server.endpoint, "access_key": server.access_key,
           "secret_key": server.secret_key, "source": "private"}


def _client(s3):
    return boto3.client("s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["access_key"],
                        aws_secret_access_key=s3["secret_key"], region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"},
                                      request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


def _opts(s3, src, prefix, tmp_path, **extra):
    opts = {"src": str(src), "bucket": "s3sync-it", "prefix": prefix,
            "endpoint_url": s3["endpoint"], "access_key": s3["access_key"],
            "secret_key": s3["secret_key"], "region": "us-east-1", "validate_certs": True,
            "delete": False, "create_bucket": True, "part_size_mb": 5, "concurrency": 4,
            "cache_dir": str(tmp_path / "cache"), "exclude": [".cache/*"]}
    opts.update(extra)
    return opts


def _model(root, large=(12 * MIB + 3, 17 * MIB + 11), small=40):
    """A synthetic model directory: shards larger than the part size and many small files."""
    root.mkdir(parents=True, exist_ok=True)
    for number, size in enumerate(large):
        (root / ("model-%05d.safetensors" % (number + 1))).write_bytes(os.urandom(size))
    (root / "tokenizer").mkdir(exist_ok=True)
    for number in range(small):
        (root / "tokenizer" / ("piece-%03d.json" % number)).write_text(json.dumps({"n": number}) * 20)
    (root / "config.json").write_text(json.dumps({"architectures": ["MistralForCausalLM"]}))
    return root


def _s3_etag(path, part_size):
    data = Path(path).read_bytes()
    if len(data) <= part_size:
        return hashlib.md5(data).hexdigest()
    parts = [data[i:i + part_size] for i in range(0, len(data), part_size)]
    return "%s-%d" % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                      len(parts))


def _assert_mirrored(client, bucket, prefix, src, part_size=5 * MIB):
    """Every local file is an object with the same size and the ETag its bytes give."""
    listed = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            listed[obj["Key"]] = (obj["Size"], obj["ETag"].strip('"'))
    local = {prefix + "/" + str(p.relative_to(src)): p for p in Path(src).rglob("*") if p.is_file()}
    assert set(listed) == set(local)
    for key, path in local.items():
        assert listed[key] == (path.stat().st_size, _s3_etag(path, part_size)), key


def _uploads_left(client, bucket, keys):
    left = []
    for key in keys:
        left += client.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return left


def test_upload_large_and_small_files_then_unchanged_rerun_moves_nothing(s3, tmp_path):
    src = _model(tmp_path / "model")
    prefix = "it-%s/basic" % RUN
    first = sync(_opts(s3, src, prefix, tmp_path))
    assert first["changed"] is True
    assert first["files_uploaded"] == 43 and first["files_skipped"] == 0
    assert first["bytes_uploaded"] == first["bytes_total"] > 29 * MIB
    assert first["mb_per_s"] > 0
    client = _client(s3)
    _assert_mirrored(client, "s3sync-it", prefix, src)
    shard = client.head_object(Bucket="s3sync-it", Key=prefix + "/model-00002.safetensors")
    assert shard["ETag"].strip('"').endswith("-4"), "17 MiB in 5 MiB parts is a 4-part upload"

    again = sync(_opts(s3, src, prefix, tmp_path))
    assert again["changed"] is False
    assert again["bytes_uploaded"] == 0 and again["files_uploaded"] == 0
    assert again["files_skipped"] == 43
    assert again["digest_cache"]["misses"] == 0, "unchanged files must not be re-read"
    assert {f["action"] for f in again["files"]} == {"skip"}
    assert first["boto3_loaded"] is True
    assert again["boto3_loaded"] is False, "nothing to write: the listing needs no boto3"


def test_only_the_changed_files_are_sent_again(s3, tmp_path):
    src = _model(tmp_path / "model", small=10)
    prefix = "it-%s/changed" % RUN
    sync(_opts(s3, src, prefix, tmp_path))
    shard = src / "model-00001.safetensors"
    data = bytearray(shard.read_bytes())
    data[7 * MIB] ^= 0xFF  # same size, one byte different, in the second part
    shard.write_bytes(bytes(data))
    (src / "tokenizer" / "piece-003.json").write_text("changed and longer than before " * 3)

    result = sync(_opts(s3, src, prefix, tmp_path))
    sent = sorted(f["path"] for f in result["files"] if f["action"] == "upload")
    assert sent == ["model-00001.safetensors", "tokenizer/piece-003.json"]
    assert result["bytes_uploaded"] == shard.stat().st_size + (src / "tokenizer" / "piece-003.json").stat().st_size
    _assert_mirrored(_client(s3), "s3sync-it", prefix, src)


def test_md5_checksums_verify_too_and_a_cold_cache_recognises_the_objects(s3, tmp_path):
    src = _model(tmp_path / "model", small=4)
    prefix = "it-%s/md5" % RUN
    first = sync(_opts(s3, src, prefix, tmp_path, checksum="md5"))
    assert first["files_uploaded"] == 7 and first["checksum"] == "md5"
    _assert_mirrored(_client(s3), "s3sync-it", prefix, src)
    again = sync(_opts(s3, src, prefix, tmp_path, checksum="md5"))
    assert again["bytes_uploaded"] == 0 and again["digest_cache"]["misses"] == 0
    # The default (crc32) caches the ETags the server computed; a cold cache (another controller)
    # reads the files and must find the same ETags.
    cold = sync(_opts(s3, src, "it-%s/crc" % RUN, tmp_path, cache_dir=str(tmp_path / "one")))
    assert cold["checksum"] == "crc32" and cold["files_uploaded"] == 7
    other = sync(_opts(s3, src, "it-%s/crc" % RUN, tmp_path, cache_dir=str(tmp_path / "two")))
    assert other["bytes_uploaded"] == 0 and other["digest_cache"]["misses"] == 7


@pytest.mark.parametrize("checksum", ["crc32", "md5"])
def test_a_part_corrupted_on_the_way_is_refused_and_nothing_is_left(
        s3, tmp_path, monkeypatch, checksum):
    """A bit flipped after the checksum was taken (as a faulty NIC or proxy would) is refused by
    the real server; the object never appears and this run's multipart upload is aborted."""
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import upload as s3_sync_upload

    real_init = s3_sync_upload._Body.__init__

    def corrupting_init(self, data, mode):
        real_init(self, data, mode)
        if len(data) > 5 * MIB - 1:  # one part of the shard: flip a bit after hashing
            flipped = bytearray(data)
            flipped[12345] ^= 0x01
            self.data = bytes(flipped)

    monkeypatch.setattr(s3_sync_upload._Body, "__init__", corrupting_init)
    src = _model(tmp_path / "model", large=(11 * MIB,), small=1)
    prefix = "it-%s/corrupt-%s" % (RUN, checksum)
    with pytest.raises(S3SyncError) as info:
        sync(_opts(s3, src, prefix, tmp_path, checksum=checksum))
    assert info.value.msg.startswith("Failed to upload ") and "\n" not in info.value.msg
    assert info.value.details["error_code"] in ("XAmzContentChecksumMismatch", "BadDigest")
    key = prefix + "/model-00001.safetensors"
    client = _client(s3)
    assert client.list_objects_v2(Bucket="s3sync-it", Prefix=key).get("KeyCount", 0) == 0
    assert _uploads_left(client, "s3sync-it", [key]) == []
    monkeypatch.setattr(s3_sync_upload._Body, "__init__", real_init)
    again = sync(_opts(s3, src, prefix, tmp_path, checksum=checksum))
    assert "model-00001.safetensors" in [f["path"] for f in again["files"] if f["action"] == "upload"]
    _assert_mirrored(client, "s3sync-it", prefix, src)


def test_a_different_part_size_still_recognises_unchanged_objects(s3, tmp_path):
    src = _model(tmp_path / "model", small=2)
    prefix = "it-%s/partsize" % RUN
    sync(_opts(s3, src, prefix, tmp_path))
    result = sync(_opts(s3, src, prefix, tmp_path, part_size_mb=6))
    assert result["bytes_uploaded"] == 0 and result["files_skipped"] == 5


def test_check_mode_plans_and_writes_nothing_then_delete_removes_extra_objects(s3, tmp_path):
    src = _model(tmp_path / "model", small=3)
    prefix = "it-%s/plan" % RUN
    planned = sync(_opts(s3, src, prefix, tmp_path), check_mode=True)
    assert planned["changed"] is True
    assert planned["plan"]["upload_files"] == 6
    assert planned["plan"]["upload_bytes"] == planned["bytes_total"]
    client = _client(s3)
    assert client.list_objects_v2(Bucket="s3sync-it", Prefix=prefix + "/").get("KeyCount", 0) == 0

    sync(_opts(s3, src, prefix, tmp_path))
    (src / "tokenizer" / "piece-001.json").unlink()
    kept = sync(_opts(s3, src, prefix, tmp_path))
    assert kept["files_deleted"] == 0 and kept["changed"] is False
    plan = sync(_opts(s3, src, prefix, tmp_path, delete=True), check_mode=True)
    assert plan["plan"]["delete_files"] == 1
    assert [f["key"] for f in plan["files"] if f["action"] == "delete"] == [prefix + "/tokenizer/piece-001.json"]
    assert client.head_object(Bucket="s3sync-it", Key=prefix + "/tokenizer/piece-001.json")
    done = sync(_opts(s3, src, prefix, tmp_path, delete=True))
    assert done["files_deleted"] == 1 and done["changed"] is True
    _assert_mirrored(client, "s3sync-it", prefix, src)


def test_wrong_credentials_give_one_clear_sentence(s3, tmp_path):
    src = _model(tmp_path / "model", large=(), small=1)
    secret = "wrong-" + uuid.uuid4().hex
    with pytest.raises(S3SyncError) as info:
        sync(_opts(s3, src, "it-%s/creds" % RUN, tmp_path, secret_key=secret))
    assert "SignatureDoesNotMatch" in info.value.msg and "AWS_SECRET_ACCESS_KEY" in info.value.msg
    with pytest.raises(S3SyncError) as info:
        sync(_opts(s3, src, "it-%s/creds" % RUN, tmp_path, access_key="nobody-" + RUN))
    assert "InvalidAccessKeyId" in info.value.msg
    assert secret not in info.value.msg and "\n" not in info.value.msg


def test_missing_bucket_that_may_not_be_created_gives_one_clear_sentence(s3, tmp_path):
    src = _model(tmp_path / "model", large=(), small=1)
    bucket = "s3sync-missing-" + RUN
    with pytest.raises(S3SyncError) as info:
        sync(_opts(s3, src, "p", tmp_path, bucket=bucket, create_bucket=False))
    assert info.value.msg == ("Failed to sync to bucket %s: bucket %s does not exist at %s and "
                              "create_bucket is false." % (bucket, bucket, s3["endpoint"]))
    planned = sync(_opts(s3, src, "p", tmp_path, bucket=bucket), check_mode=True)
    assert planned["bucket_created"] is True and planned["plan"]["upload_files"] == 2
    with pytest.raises(Exception):
        _client(s3).head_bucket(Bucket=bucket)


def test_minio_stopped_mid_upload_then_rerun_completes_verified_without_leftovers(private_minio, tmp_path):
    s3 = {"endpoint": private_minio.endpoint, "access_key": private_minio.access_key,
          "secret_key": private_minio.secret_key}
    src = _model(tmp_path / "model", large=(40 * MIB + 1, 40 * MIB + 2, 40 * MIB + 3), small=5)
    prefix = "it-%s/interrupted" % RUN
    keys = ["%s/model-%05d.safetensors" % (prefix, n) for n in (1, 2, 3)]
    client = _client(s3)
    bucket = "s3sync-int-" + RUN
    client.create_bucket(Bucket=bucket)
    outcome = {}

    def run():
        try:
            outcome["result"] = sync(_opts(s3, src, prefix, tmp_path, concurrency=2, bucket=bucket))
        except S3SyncError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill MinIO once some parts of a shard are stored
        uploads = _uploads_left(client, bucket, keys)
        if uploads and client.list_parts(Bucket=bucket, Key=uploads[0]["Key"],
                                         UploadId=uploads[0]["UploadId"]).get("Parts"):
            break
        time.sleep(0.02)
    private_minio.kill()
    worker.join(120)
    assert not worker.is_alive()
    assert "error" in outcome, "the sync finished before MinIO was stopped: %s" % outcome
    err = outcome["error"]
    assert err.msg.startswith("Failed to upload ") and "cannot connect to" in err.msg
    assert err.details.get("uploads_left_incomplete"), "MinIO was down: the aborts had to fail"

    private_minio.start()
    assert _uploads_left(client, bucket, keys), "the interrupted uploads are still there"
    result = sync(_opts(s3, src, prefix, tmp_path, concurrency=2, bucket=bucket))
    assert {u["key"] for u in result["stale_uploads"]} <= set(keys)
    assert result["stale_uploads"], "the leftover multipart uploads are reported"
    _assert_mirrored(client, bucket, prefix, src)
    assert _uploads_left(client, bucket, keys) == []
    assert sync(_opts(s3, src, prefix, tmp_path, bucket=bucket))["bytes_uploaded"] == 0


def _tls_files(directory):
    """A private CA and a certificate for 127.0.0.1 signed by it, as MinIO's --certs-dir wants."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)

    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def build(subject, key, issuer, signer, ca):
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build("s3sync-test-ca", ca_key, "s3sync-test-ca", ca_key, True)
    cert = build("127.0.0.1", key, "s3sync-test-ca", ca_key, False)
    os.makedirs(directory, exist_ok=True)
    pem = serialization.Encoding.PEM
    Path(directory, "public.crt").write_bytes(cert.public_bytes(pem))
    Path(directory, "private.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    ca_file = Path(directory).parent / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(pem))
    return str(ca_file)


def test_tls_endpoint_is_verified_with_the_ca_bundle(tmp_path):
    binary = _minio_binary()
    if not binary:
        pytest.skip("no MinIO binary at %s (lab/build.sh minio)" % MINIO_GLOB)
    ca_file = _tls_files(str(tmp_path / "certs"))
    server = MinIO(binary, str(tmp_path / "data"), certs_dir=str(tmp_path / "certs"), ca_file=ca_file)
    server.start()
    try:
        s3 = {"endpoint": server.endpoint, "access_key": server.access_key,
              "secret_key": server.secret_key}
        src = _model(tmp_path / "model", large=(6 * MIB,), small=2)
        prefix = "it-%s/tls" % RUN
        with pytest.raises(S3SyncError) as info:  # the listing is the first request
            sync(_opts(s3, src, prefix, tmp_path))
        assert info.value.msg.startswith("Failed to list s3://s3sync-it/%s/: TLS verification of %s "
                                         "failed" % (prefix, server.endpoint))
        assert "set ca_bundle" in info.value.msg
        first = sync(_opts(s3, src, prefix, tmp_path, ca_bundle=ca_file))
        assert first["files_uploaded"] == 4 and first["boto3_loaded"] is True
        again = sync(_opts(s3, src, prefix, tmp_path, ca_bundle=ca_file))
        assert again["bytes_uploaded"] == 0 and again["boto3_loaded"] is False
        unverified = sync(_opts(s3, src, prefix, tmp_path, validate_certs=False))
        assert unverified["bytes_uploaded"] == 0
    finally:
        server.kill()
        server.log.close()


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Sync
      private_ai.llm_serving.s3_model_sync:
        src: "{{ src }}"
        bucket: s3sync-it
        prefix: "{{ prefix }}"
        endpoint_url: "{{ endpoint }}"
        part_size_mb: 5
        cache_dir: "{{ cache_dir }}"
        create_bucket: true
      register: out
    - name: Show
      ansible.builtin.debug:
        var: out
"""


def _playbook(tmp_path, s3, src, prefix, secret_key, *args):
    book = tmp_path / "sync.yml"
    book.write_text(PLAYBOOK)
    env = dict(os.environ, AWS_ACCESS_KEY_ID=s3["access_key"], AWS_SECRET_ACCESS_KEY=secret_key,
               ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_NOCOLOR="1")
    extra = json.dumps({"src": str(src), "prefix": prefix, "endpoint": s3["endpoint"],
                        "cache_dir": str(tmp_path / "cache"),
                        "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python")})
    return subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(book), "-i",
                           "localhost,", "-c", "local", "-e", extra] + list(args),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                          check=False)


def _task_result(proc, task="Sync"):
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    for play in data["plays"]:
        for item in play["tasks"]:
            if item["task"]["name"] == task:
                return item["hosts"]["localhost"]
    raise AssertionError("task %s not in output" % task)


def test_through_ansible_playbook_credentials_from_env_never_shown(s3, tmp_path):
    src = _model(tmp_path / "model", large=(6 * MIB,), small=3)
    prefix = "it-%s/playbook" % RUN
    first = _playbook(tmp_path, s3, src, prefix, s3["secret_key"], "-vvv")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert s3["secret_key"] not in first.stdout + first.stderr
    result = _task_result(first)
    assert result["changed"] is True and result["files_uploaded"] == 5

    second = _playbook(tmp_path, s3, src, prefix, s3["secret_key"])
    result = _task_result(second)
    assert result["changed"] is False and result["bytes_uploaded"] == 0

    wrong = "wrong-" + uuid.uuid4().hex
    failed = _playbook(tmp_path, s3, src, prefix, wrong, "-vvv")
    assert failed.returncode != 0
    result = _task_result(failed)
    assert result["msg"].startswith("Failed to list s3://s3sync-it/%s/: the secret key" % prefix)
    assert "botocore_version" in result and "boto3_version" in result
    assert wrong not in failed.stdout + failed.stderr
    # One sentence; (at -vvv Ansible itself adds the call stack under `exception`, as for any module).
    assert "Traceback" not in result["msg"] and "\n" not in result["msg"]


ROLE_PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/private_ai.llm_serving.k8s:
      kubeconfig: "{{ kubeconfig }}"
  roles:
    # the roles read the plan the preflight makes from the inventory's variables
    - role: private_ai.llm_serving.preflight
      vars:
        llm_serving_preflight_read_checkpoints: false
    - role: private_ai.llm_serving.minio_models
  post_tasks:
    - name: Synced
      ansible.builtin.debug:
        var: llm_serving_minio_models_synced
"""


def _lab_cluster():
    if not LAB_JSON.exists():
        pytest.skip("lab not running: %s missing (make lab-up)" % LAB_JSON)
    lab = json.loads(LAB_JSON.read_text())
    if not _live(lab["s3"]["endpoint"]):
        pytest.skip("the lab's MinIO at %s is not answering" % lab["s3"]["endpoint"])
    return lab


def _recap(out):
    data = json.loads(out[out.index("{"):])
    return data["stats"]["localhost"], data


def test_role_syncs_models_and_applies_the_data_connection_idempotently(tmp_path):
    lab = _lab_cluster()
    namespace = lab["deployer"]["namespaces"][0]
    src = _model(tmp_path / "model", large=(6 * MIB,), small=2)
    connection = "s3sync-it-" + RUN
    extra = {
        "kubeconfig": lab["deployer_kubeconfig"],
        "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"),
        "llm_serving_namespace": namespace,
        "llm_serving_connection_name": connection,
        "llm_serving_s3_endpoint": lab["s3"]["endpoint"],
        # the lab's models bucket, with the collection's own user (lab.json s3_collection): the
        # role must work with a user limited to that bucket, which may not create buckets
        "llm_serving_s3_bucket": "models",
        "llm_serving_minio_models_part_size_mb": 5,
        "llm_serving_models": [
            {"name": "tiny-local", "weights": {"source": "local", "local_dir": str(src),
                                               "path": "s3sync-role-%s/tiny" % RUN},
             "hardware": {"instance_type": "g6e.xlarge"}},
            {"name": "already-there", "weights": {"source": "s3", "path": "elsewhere"},
             "hardware": {"instance_type": "g6e.xlarge"}},
        ],
    }
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    book = tmp_path / "role.yml"
    book.write_text(ROLE_PLAYBOOK)
    user = lab["s3_collection"]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=user["access_key"],
               AWS_SECRET_ACCESS_KEY=user["secret_key"], ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")

    def play(*args):
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(book), "-i",
                               "localhost,", "-c", "local", "-e", "@%s" % (tmp_path / "vars.json")]
                              + list(args), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert user["secret_key"] not in proc.stdout + proc.stderr
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        return _recap(proc.stdout)

    planned = play("--check", "--diff")[0]
    assert planned["failures"] == 0
    first, data = play("-vvv")
    # the upload (into the existing bucket: the user may not create one), then the Secret
    assert first["changed"] >= 2
    synced = [t for t in data["plays"][0]["tasks"] if t["task"]["name"] == "Synced"][0]
    facts = synced["hosts"]["localhost"]["llm_serving_minio_models_synced"]
    assert list(facts) == ["tiny-local"]
    assert facts["tiny-local"]["bytes"] == sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
    assert facts["tiny-local"]["config"] == {"architectures": ["MistralForCausalLM"]}
    second = play()[0]
    assert second["changed"] == 0, "second run must be changed=0"
    checked = play("--check")[0]
    assert checked["changed"] == 0

    kubectl = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c",
         "import base64,json,sys; from kubernetes import client, config; "
         "config.load_kube_config(sys.argv[1]); "
         "s = client.CoreV1Api().read_namespaced_secret(sys.argv[2], sys.argv[3]); "
         "print(json.dumps({'labels': s.metadata.labels, 'annotations': s.metadata.annotations, "
         "'keys': sorted(s.data), 'access_key_id': base64.b64decode(s.data['AWS_ACCESS_KEY_ID']).decode()}))",
         lab["kubeconfig"], connection, namespace],
        capture_output=True, text=True, check=True)
    secret = json.loads(kubectl.stdout)
    assert secret["labels"]["opendatahub.io/dashboard"] == "true"
    assert secret["labels"]["opendatahub.io/managed"] == "true"
    assert secret["annotations"]["opendatahub.io/connection-type-protocol"] == "s3"
    assert secret["annotations"]["opendatahub.io/connection-type-ref"] == "s3"
    assert secret["keys"] == ["AWS_ACCESS_KEY_ID", "AWS_DEFAULT_REGION", "AWS_S3_BUCKET",
                              "AWS_S3_ENDPOINT", "AWS_SECRET_ACCESS_KEY"]
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-c",
         "import sys; from kubernetes import client, config; config.load_kube_config(sys.argv[1]); "
         "client.CoreV1Api().delete_namespaced_secret(sys.argv[2], sys.argv[3])",
         lab["kubeconfig"], connection, namespace], capture_output=True, check=False)
    assert secret["access_key_id"] == user["access_key"]
    _empty(_client(lab["s3"]), "models", "s3sync-role-%s/" % RUN)


def test_the_standard_library_reader_pages_through_long_listings(s3, tmp_path):
    """Listings longer than one page (1,000 keys by default) are followed to the end; a page of
    3 keys, or of 1 upload, makes the real server page."""
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.http import S3Reader

    src = _model(tmp_path / "model", large=(), small=10)
    prefix = "it-%s/pages" % RUN
    sync(_opts(s3, src, prefix, tmp_path))
    client = _client(s3)
    key = prefix + "/unfinished"
    started = [client.create_multipart_upload(Bucket="s3sync-it", Key=key)["UploadId"]
               for _attempt in range(3)]
    reader = S3Reader(_opts(s3, src, prefix, tmp_path))
    try:
        whole = reader.list_objects("s3sync-it", prefix + "/")
        reader.page_size = 3
        assert reader.list_objects("s3sync-it", prefix + "/") == whole and len(whole) == 11
        assert len(reader.list_objects("s3sync-it", prefix + "/", max_keys=1)) == 1
        reader.page_size = 1
        assert sorted(u["UploadId"] for u in reader.list_uploads("s3sync-it", key)) == sorted(started)
    finally:
        reader.close()
        for upload_id in started:
            client.abort_multipart_upload(Bucket="s3sync-it", Key=key, UploadId=upload_id)


def test_the_boto3_reader_and_the_standard_library_reader_agree(s3, tmp_path, monkeypatch):
    """AWS S3 (no endpoint_url) and proxied endpoints plan with boto3: both readers must see the
    same objects, uploads and metadata, and a whole sync through the boto3 reader must behave."""
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import http as s3_sync_http
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import (
        BotoReader,
        make_client,
    )

    src = _model(tmp_path / "model", large=(6 * MIB,), small=3)
    prefix = "it-%s/readers" % RUN
    opts = _opts(s3, src, prefix, tmp_path)
    sync(opts)
    key = prefix + "/unfinished"
    client = _client(s3)
    upload_id = client.create_multipart_upload(Bucket="s3sync-it", Key=key)["UploadId"]
    ours, theirs = s3_sync_http.S3Reader(opts), BotoReader(make_client(opts))
    try:
        for reader in (ours, theirs):
            assert reader.list_objects("no-such-bucket-" + RUN, "") is None
        assert ours.list_objects("s3sync-it", prefix + "/") == theirs.list_objects("s3sync-it", prefix + "/")
        assert ours.list_objects("s3sync-it", prefix + "/", max_keys=1) == \
            theirs.list_objects("s3sync-it", prefix + "/", max_keys=1)
        assert [u["UploadId"] for u in ours.list_uploads("s3sync-it", key)] == \
            [u["UploadId"] for u in theirs.list_uploads("s3sync-it", key)] == [upload_id]
        shard = prefix + "/model-00001.safetensors"
        assert ours.head("s3sync-it", shard) == theirs.head("s3sync-it", shard)
        assert ours.head("s3sync-it", shard)["metadata"] == {"llm-serving-part-size": str(5 * MIB)}
    finally:
        ours.close()
        client.abort_multipart_upload(Bucket="s3sync-it", Key=key, UploadId=upload_id)

    monkeypatch.setattr(s3_sync_http, "usable_for", lambda _opts: False)
    (src / "tokenizer" / "piece-000.json").write_text("changed")
    changed = sync(opts)
    assert changed["files_uploaded"] == 1 and changed["boto3_loaded"] is True
    again = sync(opts)
    assert again["bytes_uploaded"] == 0 and again["files_skipped"] == 5
    _assert_mirrored(client, "s3sync-it", prefix, src)


def test_models_option_syncs_several_directories_in_one_process(s3, tmp_path):
    """What the minio_models role sends: every model's directory and the other buckets in one run,
    one result per item, sums on top; check mode writes nothing; a bad item fails naming its index."""
    import module_runner

    one, two = _model(tmp_path / "one", large=(6 * MIB,), small=2), _model(tmp_path / "two", large=(), small=3)
    (two / "consolidated.safetensors").write_bytes(b"x" * 1000)
    base = _opts(s3, one, "", tmp_path)
    for key in ("src", "bucket", "prefix"):
        base.pop(key)
    base["models"] = [
        {"name": "one", "src": str(one), "bucket": "s3sync-it", "prefix": "it-%s/many/one" % RUN},
        {"name": "two", "src": str(two), "bucket": "s3sync-it", "prefix": "it-%s/many/two" % RUN,
         "exclude": ["consolidated.safetensors"]},
        {"bucket": "s3sync-it-%s" % RUN}]

    def run(args, check=False):
        return module_runner.finish(module_runner.start(
            "private_ai.llm_serving.s3_model_sync", dict(args, _ansible_check_mode=check)), timeout=300)

    planned = run(base, check=True)
    assert planned["changed"] is True and planned["files_uploaded"] == 4 + 4, planned
    client = _client(s3)
    try:
        assert client.list_objects_v2(Bucket="s3sync-it", Prefix="it-%s/many/" % RUN).get("KeyCount") == 0
    except client.exceptions.NoSuchBucket:  # a fresh lab: check mode did not create it either
        pass
    first = run(base)
    assert [r["name"] for r in first["results"]] == ["one", "two", None]
    assert [r["files_uploaded"] for r in first["results"]] == [4, 4, 0] and first["bucket_created"] is True
    assert first["bytes_uploaded"] == sum(r["bytes_uploaded"] for r in first["results"])
    _assert_mirrored(client, "s3sync-it", "it-%s/many/one" % RUN, one)
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="s3sync-it", Prefix="it-%s/many/two/" % RUN)["Contents"]]
    assert not [k for k in keys if k.endswith("consolidated.safetensors")], keys
    again = run(base)
    assert again["changed"] is False and again["files_uploaded"] == 0 and again["files_skipped"] == 8
    bad = run(dict(base, models=base["models"] + [{"src": str(one)}]))
    assert bad.get("failed") and bad["msg"].startswith("models[3]: ") and "bucket" in bad["msg"], bad
    client.delete_bucket(Bucket="s3sync-it-%s" % RUN)
