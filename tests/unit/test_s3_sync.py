"""Unit tests of s3_model_sync's fingerprints, digest cache, local scan and error sentences (no S3)."""

import hashlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: E402

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import digest  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.sync import (  # noqa: E402
    normalize_prefix,
    scan_local,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import (  # noqa: E402
    S3SyncError,
    client_error,
    make_client,
)

MIB = 1024 * 1024


def _client_error(code, message="", status=400):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "ListObjectsV2")


def test_multipart_etag_is_md5_of_part_md5s(tmp_path):
    data = os.urandom(5 * MIB) + os.urandom(5 * MIB) + b"tail"
    path = tmp_path / "shard.bin"
    path.write_bytes(data)
    parts = [data[:5 * MIB], data[5 * MIB:10 * MIB], data[10 * MIB:]]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
    assert digest.compute_etag(str(path), str(5 * MIB)) == expected
    assert digest.compute_etag(str(path), digest.WHOLE) == hashlib.md5(data).hexdigest()
    assert digest.slot_for(len(data), 5 * MIB) == str(5 * MIB)
    assert digest.slot_for(5 * MIB, 5 * MIB) == digest.WHOLE


def test_part_size_grows_to_fit_10000_parts():
    size = 200 * 1024 * MIB  # 200 GiB with 16 MiB parts would be 12,800 parts
    grown = digest.effective_part_size(size, 16 * MIB)
    assert grown % MIB == 0 and grown > 16 * MIB
    assert digest.part_count(size, grown) <= 10000
    assert digest.effective_part_size(10 * MIB, 16 * MIB) == 16 * MIB


@pytest.mark.parametrize("etag,parsed", [
    ('"0cc175b9c0f1b6a831c399e269772661"', ("0cc175b9c0f1b6a831c399e269772661", None)),
    ("0cc175b9c0f1b6a831c399e269772661-12", ("0cc175b9c0f1b6a831c399e269772661", 12)),
    ("not-an-md5", None),
    ("", None),
])
def test_parse_etag(etag, parsed):
    assert digest.parse_etag(etag) == parsed


def test_digest_cache_skips_reading_unchanged_files(tmp_path, monkeypatch):
    src = tmp_path / "model"
    src.mkdir()
    shard = src / "a.bin"
    shard.write_bytes(b"x" * 1000)
    st = shard.stat()
    cache = digest.DigestCache(str(tmp_path / "cache"), str(src))
    first = cache.etag(str(shard), st.st_size, st.st_mtime_ns, digest.WHOLE)
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.save() is None

    reads = []
    monkeypatch.setattr(digest, "compute_etag", lambda *a: reads.append(a) or "recomputed")
    again = digest.DigestCache(str(tmp_path / "cache"), str(src))
    assert again.etag(str(shard), st.st_size, st.st_mtime_ns, digest.WHOLE) == first
    assert reads == [], "an unchanged file must not be read again"
    # A new mtime (same size) invalidates the entry.
    assert again.etag(str(shard), st.st_size, st.st_mtime_ns + 1, digest.WHOLE) == "recomputed"
    assert len(reads) == 1


def test_digest_cache_drops_files_no_longer_seen_and_survives_corruption(tmp_path):
    cache_dir = tmp_path / "cache"
    cache = digest.DigestCache(str(cache_dir), "/src")
    cache.put("/src/a", 1, 1, "md5", "a" * 32)
    cache.put("/src/b", 1, 1, "md5", "b" * 32)
    cache.save()
    again = digest.DigestCache(str(cache_dir), "/src")
    assert again.get("/src/a", 1, 1, "md5") == "a" * 32
    again.save()  # /src/b was not seen in this run
    third = digest.DigestCache(str(cache_dir), "/src")
    assert third.get("/src/b", 1, 1, "md5") is None
    Path(third.path).write_text("{not json")
    assert digest.DigestCache(str(cache_dir), "/src").get("/src/a", 1, 1, "md5") is None


def _two_files(tmp_path):
    src = tmp_path / "model"
    src.mkdir()
    files = []
    for name, size in (("a.bin", 10), ("b.bin", 20)):
        (src / name).write_bytes(b"x" * size)
        files.append((str(src / name), (src / name).stat()))
    return src, files


def test_two_runs_saving_the_same_cache_keep_each_others_fingerprints(tmp_path):
    """Two runs sync one directory at once; each fingerprints a different file and saves last-one-wins
    style before the change: the second save dropped the first's entry, so the next run read it again."""
    src, ((a, sa), (b, sb)) = _two_files(tmp_path)
    one = digest.DigestCache(str(tmp_path / "cache"), str(src))
    two = digest.DigestCache(str(tmp_path / "cache"), str(src))
    one.put(a, sa.st_size, sa.st_mtime_ns, digest.WHOLE, "a" * 32)
    two.put(b, sb.st_size, sb.st_mtime_ns, digest.WHOLE, "b" * 32)
    assert one.save() is None and two.save() is None
    after = digest.DigestCache(str(tmp_path / "cache"), str(src))
    assert after.get(a, sa.st_size, sa.st_mtime_ns, digest.WHOLE) == "a" * 32
    assert after.get(b, sb.st_size, sb.st_mtime_ns, digest.WHOLE) == "b" * 32


def _writer(cache_dir, src, path, size, mtime_ns, rounds, slot_base):
    for n in range(rounds):
        cache = digest.DigestCache(cache_dir, src)
        cache.put(path, size, mtime_ns, str(slot_base + n), "%032x" % (slot_base + n))
        assert cache.save() is None


def test_concurrent_writer_processes_never_leave_a_broken_or_partial_cache(tmp_path):
    import multiprocessing
    src, ((a, sa), (b, sb)) = _two_files(tmp_path)
    cache_dir = str(tmp_path / "cache")
    procs = [multiprocessing.Process(target=_writer, args=(cache_dir, str(src), path, st.st_size, st.st_mtime_ns, 25, base))
             for path, st, base in ((a, sa, 1000), (b, sb, 2000))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    final = digest.DigestCache(cache_dir, str(src))
    assert final.get(a, sa.st_size, sa.st_mtime_ns, "1024") == "%032x" % 1024
    assert final.get(b, sb.st_size, sb.st_mtime_ns, "2024") == "%032x" % 2024
    assert final.get(a, sa.st_size, sa.st_mtime_ns, "1000") == "%032x" % 1000, "every slot both wrote is kept"


def test_digest_cache_write_failure_is_a_warning_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = digest.DigestCache(str(blocker / "sub"), "/src")
    cache.put("/src/a", 1, 1, "md5", "a" * 32)
    assert "could not write the digest cache" in cache.save()


def test_scan_local_keys_excludes_and_follows_symlinked_files(tmp_path):
    src = tmp_path / "m"
    (src / "sub").mkdir(parents=True)
    (src / ".cache" / "huggingface").mkdir(parents=True)
    (src / "config.json").write_text("{}")
    (src / "sub" / "tok.json").write_text("[]")
    (src / ".cache" / "huggingface" / "x.metadata").write_text("")
    blob = tmp_path / "blob"
    blob.write_bytes(b"12345")
    os.symlink(blob, src / "model.safetensors")
    files = scan_local(str(src), normalize_prefix("/org/model/"), [".cache/*"])
    assert [(f.rel, f.key, f.size) for f in files] == [
        ("config.json", "org/model/config.json", 2),
        ("model.safetensors", "org/model/model.safetensors", 5),
        ("sub/tok.json", "org/model/sub/tok.json", 2),
    ]


def test_normalize_prefix():
    assert normalize_prefix("") == ""
    assert normalize_prefix("a/b") == "a/b/"
    assert normalize_prefix("/a/b/") == "a/b/"


@pytest.mark.parametrize("code,needle", [
    ("InvalidAccessKeyId", "check access_key or AWS_ACCESS_KEY_ID"),
    ("SignatureDoesNotMatch", "check secret_key or AWS_SECRET_ACCESS_KEY"),
    ("AccessDenied", "lack the S3 permission for bucket models"),
    ("NoSuchBucket", "bucket models does not exist at http://s3:9000 and create_bucket is false"),
    ("SlowDown", "http://s3:9000 answered SlowDown (Please reduce)"),
])
def test_client_errors_become_one_sentence(code, needle):
    err = client_error(_client_error(code, "Please reduce."), "list s3://models/x",
                       "http://s3:9000", "models")
    assert isinstance(err, S3SyncError)
    assert needle in err.msg
    assert err.msg.startswith("Failed to ") and err.msg.endswith(".")
    assert err.msg.count(". ") == 0 and "\n" not in err.msg


def test_connection_error_names_the_endpoint():
    exc = EndpointConnectionError(endpoint_url="http://127.0.0.1:1/models")
    err = client_error(exc, "list s3://models/", "http://127.0.0.1:1", "models")
    assert "cannot connect to http://127.0.0.1:1" in err.msg


def test_missing_credentials_fail_clearly():
    with pytest.raises(S3SyncError, match="no credentials: set access_key and secret_key"):
        make_client({"endpoint_url": "http://127.0.0.1:1", "access_key": None,
                     "secret_key": None})


def test_client_is_path_style_without_default_checksums():
    client = make_client({"endpoint_url": "http://127.0.0.1:1", "access_key": "AK",
                          "secret_key": "SK", "concurrency": 4})
    config = client.meta.config
    assert config.s3["addressing_style"] == "path"
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.max_pool_connections >= 4


# --- the standard-library reader (s3_sync_http) and the checksums of the upload engine ---------

import base64  # noqa: E402
import datetime  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import zlib  # noqa: E402

import botocore.auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import http as s3_sync_http  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.upload import _Body  # noqa: E402

NOW = datetime.datetime(2026, 11, 23, 5, 30, 0)


@pytest.mark.parametrize("method,endpoint,bucket,key,params,token", [
    ("GET", "http://127.0.0.1:19000", "models", None,
     [("list-type", "2"), ("prefix", "mistral small/ü+x"), ("encoding-type", "url")], None),
    ("GET", "http://minio.example.com", "models", None,
     [("uploads", ""), ("prefix", "a/b"), ("key-marker", "a/b c~d=e&f")], "session/TOKEN+=="),
    ("HEAD", "https://minio.example.com:9000", "models", "m/sub dir/x%y é~=&?.json", [], None),
])
def test_sigv4_signature_is_the_one_botocore_computes(monkeypatch, method, endpoint, bucket, key,
                                                      params, token):
    """The reader's signatures are byte-for-byte botocore's (its S3 SigV4 signer as reference)."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW)
    parts = s3_sync_http.urlsplit(endpoint)
    host = parts.netloc
    path = "/" + s3_sync_http._uri_encode(bucket) + (
        "/" + s3_sync_http._uri_encode(key, safe="/-_.~") if key else "/")
    ours = s3_sync_http.sigv4_headers(method, host, path, params, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG",
                                      "us-east-1", token, now=NOW)

    request = AWSRequest(method=method, url=endpoint + path, params=dict(params))
    request.context["client_config"] = None
    signer = botocore.auth.S3SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token),
                                       "s3", "us-east-1")
    signer.add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["x-amz-content-sha256"] == request.headers["X-Amz-Content-SHA256"]


@pytest.mark.parametrize("env,usable", [
    ({}, True),
    ({"http_proxy": "http://proxy:3128"}, False),
    ({"http_proxy": "http://proxy:3128", "no_proxy": "minio.internal"}, True),
])
def test_the_reader_is_used_for_an_endpoint_without_a_proxy(monkeypatch, env, usable):
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                 "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    opts = {"endpoint_url": "http://minio.internal:9000", "access_key": "a", "secret_key": "b"}
    assert s3_sync_http.usable_for(opts) is usable
    assert s3_sync_http.usable_for(dict(opts, endpoint_url=None)) is False, "AWS S3: boto3"


def test_reader_errors_become_the_same_sentences_as_botocore_errors():
    answered = s3_sync_http.S3ResponseError(403, "SignatureDoesNotMatch", "no.", "ListObjectsV2")
    err = client_error(answered, "list s3://models/x", "http://s3:9000", "models")
    assert err.msg == ("Failed to list s3://models/x: the secret key does not belong to the access "
                       "key (SignatureDoesNotMatch); check secret_key or AWS_SECRET_ACCESS_KEY.")
    head = s3_sync_http.S3ResponseError(403, "Forbidden", "", "HeadObject")
    assert "http://s3:9000 answered 403 Forbidden" in client_error(head, "x", "http://s3:9000", "m").msg
    gone = client_error(s3_sync_http.S3ResponseError(404, "NoSuchBucket", "", "ListObjectsV2"),
                        "list", "http://s3:9000", "models")
    assert gone.details["error_code"] == "NoSuchBucket"
    down = s3_sync_http.S3ConnectError("cannot reach http://s3:9000: [Errno 111] refused")
    assert "cannot connect to http://s3:9000" in client_error(down, "list", "http://s3:9000", "m").msg
    # botocore's sentence repeats the request URL with the upload id: the sentence names the server and what to do
    lost = EndpointConnectionError(endpoint_url="http://s3:9000/models/a/b.bin?uploadId=Zm9v&partNumber=6")
    assert client_error(lost, "upload b.bin to s3://models/a/b.bin", "http://s3:9000", "models").msg == (
        "Failed to upload b.bin to s3://models/a/b.bin: cannot connect to http://s3:9000; check that the S3 server "
        "is up and reachable from here, then run again.")
    tls = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    msg = client_error(tls, "list", "https://s3:9000", "m").msg
    assert "TLS verification of https://s3:9000 failed" in msg and "set ca_bundle" in msg


def _crc(data):
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_crc32_part_trusts_the_etag_only_when_the_server_echoes_the_checksum():
    data = os.urandom(1000)
    md5 = hashlib.md5(data).hexdigest()
    body = _Body(data, "crc32")
    assert body.headers() == {"ChecksumCRC32": _crc(data)}
    # MinIO and AWS echo the checksum they verified: the ETag is then the md5 of the bytes read.
    assert body.stored_digest({"ETag": '"%s"' % md5, "ChecksumCRC32": _crc(data)}, "p") == \
        bytes.fromhex(md5)
    # Stubbed responses from here on: no server in the lab leaves the checksum unverified.
    with pytest.raises(S3SyncError, match="the server stored CRC32"):
        body.stored_digest({"ETag": md5, "ChecksumCRC32": _crc(b"other")}, "p")
    # A server that ignored the header: the md5 is computed here and compared with its ETag.
    assert body.stored_digest({"ETag": md5}, "p") == bytes.fromhex(md5)
    with pytest.raises(S3SyncError, match="expected the md5 of the bytes sent"):
        body.stored_digest({"ETag": hashlib.md5(b"other").hexdigest()}, "p")
    with pytest.raises(S3SyncError, match="not the md5 of the body"):
        body.stored_digest({"ETag": "abc-1"}, "p")


def test_md5_part_sends_content_md5_and_checks_the_etag():
    data = os.urandom(1000)
    body = _Body(data, "md5")
    assert body.headers() == {"ContentMD5": base64.b64encode(hashlib.md5(data).digest()).decode()}
    assert body.stored_digest({"ETag": hashlib.md5(data).hexdigest()}, "p") == hashlib.md5(data).digest()
    with pytest.raises(S3SyncError, match="expected the md5"):
        body.stored_digest({"ETag": hashlib.md5(b"x").hexdigest()}, "p")


def test_loading_the_module_does_not_import_boto3():
    """boto3 costs 0.5 s to import: only a run that writes may pay for it."""
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; "
            "import ansible_collections.private_ai.llm_serving.plugins.modules.s3_model_sync as m; "
            "assert m.HAS_BOTO3; "
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(root / "collections")))
    assert out.stdout.strip() == "[]"


# --- the reader's retries: the collection's policy (common.retry), botocore's attempt count -------

def listing(*keys):
    """A ListObjectsV2 answer for ``keys`` (2 bytes each)."""
    contents = "".join("<Contents><Key>%s</Key><Size>2</Size><ETag>&quot;e&quot;</ETag></Contents>" % k
                       for k in keys)
    return ('<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s'
            "<IsTruncated>false</IsTruncated></ListBucketResult>" % contents).encode()


def _reader(url, fake_time):
    return s3_sync_http.S3Reader({"endpoint_url": url, "access_key": "AK", "secret_key": "SK"},
                                 **fake_time.retry_kwargs())


def test_reader_retries_the_shared_retryable_statuses_with_jittered_backoff(scripted_http, fake_time):
    """429 is retried since the shared policy (botocore retries throttling answers too)."""
    scripted_http.add("GET", "/models/", (503, b"<Error><Code>SlowDown</Code></Error>", {}),
                      (429, b"", {"Retry-After": "60"}), (200, listing("p/config.json"), {}))
    reader = _reader(scripted_http.url, fake_time)
    assert reader.list_objects("models", "p/") == {"p/config.json": {"size": 2, "etag": "e"}}
    assert len(fake_time.sleeps) == 2 and all(
        0 <= d <= s3_sync_http.BACKOFF_BASE * 2 ** i for i, d in enumerate(fake_time.sleeps))  # no Retry-After
    reader.close()


def test_reader_gives_up_after_botocores_attempt_count(scripted_http, fake_time):
    scripted_http.add("GET", "/models/", (500, b"<Error><Code>InternalError</Code><Message>disk</Message></Error>", {}))
    reader = _reader(scripted_http.url, fake_time)
    with pytest.raises(s3_sync_http.S3ResponseError, match="InternalError"):
        reader.list_objects("models", "p/")
    assert len(scripted_http.seen) == s3_sync_http.ATTEMPTS == 4 and len(fake_time.sleeps) == 3
    reader.close()


def test_reader_does_not_retry_a_refusal(scripted_http, fake_time):
    scripted_http.add("GET", "/models/p/config.json",
                      (403, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>", {}))
    reader = _reader(scripted_http.url, fake_time)
    with pytest.raises(s3_sync_http.S3ResponseError, match="AccessDenied"):
        reader.get("models", "p/config.json")
    assert len(scripted_http.seen) == 1 and fake_time.sleeps == []
    reader.close()


def test_reader_retries_no_answer_then_names_the_endpoint(fake_time):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d" % s.getsockname()[1]
    reader = _reader(url, fake_time)
    with pytest.raises(s3_sync_http.S3ConnectError, match="cannot reach %s" % url):
        reader.head("models", "p/config.json")
    assert len(fake_time.sleeps) == s3_sync_http.ATTEMPTS - 1
    reader.close()


def test_boto3_client_makes_as_many_attempts_as_the_reader():
    """botocore's retries "max_attempts" counts retries (4 meant 5 attempts): total_max_attempts."""
    client = make_client({"endpoint_url": "http://127.0.0.1:1", "access_key": "AK", "secret_key": "SK"})
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": s3_sync_http.ATTEMPTS}


def test_reader_gets_small_objects(scripted_http, fake_time):
    scripted_http.add("GET", "/models/p/config.json", (200, b'{"a": 1}', {}))
    reader = _reader(scripted_http.url, fake_time)
    assert reader.get("models", "p/config.json") == b'{"a": 1}'
    method, path, headers = scripted_http.seen[0]
    assert path == "/models/p/config.json" and headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    reader.close()
