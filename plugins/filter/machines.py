# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over OpenShift Machine API objects (logic in module_utils/machine_api.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: machineset_report
short_description: Phase counts and launch errors of a MachineSet's Machines
version_added: 0.2.0
description:
  - Given the Machines (O(_input)) and a MachineSet name, returns C(phases) (for example
    C(Running=1, Provisioning=1)) and C(problems), one sentence per Machine that reports why it has no
    node - C(status.errorReason)/C(errorMessage) of a Failed Machine (an instance type EC2 refuses, a
    vCPU limit), or the C(MachineCreation) condition of a Machine still Provisioning (no capacity).
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

from ansible_collections.private_ai.llm_serving.plugins.module_utils.machine_api import machineset_report as _report


def machineset_report(machines, machineset):
    phases, problems = _report(machines, machineset)
    return {"phases": phases, "problems": problems}


class FilterModule(object):
    def filters(self):
        return {"machineset_report": machineset_report}
