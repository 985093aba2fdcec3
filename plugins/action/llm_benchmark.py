# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""llm_benchmark: runs in the controller's worker on a local connection (plugins/plugin_utils/in_process.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.plugin_utils.in_process import InProcessAction


class ActionModule(InProcessAction):
    pass
