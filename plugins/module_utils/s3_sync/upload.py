# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parallel upload engine of s3_model_sync: one thread pool shared by the parts of every file.

Each file is read exactly once: every part (or small file) is read with ``pread`` and sent with a
checksum of the bytes read, which the server verifies before it stores them (it refuses a body
that differs):

- ``crc32`` (the default): ``x-amz-checksum-crc32``, about 4x cheaper to compute than md5. The
  server echoes the checksum it verified, and its ETag of the part (the md5 S3 servers compute of
  what they stored) then stands for the bytes read. A server that does not echo the checksum has
  not checked it: the md5 is then computed here and compared with the ETag instead.
- ``md5``: a signed ``Content-MD5``, understood by every S3 server; the ETag is compared with it.

The parts' md5s give the object's ETag, which is checked with HEAD and stored in the digest cache.
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
import zlib
from concurrent.futures import wait

from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import (
    S3SyncError,
    client_error,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.digest import (
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


def _b64(raw):
    return base64.b64encode(raw).decode("ascii")


class _Body:
    """One part (or whole small file) as read, with the checksum it is sent with."""

    __slots__ = ("data", "crc32", "md5")

    def __init__(self, data, checksum):
        self.data = data
        self.crc32 = _b64(zlib.crc32(data).to_bytes(4, "big")) if checksum == "crc32" else None
        self.md5 = hashlib.md5(data).digest() if checksum == "md5" else None

    def headers(self):
        """Keyword arguments of put_object/upload_part that carry the checksum."""
        if self.crc32:
            return {"ChecksumCRC32": self.crc32}
        return {"ContentMD5": _b64(self.md5)}

    def stored_digest(self, resp, what):
        """md5 of what the server stored, once it is shown to be the bytes read."""
        etag = resp.get("ETag", "").strip('"')
        parsed = parse_etag(etag)
        if parsed is None or parsed[1] is not None:
            raise S3SyncError("upload %s" % what, "the server's ETag %r is not the md5 of the "
                              "body (an encrypted bucket?); s3_model_sync needs md5 ETags to "
                              "verify objects and recognise unchanged ones" % etag)
        if self.crc32 and resp.get("ChecksumCRC32") == self.crc32:
            return bytes.fromhex(parsed[0])  # the server verified the bytes read
        if self.crc32 and resp.get("ChecksumCRC32"):
            raise S3SyncError("upload %s" % what, "the server stored CRC32 %s, expected %s"
                              % (resp["ChecksumCRC32"], self.crc32))
        local = self.md5 or hashlib.md5(self.data).digest()  # no echo: not verified there
        if etag != local.hex():
            raise S3SyncError("upload %s" % what, "the server stored ETag %s, expected the md5 "
                              "of the bytes sent %s" % (etag, local.hex()))
        return local


class _Multipart:
    __slots__ = ("item", "upload_id", "part_size", "digests", "crcs", "remaining", "lock",
                 "started")

    def __init__(self, item, upload_id, part_size):
        self.item, self.upload_id, self.part_size = item, upload_id, part_size
        self.digests = [None] * part_count(item.size, part_size)
        self.crcs = [None] * len(self.digests)
        self.remaining = len(self.digests)
        self.lock = threading.Lock()
        self.started = time.monotonic()


class Uploader:
    """Uploads planned files in parallel (``concurrency`` threads) and verifies each object."""

    def __init__(self, session, opts, cache, part_size_meta):
        self.session, self.cache, self.meta_key = session, cache, part_size_meta
        self.bucket, self.endpoint = opts["bucket"], opts.get("endpoint_url")
        self.part_size = opts["part_size"]
        self.checksum = opts.get("checksum") or "crc32"
        self.pool = session.pool
        self.failed = threading.Event()
        self._lock = threading.Lock()
        self._errors = []
        self._open = {}  # upload_id -> key: multipart uploads this run started and not completed

    @property
    def client(self):
        """The boto3 client (imported on first use: a run with nothing to write never needs it)."""
        return self.session.client

    def abort(self, key, upload_id):
        """Abort one multipart upload (an upload that is already gone counts as aborted)."""
        try:
            self.session.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
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
        extra = {"ChecksumAlgorithm": "CRC32"} if self.checksum == "crc32" else {}
        resp = self.client.create_multipart_upload(Bucket=self.bucket, Key=item.key,
                                                   Metadata={self.meta_key: str(part_size)},
                                                   **extra)
        with self._lock:
            self._open[resp["UploadId"]] = item.key
        return _Multipart(item, resp["UploadId"], part_size)

    def _part(self, state, number):
        item, offset = state.item, number * state.part_size
        body = _Body(_pread(item.path, min(state.part_size, item.size - offset), offset),
                     self.checksum)
        resp = self.client.upload_part(Bucket=self.bucket, Key=item.key, UploadId=state.upload_id,
                                       PartNumber=number + 1, Body=body.data, **body.headers())
        digest = body.stored_digest(resp, "part %d of %s" % (number + 1, item.path))
        del body
        with state.lock:
            state.digests[number] = digest
            state.crcs[number] = resp.get("ChecksumCRC32")
            state.remaining -= 1
            last = state.remaining == 0
        if last and not self.failed.is_set():
            self._complete(state)

    def _complete(self, state):
        item = state.item
        parts = []
        for number, digest in enumerate(state.digests):
            part = {"ETag": '"%s"' % digest.hex(), "PartNumber": number + 1}
            if self.checksum == "crc32" and state.crcs[number]:
                part["ChecksumCRC32"] = state.crcs[number]  # AWS wants them back when declared
            parts.append(part)
        self.client.complete_multipart_upload(Bucket=self.bucket, Key=item.key,
                                              UploadId=state.upload_id,
                                              MultipartUpload={"Parts": parts})
        with self._lock:
            self._open.pop(state.upload_id, None)
        self._verify(item, etag_from_digests(state.digests, True), str(state.part_size),
                     state.started)

    def _single(self, item):
        started = time.monotonic()
        body = _Body(_pread(item.path, item.size, 0), self.checksum)
        resp = self.client.put_object(Bucket=self.bucket, Key=item.key, Body=body.data,
                                      **body.headers())
        digest = body.stored_digest(resp, item.path)
        self._verify(item, etag_from_digests([digest], False), WHOLE, started)

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
