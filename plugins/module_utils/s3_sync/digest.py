# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3-style fingerprints (ETags) of local files and the digest cache that avoids re-reading them.

An object uploaded in one PUT has the ETag ``md5(content)``; one uploaded in N parts of P bytes has
``md5(md5(part1) + ... + md5(partN)) + "-N"``.  Both are computed here from the local file so an
unchanged object can be recognised from a bucket listing alone, and cached by absolute path, size and
``mtime_ns`` so a multi-GB shard that has not changed is never read again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
import threading

MIB = 1024 * 1024
MAX_PARTS = 10000
WHOLE = "md5"  # cache slot of the single-PUT ETag (md5 of the whole file)
READ_CHUNK = 8 * MIB
CACHE_VERSION = 1

_ETAG_RE = re.compile(r"^([0-9a-f]{32})(?:-([0-9]+))?$")


def effective_part_size(size, part_size):
    """Return the part size used for a file of ``size`` bytes.

    ``part_size`` grown in whole MiB so that the file fits in S3's 10,000 parts.
    """
    needed = -(-size // MAX_PARTS)
    if needed > part_size:
        return -(-needed // MIB) * MIB
    return part_size


def is_multipart(size, part_size):
    """True when a file of ``size`` bytes is uploaded in parts of ``part_size``."""
    return size > part_size


def part_count(size, part_size):
    """Number of parts of ``part_size`` bytes a file of ``size`` bytes is split into."""
    return max(1, -(-size // part_size))


def slot_for(size, part_size):
    """Cache slot of the ETag a file gets when uploaded with ``part_size``."""
    part_size = effective_part_size(size, part_size)
    return str(part_size) if is_multipart(size, part_size) else WHOLE


def etag_from_digests(digests, multipart):
    """ETag S3 gives an object from the raw md5 digests of its parts."""
    if not multipart:
        return digests[0].hex() if digests else hashlib.md5(b"").hexdigest()
    return "%s-%d" % (hashlib.md5(b"".join(digests)).hexdigest(), len(digests))


def parse_etag(etag):
    """Split an S3 ETag into (md5 hex, part count or None); None when it is not md5-based."""
    match = _ETAG_RE.match((etag or "").strip('"').lower())
    if not match:
        return None
    return match.group(1), (int(match.group(2)) if match.group(2) else None)


def compute_etag(path, slot):
    """Read ``path`` once and return the ETag of cache slot ``slot`` (``md5`` or a part size)."""
    with open(path, "rb") as handle:
        if slot == WHOLE:
            digest = hashlib.md5()
            for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
                digest.update(chunk)
            return digest.hexdigest()
        part_size = int(slot)
        digests = []
        while True:
            part = handle.read(part_size)
            if not part:
                break
            digests.append(hashlib.md5(part).digest())
        return etag_from_digests(digests, True)


class DigestCache:
    """JSON cache ``{abs path: {size, mtime_ns, etags: {slot: etag}}}``, one file per source dir.

    Thread-safe; ``save()`` writes atomically (temporary file + rename) and drops entries of files
    that were not seen in this run, so the cache never outgrows the directory it describes.
    """

    def __init__(self, cache_dir, src):
        self.cache_dir = cache_dir
        name = hashlib.sha256(os.path.abspath(src).encode("utf-8")).hexdigest()[:24]
        self.path = os.path.join(cache_dir, "%s.json" % name)
        self._lock = threading.Lock()
        self._entries = {}
        self._seen = set()
        self._dirty = False
        self.hits = 0
        self.misses = 0
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                data = json.load(handle)
            if data.get("version") == CACHE_VERSION and isinstance(data.get("files"), dict):
                self._entries = data["files"]
        except (OSError, ValueError, AttributeError):
            self._entries = {}

    def get(self, path, size, mtime_ns, slot, count_miss=True):
        """Cached ETag of ``path`` for ``slot`` when size and mtime_ns still match, else None.

        ``count_miss=False`` for a look that is followed by :meth:`etag` when it fails, so a
        file that has to be read counts as one miss.
        """
        with self._lock:
            self._seen.add(path)
            entry = self._entries.get(path)
            if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
                etag = entry.get("etags", {}).get(slot)
                if etag:
                    self.hits += 1
                    return etag
            if count_miss:
                self.misses += 1
            return None

    def put(self, path, size, mtime_ns, slot, etag):
        """Remember the ETag of ``path`` as it was at (size, mtime_ns)."""
        with self._lock:
            self._seen.add(path)
            entry = self._entries.get(path)
            if not entry or entry.get("size") != size or entry.get("mtime_ns") != mtime_ns:
                entry = {"size": size, "mtime_ns": mtime_ns, "etags": {}}
                self._entries[path] = entry
            if entry["etags"].get(slot) != etag:
                entry["etags"][slot] = etag
                self._dirty = True

    def etag(self, path, size, mtime_ns, slot):
        """ETag of ``path`` for ``slot``: from the cache, else read the file and cache it."""
        cached = self.get(path, size, mtime_ns, slot)
        if cached:
            return cached
        etag = compute_etag(path, slot)
        self.put(path, size, mtime_ns, slot, etag)
        return etag

    def _read_disk(self):
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("files"), dict):
            return {}
        return data["files"]

    @staticmethod
    def _current(path, entry):
        """True when ``entry`` still describes the file at ``path`` (same size and mtime_ns)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        return isinstance(entry, dict) and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns

    def save(self):
        """Write the cache; returns an error string instead of raising (a cache is optional).

        Two runs may sync the same directory at once (two playbooks, two AAP jobs on one
        controller): under an exclusive lock on ``<cache>.lock``, what the other wrote since this
        one loaded is merged in (entries of files that still have that size and mtime), then the
        file is replaced atomically, so neither loses the other's fingerprints and a reader never
        sees half a file.
        """
        with self._lock:
            stale = set(self._entries) - self._seen
            if not self._dirty and not stale:
                return None
            for path in stale:
                del self._entries[path]
            try:
                os.makedirs(self.cache_dir, mode=0o700, exist_ok=True)
                import fcntl  # only when there is something to write
                import tempfile
                with open(self.path + ".lock", "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    for path, entry in self._read_disk().items():
                        mine = self._entries.get(path)
                        if mine is None and path not in self._seen and self._current(path, entry):
                            self._entries[path] = entry
                        elif mine is not None and isinstance(entry, dict) and \
                                (entry.get("size"), entry.get("mtime_ns")) == (mine.get("size"), mine.get("mtime_ns")):
                            mine["etags"] = dict(entry.get("etags") or {}, **mine.get("etags", {}))
                    payload = {"version": CACHE_VERSION, "files": self._entries}
                    fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".digests-")
                    with os.fdopen(fd, "w", encoding="utf-8") as handle:
                        json.dump(payload, handle, separators=(",", ":"))
                    os.replace(tmp, self.path)
            except OSError as exc:
                return "could not write the digest cache %s: %s" % (self.path, exc)
            self._dirty = False
            return None
