# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The TLS options of the modules that talk HTTP(S) to a service of the cluster (a model endpoint,
    the Model Registry) through module_utils/common/http.py."""

    DOCUMENTATION = r"""
options:
  ca_path:
    description:
      - PEM CA bundle used to verify the server's TLS certificate (on OpenShift, the ingress or
        service CA that signed the Route's or the Service's certificate).
    type: path
  validate_certs:
    description:
      - Verify the server's TLS certificate. Leave on; use O(ca_path) for a private CA.
    type: bool
    default: true
"""
