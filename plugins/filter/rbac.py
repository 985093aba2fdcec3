# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployer's least-privilege RBAC objects (table in module_utils/k8s/rbac.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: deployer_rbac_manifests
short_description: The ServiceAccount, ClusterRoles and bindings the collection needs, and nothing more
version_added: 0.1.0
description:
  - Returns, in apply order, the namespace of the ServiceAccount O(_input), the ServiceAccount,
    the ClusterRoles C(llm-serving-deployer) (cluster-wide rules) and
    C(llm-serving-deployer-namespaced) (secrets, configmaps, serviceaccounts), the
    ClusterRoleBinding, a RoleBinding in each namespace of O(namespaces), and optionally a
    long-lived token Secret. The same rules the preflight reviews (M(private_ai.llm_serving.permissions_check)).
options:
  _input:
    description: The ServiceAccount name.
    type: str
    required: true
  sa_namespace:
    description: The ServiceAccount's namespace.
    type: str
    required: true
  namespaces:
    description: The namespaces the collection deploys into.
    type: list
    elements: str
    required: true
  token_secret:
    description: Add a C(kubernetes.io/service-account-token) Secret C(<name>-token).
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The deployer's RBAC
  ansible.builtin.debug:
    msg: "{{ 'llm-serving-deployer' | private_ai.llm_serving.deployer_rbac_manifests('llm-serving-system', ['private-ai']) }}"
"""

RETURN = r"""
_value:
  description: The objects.
  type: list
  elements: dict
"""

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.rbac import manifests


def deployer_rbac_manifests(name, sa_namespace, namespaces, token_secret=True):
    return manifests(name, sa_namespace, list(namespaces), token_secret)


class FilterModule(object):
    def filters(self):
        return {"deployer_rbac_manifests": deployer_rbac_manifests}
