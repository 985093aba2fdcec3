"""The ClusterQueue the kueue_quota role applies (module_utils/k8s/kueue.py), from the queues an
OpenShift AI 3.0 cluster has, checked against Kueue's resource-group rules (the lab's real Kueue
webhook enforces the same: lab/tests/test_kueue.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.quantity import (  # noqa: E402
    format_quantity,
    quantity,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.kueue import (  # noqa: E402
    desired_cluster_queue,
    shortfall,
    validate_resource_groups,
)

PLAN = {"nvidia-gpu-flavor": {"nvidia.com/gpu": 9, "cpu": 18, "memory": "144Gi"}}


def rhoai_default(gpu=None, cpu="12", memory="46Gi"):
    """ClusterQueue `default` as opendatahub-operator's kueue_support.go creates it at install."""
    groups = [{"coveredResources": ["cpu", "memory"], "flavors": [{"name": "default-flavor", "resources": [
        {"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": memory}]}]}]
    if gpu is not None:
        groups.append({"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": "nvidia-gpu-flavor",
                       "resources": [{"name": "nvidia.com/gpu", "nominalQuota": gpu}]}]})
    return {"metadata": {"name": "default"}, "spec": {
        "namespaceSelector": {"matchLabels": {"kueue.openshift.io/managed": "true"}}, "resourceGroups": groups}}


def test_gpu_quota_added_to_a_queue_installed_before_the_gpu_nodes():
    cq = desired_cluster_queue("default", rhoai_default(), PLAN)
    groups = cq["spec"]["resourceGroups"]
    # GPU pods are charged to the GPU flavor (cpu and memory included); the workers' quota stays
    # for the queue's CPU workloads.
    assert groups == [
        {"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [
            {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": "12"},
                                                     {"name": "memory", "nominalQuota": "46Gi"},
                                                     {"name": "nvidia.com/gpu", "nominalQuota": 0}]},
            {"name": "nvidia-gpu-flavor", "resources": [{"name": "cpu", "nominalQuota": 18},
                                                        {"name": "memory", "nominalQuota": "144Gi"},
                                                        {"name": "nvidia.com/gpu", "nominalQuota": 9}]}]}]
    assert validate_resource_groups(cq["spec"]) == []
    # RHOAI's namespace selector is kept
    assert cq["spec"]["namespaceSelector"] == {"matchLabels": {"kueue.openshift.io/managed": "true"}}
    assert shortfall(cq["spec"], PLAN) == []
    # idempotent: the computed queue computes to itself
    assert desired_cluster_queue("default", cq, PLAN) == cq


def test_what_the_previous_layout_did_is_refused():
    """The role used to append a group covering cpu, memory and the GPU: Kueue refuses it."""
    spec = rhoai_default()["spec"]
    spec["resourceGroups"].append({"coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [
        {"name": "nvidia-gpu-flavor", "resources": [{"name": "cpu", "nominalQuota": 18},
                                                    {"name": "memory", "nominalQuota": "144Gi"},
                                                    {"name": "nvidia.com/gpu", "nominalQuota": 9}]}]})
    assert validate_resource_groups(spec) == [
        'spec.resourceGroups[1].coveredResources[0]: Duplicate value: "cpu"',
        'spec.resourceGroups[1].coveredResources[1]: Duplicate value: "memory"']


def test_existing_gpu_group_is_raised_never_lowered():
    cq = desired_cluster_queue("default", rhoai_default(gpu=4, cpu="64", memory="512Gi"), PLAN)
    cpu_mem, gpu = cq["spec"]["resourceGroups"]
    assert cpu_mem["flavors"][0]["resources"] == [{"name": "cpu", "nominalQuota": "64"},
                                                  {"name": "memory", "nominalQuota": "512Gi"}]
    assert gpu["flavors"][0]["resources"] == [{"name": "nvidia.com/gpu", "nominalQuota": 9}]
    big = desired_cluster_queue("default", rhoai_default(gpu=16), PLAN)
    assert big["spec"]["resourceGroups"][1]["flavors"][0]["resources"][0]["nominalQuota"] == 16


def test_new_queue_gets_one_group_with_the_gpu_flavor_after_the_default():
    cq = desired_cluster_queue("default", None, PLAN, default_flavor_quota={"cpu": "16", "memory": "64Gi"})
    (group,) = cq["spec"]["resourceGroups"]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    assert [f["name"] for f in group["flavors"]] == ["default-flavor", "nvidia-gpu-flavor"]
    assert group["flavors"][0]["resources"] == [{"name": "cpu", "nominalQuota": "16"},
                                                {"name": "memory", "nominalQuota": "64Gi"},
                                                {"name": "nvidia.com/gpu", "nominalQuota": 0}]
    assert cq["spec"]["namespaceSelector"] == {}
    assert validate_resource_groups(cq["spec"]) == []


def test_a_single_group_covering_everything_keeps_its_layout():
    one = {"spec": {"namespaceSelector": {}, "resourceGroups": [{
        "coveredResources": ["cpu", "memory", "nvidia.com/gpu"], "flavors": [
            {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": 16},
                                                     {"name": "memory", "nominalQuota": "64Gi"},
                                                     {"name": "nvidia.com/gpu", "nominalQuota": 0}]}]}]}}
    cq = desired_cluster_queue("default", one, PLAN)
    (group,) = cq["spec"]["resourceGroups"]
    assert [f["name"] for f in group["flavors"]] == ["default-flavor", "nvidia-gpu-flavor"]
    assert group["flavors"][1]["resources"] == [{"name": "cpu", "nominalQuota": 18},
                                                {"name": "memory", "nominalQuota": "144Gi"},
                                                {"name": "nvidia.com/gpu", "nominalQuota": 9}]
    assert validate_resource_groups(cq["spec"]) == []


def test_kueue_rules():
    spec = {"resourceGroups": [
        {"coveredResources": ["cpu", "memory"], "flavors": [
            {"name": "a", "resources": [{"name": "memory", "nominalQuota": 1}, {"name": "cpu", "nominalQuota": 1}]}]},
        {"coveredResources": ["nvidia.com/gpu"], "flavors": [
            {"name": "a", "resources": [{"name": "nvidia.com/gpu", "nominalQuota": "-1"}]}]}]}
    errors = validate_resource_groups(spec)
    assert any("must have the same resources as the coveredResources" in e for e in errors)
    assert 'spec.resourceGroups[1].flavors[0].name: Duplicate value: "a"' in errors
    assert any("nominalQuota: Invalid value" in e for e in errors)


def test_shortfall_of_a_queue_that_is_not_ours():
    short = shortfall(rhoai_default(gpu=4)["spec"], PLAN)
    assert short == [
        {"flavor": "default-flavor", "resource": "cpu", "need": "18", "have": "12"},
        {"flavor": "default-flavor", "resource": "memory", "need": "144Gi", "have": "46Gi"},
        {"flavor": "nvidia-gpu-flavor", "resource": "nvidia.com/gpu", "need": "9", "have": "4"}]
    assert shortfall(rhoai_default()["spec"], PLAN)[-1]["have"] == "none"


def test_quantities():
    assert quantity("144Gi") == 144 * 2 ** 30 and quantity("500m") * 2 == 1
    assert format_quantity(quantity("60Gi") + quantity("84Gi"), like="60Gi") == "144Gi"
    assert format_quantity(quantity("1.5"), like="1") == "1.5"
    assert quantity(True) is None and quantity("abc") is None
