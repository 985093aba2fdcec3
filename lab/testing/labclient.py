"""The running lab, as the tests see it: its facts (.lab/lab.json), admin Kubernetes API clients,
a boto3 client of its MinIO, scratch buckets there, and wait_for.

One implementation for lab/tests (its conftest.py) and tests/integration (isvc_lab.py). The
fixtures are registered where they are imported: import the ones a test tree uses into its
conftest.py or test module, e.g. `from testing.labclient import lab, core  # noqa: F401`.

Tests that need the lab skip (with the reason) when `.lab/lab.json` or `.lab/labsim.ready` is
absent; start the lab with `make lab-up`. LAB_STATE_DIR points at another state directory.
"""

import contextlib
import json
import os
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")


def wait_for(fetch, predicate, timeout, what, interval=0.25):
    """Call fetch() until predicate(result) is true; fail naming what and the last result."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fetch()
        except Exception as exc:  # noqa: BLE001 - the object may not exist yet
            last = exc
        if not isinstance(last, Exception) and predicate(last):
            return last
        if time.monotonic() > deadline:
            pytest.fail("timed out after %ss waiting for %s; last seen: %s"
                        % (timeout, what, str(last)[:1500]))
        time.sleep(interval)


def lab_facts():
    """The running lab's facts (lab.json, with state_dir added); pytest.skip when it is not up."""
    path = STATE_DIR / "lab.json"
    if not path.exists():
        pytest.skip("the lab is not running (%s absent): run `make lab-up`" % path)
    facts = json.loads(path.read_text())
    if not (STATE_DIR / "labsim.ready").exists():
        pytest.skip("labsim is not ready (%s absent)" % (STATE_DIR / "labsim.ready"))
    facts.setdefault("state_dir", str(STATE_DIR))
    return facts


def kube_api_client(facts):
    """A kubernetes ApiClient with the lab's admin kubeconfig; close() it when done."""
    from kubernetes import client, config
    cfg = client.Configuration()
    config.load_kube_config(config_file=facts.get("kubeconfig") or str(STATE_DIR / "kubeconfig"),
                            client_configuration=cfg)
    return client.ApiClient(cfg)


def s3_client(facts):
    """A boto3 S3 client of the lab's MinIO (facts: lab.json as a whole)."""
    import boto3
    from botocore.config import Config
    s3 = facts["s3"]
    return boto3.client(
        "s3", endpoint_url=s3["endpoint"], region_name=s3.get("region") or "us-east-1",
        aws_access_key_id=s3["access_key"], aws_secret_access_key=s3["secret_key"],
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))


@contextlib.contextmanager
def scratch_bucket(s3, prefix, objects):
    """A new bucket `<prefix>-<random>` holding objects ({key: bytes}); emptied and deleted after."""
    bucket = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    s3.create_bucket(Bucket=bucket)
    try:
        for key, body in objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        yield bucket
    finally:
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def lab():
    """The running lab's facts (.lab/lab.json); skips when the lab is not up."""
    return lab_facts()


@pytest.fixture(scope="session")
def api_client(lab):
    api = kube_api_client(lab)
    yield api
    api.close()


@pytest.fixture(scope="session")
def core(api_client):
    from kubernetes import client
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def apps(api_client):
    from kubernetes import client
    return client.AppsV1Api(api_client)


@pytest.fixture(scope="session")
def custom(api_client):
    from kubernetes import client
    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="session")
def s3(lab):
    return s3_client(lab)
