"""Fixtures for the integration tests against the running lab (.lab/lab.json): its real KServe
and Kueue, and labsim for what has no upstream build. Import the fixtures into a test module.

The lab client (lab, api_client, core, custom, s3, wait_for and the plain functions behind them) is
lab/testing/labclient.py, the serving fixtures (GPU node pool, namespace with data connection and
vLLM runtime, Kueue queues, InferenceService manifests) lab/testing/serving.py, both shared with
lab/tests; this module puts lab/ on sys.path and re-exports them for the integration tests.
"""

import sys
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parents[2] / "lab"
if str(LAB_DIR) not in sys.path:
    sys.path.insert(0, str(LAB_DIR))

from testing.labclient import kube_api_client, lab_facts, s3_client, scratch_bucket, wait_for  # noqa: E402,F401 pylint: disable=unused-import
from testing.labclient import api_client, core, custom, lab, s3  # noqa: E402,F401 pylint: disable=unused-import
from testing.serving import KSERVE, KUEUE, create_isvc, isvc_manifest, kueue_queue  # noqa: E402,F401 pylint: disable=unused-import
from testing.serving import gpu_pool, serving_ns, weights  # noqa: E402,F401 pylint: disable=unused-import
