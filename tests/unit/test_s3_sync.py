"""Unit tests of s3_model_sync's fingerprints, digest cache, local scan and error sentences (no S3)."""

import hashlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".ansible" / "collections"))

from botocore.exceptions import ClientError, EndpointConnectionError  # noqa: E402

from ansible_collections.private_ai.llm_serving.plugins.module_utils import s3_sync_digest as digest  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync import (  # noqa: E402
    normalize_prefix,
    scan_local,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync_client import (  # noqa: E402
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
