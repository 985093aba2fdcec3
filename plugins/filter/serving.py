# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the modules' results into the roles' reports (logic in module_utils/serving_plan/report.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: serving_summary
short_description: The deployment summary - per model URL, GPUs, readiness, TTFT, tokens/s and cost
version_added: 0.1.0
description:
  - Given the plan (O(_input), C(llm_serving_plan)) and the endpoint results of the
    inference_services role, returns C(rows) (one dict per model, in plan order) and C(lines) (one
    line per model and a total).
  - "Companion filters in this file:
    C(private_ai.llm_serving.weights_uploads) (the plan -> s3_model_sync's C(models): the local weights
    of each model, then the other buckets to ensure);
    C(private_ai.llm_serving.synced_models) (the plan and s3_model_sync's C(results) ->
    per model its bucket, path, bytes, files, upload numbers and parsed config.json);
    C(private_ai.llm_serving.smoke_test_endpoints) (the plan, the inference_service_wait result and
    C(external) or C(internal) -> chat_completion's C(endpoints), one per model in plan order);
    C(private_ai.llm_serving.endpoint_results) (plan order, the inference_service_wait result and
    chat_completion's C(results) -> per model URL, internal URL, readiness and measurements);
    C(private_ai.llm_serving.registry_entries) (the plan -> model_registry's C(entries), one per model in plan
    order); C(private_ai.llm_serving.registry_ids) (the plan and model_registry's C(results) -> per model its
    registered model, version and artifact ids)."
options:
  _input:
    description: The plan, C(llm_serving_plan).
    type: dict
    required: true
  results:
    description: C(llm_serving_inference_services_results).
    type: dict
"""

EXAMPLES = r"""
- name: Print the summary
  ansible.builtin.debug:
    msg: "{{ (llm_serving_plan | private_ai.llm_serving.serving_summary(llm_serving_inference_services_results)).lines }}"
"""

RETURN = r"""
_value:
  description: C(rows) (list of dict) and C(lines) (list of str).
  type: dict
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import report as serving_report


def serving_summary(plan, results=None):
    rows, lines = serving_report.summary(plan or {}, results or {})
    return {"rows": rows, "lines": lines}


def weights_uploads(plan):
    return serving_report.weights_uploads(plan or {})


def synced_models(plan, sync_results):
    return serving_report.synced(plan or {}, sync_results or [])


def endpoint_results(order, wait, smoke_results=None):
    return serving_report.endpoints(order or [], wait or {}, smoke_results or [])


def smoke_test_endpoints(plan, wait, endpoint="external"):
    return serving_report.smoke_test_endpoints(plan or {}, wait or {}, endpoint)


def registry_entries(plan):
    return serving_report.registry_entries(plan or {})


def registry_ids(plan, results):
    return serving_report.registry_ids(plan or {}, results or [])


class FilterModule(object):
    def filters(self):
        return {"serving_summary": serving_summary, "synced_models": synced_models, "weights_uploads": weights_uploads,
                "endpoint_results": endpoint_results,
                "smoke_test_endpoints": smoke_test_endpoints, "registry_entries": registry_entries,
                "registry_ids": registry_ids}
