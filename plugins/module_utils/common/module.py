# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection's modules make their AnsibleModule: ``new_module``.

In a module process that is AnsibleModule. On a local connection the modules' action plugin
(plugins/plugin_utils/in_process.py) runs ``main()`` inside the controller's worker instead, and puts
its ModuleShim (the same argument validation, check and diff mode, no_log masking) in
``MODULE_CLASS`` for that run."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule

MODULE_CLASS = AnsibleModule


def new_module(**kwargs):
    """The module object of this run (AnsibleModule's keyword arguments)."""
    return MODULE_CLASS(**kwargs)
