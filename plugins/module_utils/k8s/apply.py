# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply with strict field validation.

kubernetes.core's ``k8s`` module cannot ask the API server for ``fieldValidation=Strict``: an
unknown or misspelled field in a manifest is dropped with a warning and the object is written
anyway. A typo in an InferenceService then deploys something other than what the user wrote.
These helpers send the apply request themselves (``k8s.client``: kubernetes.core's connection
options), so the API server rejects such a manifest before anything is written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError

import copy
import json

REDACTED = "**REDACTED**"
REDACTED_CHANGED = "**REDACTED (changed)**"

# Fields the server owns: comparing them would report a change on every apply.
_VOLATILE_METADATA = ("managedFields", "resourceVersion", "generation", "creationTimestamp", "uid")


class ApplyError(ModuleError):
    """An apply the API server refused, with the server's own reason and message (``causes``:
    the server's status details)."""

    def __init__(self, msg, status=None, reason=None, causes=None):
        super(ApplyError, self).__init__(msg, status=status, reason=reason, causes=causes)


def object_ref(definition):
    """Human name of an object: ``Kind namespace/name`` (``Kind name`` when cluster-scoped)."""
    meta = definition.get("metadata") or {}
    name = meta.get("name", "<no name>")
    if meta.get("namespace"):
        name = "%s/%s" % (meta["namespace"], name)
    return "%s %s" % (definition.get("kind", "<no kind>"), name)


def normalize(obj):
    """Copy of ``obj`` without the fields the server changes on its own (for comparison)."""
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    meta = obj.get("metadata") or {}
    for key in _VOLATILE_METADATA:
        meta.pop(key, None)
    return obj


def redact_secret(obj, other=None):
    """Return ``obj`` with every Secret value replaced; marks values that differ from ``other``."""
    if obj is None or obj.get("kind") != "Secret":
        return obj
    obj = copy.deepcopy(obj)
    other = other or {}
    for field in ("data", "stringData"):
        values = obj.get(field)
        if not isinstance(values, dict):
            continue
        theirs = other.get(field) or {}
        for key in values:
            same = other == {} or theirs.get(key) == values[key]
            values[key] = REDACTED if same else REDACTED_CHANGED
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    # kubectl apply keeps a full copy of the object, Secret data included, in this annotation.
    if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = REDACTED
    return obj


def _error_from_api(exc, definition):
    return ApplyError(
        "The API server refused %s: %s" % (object_ref(definition), exc.message),
        status=exc.status, reason=exc.reason, causes=exc.status_details() or None,
    )


class StrictApplier(object):
    """Applies manifests through a ``k8s.client`` client (``KubeClient`` or kubernetes.core's
    ``CoreClient``) with strict field validation."""

    def __init__(self, client, field_manager, force_conflicts=True, dry_run=False, dry_run_new=True):
        self.client = client
        self.field_manager = field_manager
        self.force_conflicts = force_conflicts
        self.dry_run = dry_run
        self.dry_run_new = dry_run_new

    def _resource(self, definition):
        """Where the kind lives; a kind the cluster does not serve raises ResourceNotFound."""
        return self.client.resource(definition["apiVersion"], definition["kind"])

    def _call(self, method, path, query, body=None, content_type=None):
        return self.client.request(method, path, query, body=body, content_type=content_type)

    def get(self, resource, name, namespace):
        try:
            return self.client.request("GET", resource.path(name=name, namespace=namespace))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def apply(self, definition, namespace=None):
        """Apply one object. Returns ``(before, after)``; ``before`` is None when it is new."""
        before = None
        for key in ("apiVersion", "kind"):
            if not definition.get(key):
                raise ApplyError("The manifest has no %s: %s" % (key, json.dumps(definition)[:200]))
        meta = definition.setdefault("metadata", {})
        if not meta.get("name"):
            raise ApplyError("The manifest of a %s has no metadata.name." % definition["kind"])
        resource = self._resource(definition)
        if resource.namespaced:
            meta["namespace"] = meta.get("namespace") or namespace
            if not meta["namespace"]:
                raise ApplyError("%s is namespaced but no namespace was given." % object_ref(definition))
        else:
            meta.pop("namespace", None)
        path = resource.path(name=meta["name"], namespace=meta.get("namespace"))
        query = [
            ("fieldManager", self.field_manager),
            ("fieldValidation", "Strict"),
            ("force", "true" if self.force_conflicts else "false"),
        ]
        if self.dry_run:
            query.append(("dryRun", "All"))
        try:
            before = self.get(resource, meta["name"], meta.get("namespace"))
            if self.dry_run and before is None and not self.dry_run_new:
                return None, definition
            after = self._call("PATCH", path, query, body=definition,
                               content_type="application/apply-patch+yaml")
        except ApiError as exc:
            if self.dry_run and before is None and self._namespace_missing(exc, meta.get("namespace")):
                # Check mode on a cluster where the namespace does not exist yet (the run would
                # create it first): the server cannot dry-run into it, so show the manifest as is.
                return None, definition
            raise _error_from_api(exc, definition)
        return before, after

    def show(self, definition, namespace=None):
        """Check mode for an object the server cannot dry-run yet: ``(before, definition)``."""
        resource = self._resource(definition)
        meta = definition.setdefault("metadata", {})
        if resource.namespaced:
            meta["namespace"] = meta.get("namespace") or namespace
        before = self.get(resource, meta.get("name"), meta.get("namespace")) if meta.get("name") else None
        return before, definition

    @staticmethod
    def _namespace_missing(exc, namespace):
        if exc.status != 404 or not namespace:
            return False
        details = exc.status_details()
        return details.get("kind") == "namespaces" and details.get("name") == namespace


def _owner_uids(applier, definition, applied, namespace):
    """Complete the ownerReferences of ``definition`` that have no uid, with the uid of the owner
    applied earlier in the same call or read from the cluster (an owner is in its dependent's
    namespace). Returns False when an owner has no uid yet: check mode, where a new owner was only
    shown, so its dependents can only be shown too."""
    meta = definition.get("metadata") or {}
    ns = meta.get("namespace") or namespace
    complete = True
    for ref in meta.get("ownerReferences") or []:
        if ref.get("uid"):
            continue
        key = (ref.get("apiVersion"), ref.get("kind"), ref.get("name"))
        owner = applied.get(key)
        if owner is None:
            resource = applier._resource({"apiVersion": key[0], "kind": key[1]})
            owner = applier.get(resource, key[2], ns if resource.namespaced else None)
        uid = ((owner or {}).get("metadata") or {}).get("uid")
        if uid:
            ref["uid"] = uid
        elif applier.dry_run:
            complete = False
        else:
            raise ApplyError("%s names its owner %s %s, which does not exist." % (object_ref(definition), key[1], key[2]))
    return complete


def apply_all(applier, definitions, namespace=None):
    """Apply every definition; returns a list of dicts ``{before, after, changed}``. An
    ownerReference without a uid gets its owner's (``_owner_uids``)."""
    results = []
    applied = {}
    for definition in definitions:
        definition = copy.deepcopy(definition)
        if _owner_uids(applier, definition, applied, namespace):
            before, after = applier.apply(definition, namespace=namespace)
        else:
            before, after = applier.show(definition, namespace=namespace)
        results.append({
            "before": before,
            "after": after,
            "changed": normalize(before) != normalize(after),
        })
        applied[(after.get("apiVersion"), after.get("kind"), (after.get("metadata") or {}).get("name"))] = after
    return results


def _strip(obj):
    if obj is None:
        return None
    obj = copy.deepcopy(obj)
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def report(results, diff=False):
    """A module result from ``apply_all``'s results: ``changed``, ``result`` (the objects as the
    server returned them, Secret values redacted, managedFields removed), ``objects`` (reference,
    changed, created) and, with ``diff``, the objects before and after as YAML documents."""
    import yaml  # the modules' import check reports a missing PyYAML

    objects, returned, before_docs, after_docs = [], [], [], []
    for item in results:
        before = redact_secret(_strip(item["before"]))
        after = redact_secret(_strip(item["after"]), other=_strip(item["before"]))
        objects.append({"ref": object_ref(item["after"]), "changed": item["changed"],
                        "created": item["before"] is None})
        returned.append(after)
        if item["changed"]:
            before_docs.append(before or {})
            after_docs.append(after)
    out = dict(changed=any(item["changed"] for item in results), result=returned, objects=objects)
    if diff and out["changed"]:
        out["diff"] = dict(
            before=yaml.safe_dump_all(before_docs, sort_keys=True) if before_docs else "",
            after=yaml.safe_dump_all(after_docs, sort_keys=True),
        )
    return out


class Cluster(object):
    """Reads, applies and patches through one client (``k8s.client.connect``) in one module run:
    what a role's several ``k8s_info`` and ``k8s`` tasks did, without a process each. Requests the
    server answers with an error raise ``k8s.client.ApiError`` (``status``, ``reason``, ``body``)."""

    def __init__(self, client, field_manager, dry_run=False):
        self.client = client
        self.applier = StrictApplier(client, field_manager, dry_run=dry_run)
        self.field_manager = field_manager
        self.dry_run = dry_run

    def _resource(self, api_version, kind):
        return self.applier._resource({"apiVersion": api_version, "kind": kind})

    def get(self, api_version, kind, name, namespace=None):
        """The object as a dict, or None when it does not exist."""
        return self.applier.get(self._resource(api_version, kind), name, namespace)

    def list(self, api_version, kind, namespace=None, label_selector=None):
        """The items of a LIST, as dicts."""
        path = self._resource(api_version, kind).path(namespace=namespace)
        return self.client.request("GET", path, [("labelSelector", label_selector)]).get("items") or []

    def apply(self, definition, namespace=None):
        """Server-side apply (strict, dry run in check mode); returns ``{before, after, changed}``."""
        return apply_all(self.applier, [definition], namespace=namespace)[0]

    def merge_patch(self, api_version, kind, name, namespace, patch):
        """A JSON merge patch (RFC 7386), which changes only the fields it names; returns the object."""
        ref = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}}
        query = [("fieldManager", self.field_manager), ("fieldValidation", "Strict")]
        if self.dry_run:
            query.append(("dryRun", "All"))
        path = self._resource(api_version, kind).path(name=name, namespace=namespace)
        try:
            return self.applier._call("PATCH", path, query, body=patch,
                                      content_type="application/merge-patch+json")
        except ApiError as exc:
            raise _error_from_api(exc, ref)

    def write(self, method, definition):
        """POST (create) or PUT (replace, with the resourceVersion read: a conflict is HTTP 409) one
        object; returns it as the server stored it. Raises ApiError as is."""
        meta = definition["metadata"]
        resource = self._resource(definition["apiVersion"], definition["kind"])
        path = resource.path(namespace=meta.get("namespace")) if method == "POST" else \
            resource.path(name=meta["name"], namespace=meta.get("namespace"))
        query = [("fieldManager", self.field_manager), ("fieldValidation", "Strict")]
        if self.dry_run:
            query.append(("dryRun", "All"))
        return self.applier._call(method, path, query, body=definition, content_type="application/json")

    def create(self, definition):
        """POST an object that is not stored (a review): the server's answer, dry run or not."""
        resource = self._resource(definition["apiVersion"], definition["kind"])
        return self.client.request("POST", resource.path(namespace=(definition.get("metadata") or {}).get("namespace")),
                                   body=definition)

    def delete(self, api_version, kind, name, namespace, resource_version=None):
        """DELETE one object, only at ``resource_version`` when given (a precondition: HTTP 409 when it
        changed). Raises ApiError as is (404 when it is gone)."""
        path = self._resource(api_version, kind).path(name=name, namespace=namespace)
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        query = [("dryRun", "All")] if self.dry_run else []
        return self.applier._call("DELETE", path, query, body=body, content_type="application/json")
