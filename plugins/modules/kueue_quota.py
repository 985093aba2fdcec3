#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kueue_quota
short_description: Kueue ResourceFlavors, ClusterQueue quota and LocalQueue for a serving plan, in one run
version_added: 0.1.0
description:
  - Reads the ClusterQueue C(settings.cluster_queue) of O(plan), computes the one the plan needs from it (quota
    raised to the plan's, never lowered; a GPU flavor the queue lacks gets a resource group covering only
    what no other group covers) and checks it against Kueue's resource group rules before anything is
    applied (Kueue's webhook, C(pkg/webhooks/clusterqueue_webhook.go), would refuse it).
  - Then applies, server-side with strict field validation, the two ResourceFlavors, the ClusterQueue and the
    LocalQueue C(settings.local_queue) in C(settings.namespace).
  - When the ClusterQueue is not ours (O(manage_cluster_queue=false)), only checks that it exists and that its
    quota covers the plan, failing with the shortfall, and applies the LocalQueue.
  - Check mode sends the applies as server dry runs.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  plan:
    description:
      - The serving plan (C(llm_serving_plan)); C(quota) maps flavor to resource quantities, C(settings) gives
        C(namespace), C(cluster_queue) and C(local_queue).
    type: dict
    required: true
  manage_cluster_queue:
    description: Create the ClusterQueue or raise its quota; when false, only check it.
    type: bool
    default: true
  manage_flavors:
    description: Apply the two ResourceFlavors (only when O(manage_cluster_queue) is true).
    type: bool
    default: true
  default_flavor:
    description: The CPU flavor (OpenShift AI names it C(default-flavor)).
    type: str
    default: default-flavor
  default_flavor_quota:
    description: Quota of the default flavor in a ClusterQueue this module creates.
    type: dict
    default: {cpu: '16', memory: 64Gi}
  gpu_flavor:
    description: The GPU flavor (OpenShift AI names it C(nvidia-gpu-flavor)).
    type: str
    default: nvidia-gpu-flavor
  gpu_node_labels:
    description: C(spec.nodeLabels) of the GPU flavor (the nodeSelector Kueue gives admitted pods).
    type: dict
    default: {nvidia.com/gpu.present: 'true'}
  gpu_tolerations:
    description: C(spec.tolerations) of the GPU flavor.
    type: list
    elements: dict
    default: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  field_manager:
    description: Server-side apply field manager.
    type: str
    default: private-ai-llm-serving
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
  - PyYAML
notes:
  - The computations are in C(module_utils/k8s/kueue.py), unit-tested.
"""

EXAMPLES = r"""
- name: Ensure the Kueue quota of the plan
  private_ai.llm_serving.kueue_quota:
    plan: "{{ llm_serving_plan }}"
"""

RETURN = r"""
objects:
  description: Per object applied, its reference and whether it changed.
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "ClusterQueue default", "changed": false, "created": false}]
result:
  description: The objects as the API server returned them (managedFields removed).
  returned: always
  type: list
  elements: dict
"""

import json

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import kueue
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.apply import ApplyError, apply_all, report
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import run_module

KUEUE = "kueue.x-k8s.io/v1beta1"


OPTIONS = dict(
    plan=dict(type="dict", required=True),
    manage_cluster_queue=dict(type="bool", default=True),
    manage_flavors=dict(type="bool", default=True),
    default_flavor=dict(type="str", default="default-flavor"),
    default_flavor_quota=dict(type="dict", default={"cpu": "16", "memory": "64Gi"}),
    gpu_flavor=dict(type="str", default="nvidia-gpu-flavor"),
    gpu_node_labels=dict(type="dict", default={"nvidia.com/gpu.present": "true"}),
    gpu_tolerations=dict(type="list", elements="dict",
                         default=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
    field_manager=dict(type="str", default="private-ai-llm-serving"),
)


def desired_objects(params, live):
    """The objects to apply, in order (flavors, ClusterQueue, LocalQueue), after the checks."""
    settings, quota = params["plan"]["settings"], params["plan"].get("quota") or {}
    name = settings["cluster_queue"]
    objects = []
    if not params["manage_cluster_queue"]:
        if live is None:
            raise ApplyError("ClusterQueue %s does not exist and llm_serving_kueue_manage_cluster_queue is false: "
                             "create it with %s or let this role manage it." % (name, json.dumps(quota, sort_keys=True)))
        short = kueue.shortfall(live.get("spec"), quota)
        if short:
            raise ApplyError(
                "ClusterQueue %s has too little quota for the plan and is not ours to change "
                "(llm_serving_kueue_manage_cluster_queue is false): %s." % (name, "; ".join(
                    "need %(need)s %(resource)s, have %(have)s, flavor %(flavor)s" % s for s in short)))
    else:
        desired = kueue.desired_cluster_queue(name, live, quota, params["default_flavor"],
                                              params["default_flavor_quota"])
        errors = kueue.validate_resource_groups(desired.get("spec"))
        if errors:
            raise ApplyError(
                "The ClusterQueue %s this role would apply breaks Kueue's resource group rules (its webhook would "
                "refuse it): %s. Its live resource groups are %s; fix them by hand or set "
                "llm_serving_kueue_manage_cluster_queue to false." % (
                    name, "; ".join(errors), json.dumps(((live or {}).get("spec") or {}).get("resourceGroups") or [])))
        if params["manage_flavors"]:
            objects += [
                {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": {"name": params["default_flavor"]}},
                {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": {"name": params["gpu_flavor"]},
                 "spec": {"nodeLabels": params["gpu_node_labels"], "tolerations": params["gpu_tolerations"]}}]
        objects.append(desired)
    objects.append({"apiVersion": KUEUE, "kind": "LocalQueue",
                    "metadata": {"name": settings["local_queue"], "namespace": settings["namespace"]},
                    "spec": {"clusterQueue": name}})
    return objects


def run(module, cluster):
    live = cluster.get(KUEUE, "ClusterQueue", module.params["plan"]["settings"]["cluster_queue"])
    return report(apply_all(cluster.applier, desired_objects(module.params, live)), diff=module._diff)


def main():
    run_module(OPTIONS, run)


if __name__ == "__main__":
    main()
