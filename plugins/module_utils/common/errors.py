# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of the collection's module_utils, and the one way a module fails with it.

Every client (Kubernetes apply and wait, S3, Model Registry, OpenAI-compatible endpoints, the
planner's checkpoint reader) raises a subclass of ``ModuleError``: ``msg`` is one sentence for the
operator, never a secret; ``details`` are the facts behind it (HTTP status, body excerpt, URL...),
also attributes of the error. ``fail`` returns the known facts with the sentence.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleError(Exception):
    """A failure to report: ``msg`` and the facts in ``details`` (None facts are not returned)."""

    def __init__(self, msg, **details):
        super(ModuleError, self).__init__(msg)
        self.msg = msg
        self.details = details
        for key, value in details.items():
            setattr(self, key, value)

    def as_dict(self):
        """The facts behind the error that are known, for ``fail_json``."""
        return dict((k, v) for k, v in self.details.items() if v is not None)


def fail(module, err, **extra):
    """Fail ``module`` with ``err``'s sentence and facts (plus ``extra``), with no traceback.

    Call it outside the ``except`` block that caught ``err``: the sentence is the whole story.
    """
    facts = err.as_dict() if isinstance(err, ModuleError) else {}
    facts.update(extra)
    module.fail_json(msg=getattr(err, "msg", None) or str(err), **facts)
