#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: llm_benchmark_report
short_description: Join llm_benchmark results with the serving plan's cost and write the report
version_added: 0.1.0
description:
  - "Joins each model's M(private_ai.llm_serving.llm_benchmark) result with its entry in the plan
    (C(llm_serving_plan)): GPUs, precision, vLLM arguments and $/hour; quotes the cost per million
    output tokens at the model's best level (the highest output-token throughput meeting the SLO);
    and, for every base model benchmarked both in FP8 and in BF16, a comparison of latency,
    throughput per GPU and cost per million tokens."
  - Writes C(report.json), C(report.md) and C(report.html) to O(output_dir). The HTML is one
    self-contained file (plotly.js from the C(plotly) Python package inlined, the data embedded);
    it draws its charts with no network at view time.
  - In check mode the report is computed and returned but nothing is written.
author:
  - Private AI platform team (@private-ai)
requirements:
  - plotly (Python package, on the host running the module) for the HTML report
options:
  plan:
    description: The serving plan, C(llm_serving_plan) (its C(models) are read).
    type: dict
    required: true
  results:
    description:
      - M(private_ai.llm_serving.llm_benchmark) results, in benchmark order. An entry is either one
        model's result (its C(name), else its C(model), names the plan entry; the C(results) of a
        run with C(targets), or the registered results of a loop) or a whole run with C(targets)
        (its C(results) are taken, and its C(sequence) shown in the report).
    type: list
    elements: dict
    required: true
  output_dir:
    description: Directory the report files are written to (created when missing).
    type: path
    required: true
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [html, json, md]
    default: [html, json, md]
  environment:
    description: Facts shown in the report's environment section (profile, time of the run, lab or cluster...).
    type: dict
    default: {}
  slo:
    description: The SLO the benchmark used (shown in the report).
    type: dict
    default: {}
  load:
    description: The load the benchmark used (shown in the report).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Write the report
  private_ai.llm_serving.llm_benchmark_report:
    plan: "{{ llm_serving_plan }}"
    results: "{{ bench.results }}"
    output_dir: "{{ playbook_dir }}/benchmark-report"
    environment:
      profile: fp8_showcase
      time: "{{ now(utc=true).isoformat() }}"
"""

RETURN = r"""
report:
  description: The report as data (C(models), C(comparison), C(slo), C(load), C(environment), C(simulated)).
  returned: always
  type: dict
markdown:
  description: The Markdown summary.
  returned: always
  type: str
files:
  description: Paths written, by format (empty in check mode).
  returned: always
  type: dict
"""

import json
import os

from ansible_collections.private_ai.llm_serving.plugins.module_utils.benchmark import report as report_mod
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module


def main():
    module = new_module(
        argument_spec=dict(
            plan=dict(type="dict", required=True),
            results=dict(type="list", elements="dict", required=True),
            output_dir=dict(type="path", required=True),
            formats=dict(type="list", elements="str", choices=["html", "json", "md"], default=["html", "json", "md"]),
            environment=dict(type="dict", default={}),
            slo=dict(type="dict", default={}),
            load=dict(type="dict", default={}),
        ),
        supports_check_mode=True)
    p = module.params
    models = (p["plan"].get("models") or {})
    results, sequence = report_mod.flatten(p["results"])
    unknown = [name for name in results if name not in models]
    if unknown:
        module.fail_json(msg="results name model(s) %s that are not in plan.models (%s); pass the llm_benchmark "
                             "results of the plan's models." % (", ".join(map(str, unknown)), ", ".join(sorted(models))))
    report = report_mod.build(p["plan"], results, p["environment"], p["slo"], p["load"], sequence)
    text = report_mod.markdown(report)
    js = None
    if "html" in p["formats"]:
        js = report_mod.plotly_js()
        if js is None:
            module.fail_json(msg="The HTML report needs the plotly Python package on this host (its plotly.min.js is "
                                 "inlined); pip install plotly, or set formats without html.")
    files = {}
    if not module.check_mode:
        out = p["output_dir"]
        if not os.path.isdir(out):
            os.makedirs(out)
        contents = {"json": json.dumps(report, indent=2, sort_keys=True) + "\n", "md": text}
        if js is not None:
            contents["html"] = report_mod.html(report, js)
        for fmt in p["formats"]:
            path = os.path.join(out, "report.%s" % fmt)
            with open(path, "w") as fh:
                fh.write(contents[fmt])
            files[fmt] = path
    module.exit_json(changed=bool(files), report=report, markdown=text, files=files)


if __name__ == "__main__":
    main()
