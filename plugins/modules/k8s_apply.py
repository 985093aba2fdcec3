#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_apply
short_description: Server-side apply of Kubernetes objects with strict field validation
version_added: 0.1.0
description:
  - Applies one or more objects with Kubernetes server-side apply and C(fieldValidation=Strict),
    so the API server rejects an unknown or misspelled field instead of dropping it.
  - Check mode asks the API server for a dry run (C(dryRun=All)), so defaulting, admission and
    schema validation all run and nothing is written.
  - With C(--diff), returns the object before and after. The values of a Secret's C(data) and
    C(stringData) are never returned, not even in the module invocation shown at C(-vvv); they
    show as redacted, marked when they change.
  - Reports C(changed) only when the object's content changes, not when only server bookkeeping
    (resourceVersion, managedFields) would.
  - An C(ownerReferences) entry without a C(uid) gets the uid of its owner, applied earlier in the
    same O(definition) or read from the cluster, so owner and dependents go in one task. In check
    mode, the dependents of an owner that was only shown (not dry-run) are shown as well.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  definition:
    description:
      - The object(s) to apply, as a dict, a list of dicts, or a YAML string with one or more
        documents.
    type: raw
    required: true
  namespace:
    description:
      - Namespace for namespaced objects whose C(metadata.namespace) is not set.
    type: str
  field_manager:
    description:
      - Server-side apply field manager. Use a distinct one for a distinct owner of fields
        (for example the registry labels), so each owns only what it applies.
    type: str
    default: private-ai-llm-serving
  force_conflicts:
    description:
      - Take over fields another manager set, instead of failing on the conflict.
    type: bool
    default: true
  dry_run_new:
    description:
      - In check mode, whether an object that does not exist yet is sent to the API server as a
        dry run. With V(false) it is shown as it would be applied, not validated by the server,
        for objects whose admission needs objects the same run creates first (OpenShift AI's
        webhook refuses an InferenceService whose data connection Secret does not exist). Objects
        that exist are always dry-run. Without check mode this option does nothing.
    type: bool
    default: true
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
  - PyYAML
notes:
  - Deleting is not this module's job; use M(kubernetes.core.k8s) with O(kubernetes.core.k8s#module:state=absent).
"""

EXAMPLES = r"""
- name: Ensure the namespace
  private_ai.llm_serving.k8s_apply:
    definition:
      apiVersion: v1
      kind: Namespace
      metadata:
        name: private-ai
        labels:
          opendatahub.io/dashboard: "true"

- name: Apply a rendered template (one or more YAML documents)
  private_ai.llm_serving.k8s_apply:
    namespace: private-ai
    definition: "{{ lookup('ansible.builtin.template', 'servingruntime.yaml.j2') }}"

- name: Own only the registry labels of an InferenceService
  private_ai.llm_serving.k8s_apply:
    field_manager: private-ai-llm-serving-registry
    definition:
      apiVersion: serving.kserve.io/v1beta1
      kind: InferenceService
      metadata:
        name: mistral-24b-fp8
        namespace: private-ai
        labels:
          modelregistry.opendatahub.io/registered-model-id: "1"
"""

RETURN = r"""
result:
  description: The objects as the API server returned them (Secret values redacted, managedFields removed).
  returned: always
  type: list
  elements: dict
objects:
  description: Per object, its reference and whether it changed.
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "Namespace private-ai", "changed": false, "created": false}]
"""


from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.apply import apply_all, report
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import run_module

try:
    import yaml
except ImportError:
    yaml = None


OPTIONS = dict(
    definition=dict(type="raw", required=True),
    namespace=dict(type="str"),
    field_manager=dict(type="str", default="private-ai-llm-serving"),
    force_conflicts=dict(type="bool", default=True),
    dry_run_new=dict(type="bool", default=True),
)


def load_definitions(module, raw):
    if isinstance(raw, str):
        try:
            raw = [doc for doc in yaml.safe_load_all(raw) if doc]
        except yaml.YAMLError as exc:
            module.fail_json(msg="definition is not valid YAML: %s" % to_native(exc))
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        module.fail_json(msg="definition must be a dict, a list of dicts or a YAML string.")
    flat = []
    for item in raw:
        # A `kind: List` (what `kubectl get -o yaml` prints) stands for its items.
        if item.get("kind", "").endswith("List") and isinstance(item.get("items"), list):
            flat.extend(item["items"])
        else:
            flat.append(item)
    return flat


def run(module, cluster):
    if yaml is None:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    definitions = load_definitions(module, module.params["definition"])
    # A Secret's values must not come back in the module's output, its invocation (-vvv) included:
    # registering them as no_log values makes Ansible mask them wherever they appear.
    for definition in definitions:
        if definition.get("kind") == "Secret":
            for field in ("data", "stringData"):
                for value in (definition.get(field) or {}).values():
                    if value:
                        module.no_log_values.add(to_native(value))
    cluster.applier.force_conflicts = module.params["force_conflicts"]
    cluster.applier.dry_run_new = module.params["dry_run_new"]
    return report(apply_all(cluster.applier, definitions, namespace=module.params["namespace"]), diff=module._diff)


def main():
    run_module(OPTIONS, run)


if __name__ == "__main__":
    main()
