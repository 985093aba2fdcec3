# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the Kueue ClusterQueue a plan needs (logic in module_utils/k8s/kueue.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cluster_queue
short_description: The ClusterQueue a serving plan needs, from the one the cluster has
version_added: 0.1.0
description:
  - Returns the ClusterQueue O(_input) (its name) with nominal quota at least the plan's for every
    flavor and resource, built on the live queue O(existing) without lowering any quota or changing
    its groups; a GPU flavor the queue lacks gets a resource group covering only what no other
    group covers (Kueue refuses a resource covered twice).
  - Companion filters in this file, C(private_ai.llm_serving.cluster_queue_errors) (Kueue's resource
    group rules, as error strings) and C(private_ai.llm_serving.cluster_queue_shortfall) (what a
    queue lacks for the plan).
options:
  _input:
    description: The ClusterQueue name.
    type: str
    required: true
  existing:
    description: The live ClusterQueue, or null.
    type: dict
  plan_quota:
    description: The plan's quota, flavor -> resource -> quantity (C(llm_serving_plan.quota)).
    type: dict
    required: true
  default_flavor:
    description: Flavor of the cpu/memory group of a new queue.
    type: str
    default: default-flavor
  default_flavor_quota:
    description: Quota of that flavor in a new queue.
    type: dict
"""

EXAMPLES = r"""
- name: Compute the ClusterQueue
  ansible.builtin.set_fact:
    cq: "{{ 'default' | private_ai.llm_serving.cluster_queue(live, llm_serving_plan.quota) }}"
"""

RETURN = r"""
_value:
  description: The ClusterQueue object.
  type: dict
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.kueue import (
    desired_cluster_queue,
    shortfall,
    validate_resource_groups,
)


def cluster_queue(name, existing, plan_quota, default_flavor="default-flavor", default_flavor_quota=None):
    return desired_cluster_queue(name, existing or None, plan_quota, default_flavor, default_flavor_quota)


def cluster_queue_errors(queue):
    return validate_resource_groups((queue or {}).get("spec"))


def cluster_queue_shortfall(queue, plan_quota):
    return shortfall((queue or {}).get("spec"), plan_quota)


class FilterModule(object):
    def filters(self):
        return {"cluster_queue": cluster_queue, "cluster_queue_errors": cluster_queue_errors,
                "cluster_queue_shortfall": cluster_queue_shortfall}
