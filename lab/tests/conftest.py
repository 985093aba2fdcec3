"""Shared fixtures for the lab's own tests: the running lab's facts and admin API clients.

Tests that need the lab skip (with the reason) when `.lab/lab.json` is absent; start the lab with
`make lab-up`. LAB_STATE_DIR points at another state directory.
"""

import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = REPO / "lab"
STATE_DIR = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")
if str(LAB_DIR) not in sys.path:  # labsim is imported by the unit tests
    sys.path.insert(0, str(LAB_DIR))


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


@pytest.fixture(scope="session")
def lab():
    """The running lab's facts (.lab/lab.json); skips when the lab is not up."""
    path = STATE_DIR / "lab.json"
    if not path.exists():
        pytest.skip("the lab is not running (%s absent): run `make lab-up`" % path)
    facts = json.loads(path.read_text())
    if not (STATE_DIR / "labsim.ready").exists():
        pytest.skip("labsim is not ready (%s absent)" % (STATE_DIR / "labsim.ready"))
    facts.setdefault("state_dir", str(STATE_DIR))
    return facts


@pytest.fixture(scope="session")
def api_client(lab):
    from kubernetes import client, config
    cfg = client.Configuration()
    config.load_kube_config(config_file=lab.get("kubeconfig") or str(STATE_DIR / "kubeconfig"),
                            client_configuration=cfg)
    api = client.ApiClient(cfg)
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


@pytest.fixture
def namespace(core):
    """A fresh namespace for one test, deleted afterwards."""
    name = "labtest-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name, "labels": {"lab.private-ai.io/test": "true"}}})
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def s3(lab):
    import boto3
    from botocore.config import Config
    facts = lab["s3"]
    return boto3.client(
        "s3", endpoint_url=facts["endpoint"], region_name=facts.get("region") or "us-east-1",
        aws_access_key_id=facts["access_key"], aws_secret_access_key=facts["secret_key"],
        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
