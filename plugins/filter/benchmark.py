# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/benchmark.yml (logic in module_utils/benchmark/report.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark import bench, report
from ansible_collections.private_ai.llm_serving.plugins.modules.llm_benchmark import argument_spec


def _omitted(value):
    """``default(omit)`` inside a dict: ansible-core 2.19's Omit object, 2.16's placeholder string."""
    return type(value).__name__ == "_OmitType" or (isinstance(value, str) and value.startswith("__omit_place_holder__"))


def benchmark_targets(plan, wait, names=None, endpoint="external"):
    return report.targets(plan, wait, names or None, endpoint)


def benchmark_problems(plan, names=None, load=None):
    return report.target_problems(plan, names) + load_problems(load or {})


def load_problems(load):
    """llm_benchmark's own checks (its argument spec, then bench.problems) of the load and SLO the
    playbook passes it, each sentence naming the llm_serving_benchmark_* variable it comes from:
    before the wait for the InferenceServices, not after it."""
    params = dict((k, v) for k, v in load.items() if not _omitted(v))
    if not params:
        return []
    checked = ArgumentSpecValidator(argument_spec()).validate(dict(params, url="http://model.invalid", model="m"))
    out = list(checked.error_messages)
    if not out:
        p = checked.validated_parameters
        for key in ("prompt_tokens", "output_tokens"):  # as llm_benchmark's main()
            if isinstance(p[key], str) and p[key].strip().isdigit():
                p[key] = int(p[key])
        out = bench.problems(p)
    names = "|".join(sorted(load, key=len, reverse=True))
    return [re.sub(r"(^|argument '|value of )(%s)\b" % names, lambda m: m.group(1) + "llm_serving_benchmark_" + m.group(2), msg)
            for msg in out]


def benchmark_selection(plan, existing, names=None):
    return report.selection(plan, existing, names or None)


class FilterModule(object):
    def filters(self):
        return {"benchmark_targets": benchmark_targets, "benchmark_problems": benchmark_problems,
                "benchmark_selection": benchmark_selection}
