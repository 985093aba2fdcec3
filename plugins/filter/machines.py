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
        return {"machineset_report": machineset_report, "gpu_scale_down": gpu_scale_down}
