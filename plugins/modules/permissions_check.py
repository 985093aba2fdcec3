#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: permissions_check
short_description: Check with SelfSubjectAccessReviews that the cluster identity may do what the collection does
version_added: 0.1.0
description:
  - Asks the API server, with one C(authorization.k8s.io/v1) SelfSubjectAccessReview per
    permission, whether the identity the module runs as (kubeconfig, or an AAP credential's
    C(K8S_AUTH_*) variables) has every permission of the collection's least-privilege RBAC
    (the C(deployer_rbac) role; cluster-wide rules, and the namespaced ones in O(namespaces)).
  - Fails before anything changes, naming each missing permission, what needs it, and the fix.
  - Changes nothing; runs the same in check mode.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespaces:
    description: The namespaces the collection deploys into (the namespaced rules are checked there).
    type: list
    elements: str
    required: true
  fail_on_missing:
    description: Fail when a permission is missing; false returns them in RV(missing).
    type: bool
    default: true
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
"""

EXAMPLES = r"""
- name: Check the deployer's permissions before anything changes
  private_ai.llm_serving.permissions_check:
    namespaces: [private-ai]
"""

RETURN = r"""
missing:
  description: The permissions the identity lacks, each a sentence such as C(create inferenceservices.serving.kserve.io cluster-wide).
  returned: always
  type: list
  elements: str
checked:
  description: How many permissions were reviewed.
  returned: always
  type: int
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import rbac
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import run_module

OPTIONS = dict(namespaces=dict(type="list", elements="str", required=True),
               fail_on_missing=dict(type="bool", default=True))


def run(module, cluster):
    checks = rbac.checks(module.params["namespaces"])
    missing = []
    for check in checks:
        attrs = dict((k, check[k]) for k in ("verb", "group", "resource", "subresource", "namespace") if check[k])
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        try:
            # a review is not stored: creating one changes nothing, in check mode too
            answer = cluster.create(body)
        except ModuleError as exc:
            raise ModuleError("Could not review the permission to %s: %s" % (rbac.describe(check), exc.msg))
        if not (answer.get("status") or {}).get("allowed"):
            missing.append(check)
    result = dict(changed=False, checked=len(checks), missing=[rbac.describe(c) for c in missing])
    if missing and module.params["fail_on_missing"]:
        raise ModuleError(rbac.missing_message(missing), **result)
    return result


def main():
    run_module(OPTIONS, run, field_manager="private-ai-llm-serving")


if __name__ == "__main__":
    main()
