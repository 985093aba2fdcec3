# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the modules' results into the roles' reports (logic in module_utils/serving_plan/report.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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


def token_secret_names(plan, names=None):
    return serving_report.token_secret_names(plan or {}, names or None)


class FilterModule(object):
    def filters(self):
        return {"serving_summary": serving_summary, "synced_models": synced_models, "weights_uploads": weights_uploads,
                "endpoint_results": endpoint_results,
                "smoke_test_endpoints": smoke_test_endpoints, "registry_entries": registry_entries,
                "registry_ids": registry_ids, "token_secret_names": token_secret_names}
