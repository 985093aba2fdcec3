# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The token_secrets option of the modules that send requests to the models' endpoints
    (chat_completion, llm_benchmark), read by module_utils/k8s/tokens.py."""

    DOCUMENTATION = r"""
options:
  token_secrets:
    description:
      - Read each endpoint's bearer token from its ServiceAccount token Secret on the cluster (what
        the C(inference_services) role creates for token authentication, as OpenShift AI's dashboard
        does), waiting for kube-controller-manager to fill it. It wins over the other token options.
        The tokens are never returned, shown or written; they are read only when the module sends requests.
      - The connection to the cluster is O(token_secrets.kubeconfig) and O(token_secrets.context), else
        the C(K8S_AUTH_*) variables, the in-cluster ServiceAccount or C(~/.kube/config), as in
        M(private_ai.llm_serving.k8s_apply).
    type: dict
    suboptions:
      namespace:
        description: The namespace of the Secrets.
        type: str
        required: true
      names:
        description: Per endpoint (its C(name), else its C(model)), the name of its token Secret.
        type: dict
        required: true
      timeout:
        description: Seconds to wait for every Secret to have its token.
        type: float
        default: 30
      kubeconfig:
        description: Path to a kubeconfig, or its content as a dict.
        type: raw
      context:
        description: The kubeconfig context to use.
        type: str
"""
