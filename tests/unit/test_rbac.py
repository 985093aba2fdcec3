"""The deployer's least-privilege table: the objects the deployer_rbac role (and the lab) apply
grant exactly what the preflight's SelfSubjectAccessReviews ask for."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import rbac  # noqa: E402


def _allows(rules, check):
    resource = check["resource"] + ("/" + check["subresource"] if check["subresource"] else "")
    return any(check["group"] in r["apiGroups"] and resource in r["resources"] and check["verb"] in r["verbs"]
               for r in rules)


def test_every_reviewed_permission_is_granted_by_the_manifests_and_nothing_else():
    objs = rbac.manifests("deployer", "ops", ["models-a", "models-b"])
    roles = {o["metadata"]["name"]: o["rules"] for o in objs if o["kind"] == "ClusterRole"}
    bindings = [o for o in objs if o["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["models-a", "models-b"]
    assert all(b["roleRef"]["name"] == rbac.NAMESPACED_ROLE for b in bindings)
    crb = [o for o in objs if o["kind"] == "ClusterRoleBinding"][0]
    assert crb["roleRef"]["name"] == rbac.CLUSTER_ROLE
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ops"}]
    checks = rbac.checks(["models-a", "models-b"])
    for check in checks:
        role = rbac.NAMESPACED_ROLE if check["namespace"] else rbac.CLUSTER_ROLE
        assert _allows(roles[role], check), rbac.describe(check)
    granted = sum(len(r["resources"]) * len(r["verbs"]) for r in roles[rbac.CLUSTER_ROLE])
    granted += 2 * sum(len(r["resources"]) * len(r["verbs"]) for r in roles[rbac.NAMESPACED_ROLE])
    assert granted == len(checks)  # no rule grants more than is reviewed
    assert objs[-1]["type"] == "kubernetes.io/service-account-token"


def test_a_missing_permission_is_named_with_what_needs_it_and_the_fix():
    check = [c for c in rbac.checks(["private-ai"]) if c["verb"] == "create" and c["resource"] == "inferenceservices"][0]
    assert rbac.describe(check) == "create inferenceservices.serving.kserve.io cluster-wide"
    secrets = [c for c in rbac.checks(["private-ai"]) if c["resource"] == "secrets" and c["verb"] == "patch"][0]
    assert rbac.describe(secrets) == "patch secrets in private-ai"
    msg = rbac.missing_message([check, secrets])
    assert msg.startswith("The cluster identity lacks 2 permission(s) the collection needs: create "
                          "inferenceservices.serving.kserve.io cluster-wide (vllm_runtime, inference_services, teardown); "
                          "patch secrets in private-ai (minio_models' data connection Secret; inference_services' token "
                          "ServiceAccount and Secret).")
    assert "deployer_rbac" in msg
