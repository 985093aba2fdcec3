#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_read
short_description: Read Kubernetes objects, as kubernetes.core.k8s_info does, without the kubernetes library
version_added: 0.2.0
description:
  - Reads one object by name, or the objects of a kind in a namespace (or cluster-wide) that match
    label selectors, and returns them in RV(resources) as M(kubernetes.core.k8s_info) does, with
    the same options and return values, so a task can switch modules without other changes.
  - Works through the collection's own Kubernetes client, which does not import the kubernetes
    Python library (0.3 s of CPU in every module process) for the usual connection options.
  - A kind the cluster does not serve (no CRD) returns no resources and RV(api_found) false, as
    kubernetes.core.k8s_info does.
  - Changes nothing; runs the same in check mode.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  api_version:
    description: The apiVersion of the objects.
    type: str
    default: v1
  kind:
    description: The kind of the objects.
    type: str
    required: true
  name:
    description: The name of one object; without it, every object that matches O(label_selectors).
    type: str
  namespace:
    description: The namespace of namespaced objects; without it, every namespace.
    type: str
  label_selectors:
    description: Label selectors such as C(key=value), C(key!=value) or C(key in (a,b)), all of which must match.
    type: list
    elements: str
    default: []
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
"""

EXAMPLES = r"""
- name: Read the dashboard's token Secrets
  private_ai.llm_serving.k8s_read:
    kind: Secret
    namespace: private-ai
    label_selectors:
      - opendatahub.io/dashboard=true
  register: secrets
  no_log: true  # their data
"""

RETURN = r"""
resources:
  description: The objects read (none when the object or its kind does not exist).
  returned: always
  type: list
  elements: dict
api_found:
  description: Whether the cluster serves O(api_version) O(kind).
  returned: always
  type: bool
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ResourceNotFound
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import run_module

OPTIONS = dict(
    api_version=dict(type="str", default="v1"),
    kind=dict(type="str", required=True),
    name=dict(type="str"),
    namespace=dict(type="str"),
    label_selectors=dict(type="list", elements="str", default=[]),
)


def run(module, cluster):
    p = module.params
    try:
        if p["name"]:
            found = cluster.get(p["api_version"], p["kind"], p["name"], p["namespace"])
            resources = [found] if found is not None else []
        else:
            resources = cluster.list(p["api_version"], p["kind"], namespace=p["namespace"],
                                     label_selector=",".join(p["label_selectors"]) or None)
    except ResourceNotFound:
        return dict(changed=False, resources=[], api_found=False)
    return dict(changed=False, resources=resources, api_found=True)


def main():
    run_module(OPTIONS, run, field_manager="private-ai-llm-serving")


if __name__ == "__main__":
    main()
