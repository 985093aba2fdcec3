# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Idempotent ensure of RegisteredModel -> ModelVersion -> ModelArtifact.

Each entity is found by name, created when missing and otherwise patched with the
drifted fields only. Fields left unset (None) are not managed. Custom properties
are merged: the keys given are enforced, other keys (for example labels added in
the dashboard) are kept.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

LIVE = "LIVE"
STRING_TYPE = "MetadataStringValue"
MODEL_ARTIFACT = "model-artifact"
# Set at creation and never patched (the registry forbids renaming).
IDENTITY_KEYS = ("name", "artifactType", "registeredModelId")
_VALUE_FIELDS = {
    "MetadataStringValue": "string_value",
    "MetadataIntValue": "int_value",
    "MetadataDoubleValue": "double_value",
    "MetadataBoolValue": "bool_value",
    "MetadataStructValue": "struct_value",
    "MetadataProtoValue": "proto_value",
}

# Registry field name -> module option name, per entity (the managed fields).
MODEL_FIELDS = (("description", "description"), ("owner", "owner"))
VERSION_FIELDS = (("author", "author"), ("description", "description"))
ARTIFACT_FIELDS = (
    ("uri", "uri"),
    ("description", "description"),
    ("modelFormatName", "model_format_name"),
    ("modelFormatVersion", "model_format_version"),
    ("storageKey", "storage_key"),
    ("storagePath", "storage_path"),
)


def to_metadata_value(value):
    """Convert a plain value to the registry's MetadataValue form.

    A dict that already has ``metadataType`` passes through; every other value
    becomes a MetadataStringValue (booleans as ``true``/``false``), because the
    dashboard shows string properties only.
    """
    if isinstance(value, dict) and "metadataType" in value:
        return dict(value)
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return {"metadataType": STRING_TYPE, "string_value": text}


def to_custom_properties(props):
    """Convert a plain dict to a customProperties map (None stays None: unmanaged)."""
    if props is None:
        return None
    return dict((str(k), to_metadata_value(v)) for k, v in props.items())


def _canonical(meta):
    if not isinstance(meta, dict):
        return None
    kind = meta.get("metadataType")
    value = meta.get(_VALUE_FIELDS.get(kind, ""))
    if kind == "MetadataIntValue" and value is not None:
        value = str(value)
    elif kind == "MetadataDoubleValue" and value is not None:
        value = float(value)
    return (kind, value)


def _same(current, desired):
    # The registry drops empty strings; "" and absent are the same description.
    if current in (None, "") and desired in (None, ""):
        return True
    return current == desired


def desired_fields(spec, fields, with_state=True):
    """The registry body for the managed, set fields of one entity spec."""
    body = {}
    for api_name, opt_name in fields:
        if spec.get(opt_name) is not None:
            body[api_name] = spec[opt_name]
    props = to_custom_properties(spec.get("custom_properties"))
    if props is not None:
        body["customProperties"] = props
    if with_state:
        body["state"] = LIVE
    return body


def drift(current, desired):
    """Return the PATCH body: the desired fields whose current value differs.

    ``customProperties`` is compared key by key; when any enforced key differs the
    patch carries the whole merged map (current keys kept, enforced keys set), so it
    is correct whether the server replaces or merges the map.
    """
    patch = {}
    for key, want in desired.items():
        if key in IDENTITY_KEYS:
            continue
        if key == "customProperties":
            have = current.get("customProperties") or {}
            merged = copy.deepcopy(have)
            for pkey, pval in want.items():
                if _canonical(have.get(pkey)) != _canonical(pval):
                    merged[pkey] = pval
            if merged != have:
                patch["customProperties"] = merged
        elif not _same(current.get(key), want):
            patch[key] = want
    return patch


def view(entity, desired):
    """The managed part of an entity, for --diff (only the keys the module manages)."""
    if entity is None:
        return {}
    out = {"id": entity.get("id"), "name": entity.get("name")}
    for key in desired:
        if key == "customProperties":
            have = entity.get("customProperties") or {}
            out[key] = dict((k, have[k]) for k in sorted(have))
        elif key not in IDENTITY_KEYS:
            out[key] = entity.get(key)
    return out


class EnsureResult:
    """What ensure() did (or would do in check mode)."""

    def __init__(self):
        self.changed = False
        self.actions = []
        self.before = {}
        self.after = {}
        self.ids = {"registered_model_id": None, "model_version_id": None,
                    "model_artifact_id": None}
        self.objects = {"registered_model": None, "model_version": None, "model_artifact": None}

    def as_dict(self):
        out = dict(changed=self.changed, actions=self.actions)
        out.update(self.ids)
        out.update(self.objects)
        return out


def _ensure_one(result, key, label, existing, desired, create, patch_fn, check_mode):
    """Create or patch one entity; returns the entity as the registry now has it.

    In check mode the returned entity is the existing one (or None when it would be
    created), and nothing is written.
    """
    result.before[key] = view(existing, desired)
    if existing is None:
        result.changed = True
        result.actions.append("create %s" % label)
        result.after[key] = view(dict(desired, id=None), desired)
        return None if check_mode else create(desired)
    patch = drift(existing, desired)
    merged = dict(existing)
    merged.update(patch)
    result.after[key] = view(merged, desired)
    if not patch:
        return existing
    result.changed = True
    result.actions.append("update %s: %s" % (label, ", ".join(sorted(patch))))
    if check_mode:
        return existing
    # The server resets an artifact's state to UNKNOWN on a PATCH without `state`
    # (seen on v0.2.22 and v0.3.0), so the state always travels with the drifted fields.
    body = dict(patch, state=desired["state"]) if "state" in desired else patch
    return patch_fn(existing["id"], body)


def find_artifact(client, version_id, name):
    """The ModelArtifact called ``name`` among the version's artifacts, or None.

    The list endpoint ignores its ``name`` query parameter (v0.2.19 to v0.2.22), so the
    match is made here.
    """
    for item in client.list_version_artifacts(version_id):
        if item.get("artifactType", MODEL_ARTIFACT) == MODEL_ARTIFACT and item.get("name") == name:
            return item
    return None


def ensure(client, model_spec, version_spec=None, artifact_spec=None, check_mode=False):
    """Ensure the RegisteredModel, and optionally its ModelVersion and ModelArtifact.

    ``model_spec``: name, description, owner, custom_properties.
    ``version_spec``: name, author, description, custom_properties.
    ``artifact_spec``: name (default: the registered model name, as the registry's
    Python client does), uri, description, model_format_name, model_format_version,
    storage_key, storage_path.
    Returns an EnsureResult; raises RegistryError from the client.
    """
    result = EnsureResult()

    model_name = model_spec["name"]
    desired = dict(desired_fields(model_spec, MODEL_FIELDS), name=model_name)
    existing = client.find_registered_model(model_name)
    model = _ensure_one(result, "registered_model", "RegisteredModel '%s'" % model_name,
                        existing, desired, client.create_registered_model,
                        client.patch_registered_model, check_mode)
    result.objects["registered_model"] = model
    result.ids["registered_model_id"] = model and model.get("id")
    if version_spec is None:
        return result

    version_name = version_spec["name"]
    label = "ModelVersion '%s' of '%s'" % (version_name, model_name)
    desired = dict(desired_fields(version_spec, VERSION_FIELDS), name=version_name)
    existing = None
    if model is not None:
        desired["registeredModelId"] = model["id"]
        existing = client.find_model_version(version_name, model["id"])
    version = _ensure_one(result, "model_version", label, existing, desired,
                          lambda body: client.create_model_version(model["id"], body),
                          client.patch_model_version, check_mode)
    result.objects["model_version"] = version
    result.ids["model_version_id"] = version and version.get("id")
    if artifact_spec is None:
        return result

    artifact_name = artifact_spec.get("name") or model_name
    label = "ModelArtifact '%s' of version '%s'" % (artifact_name, version_name)
    desired = dict(desired_fields(artifact_spec, ARTIFACT_FIELDS), name=artifact_name,
                   artifactType=MODEL_ARTIFACT)
    existing = find_artifact(client, version["id"], artifact_name) if version else None
    artifact = _ensure_one(
        result, "model_artifact", label, existing, desired,
        lambda body: client.create_version_artifact(version["id"], body),
        # artifactType tells the server which oneOf member the PATCH body is.
        lambda aid, body: client.patch_model_artifact(aid, dict(body, artifactType=MODEL_ARTIFACT)),
        check_mode)
    result.objects["model_artifact"] = artifact
    result.ids["model_artifact_id"] = artifact and artifact.get("id")
    return result
