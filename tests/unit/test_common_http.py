"""The HTTP helpers every client of module_utils shares (common/http.py)."""

import io
import sys
from pathlib import Path
from urllib.error import HTTPError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.http import (  # noqa: E402
    error_body,
    excerpt,
    json_request,
    retry_after,
)


def test_excerpt_masks_secrets_and_folds_lines():
    assert excerpt(b"token s3cr3t\n\n here", ["s3cr3t"]) == "token ******** here"
    assert excerpt(None) == "" and len(excerpt("x" * 400)) == 303


def test_retry_after_in_seconds_only():
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after({}) is None and retry_after(None) is None


def test_json_request_and_error_body():
    assert json_request(None) == (None, {})
    assert json_request({"a": 1}) == (b'{"a": 1}', {"Content-Type": "application/json"})
    assert error_body(HTTPError("http://x", 503, "busy", {}, io.BytesIO(b"later"))) == b"later"
    assert error_body(HTTPError("http://x", 503, "busy", {}, None)) == b""
