# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main() of a module that works on the cluster through ``Cluster``: kubernetes.core's auth
options and client (so group/private_ai.llm_serving.k8s module_defaults configure it), check mode as
the server's dry run, and one sentence on failure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError, fail
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.apply import Cluster
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import transient


def run_module(options, body, field_manager=None, **module_kwargs):
    """Build the module from ``options`` (plus the auth options), call ``body(module, cluster)`` and exit
    with the dict it returns; a ModuleError it raises fails the module with its sentence and facts.
    The field manager is ``field_manager``, else the module's own ``field_manager`` option."""
    spec = dict(AUTH_ARG_SPEC)
    spec.update(options)
    module = AnsibleK8SModule(argument_spec=spec, supports_check_mode=True, **module_kwargs)
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    err = None
    # an apiserver restarting during the task: bounded retries, then one sentence (k8s/transient.py)
    transient.install()
    try:
        cluster = Cluster(get_api_client(module=module), field_manager or module.params["field_manager"],
                          dry_run=module.check_mode)
        result = body(module, cluster)
    except CoreException as exc:
        err = ModuleError("Could not connect to the Kubernetes API: %s" % to_native(exc))
    except ModuleError as exc:
        err = exc
    if err is not None:
        fail(module, err)
    module.exit_json(**result)
