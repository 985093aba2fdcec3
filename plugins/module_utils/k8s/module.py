# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main() of a module that works on the cluster through ``Cluster``: kubernetes.core's auth
options (so group/private_ai.llm_serving.k8s module_defaults configure it) on the collection's own
client (``k8s.client``), check mode as the server's dry run, and one sentence on failure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError, fail
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.apply import Cluster
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import connect
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.transient import TransientRetry


def argument_spec(options):
    """kubernetes.core's connection options plus ``options``."""
    spec = dict(AUTH_ARG_SPEC)
    spec.update(options)
    return spec


def run_module(options, body, field_manager=None, **module_kwargs):
    """Build the module from ``options`` (plus the auth options), call ``body(module, cluster)`` and exit
    with the dict it returns; a ModuleError it raises fails the module with its sentence and facts.
    The field manager is ``field_manager``, else the module's own ``field_manager`` option."""
    module = new_module(argument_spec=argument_spec(options), supports_check_mode=True, **module_kwargs)
    err = None
    try:
        # an apiserver restarting during the task: bounded retries, then one sentence (k8s/transient.py)
        cluster = Cluster(TransientRetry(connect(module)), field_manager or module.params["field_manager"],
                          dry_run=module.check_mode)
        result = body(module, cluster)
    except ModuleError as exc:
        err = exc
    if err is not None:
        fail(module, err)
    module.exit_json(**result)
