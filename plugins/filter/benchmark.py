# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/benchmark.yml (logic in module_utils/benchmark/report.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
