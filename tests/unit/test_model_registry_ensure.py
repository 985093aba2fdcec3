"""Unit tests of the model_registry ensure/drift/diff logic with an in-memory registry.

The integration tests run the same logic against the real model-registry server; these cover
what that server cannot be made to produce on demand: ids and values typed differently by
another writer (int_value as a number), ARCHIVED entities, artifacts of another type with the
same name, and exact PATCH bodies (the server does not echo what it was sent).
"""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.model_registry import (  # noqa: E402
    ensure as mre,
)


class StubRegistry:
    """Holds entities like the registry does and records every write."""

    def __init__(self):
        self.models, self.versions, self.artifacts = {}, {}, {}
        self.writes = []
        self._next = 0

    def _id(self):
        self._next += 1
        return str(self._next)

    def find_registered_model(self, name):
        return next((copy.deepcopy(m) for m in self.models.values() if m["name"] == name), None)

    def find_model_version(self, name, rm_id):
        return next((copy.deepcopy(v) for v in self.versions.values()
                     if v["name"] == name and v["registeredModelId"] == rm_id), None)

    def list_version_artifacts(self, version_id):
        return [copy.deepcopy(a) for a in self.artifacts.values() if a["_parent"] == version_id]

    def _create(self, store, kind, body, **extra):
        self.writes.append(("POST", kind, copy.deepcopy(body)))
        obj = dict(copy.deepcopy(body), id=self._id(), **extra)
        store[obj["id"]] = obj
        return copy.deepcopy(obj)

    def _patch(self, store, kind, oid, body):
        self.writes.append(("PATCH", kind, copy.deepcopy(body)))
        store[oid].update(copy.deepcopy(body))
        return copy.deepcopy(store[oid])

    def create_registered_model(self, body):
        return self._create(self.models, "model", body)

    def create_model_version(self, rm_id, body):
        return self._create(self.versions, "version", dict(body, registeredModelId=rm_id))

    def create_version_artifact(self, version_id, body):
        return self._create(self.artifacts, "artifact", body, _parent=version_id)

    def patch_registered_model(self, oid, body):
        return self._patch(self.models, "model", oid, body)

    def patch_model_version(self, oid, body):
        return self._patch(self.versions, "version", oid, body)

    def patch_model_artifact(self, oid, body):
        return self._patch(self.artifacts, "artifact", oid, body)


MODEL = {"name": "Mistral-Small", "description": "Mistral Small 3", "owner": "platform-team",
         "custom_properties": {"approved": True, "tier": "gold"}}
VERSION = {"name": "2501-bf16", "author": "Mistral AI", "description": None,
           "custom_properties": {"dtype": "bfloat16"}}
ARTIFACT = {"name": None, "uri": "s3://models/m/bf16?endpoint=http%3A%2F%2Fminio&defaultRegion=us-east-1",
            "description": None, "model_format_name": "vLLM", "model_format_version": "1",
            "storage_key": "models-s3", "storage_path": "m/bf16"}


_DEFAULT = object()  # artifact=None means "no artifact", so the default needs a sentinel


def run(stub, check_mode=False, model=_DEFAULT, version=_DEFAULT, artifact=_DEFAULT):
    model = MODEL if model is _DEFAULT else model
    version = VERSION if version is _DEFAULT else version
    artifact = ARTIFACT if artifact is _DEFAULT else artifact
    return mre.ensure(stub, model, version, artifact, check_mode=check_mode)


def test_fresh_creates_three_entities_in_order_with_metadata_values():
    stub = StubRegistry()
    res = run(stub)
    assert res.changed
    assert [w[:2] for w in stub.writes] == [("POST", "model"), ("POST", "version"), ("POST", "artifact")]
    model_body = stub.writes[0][2]
    assert model_body["state"] == "LIVE"
    assert model_body["customProperties"] == {
        "approved": {"metadataType": "MetadataStringValue", "string_value": "true"},
        "tier": {"metadataType": "MetadataStringValue", "string_value": "gold"}}
    art = stub.writes[2][2]
    # The artifact is named after the registered model by default (as the registry's client does).
    assert art["name"] == "Mistral-Small" and art["artifactType"] == "model-artifact"
    assert art["storageKey"] == "models-s3" and art["modelFormatName"] == "vLLM"
    assert "description" not in art  # unset options are not sent
    assert res.ids == {"registered_model_id": "1", "model_version_id": "2", "model_artifact_id": "3"}


def test_second_run_writes_nothing_and_returns_same_ids():
    stub = StubRegistry()
    first = run(stub)
    writes = len(stub.writes)
    second = run(stub)
    assert not second.changed and second.actions == []
    assert len(stub.writes) == writes
    assert second.ids == first.ids


def test_check_mode_on_empty_registry_reports_creations_without_writing():
    stub = StubRegistry()
    res = run(stub, check_mode=True)
    assert res.changed and stub.writes == []
    assert len(res.actions) == 3 and all(a.startswith("create ") for a in res.actions)
    assert res.ids == {"registered_model_id": None, "model_version_id": None, "model_artifact_id": None}
    assert res.before["registered_model"] == {}
    assert res.after["model_artifact"]["uri"] == ARTIFACT["uri"]


def test_drift_patches_only_drifted_fields_and_keeps_foreign_custom_properties():
    stub = StubRegistry()
    run(stub)
    # Someone edits the model in the dashboard: a new label, our property changed, description.
    stub.models["1"]["customProperties"]["team-label"] = {"metadataType": "MetadataStringValue", "string_value": ""}
    stub.models["1"]["customProperties"]["tier"]["string_value"] = "bronze"
    stub.models["1"]["description"] = "edited"
    stub.writes.clear()
    res = run(stub)
    assert res.changed
    assert [w[:2] for w in stub.writes] == [("PATCH", "model")]
    body = stub.writes[0][2]
    # Only drifted fields, plus the state (the server resets an artifact's state on a PATCH without it).
    assert set(body) == {"customProperties", "description", "state"}
    assert body["customProperties"]["tier"]["string_value"] == "gold"
    assert "team-label" in body["customProperties"]  # merged, not dropped
    assert res.actions == ["update RegisteredModel 'Mistral-Small': customProperties, description"]
    assert res.before["registered_model"]["description"] == "edited"
    assert res.after["registered_model"]["description"] == "Mistral Small 3"


def test_check_mode_drift_reports_update_without_writing():
    stub = StubRegistry()
    run(stub)
    stub.artifacts["3"]["uri"] = "s3://elsewhere/x"
    stub.writes.clear()
    res = run(stub, check_mode=True)
    assert res.changed and stub.writes == []
    assert res.actions == ["update ModelArtifact 'Mistral-Small' of version '2501-bf16': uri"]
    assert res.ids["model_artifact_id"] == "3"


def test_archived_entities_are_made_live_again():
    stub = StubRegistry()
    run(stub)
    stub.versions["2"]["state"] = "ARCHIVED"
    stub.writes.clear()
    run(stub)
    assert stub.writes == [("PATCH", "version", {"state": "LIVE"})]


def test_typed_values_from_other_writers_compare_by_value():
    # The server returns int_value as a string; a caller may pass it as a number.
    stub = StubRegistry()
    model = dict(MODEL, custom_properties={"params": {"metadataType": "MetadataIntValue", "int_value": 24}})
    run(stub, model=model)
    stub.models["1"]["customProperties"]["params"]["int_value"] = "24"
    stub.writes.clear()
    assert not run(stub, model=model).changed


def test_empty_description_equals_absent():
    # The registry drops empty strings, so "" must not be drift on every run.
    stub = StubRegistry()
    model = dict(MODEL, description="")
    run(stub, model=model)
    del stub.models["1"]["description"]
    stub.writes.clear()
    assert not run(stub, model=model).changed


def test_artifact_of_other_type_with_same_name_is_ignored():
    stub = StubRegistry()
    run(stub, artifact=None)
    stub.artifacts["99"] = {"id": "99", "name": "Mistral-Small", "artifactType": "doc-artifact",
                            "uri": "https://docs", "_parent": "2"}
    res = run(stub)
    assert res.actions == ["create ModelArtifact 'Mistral-Small' of version '2501-bf16'"]
    assert res.ids["model_artifact_id"] not in (None, "99")


def test_model_only_leaves_version_and_artifact_alone():
    stub = StubRegistry()
    res = mre.ensure(stub, {"name": "only"}, None, None)
    assert res.ids["model_version_id"] is None and len(stub.writes) == 1
    assert stub.writes[0][2] == {"name": "only", "state": "LIVE"}


@pytest.mark.parametrize("value, expected", [
    ("x", {"metadataType": "MetadataStringValue", "string_value": "x"}),
    (False, {"metadataType": "MetadataStringValue", "string_value": "false"}),
    (3, {"metadataType": "MetadataStringValue", "string_value": "3"}),
    (None, {"metadataType": "MetadataStringValue", "string_value": ""}),
    ({"metadataType": "MetadataBoolValue", "bool_value": True},
     {"metadataType": "MetadataBoolValue", "bool_value": True}),
])
def test_to_metadata_value(value, expected):
    assert mre.to_metadata_value(value) == expected
