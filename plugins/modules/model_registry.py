#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: model_registry
short_description: Ensure a registered model, its version and its artifact in a Model Registry
version_added: 0.1.0
description:
  - Idempotently ensures a C(RegisteredModel), one of its C(ModelVersion)s and that version's
    C(ModelArtifact) in a Kubeflow / OpenShift AI Model Registry through its REST API
    C(/api/model_registry/v1alpha3).
  - Each entity is found by name, created when missing, and otherwise patched with the drifted
    fields only. Options left unset are not managed. All three are kept in state C(LIVE).
  - O(registered_model.custom_properties) and O(version.custom_properties) are merged, not
    replaced. The keys given are enforced; other keys (for example labels added in the
    dashboard) are kept.
  - On OpenShift the registry sits behind an authenticating proxy; give a bearer token and the
    CA bundle that signed its certificate.
extends_documentation_fragment:
  - private_ai.llm_serving.tls
author:
  - Private AI platform team (@private-ai)
options:
  url:
    description:
      - Base URL of the Model Registry REST service, for example
        V(https://private-ai-registry-rest.apps.example.com) or V(http://127.0.0.1:18080).
      - The API path C(/api/model_registry/v1alpha3) is appended unless already present.
    type: str
    required: true
  token:
    description:
      - Bearer token sent in the C(Authorization) header (an OpenShift token with access to the
        registry). Never logged.
      - Defaults to the environment variable E(MODEL_REGISTRY_TOKEN).
    type: str
  timeout:
    description:
      - Timeout in seconds of each HTTP request.
    type: int
    default: 30
  retry_timeout:
    description:
      - Seconds during which a request the registry (or the proxy or router in front of it) answers
        with HTTP 429, 500, 502, 503 or 504 is tried again, with exponential backoff and full jitter,
        before the module fails naming the answer and how long it was tried. The registry answers 500
        while its database is down, 503 while it connects to it.
      - V(0) makes one attempt.
    type: int
    default: 60
    version_added: 0.2.0
  registered_model:
    description:
      - The registered model. Required unless O(entries) is given.
    type: dict
    suboptions:
      name:
        description: Name of the registered model (unique in the registry; never changed).
        type: str
        required: true
      description:
        description: Description.
        type: str
      owner:
        description: Owner.
        type: str
      custom_properties:
        description:
          - Custom properties. Plain values are stored as C(MetadataStringValue); a dict with a
            C(metadataType) key is passed through as is.
        type: dict
  version:
    description:
      - The model version, under O(registered_model).
    type: dict
    suboptions:
      name:
        description: Name of the version (unique under its registered model).
        type: str
        required: true
      author:
        description: Author.
        type: str
      description:
        description: Description.
        type: str
      custom_properties:
        description: Custom properties, as O(registered_model.custom_properties).
        type: dict
  artifact:
    description:
      - The model artifact of O(version). Requires O(version).
    type: dict
    suboptions:
      name:
        description:
          - Name of the artifact among the version's artifacts.
          - Defaults to O(registered_model.name), as the registry's Python client names it.
        type: str
      uri:
        description:
          - Location of the weights, for S3
            C(s3://<bucket>/<path>?endpoint=<url-encoded endpoint>&defaultRegion=<region>).
        type: str
        required: true
      description:
        description: Description.
        type: str
      model_format_name:
        description: C(modelFormatName), for example V(vLLM).
        type: str
      model_format_version:
        description: C(modelFormatVersion), for example V(1).
        type: str
      storage_key:
        description: C(storageKey), the name of the data connection Secret.
        type: str
      storage_path:
        description: C(storagePath), the path of the weights in that connection's bucket.
        type: str
  entries:
    description:
      - Several registered models, versions and artifacts in one module run (one process for a whole
        models list). Each item is a dict with the keys C(registered_model), C(version) and C(artifact),
        validated as the options of the same names; they are ensured in order and each result is in
        RV(results).
      - Mutually exclusive with O(registered_model).
    type: list
    elements: dict
attributes:
  check_mode:
    support: full
    description: Reads the registry and reports what would be created or updated; writes nothing.
  diff_mode:
    support: full
    description: Shows the managed fields of each entity before and after.
notes:
  - Written against the REST API v1alpha3 of model-registry v0.2.20; tested against the real
    servers v0.2.22 (same API description) and v0.3.0 (a superset of it).
  - The artifact is found among its version's artifacts by name; the server ignores the C(name)
    filter of that list, so all pages are read.
"""

EXAMPLES = r"""
- name: Register Mistral Small 24B BF16
  private_ai.llm_serving.model_registry:
    url: https://private-ai-registry-rest.apps.example.com
    token: "{{ llm_serving_registry_token }}"
    ca_path: /etc/pki/registry-ca.pem
    registered_model:
      name: Mistral-Small-24B-Instruct-2501
      description: Mistral Small 3 24B instruct
      owner: platform-team
      custom_properties:
        approved: "true"
    version:
      name: 2501-bf16
      author: Mistral AI
    artifact:
      uri: s3://models/mistral-small-24b/bf16?endpoint=https%3A%2F%2Fminio.example.com&defaultRegion=us-east-1
      model_format_name: vLLM
      model_format_version: "1"
      storage_key: models-s3
      storage_path: mistral-small-24b/bf16
  register: registered

- name: Show the ids
  ansible.builtin.debug:
    msg: "{{ registered.registered_model_id }}/{{ registered.model_version_id }}/{{ registered.model_artifact_id }}"
"""

RETURN = r"""
results:
  description:
    - With O(entries), one result per item in order, each with the keys returned for a single model
      (C(registered_model_id), C(model_version_id), C(model_artifact_id), C(actions), C(registered_model),
      C(model_version), C(model_artifact)) and C(changed). The top-level ids are those of the last item.
  returned: when O(entries) is given
  type: list
  elements: dict
registered_model_id:
  description: Id of the registered model; null in check mode when it would be created.
  returned: always
  type: str
  sample: "1"
model_version_id:
  description: Id of the model version; null when O(version) is not given or in check mode when it would be created.
  returned: always
  type: str
  sample: "2"
model_artifact_id:
  description: Id of the model artifact; null when O(artifact) is not given or in check mode when it would be created.
  returned: always
  type: str
  sample: "1"
actions:
  description: What was done (or would be done in check mode), one line per entity created or updated.
  returned: always
  type: list
  elements: str
  sample: ["create RegisteredModel 'Mistral-Small-24B-Instruct-2501'", "update ModelVersion '2501-bf16' of 'Mistral-Small-24B-Instruct-2501': description"]
registered_model:
  description: The registered model as the registry returned it.
  returned: always
  type: dict
model_version:
  description: The model version as the registry returned it.
  returned: always
  type: dict
model_artifact:
  description: The model artifact as the registry returned it.
  returned: always
  type: dict
status:
  description: HTTP status of the failed request.
  returned: failure
  type: int
body:
  description: Excerpt of the body of the failed request (the token is never in it).
  returned: failure
  type: str
url:
  description: URL of the failed request.
  returned: failure
  type: str
method:
  description: HTTP method of the failed request.
  returned: failure
  type: str
"""

from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import fail
from ansible_collections.private_ai.llm_serving.plugins.module_utils.model_registry.client import (
    RegistryClient,
    RegistryError,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.model_registry.ensure import (
    ensure,
)


def entry_spec():
    """The options of one registered model, version and artifact (also each item of ``entries``)."""
    custom = dict(type="dict")
    return dict(
        registered_model=dict(type="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            description=dict(type="str"),
            owner=dict(type="str"),
            custom_properties=custom,
        )),
        version=dict(type="dict", options=dict(
            name=dict(type="str", required=True),
            author=dict(type="str"),
            description=dict(type="str"),
            custom_properties=custom,
        )),
        artifact=dict(type="dict", options=dict(
            name=dict(type="str"),
            uri=dict(type="str", required=True),
            description=dict(type="str"),
            model_format_name=dict(type="str"),
            model_format_version=dict(type="str"),
            storage_key=dict(type="str", no_log=False),
            storage_path=dict(type="str"),
        )),
    )


def argspec():
    spec = entry_spec()
    spec["registered_model"]["required"] = False
    spec.update(
        url=dict(type="str", required=True),
        token=dict(type="str", no_log=True, fallback=(env_fallback, ["MODEL_REGISTRY_TOKEN"])),
        ca_path=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
        retry_timeout=dict(type="int", default=60),
        entries=dict(type="list", elements="dict"),
    )
    return spec


def entries(module):
    """The items to ensure: O(entries) validated one by one with the single-model spec, or the one model."""
    p = module.params
    if p["entries"] is None:
        return [{"registered_model": p["registered_model"], "version": p["version"], "artifact": p["artifact"]}]
    validator = ArgumentSpecValidator(entry_spec(), required_by={"artifact": "version"})
    items = []
    for index, item in enumerate(p["entries"]):
        checked = validator.validate(item)
        if checked.error_messages:
            module.fail_json(msg="entries[%d]: %s" % (index, "; ".join(checked.error_messages)))
        items.append(checked.validated_parameters)
    return items


def main():
    module = new_module(argument_spec=argspec(), supports_check_mode=True,
                        required_by={"artifact": "version"},
                        required_one_of=[("registered_model", "entries")],
                        mutually_exclusive=[("registered_model", "entries")])
    p = module.params
    results, before, after = [], {}, {}
    try:
        client = RegistryClient(p["url"], token=p["token"], ca_path=p["ca_path"],
                                validate_certs=p["validate_certs"], timeout=p["timeout"],
                                retry_timeout=p["retry_timeout"])
        for item in entries(module):
            result = ensure(client, item["registered_model"], item["version"], item["artifact"],
                            check_mode=module.check_mode)
            results.append(result.as_dict())
            key = "/".join([item["registered_model"]["name"]] + ([item["version"]["name"]] if item["version"] else []))
            before[key], after[key] = result.before, result.after
    except RegistryError as e:
        fail(module, e)
    out = dict(results[-1] if results else {}, changed=any(r["changed"] for r in results))
    if p["entries"] is not None:
        out["results"] = results
    if module._diff and results:
        single = p["entries"] is None
        out["diff"] = dict(before=list(before.values())[0] if single else before,
                           after=list(after.values())[0] if single else after)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
