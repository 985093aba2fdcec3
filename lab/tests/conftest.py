"""Shared fixtures for the lab's own tests: the running lab's facts and admin API clients.

Tests that need the lab skip (with the reason) when `.lab/lab.json` or `.lab/labsim.ready` is
absent; start the lab with `make lab-up`. LAB_STATE_DIR points at another state directory. The lab
client fixtures (lab, api_client, core, apps, custom, s3), wait_for and scratch_bucket live in
lab/testing/labclient.py, the serving fixtures (GPU node pool, namespace with data connection and
runtime, Kueue queues, InferenceService manifests) in lab/testing/serving.py; tests/integration
uses both.
"""

import json
import sys
import uuid
from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parents[1]
if str(LAB_DIR) not in sys.path:  # labsim is imported by the unit tests; testing by this file
    sys.path.insert(0, str(LAB_DIR))

from testing.labclient import STATE_DIR, scratch_bucket, wait_for  # noqa: E402
from testing.labclient import (  # noqa: E402,F401 pylint: disable=unused-import
    api_client, apps, core, custom, lab, s3)


@pytest.fixture
def namespace(core):
    """A fresh namespace for one test, deleted afterwards."""
    name = "labtest-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name, "labels": {"lab.private-ai.io/test": "true"}}})
    yield name
    core.delete_namespace(name)


from testing.serving import (  # noqa: E402,F401 pylint: disable=unused-import
    gpu_pool, serving_ns, weights)


@pytest.fixture(scope="session")
def current_labsim(lab):
    """Skip unless the running labsim runs the labsim code of this checkout."""
    from labsim.__main__ import code_digest
    try:
        ready = json.loads((STATE_DIR / "labsim.ready").read_text())
    except (OSError, ValueError):
        ready = None
    running = ready.get("code_digest") if isinstance(ready, dict) else None
    if running != code_digest():
        pytest.skip("the running labsim predates lab/labsim/ of this checkout: restart it "
                    "(make lab-up)")
