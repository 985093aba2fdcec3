# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults in the middle of site.yml on the lab: what the user sees, what is left, and that a re-run
converges. (Interrupting site.yml and two runs at once: tests/integration/test_run_lock.py.)"""

import os
import signal
import subprocess
from pathlib import Path

import pytest


from isvc_lab import api_client, core, custom, lab  # noqa: F401 pylint: disable=unused-import
from test_bad_input import INVENTORY, PLAYBOOK, REPO, failure_messages

LAB_STATE = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")


def site(*args, timeout=900):
    proc = subprocess.run([PLAYBOOK, "site.yml"] + INVENTORY + list(args), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def lab_up():
    subprocess.run(["make", "--no-print-directory", "lab-up"], cwd=REPO, capture_output=True, check=True, timeout=600)


@pytest.fixture(scope="module", autouse=True)
def torn_down_after():
    """These tests deploy the triple_play profile into private-ai, which other suites share (the AAP
    workflow deploys another profile there, with quota for its own models only): teardown.yml after."""
    yield
    teardown()


def teardown():
    subprocess.run([PLAYBOOK, "playbooks/teardown.yml"] + INVENTORY, cwd=REPO, capture_output=True, text=True,
                   timeout=900, check=False)


def test_model_registry_down_during_registry_seed_then_back(lab):
    """The registry's process dies before registry_seed: the run stops there with one sentence naming
    the registry and its URL, releases the run lock, and once the registry is back a re-run converges."""
    rc, out = site()
    assert rc == 0, out[-3000:]
    pid = int((LAB_STATE / "pids" / "model-registry.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    try:
        rc, out = site("--tags", "registry_seed")
        assert rc != 0
        msgs = failure_messages(out)
        assert len(msgs) == 1, msgs
        print("\nwhat the user saw:", msgs[0])
        assert "Model Registry" in msgs[0] or "registry" in msgs[0].lower(), msgs
        # the URL the lab inventory gives the collection: the registry's kube-rbac-proxy, which
        # answers 502 while the registry behind it is down
        configured = (lab.get("registry_proxy") or {}).get("url") or lab["registry_url"]
        assert configured in msgs[0], msgs
        assert "not answering" in msgs[0] or "Cannot reach" in msgs[0], msgs
        assert "Traceback" not in msgs[0]
        # always: the lock was released, so the next run need not wait for it
        assert "TASK [Release the run lock]" in out and "Another run holds the lock" not in out
    finally:
        lab_up()
    rc, out = site()
    assert rc == 0 and " changed=0 " in out, out[-3000:]
