# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over OpenShift Machine API objects (logic in module_utils/k8s/machines.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
