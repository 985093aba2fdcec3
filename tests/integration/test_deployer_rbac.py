# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployer_rbac role (playbooks/deployer_rbac.yml) on the lab's real apiserver, run as a
cluster administrator: it leaves a namespace site.yml already made as site.yml made it (its
OpenShift AI labels stay), and a second run changes nothing."""

import os
import subprocess
import sys
import uuid

import pytest
import yaml

from isvc_lab import api_client, core, lab  # noqa: F401 pylint: disable=unused-import
from test_bad_input import PLAYBOOK, REPO

SA_NAMESPACE = "llm-serving-system"


def site_namespace_task():
    """site.yml's own task that ensures the namespace (the labels, the field manager)."""
    site = yaml.safe_load((REPO / "playbooks" / "site.yml").read_text())
    tasks = [t for t in site[0]["tasks"] if t["name"].startswith("Ensure the namespace")]
    assert len(tasks) == 1
    return tasks[0]


def playbook(tmp_path, lab, plays, *args):
    path = tmp_path / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([PLAYBOOK, "-i", "localhost,", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "-e", "llm_serving_kubeconfig=%s" % lab["kubeconfig"], str(path)] + list(args),
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout


@pytest.fixture()
def scratch(lab, core):
    """A namespace and a ServiceAccount name of this test's own; removed afterwards with what the
    role made for them."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException
    suffix = uuid.uuid4().hex[:6]
    names = {"namespace": "it-rbac-%s" % suffix, "service_account": "it-rbac-%s" % suffix}
    yield names
    rbac = client.RbacAuthorizationV1Api(core.api_client)
    for delete in (lambda: core.delete_namespace(names["namespace"]),
                   lambda: core.delete_namespaced_secret(names["service_account"] + "-token", SA_NAMESPACE),
                   lambda: core.delete_namespaced_service_account(names["service_account"], SA_NAMESPACE),
                   lambda: rbac.delete_cluster_role_binding(names["service_account"])):
        try:
            delete()
        except ApiException as exc:
            assert exc.status == 404


def test_deployer_rbac_keeps_the_labels_site_yml_gave_the_namespace_and_is_idempotent(lab, core, scratch, tmp_path):
    ns = scratch["namespace"]
    task = site_namespace_task()
    site_play = {"hosts": "localhost", "connection": "local", "gather_facts": False,
                 "vars": {"llm_serving_plan": {"settings": {"namespace": ns}}},
                 "module_defaults": {"group/private_ai.llm_serving.k8s": {"kubeconfig": "{{ llm_serving_kubeconfig }}"}},
                 "tasks": [{k: v for k, v in task.items() if k != "tags"}]}
    playbook(tmp_path, lab, [site_play])
    labels = task["private_ai.llm_serving.k8s_apply"]["definition"]["metadata"]["labels"]
    assert labels == {"opendatahub.io/dashboard": "true", "kueue.openshift.io/managed": "true"}
    assert core.read_namespace(ns).metadata.labels.items() >= labels.items()

    rbac_play = {"import_playbook": str(REPO / "playbooks" / "deployer_rbac.yml"),
                 "vars": {"llm_serving_deployer_rbac_service_account": scratch["service_account"],
                          "llm_serving_deployer_rbac_namespaces": [ns]}}
    first = playbook(tmp_path, lab, [rbac_play])
    assert "changed=1" in first, first[-2000:]
    got = core.read_namespace(ns).metadata.labels
    assert got.items() >= labels.items(), "deployer_rbac removed site.yml's labels of %s: %s" % (ns, got)
    second = playbook(tmp_path, lab, [rbac_play])
    assert "changed=0" in second, second[-2000:]
    assert core.read_namespace(ns).metadata.labels.items() >= labels.items()
    # and site.yml's apply after it changes nothing either
    again = playbook(tmp_path, lab, [site_play])
    assert "changed=0" in again, again[-2000:]
