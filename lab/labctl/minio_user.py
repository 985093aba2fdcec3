"""The collection's own MinIO identity: a user whose policy allows only the models bucket(s).

MinIO's root credentials stay the lab's (its tests make scratch buckets with them); the collection
gets a user the way a platform team would hand one out - the buckets exist (made here, as admin),
and the user may list, read, write and delete objects in them, and do nothing else: no ListBuckets,
no CreateBucket, no other bucket, no admin API. `lab/go/minio-admin` (madmin-go at the version the
pinned minio requires) does the admin calls, since MinIO encrypts their payloads with the root secret.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

from .base import LAB_DIR, REGION, REPO, Lab, LabError, random_token, write_private

POLICY = "llm-serving-models"
USER_FILE, SECRET_FILE = "s3-collection-user", "s3-collection-secret"
# plugins/module_utils/serving_plan/settings.py: the default of llm_serving_s3_bucket.
DEFAULT_BUCKET = "models"
WRAPPER = LAB_DIR / "go" / "minio-admin"


def binary(lab: Lab):
    """The minio-admin build.sh made: <madmin version>-<digest of the wrapper's sources>."""
    digest = hashlib.sha256(b"".join((WRAPPER / name).read_bytes()
                                     for name in ("go.mod", "go.sum", "main.go"))).hexdigest()[:12]
    path = lab.bin_dir / f"minio-admin-{lab.versions['MINIO_MADMIN_VERSION']}-{digest}"
    if not os.access(path, os.X_OK):
        raise LabError(f"{path} is missing: run `make lab-build` (lab/build.sh minio-admin) first")
    return path


def collection_buckets() -> list[str]:
    """Every bucket a profile inventory sends the collection to (llm_serving_s3_bucket, each model's
    weights.bucket), and the collection's default bucket."""
    import yaml  # noqa: PLC0415 - `up` only (labctl down/status run on a bare python3)
    found = {DEFAULT_BUCKET}
    for inv in sorted((REPO / "inventories").iterdir()):
        if not (inv / "group_vars").is_dir():
            continue
        for path in sorted((inv / "group_vars").rglob("*.yml")):
            data = yaml.safe_load(path.read_text()) or {}
            if isinstance(data.get("llm_serving_s3_bucket"), str):
                found.add(data["llm_serving_s3_bucket"])
            for model in data.get("llm_serving_models") or []:
                bucket = (model.get("weights") or {}).get("bucket")
                if isinstance(bucket, str) and "{{" not in bucket:
                    found.add(bucket)
    return sorted(found)


def credentials(lab: Lab) -> tuple[str, str]:
    """The collection user's (access key, secret key), per lab, each a file in .lab/ (0600) that the
    lab inventory reads with a lookup."""
    path = lab.state / USER_FILE
    if not path.exists():
        write_private(path, f"llm-serving-{random_token(4)}\n")
    return path.read_text().strip(), lab.secret(SECRET_FILE, 24)


def ensure_collection_user(lab: Lab, buckets: list[str]) -> None:
    """Create the buckets, the bucket-scoped policy and the user (idempotent; runs on every `up`)."""
    access_key, secret_key = credentials(lab)
    env = dict(os.environ, MINIO_ROOT_USER=lab.secret("minio-user", 10),
               MINIO_ROOT_PASSWORD=lab.secret("minio-password", 24),
               LAB_S3_USER=access_key, LAB_S3_SECRET=secret_key, LAB_S3_REGION=REGION)
    argv = [str(binary(lab)), "-endpoint", f"127.0.0.1:{lab.ports['minio']}", "-policy", POLICY]
    for bucket in buckets:
        argv += ["-bucket", bucket]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    lab.logs.mkdir(parents=True, exist_ok=True)
    with open(lab.logs / "minio-admin.log", "a") as fh:
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise LabError(f"creating the collection's MinIO user failed: "
                       f"{(proc.stderr.strip().splitlines() or ['(no output)'])[-1]}")
