# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sync a local model directory to ``s3://bucket/prefix``: plan, parallel multipart upload, verify.

Entry point: :func:`sync`.  Errors are raised as :class:`S3SyncError` carrying one sentence that
says what was being done and why; the module turns it into ``fail_json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import (
    S3Session,
    S3SyncError,
    client_error,
    missing_bucket,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.digest import (
    MIB,
    WHOLE,
    DigestCache,
    effective_part_size,
    parse_etag,
    part_count,
)

DEFAULT_CACHE_DIR = "~/.cache/private-ai-llm-serving/s3sync"
PART_SIZE_META = "llm-serving-part-size"


class LocalFile:
    """One regular file under ``src`` and the object key it maps to."""

    __slots__ = ("rel", "path", "key", "size", "mtime_ns", "action", "reason", "etag", "seconds")

    def __init__(self, rel, path, key, size, mtime_ns):
        self.rel, self.path, self.key, self.size, self.mtime_ns = rel, path, key, size, mtime_ns
        self.action, self.reason, self.etag, self.seconds = "upload", "", None, None

    def detail(self):
        """Per-file result entry."""
        item = {"path": self.rel, "key": self.key, "size": self.size, "action": self.action,
                "reason": self.reason, "etag": self.etag}
        if self.seconds is not None:
            item["seconds"] = round(self.seconds, 3)
        return item


def normalize_prefix(prefix):
    """``a/b`` -> ``a/b/``; empty stays empty (the whole bucket)."""
    prefix = (prefix or "").strip("/")
    return prefix + "/" if prefix else ""


def scan_local(src, prefix, exclude):
    """Regular files under ``src`` (symlinked files followed, as in a Hugging Face snapshot)."""
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            if any(fnmatch.fnmatch(rel, pattern) for pattern in exclude):
                continue
            try:
                st = os.stat(path)
            except OSError as exc:
                raise S3SyncError("read the local model directory %s" % src,
                                  "%s cannot be read (%s)" % (path, exc.strerror))
            if not os.path.isfile(path):
                continue
            files.append(LocalFile(rel, os.path.abspath(path), prefix + rel, st.st_size,
                                   st.st_mtime_ns))
    return files


def list_remote(reader, bucket, prefix, endpoint, max_keys=None):
    """``{key: {size, etag}}`` of the objects under ``prefix``; None when the bucket is missing."""
    try:
        return reader.list_objects(bucket, prefix, max_keys)
    except Exception as exc:  # pylint: disable=broad-except
        raise client_error(exc, "list s3://%s/%s" % (bucket, prefix), endpoint, bucket)


def list_stale_uploads(session, bucket, prefix, keys, endpoint):
    """Incomplete multipart uploads under ``prefix`` (and for each of ``keys``) begun before now.

    One listing of the prefix is enough on AWS S3 and most servers. MinIO answers
    ListMultipartUploads only for an exact object name, so each key about to be uploaded in parts
    is asked as well: an interrupted upload leaves its object missing or outdated, so its key is
    always among them, while an unchanged re-run makes one request.
    """
    found = {}
    try:
        reader = session.reader
        listed = [reader.list_uploads(bucket, prefix)]
        if keys:
            listed += session.pool.map(lambda key: reader.list_uploads(bucket, key), sorted(keys))
    except Exception as exc:  # pylint: disable=broad-except
        raise client_error(exc, "list incomplete multipart uploads under s3://%s/%s"
                           % (bucket, prefix), endpoint, bucket)
    for uploads in listed:
        for upload in uploads:
            if upload["Key"].startswith(prefix):
                found[upload["UploadId"]] = {
                    "key": upload["Key"], "upload_id": upload["UploadId"],
                    "initiated": str(upload.get("Initiated", ""))}
    return sorted(found.values(), key=lambda u: (u["key"], u["upload_id"]))


def _slots(item, remote, part_size):
    """Cache slots whose ETag can equal the remote one (by its part count), or None if none can."""
    parsed = parse_etag(remote["etag"])
    if parsed is None:
        return None
    if parsed[1] is None:
        return [WHOLE]
    ours = effective_part_size(item.size, part_size)
    return [str(ours)] if part_count(item.size, ours) == parsed[1] else []


def _cached_match(item, remote, part_size, cache):
    """True when the digest cache alone shows the object unchanged (no read, no request)."""
    for slot in _slots(item, remote, part_size) or []:
        if cache.get(item.path, item.size, item.mtime_ns, slot, count_miss=False) == remote["etag"]:
            item.etag = remote["etag"]
            return True
    return False


def _remote_matches(reader, bucket, item, remote, part_size, cache):
    """True when the remote object has the local file's content (size + ETag, no download)."""
    slots = _slots(item, remote, part_size)
    if slots is None:
        item.reason = "remote ETag %s is not md5-based" % remote["etag"]
        return False
    parts = parse_etag(remote["etag"])[1]
    for slot in slots:
        etag = cache.etag(item.path, item.size, item.mtime_ns, slot)
        if etag == remote["etag"]:
            item.etag = etag
            return True
    if parts is not None:
        # Sent with another part size (another part_size_mb): it is recorded on the object.
        theirs = reader.head(bucket, item.key)["metadata"].get(PART_SIZE_META, "")
        if theirs.isdigit() and int(theirs) >= 5 * MIB and theirs not in slots \
                and part_count(item.size, int(theirs)) == parts:
            etag = cache.etag(item.path, item.size, item.mtime_ns, theirs)
            if etag == remote["etag"]:
                item.etag = etag
                return True
    item.reason = "content differs (remote ETag %s)" % remote["etag"]
    return False


def plan(session, opts, local, remote, cache):
    """Decide upload/skip for each local file and the keys to delete; returns the keys to delete."""
    checks = []
    for item in local:
        obj = remote.get(item.key)
        if obj is None:
            item.reason = "not in the bucket"
        elif obj["size"] != item.size:
            item.reason = "size differs (remote %d, local %d bytes)" % (obj["size"], item.size)
        else:
            checks.append((item, obj))
    # A fingerprint in the digest cache decides at once; reading files (or a HEAD) goes to the pool.
    futures = []
    for item, obj in checks:
        if _cached_match(item, obj, opts["part_size"], cache):
            item.action, item.reason = "skip", "unchanged (size and ETag match)"
        else:
            futures.append((item, session.pool.submit(
                _remote_matches, session.reader, opts["bucket"], item, obj, opts["part_size"],
                cache)))
    for item, future in futures:
        try:
            if future.result():
                item.action, item.reason = "skip", "unchanged (size and ETag match)"
        except OSError as exc:
            raise S3SyncError("fingerprint %s" % item.path, exc.strerror or str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            doing = "compare s3://%s/%s with %s" % (opts["bucket"], item.key, item.path)
            raise client_error(exc, doing, opts["endpoint_url"], opts["bucket"])
    if not opts["delete"]:
        return []
    wanted = set(item.key for item in local)
    return sorted((key, obj["size"]) for key, obj in remote.items() if key not in wanted)


def delete_keys(client, bucket, keys, endpoint):
    """Delete ``keys`` in batches of 1000; raises on the first key the server refused."""
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start:start + 1000]]
        try:
            resp = client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        except Exception as exc:  # pylint: disable=broad-except
            raise client_error(exc, "delete %d objects from s3://%s" % (len(batch), bucket),
                               endpoint, bucket)
        if resp.get("Errors"):
            err = resp["Errors"][0]
            raise S3SyncError("delete s3://%s/%s" % (bucket, err.get("Key")),
                              "%s (%s)" % (err.get("Message"), err.get("Code")))


def ensure_bucket(session, opts, check_mode):
    """Create the bucket when allowed; returns True when it was (or would be) created."""
    bucket, endpoint = opts["bucket"], opts["endpoint_url"]
    if not opts["create_bucket"]:
        raise missing_bucket(bucket, endpoint)
    if check_mode:
        return True
    kwargs = {"Bucket": bucket}
    if opts["region"] and opts["region"] != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": opts["region"]}
    try:
        session.client.create_bucket(**kwargs)
    except Exception as exc:  # pylint: disable=broad-except
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "AccessDenied":
            # Credentials limited to their bucket(s) (a bucket-scoped policy, as a platform team
            # hands out) may list a missing bucket (NoSuchBucket) but not create it.
            raise S3SyncError("create bucket %s" % bucket,
                              "bucket %s does not exist at %s and these credentials may not create "
                              "it (AccessDenied); have an administrator create it, or set a bucket "
                              "they may write" % (bucket, endpoint or "the S3 endpoint"),
                              error_code=code)
        if code not in ("BucketAlreadyOwnedByYou",):
            raise client_error(exc, "create bucket %s" % bucket, endpoint, bucket)
    return True


def sync(opts, check_mode=False):
    """Sync ``opts['src']`` to ``s3://opts['bucket']/opts['prefix']`` and return the result dict.

    ``opts`` holds the module options (``part_size_mb`` already converted to ``part_size`` bytes).
    Without ``src`` only the bucket is ensured.
    """
    started = time.monotonic()
    opts = dict(opts)
    opts["part_size"] = int(opts.pop("part_size_mb", 16)) * MIB
    prefix = normalize_prefix(opts.get("prefix"))
    bucket, endpoint = opts["bucket"], opts.get("endpoint_url")
    src = opts.get("src")
    if src and not os.path.isdir(src):
        raise S3SyncError("sync %s to s3://%s/%s" % (src, bucket, prefix),
                          "src is not a directory on this host")
    if opts.get("delete") and not prefix:
        raise S3SyncError("sync %s to s3://%s/" % (src, bucket),
                          "delete=true with an empty prefix would delete every other object in "
                          "the bucket; set a prefix")
    session = S3Session(opts)
    result = {"bucket_created": False, "stale_uploads": [], "warnings": []}
    cache = DigestCache(os.path.expanduser(opts.get("cache_dir") or DEFAULT_CACHE_DIR),
                        src or ".")
    try:
        local = scan_local(src, prefix, opts.get("exclude") or []) if src else []
        # Without src only the bucket matters: one key is enough to know it exists.
        remote = list_remote(session.reader, bucket, prefix, endpoint,
                             max_keys=None if src else 1)
        if remote is None:
            result["bucket_created"] = ensure_bucket(session, opts, check_mode)
            remote = {}
        deletes = plan(session, opts, local, remote, cache)
        uploads = [i for i in local if i.action == "upload"]
        if src and not result["bucket_created"]:
            multipart_keys = [i.key for i in uploads if i.size > opts["part_size"]]
            result["stale_uploads"] = list_stale_uploads(session, bucket, prefix, multipart_keys,
                                                         endpoint)
        if not check_mode and (uploads or result["stale_uploads"]):
            # Imported here: a run with nothing to write needs neither it nor boto3.
            from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.upload \
                import Uploader
            uploader = Uploader(session, opts, cache, PART_SIZE_META)
            for stale in result["stale_uploads"]:
                uploader.abort(stale["key"], stale["upload_id"])
            uploader.run(uploads)
        if not check_mode and deletes:
            delete_keys(session.client, bucket, [k for k, _size in deletes], endpoint)
    finally:
        session.close()
        warning = cache.save()
        if warning:
            result["warnings"].append(warning)
    seconds = time.monotonic() - started
    skipped = [i for i in local if i.action == "skip"]
    moved = sum(i.size for i in uploads)
    details = [i.detail() for i in local]
    details += [{"path": None, "key": k, "size": s, "action": "delete",
                 "reason": "not in src (delete=true)", "etag": None} for k, s in deletes]
    result.update({
        "bytes_uploaded": moved,
        "bytes_total": sum(i.size for i in local),
        "files_uploaded": len(uploads),
        "files_skipped": len(skipped),
        "files_deleted": len(deletes),
        "seconds": round(seconds, 3),
        "mb_per_s": round(moved / 1e6 / seconds, 1) if moved and seconds > 0 and not check_mode
        else 0.0,
        "files": details,
        "plan": {"upload_files": len(uploads), "upload_bytes": moved,
                 "skip_files": len(skipped), "skip_bytes": sum(i.size for i in skipped),
                 "delete_files": len(deletes), "delete_bytes": sum(s for _k, s in deletes),
                 "stale_uploads": len(result["stale_uploads"])},
        "digest_cache": {"path": cache.path, "hits": cache.hits, "misses": cache.misses},
        "checksum": opts.get("checksum") or "crc32",
        "boto3_loaded": session.boto3_loaded,
    })
    result["changed"] = bool(uploads or deletes or result["bucket_created"]
                             or result["stale_uploads"])
    return result
