# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's Kubernetes modules inside the controller's worker process when the task runs
on the controller anyway (a local connection).

A module process costs about 0.5 s of CPU before it does anything (Python compiles
ansible.module_utils.basic and every module_utils file from the AnsiballZ zip, which holds no
bytecode) and each distinct module another 0.25 s in the worker (ansible-core's
executor/module_common.py recursive_finder compiles them to find its imports). For requests of a few
milliseconds to the API server, that was most of a converged site.yml. These modules are thin
(their work is in module_utils/k8s, ``run_module``), so the action plugin runs the same ``main()``
with ``ModuleShim`` in place of AnsibleModule: the same argument spec and validation, check mode,
diff mode, warnings, and the module's no_log values masked in the result.

The module still runs as a module process, as any module would, when running it here would change
what it does: a connection other than local (the task's host is not the controller), become (another
user), a task ``environment`` (which only a module process gets), ``async`` (Ansible's async wrapper
runs module processes), an ``ansible_python_interpreter`` other than the controller's (its packages
are not the worker's), or the variable ``llm_serving_in_process`` set to false.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import importlib
import json
import os
import sys

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common import module as entry

display = Display()


class _Exit(BaseException):
    """exit_json or fail_json of ``ModuleShim``: the module's result. A BaseException, as the
    SystemExit of AnsibleModule's, so that no ``except Exception`` of the module catches it."""

    def __init__(self, result):
        super(_Exit, self).__init__("module exit")
        self.result = result


class ModuleShim(object):
    """What the collection's Kubernetes modules use of AnsibleModule, for a run inside the worker."""

    def __init__(self, name, args, check_mode, diff, argument_spec, supports_check_mode=False, **kwargs):
        self._name = name
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        validator = ArgumentSpecValidator(argument_spec, **kwargs)
        validated = validator.validate(args)
        self.no_log_values = set(validated._no_log_values)
        self.params = validated.validated_parameters
        # as AnsibleModule.__init__ (module_utils/basic.py): the first error, and check mode support
        if validated.error_messages:
            msg = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                msg = "Unsupported parameters for (%s) module: %s" % (name, msg)
            self.fail_json(msg=msg)
        if check_mode and not supports_check_mode:
            self.exit_json(skipped=True, msg="remote module (%s) does not support check mode" % name)

    def warn(self, warning):
        self.warnings.append(warning)

    def debug(self, msg):
        display.debug(msg)

    def _result(self, result):
        result = remove_values(result, self.no_log_values)
        if self.warnings:
            result["warnings"] = list(result.get("warnings") or []) + self.warnings
        result["invocation"] = {"module_args": remove_values(self.params, self.no_log_values)}
        return result

    def exit_json(self, **result):
        raise _Exit(self._result(result))

    def fail_json(self, msg, **result):
        result.update(failed=True, msg=msg)
        raise _Exit(self._result(result))


@contextlib.contextmanager
def _module_class(factory):
    saved = entry.MODULE_CLASS
    entry.MODULE_CLASS = factory
    try:
        yield
    finally:
        entry.MODULE_CLASS = saved


def _plain(value):
    """The task's arguments as plain JSON types (the templating engine's tagged values included)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


class InProcessAction(ActionBase):
    """The action of a module whose ``main()`` makes its module with ``common.module.new_module``."""

    TRANSFERS_FILES = False
    _supports_async = True  # as a module process, as ansible.builtin.normal runs it

    def in_process(self, task_vars):
        """Why the module must run as a process here, or None when it can run in the worker."""
        if not boolean(task_vars.get("llm_serving_in_process", True), strict=False):
            return "llm_serving_in_process is false"
        if self._connection.transport not in ("local", "ansible.builtin.local"):
            return "the connection is %s" % self._connection.transport
        if self._play_context.become:
            return "become is set"
        if self._task.async_val:
            return "the task is async"
        interpreter = task_vars.get("ansible_python_interpreter")
        if interpreter and not str(interpreter).startswith("auto"):
            interpreter = self._templar.template(interpreter)
            if os.path.abspath(interpreter) != os.path.abspath(sys.executable):
                return "ansible_python_interpreter is %s, not the controller's %s" % (interpreter, sys.executable)
        environment = {}
        self._compute_environment_string(raw_environment_out=environment)
        if environment:
            return "the task sets environment"
        return None

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(InProcessAction, self).run(tmp, task_vars)
        why = self.in_process(task_vars)
        if why:
            display.vvv("%s runs as a module process: %s" % (self._task.action, why))
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result.update(self._execute_module(module_name=self._task.action, module_args=self._task.args,
                                               task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:  # as ansible.builtin.normal: the module's temporary directory
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        name = self._task.action.rsplit(".", 1)[-1]
        module = importlib.import_module("ansible_collections.private_ai.llm_serving.plugins.modules." + name)
        args = _plain(dict(self._task.args))
        check_mode, diff = bool(self._play_context.check_mode), bool(self._play_context.diff)

        def factory(**kwargs):
            return ModuleShim(self._task.action, args, check_mode, diff, **kwargs)

        try:
            with _module_class(factory):
                module.main()
        except _Exit as done:
            result.update(done.result)
            return result
        result.update(failed=True, msg="%s ended without a result." % self._task.action)
        return result
