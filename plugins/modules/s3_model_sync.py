#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai platform team
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: s3_model_sync
short_description: Upload a local model directory to S3 (MinIO), fast, skipping what is unchanged
version_added: 0.1.0
description:
  - Uploads every file under I(src) to C(s3://bucket/prefix/<relative path>), files in parallel
    and large files in parts, each file read exactly once.
  - An object whose size and ETag already match the local file is skipped. The local ETag comes
    from a digest cache keyed by absolute path, size and modification time, so an unchanged
    multi-GB file is not read again.
  - Every part is sent with a checksum of the bytes read (see I(checksum)) that the server verifies
    before storing it, and every uploaded object is verified afterwards (HEAD size and ETag).
    Multipart uploads this run started are aborted when it fails; incomplete uploads left under
    the prefix by an earlier run are aborted at the start and reported.
  - With I(endpoint_url) set, the listing that decides what to upload is made without boto3 (a
    small SigV4 client of the Python standard library), and boto3 is imported only when there is
    something to write. An unchanged re-run therefore takes a few hundredths of a second on top
    of Ansible's start-up. Without I(endpoint_url) (AWS S3), or when a proxy applies to the
    endpoint, boto3 does the listing too.
  - Check mode reports the plan (what would be uploaded, skipped and deleted, with bytes) without
    writing to the bucket.
  - Works against MinIO and other S3 servers (path-style addressing, checksums only where an
    operation requires them).
author:
  - private_ai platform team (@private-ai)
extends_documentation_fragment:
  - private_ai.llm_serving.s3
requirements:
  - boto3 >= 1.36 (imported only when something is written, or without I(endpoint_url))
options:
  src:
    description:
      - Local directory to upload (on the host the task runs on). Symlinked files are followed.
      - When omitted, only the bucket is checked (and created with I(create_bucket=true)).
    type: path
  bucket:
    description: Bucket name. Required unless O(models) is given.
    type: str
  models:
    description:
      - Several directories (or buckets) in one module run, one after the other, instead of one process per
        model. Each item is a dict with C(bucket) (required), C(src), C(prefix) and C(exclude), meaning what
        the options of the same names mean, and C(name), a label returned with its result. An item's
        C(exclude) is added to O(exclude). The other options apply to every item.
      - An item without C(src) only ensures its bucket.
      - Mutually exclusive with O(bucket), O(src) and O(prefix).
    type: list
    elements: dict
  prefix:
    description: Key prefix in the bucket, without leading or trailing slash; empty for the bucket root.
    type: str
    default: ''
  delete:
    description: Delete objects under I(prefix) that have no local file.
    type: bool
    default: false
  create_bucket:
    description: Create the bucket when it does not exist; when false a missing bucket fails.
    type: bool
    default: false
  part_size_mb:
    description:
      - Part size of multipart uploads in MiB; files up to this size go in one PUT.
      - Grown automatically for files that would need more than 10,000 parts.
    type: int
    default: 16
  concurrency:
    description: Parts and files uploaded at the same time (memory use is about concurrency x part size).
    type: int
    default: 8
  checksum:
    description:
      - How the server verifies each part against the bytes read from the file.
      - C(crc32) sends C(x-amz-checksum-crc32), about four times cheaper for the client to compute
        than md5 (it matters on a busy controller, and the server has to compute its md5 anyway).
        A server that verified it echoes it back; the object's ETag (the md5 the server computed)
        is then trusted and cached. A server that does not echo it (older S3 implementations)
        gets the md5 computed here and compared with its ETag instead.
      - C(md5) sends a signed C(Content-MD5), which every S3 server checks, and compares each ETag
        with the md5 computed here.
    type: str
    choices: [crc32, md5]
    default: crc32
  cache_dir:
    description: Directory of the local digest cache.
    type: path
    default: ~/.cache/private-ai-llm-serving/s3sync
  exclude:
    description: Glob patterns of relative paths to leave out (C(*) also matches C(/)).
    type: list
    elements: str
    default: ['.cache/*', '.git/*']
notes:
  - Unchanged detection compares md5-based ETags; objects encrypted with SSE-KMS or SSE-C do not
    have them and are always uploaded again.
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Upload Mistral weights to MinIO
  private_ai.llm_serving.s3_model_sync:
    src: /models/Mistral-Small-24B-Instruct-2501
    bucket: models
    prefix: mistral-small-24b/bf16
    endpoint_url: https://minio.example.com:9000
    ca_bundle: /etc/pki/tls/certs/minio-ca.pem
    create_bucket: true
  register: upload

- name: Mirror a directory exactly (remove objects that are no longer local), 64 MiB parts
  private_ai.llm_serving.s3_model_sync:
    src: /models/granite
    bucket: models
    prefix: granite
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ s3_access_key }}"
    secret_key: "{{ s3_secret_key }}"
    delete: true
    part_size_mb: 64
    concurrency: 16
"""

RETURN = r"""
results:
  description:
    - With O(models), one result per item in order, each with C(name) and the keys returned for a single
      sync (C(bytes_uploaded), C(files), C(plan) and so on). The top-level counts, bytes and seconds are
      the sums over the items.
  returned: when O(models) is given
  type: list
  elements: dict
bytes_uploaded:
  description: Bytes uploaded (in check mode, bytes that would be uploaded).
  returned: always
  type: int
  sample: 4831838208
bytes_total:
  description: Size of all local files.
  returned: always
  type: int
files_uploaded:
  description: Files uploaded (in check mode, that would be).
  returned: always
  type: int
files_skipped:
  description: Files whose object already matched.
  returned: always
  type: int
files_deleted:
  description: Objects deleted (in check mode, that would be).
  returned: always
  type: int
seconds:
  description: Wall time of the sync (listing, fingerprints, upload, verification).
  returned: always
  type: float
mb_per_s:
  description: C(bytes_uploaded) / 10^6 / C(seconds); 0 when nothing moved or in check mode.
  returned: always
  type: float
bucket_created:
  description: Whether the bucket was (or in check mode would be) created.
  returned: always
  type: bool
stale_uploads:
  description: Incomplete multipart uploads found under the prefix at the start (aborted unless check mode).
  returned: always
  type: list
  elements: dict
  sample: [{key: m/model-00001.safetensors, upload_id: abc, initiated: '2026-01-01 00:00:00+00:00'}]
plan:
  description: Counts and bytes to upload, skip and delete, and stale uploads found.
  returned: always
  type: dict
  sample: {upload_files: 1, upload_bytes: 1024, skip_files: 4, skip_bytes: 9000000,
           delete_files: 0, delete_bytes: 0, stale_uploads: 0}
files:
  description: One entry per local file (and per object to delete) with what was done and why.
  returned: always
  type: list
  elements: dict
  sample: [{path: config.json, key: m/config.json, size: 601, action: skip,
            reason: unchanged (size and ETag match), etag: 0cc175b9c0f1b6a831c399e269772661}]
digest_cache:
  description: Path of the digest cache file, and how many fingerprints came from it (hits) or were computed (misses).
  returned: always
  type: dict
checksum:
  description: The checksum the parts were (or would be) sent with.
  returned: always
  type: str
  sample: crc32
boto3_loaded:
  description: Whether the run needed boto3 (false for a run with nothing to write to an I(endpoint_url)).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.client import (
    s3_options,
    BOTO3_IMPORT_ERROR,
    HAS_BOTO3,
    S3SyncError,
    boto_versions,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.s3_sync.sync import sync
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import fail


def argspec():
    spec = s3_options()
    spec.update(
        src=dict(type="path"),
        bucket=dict(type="str"),
        models=dict(type="list", elements="dict"),
        prefix=dict(type="str", default=""),
        delete=dict(type="bool", default=False),
        create_bucket=dict(type="bool", default=False),
        part_size_mb=dict(type="int", default=16),
        concurrency=dict(type="int", default=8),
        checksum=dict(type="str", default="crc32", choices=["crc32", "md5"]),
        cache_dir=dict(type="path", default="~/.cache/private-ai-llm-serving/s3sync"),
        exclude=dict(type="list", elements="str", default=[".cache/*", ".git/*"]),
    )
    return spec


ITEM_SPEC = dict(
    name=dict(type="str"),
    src=dict(type="path"),
    bucket=dict(type="str", required=True),
    prefix=dict(type="str", default=""),
    exclude=dict(type="list", elements="str", default=[]),
)
SUMMED = ("bytes_uploaded", "bytes_total", "files_uploaded", "files_skipped", "files_deleted", "seconds")


def items(module):
    """What to sync: the items of O(models) (validated one by one), or the single src/bucket/prefix."""
    params = module.params
    if params["models"] is None:
        return [dict(params)]
    validator = ArgumentSpecValidator(ITEM_SPEC)
    out = []
    for index, item in enumerate(params["models"]):
        checked = validator.validate(item)
        if checked.error_messages:
            module.fail_json(msg="models[%d]: %s" % (index, "; ".join(checked.error_messages)))
        opts = dict(params, **checked.validated_parameters)
        opts["exclude"] = list(params["exclude"]) + opts["exclude"]
        out.append(opts)
    return out


def combined(results):
    """The single result of a O(models) run: sums, any change, and each item's result."""
    out = dict((key, sum(r[key] for r in results)) for key in SUMMED)
    out["seconds"] = round(out["seconds"], 3)
    out["mb_per_s"] = round(out["bytes_uploaded"] / 1e6 / out["seconds"], 1) if out["bytes_uploaded"] and out["seconds"] else 0.0
    out.update(changed=any(r["changed"] for r in results), results=results,
               bucket_created=any(r["bucket_created"] for r in results),
               stale_uploads=[s for r in results for s in r["stale_uploads"]],
               files=[f for r in results for f in r["files"]],
               boto3_loaded=any(r.get("boto3_loaded") for r in results))
    return out


def main():
    module = new_module(argument_spec=argspec(), supports_check_mode=True,
                        required_one_of=[("bucket", "models")],
                        mutually_exclusive=[("models", "bucket"), ("models", "src"), ("models", "prefix")])
    if not HAS_BOTO3:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    params = module.params
    if not 5 <= params["part_size_mb"] <= 5120:
        module.fail_json(msg="part_size_mb must be between 5 and 5120 (S3 part limits), got %d"
                         % params["part_size_mb"])
    if not 1 <= params["concurrency"] <= 64:
        module.fail_json(msg="concurrency must be between 1 and 64, got %d" % params["concurrency"])
    error, results = None, []
    try:
        for opts in items(module):
            results.append(dict(sync(dict((k, v) for k, v in opts.items() if k != "models"),
                                     check_mode=module.check_mode), name=opts.get("name")))
    except S3SyncError as err:
        error = err
    if error:
        # Outside the except block: the sentence is the whole story, no traceback is attached.
        fail(module, error, **boto_versions())
    for result in results:
        for warning in result.pop("warnings", []):
            module.warn(warning)
    module.exit_json(**(combined(results) if params["models"] is not None else results[0]))


if __name__ == "__main__":
    main()
