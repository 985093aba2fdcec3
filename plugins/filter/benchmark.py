# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/benchmark.yml (logic in module_utils/benchmark/report.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: benchmark_targets
short_description: The models playbooks/benchmark.yml benchmarks, with their endpoint URLs
version_added: 0.1.0
description:
  - Given the plan (O(_input), C(llm_serving_plan)) and the inference_service_wait result, returns
    C([{name, url}]) in plan order, only the models in O(names) when given.
  - "Companion filters in this file: C(private_ai.llm_serving.benchmark_problems) (the plan and
    C(llm_serving_benchmark_models) -> one sentence per problem, empty when fine) and
    C(private_ai.llm_serving.benchmark_selection) (the plan, the names of the InferenceServices that
    exist and C(llm_serving_benchmark_models) -> C({names, not_deployed, problems}): the deployed
    models of the plan, or the subset, which must all be deployed)."
options:
  _input:
    description: The plan, C(llm_serving_plan).
    type: dict
    required: true
  wait:
    description: The registered result of inference_service_wait.
    type: dict
    required: true
  names:
    description: A subset of model names; all models when empty.
    type: list
    elements: str
  endpoint:
    description: C(external) (status.url) or C(internal) (status.address.url).
    type: str
    default: external
"""

EXAMPLES = r"""
- name: The endpoints to benchmark
  ansible.builtin.debug:
    msg: "{{ llm_serving_plan | private_ai.llm_serving.benchmark_targets(wait_result, ['mistral-24b-fp8']) }}"
"""

RETURN = r"""
_value:
  description: A list of C({name, url}).
  type: list
  elements: dict
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark import report


def benchmark_targets(plan, wait, names=None, endpoint="external"):
    return report.targets(plan, wait, names or None, endpoint)


def benchmark_problems(plan, names=None):
    return report.target_problems(plan, names)


def benchmark_selection(plan, existing, names=None):
    return report.selection(plan, existing, names or None)


class FilterModule(object):
    def filters(self):
        return {"benchmark_targets": benchmark_targets, "benchmark_problems": benchmark_problems,
                "benchmark_selection": benchmark_selection}
