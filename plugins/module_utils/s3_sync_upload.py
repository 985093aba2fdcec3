# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parallel upload engine of s3_model_sync: one thread pool shared by the parts of every file.

Each file is read exactly once: every part (or small file) is read with ``pread``, hashed with
md5, sent with that md5 as a signed ``Content-MD5`` (the server refuses a corrupted body), and the
md5s give the object's ETag, which is then checked with HEAD and stored in the digest cache.
Nothing becomes visible before CompleteMultipartUpload, and every upload this run started is
aborted when the run fails.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync_client import (
    S3SyncError,
    client_error,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync_digest import (
    WHOLE,
    effective_part_size,
    etag_from_digests,
    is_multipart,
    parse_etag,
    part_count,
)


def _pread(path, length, offset):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks, got = [], 0
        while got < length:
            chunk = os.pread(fd, length - got, offset + got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(data) != length:
        raise S3SyncError("read %s" % path, "the file shrank while it was being uploaded "
                          "(%d bytes at offset %d expected, %d read)" % (length, offset, len(data)))
    return data


def _md5_header(digest):
    return {"ContentMD5": base64.b64encode(digest).decode("ascii")} if digest else {}


class _Multipart:
    __slots__ = ("item", "upload_id", "part_size", "digests", "remaining", "lock", "started")

    def __init__(self, item, upload_id, part_size):
        self.item, self.upload_id, self.part_size = item, upload_id, part_size
        self.digests = [None] * part_count(item.size, part_size)
        self.remaining = len(self.digests)
        self.lock = threading.Lock()
        self.started = time.monotonic()


class Uploader:
    """Uploads planned files in parallel (``concurrency`` threads) and verifies each object."""

    def __init__(self, client, opts, cache, part_size_meta):
        self.client, self.cache, self.meta_key = client, cache, part_size_meta
        self.bucket, self.endpoint = opts["bucket"], opts.get("endpoint_url")
        self.part_size = opts["part_size"]
        self.content_md5 = opts.get("content_md5", True)
        self.pool = ThreadPoolExecutor(max_workers=int(opts.get("concurrency") or 8),
                                       thread_name_prefix="s3sync")
        self.failed = threading.Event()
        self._lock = threading.Lock()
        self._errors = []
        self._open = {}  # upload_id -> key: multipart uploads this run started and not completed

    def close(self):
        """Stop the worker threads."""
        self.pool.shutdown(wait=True)

    def abort(self, key, upload_id):
        """Abort one multipart upload (an upload that is already gone counts as aborted)."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except Exception as exc:  # pylint: disable=broad-except
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code != "NoSuchUpload":
                raise client_error(exc, "abort the incomplete multipart upload of s3://%s/%s"
                                   % (self.bucket, key), self.endpoint, self.bucket)

    def run(self, items):
        """Upload ``items`` (LocalFile); raises S3SyncError after aborting this run's uploads."""
        futures = []
        for item in sorted(items, key=lambda i: -i.size):  # long multipart files start first
            if self.failed.is_set():
                break
            part_size = effective_part_size(item.size, self.part_size)
            if not is_multipart(item.size, part_size):
                futures.append(self.pool.submit(self._guard, item, self._single, item))
                continue
            state = self._guard(item, self._create, item, part_size)
            if state is None:
                break
            for number in range(len(state.digests)):
                futures.append(self.pool.submit(self._guard, item, self._part, state, number))
        wait(futures)
        if self._errors:
            self._abort_open()
            raise self._errors[0]

    def _guard(self, item, func, *args):
        if self.failed.is_set():
            return None
        try:
            return func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            err = client_error(exc, "upload %s to s3://%s/%s" % (item.path, self.bucket, item.key),
                               self.endpoint, self.bucket)
            with self._lock:
                self._errors.append(err)
            self.failed.set()
            return None

    def _abort_open(self):
        with self._lock:
            pending = sorted(self._open.items(), key=lambda kv: kv[1])
        aborted, left = [], []
        for upload_id, key in pending:
            try:
                self.abort(key, upload_id)
                aborted.append(key)
            except S3SyncError as exc:
                left.append({"key": key, "upload_id": upload_id, "error": exc.why})
        first = self._errors[0]
        first.details["aborted_uploads"] = aborted
        if left:
            first.details["uploads_left_incomplete"] = left
            first.why += "; %d incomplete multipart upload(s) could not be aborted and will be " \
                         "aborted by the next run" % len(left)

    def _create(self, item, part_size):
        resp = self.client.create_multipart_upload(Bucket=self.bucket, Key=item.key,
                                                   Metadata={self.meta_key: str(part_size)})
        with self._lock:
            self._open[resp["UploadId"]] = item.key
        return _Multipart(item, resp["UploadId"], part_size)

    def _part(self, state, number):
        item, offset = state.item, number * state.part_size
        data = _pread(item.path, min(state.part_size, item.size - offset), offset)
        local = hashlib.md5(data).digest() if self.content_md5 else None
        resp = self.client.upload_part(Bucket=self.bucket, Key=item.key, UploadId=state.upload_id,
                                       PartNumber=number + 1, Body=data, **_md5_header(local))
        del data
        digest = self._stored_digest(resp, local, "part %d of %s" % (number + 1, item.path))
        with state.lock:
            state.digests[number] = digest
            state.remaining -= 1
            last = state.remaining == 0
        if last and not self.failed.is_set():
            self._complete(state)

    def _complete(self, state):
        item = state.item
        parts = [{"ETag": '"%s"' % d.hex(), "PartNumber": n + 1}
                 for n, d in enumerate(state.digests)]
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=item.key,
                                              UploadId=state.upload_id,
                                              MultipartUpload={"Parts": parts})
        with self._lock:
            self._open.pop(state.upload_id, None)
        self._verify(item, etag_from_digests(state.digests, True), str(state.part_size),
                     state.started)

    def _single(self, item):
        started = time.monotonic()
        data = _pread(item.path, item.size, 0)
        local = hashlib.md5(data).digest() if self.content_md5 else None
        resp = self.client.put_object(Bucket=self.bucket, Key=item.key, Body=data,
                                      **_md5_header(local))
        digest = self._stored_digest(resp, local, item.path)
        self._verify(item, etag_from_digests([digest], False), WHOLE, started)

    @staticmethod
    def _stored_digest(resp, local, what):
        """md5 of what the server stored: checked against the bytes read (``local``), or taken
        from its ETag when content_md5=false (the server computed it)."""
        etag = resp.get("ETag", "").strip('"')
        if local is not None:
            if etag != local.hex():
                raise S3SyncError("upload %s" % what, "the server stored ETag %s, expected the "
                                  "md5 of the bytes sent %s" % (etag, local.hex()))
            return local
        parsed = parse_etag(etag)
        if parsed is None or parsed[1] is not None:
            raise S3SyncError("upload %s" % what, "the server's ETag %r is not an md5 (encrypted "
                              "bucket?); set content_md5=true" % etag)
        return bytes.fromhex(parsed[0])

    def _verify(self, item, etag, slot, started):
        """HEAD the object: size and ETag must be what was read; then cache the fingerprint."""
        head = self.client.head_object(Bucket=self.bucket, Key=item.key)
        size, remote = head.get("ContentLength"), head.get("ETag", "").strip('"')
        if size != item.size or remote != etag:
            raise S3SyncError("verify s3://%s/%s" % (self.bucket, item.key),
                              "the object has %s bytes and ETag %s, expected %d bytes and ETag %s"
                              % (size, remote, item.size, etag))
        st = os.stat(item.path)
        if st.st_size != item.size or st.st_mtime_ns != item.mtime_ns:
            raise S3SyncError("upload %s" % item.path, "the file changed while it was being "
                              "uploaded; run the sync again once it is complete")
        item.etag, item.seconds = etag, time.monotonic() - started
        self.cache.put(item.path, item.size, item.mtime_ns, slot, etag)
