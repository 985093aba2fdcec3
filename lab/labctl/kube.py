"""Loopback health probes and a minimal Kubernetes REST client (standard library only)."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .base import FIELD_MANAGER, LabError

def tcp_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(url: str, *, ca: Path | None = None, token: str | None = None, timeout: float = 2.0) -> int:
    """Status code of a GET, 0 when the server is not answering."""
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ssl.SSLError, urllib.error.URLError):
        return 0


class Kube:
    """A minimal Kubernetes REST client (stdlib only) for bootstrapping the lab's objects."""

    # kind -> (api path prefix, plural, namespaced)
    KINDS = {
        "Namespace": ("/api/v1", "namespaces", False),
        "ServiceAccount": ("/api/v1", "serviceaccounts", True),
        "Secret": ("/api/v1", "secrets", True),
        "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
        "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
        "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
        "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
        "CustomResourceDefinition": ("/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
        "Infrastructure": ("/apis/config.openshift.io/v1", "infrastructures", False),
        "MachineSet": ("/apis/machine.openshift.io/v1beta1", "machinesets", True),
        "ConfigMap": ("/api/v1", "configmaps", True),
        "Template": ("/apis/template.openshift.io/v1", "templates", True),
        "MutatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1",
                                         "mutatingwebhookconfigurations", False),
        "ValidatingWebhookConfiguration": ("/apis/admissionregistration.k8s.io/v1",
                                           "validatingwebhookconfigurations", False),
    }

    def __init__(self, server: str, token: str, ca: Path) -> None:
        self.server = server
        self.token = token
        self.ctx = ssl.create_default_context(cafile=str(ca))

    def request(self, method: str, path: str, body=None, content_type: str = "application/json",
                query: dict | None = None):
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ctx) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else {})
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, {"message": raw.decode(errors="replace")[:300]}

    def path(self, obj: dict, subresource: str = "") -> str:
        kind = obj["kind"]
        prefix, plural, namespaced = self.KINDS[kind]
        meta = obj["metadata"]
        ns = f"/namespaces/{meta['namespace']}" if namespaced else ""
        sub = f"/{subresource}" if subresource else ""
        return f"{prefix}{ns}/{plural}/{meta['name']}{sub}"

    def apply(self, obj: dict, subresource: str = "", retry_not_found: float = 0.0) -> dict:
        """Server-side apply (force) with strict field validation; retries while a new CRD is served."""
        deadline = time.monotonic() + retry_not_found
        while True:
            status, body = self.request(
                "PATCH", self.path(obj, subresource), obj, "application/apply-patch+yaml",
                {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"})
            if status < 300:
                return body
            if status == 404 and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise LabError(f"applying {obj['kind']} {obj['metadata']['name']} failed with HTTP {status}: "
                           f"{body.get('message', body)}")

    def create_if_absent(self, obj: dict, retry_not_found: float = 0.0) -> bool:
        """Create an object unless it exists (the lab's seed objects are never reset by `up`)."""
        status, _ = self.request("GET", self.path(obj))
        if status == 200:
            return False
        self.apply(obj, retry_not_found=retry_not_found)
        return True

    def get(self, obj: dict) -> tuple[int, dict]:
        return self.request("GET", self.path(obj))
