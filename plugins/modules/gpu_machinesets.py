#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gpu_machinesets
short_description: Scale (or clone) the OpenShift MachineSets that give the GPU nodes a serving plan needs
version_added: 0.1.0
description:
  - Reads the cluster's infrastructure name (C(Infrastructure) C(cluster), C(config.openshift.io/v1)) and
    the MachineSets of O(namespace), in one module run.
  - For each instance type of C(nodes) of O(plan), picks the MachineSet whose C(providerSpec.value.instanceType)
    matches (names starting with the infrastructure name first), or clones a worker MachineSet as
    C(<infra>-gpu-<type>-<zone>) with the GPU taint and node labels, applied server-side with strict
    field validation.
  - Scales a MachineSet with a JSON merge patch of C(spec.replicas) only, never down unless
    O(allow_scale_down). A server-side apply of C(spec.replicas) alone by the manager that created a
    clone would drop the selector and template it owns; C(kubernetes.core.k8s_scale) sends a strategic
    merge patch to the scale subresource, which the apiserver refuses for custom resources (HTTP 415).
  - Then waits, within a wall-clock deadline, for Ready, schedulable GPU nodes of each instance type with
    allocatable C(nvidia.com/gpu) and the planned C(nvidia.com/gpu.product) label; on timeout it fails
    naming each MachineSet short of nodes, its Machines' phases and their launch errors.
  - Check mode sends the clone and the patches as server dry runs and does not wait.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  plan:
    description:
      - The serving plan (C(llm_serving_plan)); C(nodes) maps instance type to node count, C(models) gives
        each entry's C(instance_type) and C(gpu_product).
    type: dict
    required: true
  namespace:
    description: Namespace of the MachineSets.
    type: str
    default: openshift-machine-api
  clone:
    description: Clone a worker MachineSet when no MachineSet provides a planned instance type.
    type: bool
    default: true
  allow_scale_down:
    description: Lower C(spec.replicas) when the plan needs fewer nodes than the MachineSet has.
    type: bool
    default: false
  wait:
    description: Wait for the planned GPU nodes to be Ready (never in check mode).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the GPU nodes.
    type: int
    default: 1200
  wait_delay:
    description: Seconds between two looks at the nodes while waiting.
    type: int
    default: 5
  taint:
    description: Taint of the nodes of a cloned MachineSet (replaces a taint with the same key).
    type: dict
    default: {key: nvidia.com/gpu, value: 'true', effect: NoSchedule}
  node_labels:
    description: Node labels added to a cloned MachineSet.
    type: dict
    default: {}
  field_manager:
    description: Server-side apply field manager of the clones and the patches.
    type: str
    default: private-ai-llm-serving
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
notes:
  - The computations are in C(module_utils/k8s/machines.py), unit-tested; the Machine API objects follow
    openshift/api C(machine/v1beta1/types_machineset.go) and C(types_awsprovider.go).
"""

EXAMPLES = r"""
- name: Scale the GPU MachineSets to the plan and wait for the nodes
  private_ai.llm_serving.gpu_machinesets:
    plan: "{{ llm_serving_plan }}"
    node_labels:
      node-role.kubernetes.io/gpu: ""
"""

RETURN = r"""
machinesets:
  description: Per planned instance type, the MachineSet, its replicas before and after, and the GPU product.
  returned: always
  type: dict
  sample: {"g6.12xlarge": {"name": "lab-x7k2p-gpu-g6-12xlarge-us-east-1a", "clone": false, "current": 2,
           "target": 2, "want": 2, "product": "NVIDIA-L4"}}
kept:
  description: MachineSets left with more replicas than the plan needs (scale-down not allowed), one sentence each.
  returned: always
  type: list
  elements: str
nodes:
  description: Per instance type, the Ready GPU nodes found, the number wanted and whether that is enough.
  returned: when the module waited
  type: dict
  sample: {"g6.12xlarge": {"ready": 2, "want": 2, "ok": true}}
waited:
  description: Seconds spent waiting for the nodes.
  returned: always
  type: float
"""

import time

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.apply import ApplyError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import run_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import machines

MACHINE_API = "machine.openshift.io/v1beta1"
NO_INFRA = ("Infrastructure 'cluster' (config.openshift.io/v1) has no status.infrastructureName, so the GPU "
            "MachineSets cannot be found: is this an OpenShift cluster with the Machine API?")


OPTIONS = dict(
    plan=dict(type="dict", required=True),
    namespace=dict(type="str", default="openshift-machine-api"),
    clone=dict(type="bool", default=True),
    allow_scale_down=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=1200),
    wait_delay=dict(type="int", default=5),
    taint=dict(type="dict", default={"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}),
    node_labels=dict(type="dict", default={}),
    field_manager=dict(type="str", default="private-ai-llm-serving"),
)


def scale(cluster, params, ms_plan):
    """Clone the missing MachineSets, patch the replicas of the others; returns (changed, diffs)."""
    changed, before, after = False, [], []
    missing = sorted(itype for itype, ms in ms_plan.items() if ms["clone"])
    if missing:
        source = machines.clone_source(params["_machinesets"], params["_infra"])
        if not params["clone"] or source is None:
            raise ApplyError(
                "No MachineSet in %s has providerSpec.value.instanceType %s and %s." % (
                    params["namespace"], ", ".join(missing),
                    "there is no worker MachineSet to clone: create one for each" if params["clone"] else
                    "llm_serving_gpu_machinesets_clone is false: create one for each or set it to true"))
        for itype in missing:
            ms = ms_plan[itype]
            result = cluster.apply(machines.machineset_clone(
                source, params["_infra"], itype, ms["target"], params["namespace"], params["taint"],
                params["node_labels"]))
            ms["name"] = result["after"]["metadata"]["name"]
            changed = changed or result["changed"]
            before.append("%s: absent" % ms["name"])
            after.append("%s: %d replicas (cloned from %s)" % (ms["name"], ms["target"], source["metadata"]["name"]))
    for itype, ms in sorted(ms_plan.items()):
        if ms["clone"] or ms["target"] == ms["current"]:
            continue
        cluster.merge_patch(MACHINE_API, "MachineSet", ms["name"], params["namespace"],
                            {"spec": {"replicas": ms["target"]}})
        changed = True
        before.append("%s: %d replicas" % (ms["name"], ms["current"]))
        after.append("%s: %d replicas" % (ms["name"], ms["target"]))
    return changed, before, after


def wait_for_nodes(cluster, params, ms_plan, clock=time.monotonic, sleep=time.sleep):
    """Look at the GPU nodes every wait_delay seconds until each instance type has enough; returns
    (ready, waited) or raises ApplyError with wait_failure's sentence."""
    start = clock()
    deadline = start + params["wait_timeout"]
    error = ""
    while True:
        try:
            nodes = cluster.list("v1", "Node", label_selector="nvidia.com/gpu.product")
            ready, error = machines.nodes_ready(nodes, ms_plan), ""
        except Exception as exc:  # any API failure while polling: retried until the deadline
            ready, error = machines.nodes_ready([], ms_plan), to_native(exc)[:300]
        if all(item["ok"] for item in ready.values()):
            return ready, round(clock() - start, 1)
        if clock() >= deadline:
            try:
                found = cluster.list(MACHINE_API, "Machine", namespace=params["namespace"])
            except Exception:  # the failure message is still useful without the Machines
                found = []
            raise ApplyError(machines.wait_failure(ms_plan, ready, found, params["wait_timeout"], error))
        sleep(max(0.0, min(params["wait_delay"], deadline - clock())))


def run(module, cluster):
    params = dict(module.params)
    infra = cluster.get("config.openshift.io/v1", "Infrastructure", "cluster")
    params["_infra"] = ((infra or {}).get("status") or {}).get("infrastructureName") or ""
    if not params["_infra"]:
        raise ApplyError(NO_INFRA)
    params["_machinesets"] = cluster.list(MACHINE_API, "MachineSet", namespace=params["namespace"])
    ms_plan = machines.machinesets_plan(params["_machinesets"], params["plan"], params["_infra"],
                                        params["allow_scale_down"])
    changed, before, after = scale(cluster, params, ms_plan)
    kept = ["MachineSet %s keeps %d replicas although the plan needs %d (set "
            "llm_serving_gpu_machinesets_allow_scale_down to lower it)." % (ms["name"], ms["current"], ms["want"])
            for ms in ms_plan.values() if not ms["clone"] and ms["current"] > ms["target"]]
    out = dict(changed=changed, machinesets=ms_plan, kept=kept, waited=0.0)
    if changed and module._diff:
        out["diff"] = dict(before="\n".join(before) + "\n", after="\n".join(after) + "\n")
    if params["wait"] and not module.check_mode and ms_plan:
        out["nodes"], out["waited"] = wait_for_nodes(cluster, params, ms_plan)
    return out


def main():
    run_module(OPTIONS, run)


if __name__ == "__main__":
    main()
