# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over OpenShift Machine API objects (logic in module_utils/k8s/machines.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: machineset_report
short_description: Phase counts and launch errors of a MachineSet's Machines
version_added: 0.1.0
description:
  - Given the Machines (O(_input)) and a MachineSet name, returns C(phases) (for example
    C(Running=1, Provisioning=1)) and C(problems), one sentence per Machine that reports why it has no
    node - C(status.errorReason)/C(errorMessage) of a Failed Machine (an instance type EC2 refuses, a
    vCPU limit), or the C(MachineCreation) condition of a Machine still Provisioning (no capacity).
  - "Companion filters in this file for the gpu_machinesets role:
    C(private_ai.llm_serving.gpu_machinesets_plan) (MachineSets, plan, infrastructure name,
    allow_scale_down -> per planned instance type the MachineSet or a clone to create, current and
    target replicas, GPU product); C(private_ai.llm_serving.gpu_clone_source) (the worker
    MachineSet to clone); C(private_ai.llm_serving.gpu_machineset_clone) (source, infrastructure
    name, instance type, replicas, namespace, taint, node labels -> the GPU MachineSet);
    C(private_ai.llm_serving.gpu_nodes_ready) (nodes, that plan -> Ready GPU nodes per type);
    C(private_ai.llm_serving.gpu_wait_failure) (that plan, readiness, Machines, timeout, last
    error -> the failure sentence)."
  - Companion filter in this file, C(private_ai.llm_serving.gpu_scale_down) (MachineSets, Machines,
    Pods, instance types, catalog override, scale_down flag, and the InferenceServices being
    deleted as namespace to names, whose pods do not keep a node), used by the teardown playbook - for
    each MachineSet of the instance types, the Machines whose node runs no workload (to annotate
    C(machine.openshift.io/delete-machine) and remove by lowering C(spec.replicas)), the nodes kept
    with the pods that keep them and their cost per hour, and C(summary), one line saying what is
    left running, at what price, and the C(oc scale) commands to stop it.
options:
  _input:
    description: Machines (machine.openshift.io/v1beta1).
    type: list
    elements: dict
    required: true
  machineset:
    description: The MachineSet's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Explain a MachineSet
  ansible.builtin.debug:
    msg: "{{ machines | private_ai.llm_serving.machineset_report('cluster-x-gpu-g6-12xlarge-us-east-1a') }}"
"""

RETURN = r"""
_value:
  description: C(phases) (str) and C(problems) (list of str).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import machines as machine_api
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.catalog import (
    CatalogError, load_catalog)


def machineset_report(machines, machineset):
    phases, problems = machine_api.machineset_report(machines, machineset)
    return {"phases": phases, "problems": problems}


def gpu_machinesets_plan(machinesets, plan, infra, allow_scale_down=False):
    return machine_api.machinesets_plan(machinesets, plan or {}, infra, bool(allow_scale_down))


def gpu_clone_source(machinesets, infra):
    return machine_api.clone_source(machinesets, infra)


def gpu_machineset_clone(source, infra, itype, replicas, namespace, taint, node_labels=None):
    return machine_api.machineset_clone(source, infra, itype, replicas, namespace, taint, node_labels or {})


def gpu_nodes_ready(nodes, ms_plan):
    return machine_api.nodes_ready(nodes, ms_plan or {})


def gpu_wait_failure(ms_plan, ready, machines, timeout, error=""):
    return machine_api.wait_failure(ms_plan or {}, ready or {}, machines, timeout, error or "")


def gpu_scale_down(machinesets, machines, pods, instance_types, catalog=None, scale_down=True, releasing=None):
    try:
        prices = {name: entry.get("hourly_cost") for name, entry in load_catalog(catalog or {})["instance_types"].items()}
    except CatalogError as e:
        raise AnsibleFilterError(str(e))
    releasing = {ns: set(names or []) for ns, names in (releasing or {}).items()}
    entries = machine_api.gpu_scale_down(machinesets, machines, pods, set(instance_types or []), prices,
                                         bool(scale_down), releasing)
    return {"machinesets": entries, "summary": machine_api.gpu_scale_down_summary(entries, bool(scale_down))}


class FilterModule(object):
    def filters(self):
        return {"machineset_report": machineset_report, "gpu_scale_down": gpu_scale_down,
                "gpu_machinesets_plan": gpu_machinesets_plan, "gpu_clone_source": gpu_clone_source,
                "gpu_machineset_clone": gpu_machineset_clone, "gpu_nodes_ready": gpu_nodes_ready,
                "gpu_wait_failure": gpu_wait_failure}
