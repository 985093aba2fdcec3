"""Unit tests of the Model Registry REST client's error mapping, against a local HTTP server.

The real registry (lab) has no authenticating proxy and never answers a wrong path with plain
text, a redirect to a login page or an HTML 200, so those answers are scripted here.
"""

import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.model_registry.client import (  # noqa: E402
    API_PATH,
    RegistryClient,
    RegistryError,
    api_base,
)

TOKEN = "sha256~unit-test-secret-token"


class Script:
    """path -> (status, content type, body, extra headers); requests are recorded."""

    def __init__(self):
        self.routes = {}
        self.seen = []


class _Answered(Exception):
    """Raised by a callable route that wrote its own response."""


def make_handler(script):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.seen.append((self.command, self.path, dict(self.headers), body))
            key = self.path.split("?")[0]
            status, ctype, payload, headers = script.routes.get(
                key, (404, "text/plain", b"404 page not found\n", {}))
            if callable(payload):
                try:
                    payload = payload(self)
                except _Answered:
                    return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture()
def server():
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    script.url = "http://127.0.0.1:%d" % httpd.server_address[1]
    yield script
    httpd.shutdown()
    httpd.server_close()


def jbody(obj):
    return json.dumps(obj).encode()


def test_api_base_accepts_url_with_or_without_api_path():
    assert api_base("http://h:8080/") == "http://h:8080" + API_PATH
    assert api_base("http://h:8080" + API_PATH + "/") == "http://h:8080" + API_PATH
    with pytest.raises(RegistryError, match="must start with http"):
        api_base("h:8080")


def test_find_sends_bearer_token_and_name_query(server):
    server.routes[API_PATH + "/registered_model"] = (200, "application/json", jbody({"id": "7", "name": "a b"}), {})
    client = RegistryClient(server.url, token=TOKEN)
    assert client.find_registered_model("a b")["id"] == "7"
    method, path, headers = server.seen[-1][:3]
    assert path == API_PATH + "/registered_model?name=a+b"
    assert headers["Authorization"] == "Bearer " + TOKEN


def test_registry_404_json_means_absent(server):
    server.routes[API_PATH + "/model_version"] = (
        404, "application/json", jbody({"code": "", "message": "no model version found"}), {})
    assert RegistryClient(server.url).find_model_version("v", "1") is None


def test_router_404_plain_text_is_an_error_not_absent(server):
    # A wrong base URL answers 404 with the router's text; that must not read as "absent".
    client = RegistryClient(server.url + "/wrong")
    with pytest.raises(RegistryError) as err:
        client.find_registered_model("m")
    assert err.value.status == 404
    assert "404 page not found" in err.value.msg


def test_401_with_token_is_one_sentence_without_the_token(server):
    server.routes[API_PATH + "/registered_model"] = (
        401, "text/plain", ("Unauthorized token " + TOKEN).encode(), {})
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, token=TOKEN).find_registered_model("m")
    assert err.value.status == 401
    assert "rejected the token" in err.value.msg and "(HTTP 401)" in err.value.msg
    assert TOKEN not in str(err.value.as_dict()) and TOKEN not in err.value.msg


def test_403_without_token_says_a_token_is_needed(server):
    server.routes[API_PATH + "/registered_model"] = (403, "text/plain", b"Forbidden", {})
    with pytest.raises(RegistryError, match=r"requires a bearer token.*\(HTTP 403\)"):
        RegistryClient(server.url).find_registered_model("m")


def test_redirect_to_login_page_is_not_followed(server):
    server.routes[API_PATH + "/registered_model"] = (
        302, "text/html", b"", {"Location": "https://oauth.example/authorize"})
    with pytest.raises(RegistryError, match=r"redirected GET \(HTTP 302\)"):
        RegistryClient(server.url, token=TOKEN).find_registered_model("m")


def test_500_carries_status_and_body_excerpt(server, fake_time):
    server.routes[API_PATH + "/registered_models"] = (
        500, "application/json", jbody({"code": "", "message": "db is gone " + "x" * 1000}), {})
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, **fake_time.retry_kwargs()).create_registered_model({"name": "m"})
    assert err.value.status == 500
    assert "POST" in err.value.msg and "HTTP 500" in err.value.msg and "db is gone" in err.value.msg
    assert len(err.value.body) <= 303


def test_html_200_is_reported_as_not_the_api(server):
    server.routes[API_PATH + "/registered_model"] = (200, "text/html", b"<html>login</html>", {})
    with pytest.raises(RegistryError, match="not JSON"):
        RegistryClient(server.url).find_registered_model("m")


def test_artifact_list_follows_pages(server):
    pages = {"": {"items": [{"id": "1"}], "nextPageToken": "p2", "size": 1, "pageSize": 1},
             "p2": {"items": [{"id": "2"}], "nextPageToken": "", "size": 1, "pageSize": 1}}

    def page(handler):
        token = handler.path.partition("nextPageToken=")[2].split("&")[0]
        return jbody(pages[token])

    server.routes[API_PATH + "/model_versions/5/artifacts"] = (200, "application/json", page, {})
    assert [a["id"] for a in RegistryClient(server.url).list_version_artifacts("5")] == ["1", "2"]


def test_connection_refused_names_the_url_at_once(fake_time):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RegistryError) as err:
        RegistryClient("http://127.0.0.1:%d" % port, token=TOKEN,
                       **fake_time.retry_kwargs()).find_registered_model("m")
    assert fake_time.sleeps == []  # no answer is not retried: a wrong url is said at once
    assert err.value.msg == ("Cannot reach the Model Registry at http://127.0.0.1:%d%s: connection refused "
                             "(is the registry running and the url right?)." % (port, API_PATH))
    assert err.value.status is None


def scripted(answers):
    """A route answering (status, body, headers) from ``answers`` in order."""
    def flaky(handler):
        status, payload, headers = answers.pop(0)
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
        raise _Answered()
    return (200, "application/json", flaky, {})


def test_503_while_the_registry_connects_is_retried(server, fake_time):
    answers = [(503, b"datastore not available", {}), (200, jbody({"id": "9", "name": "m"}), {})]
    server.routes[API_PATH + "/registered_model"] = scripted(answers)
    client = RegistryClient(server.url, **fake_time.retry_kwargs())
    assert client.find_registered_model("m")["id"] == "9"
    assert answers == [] and len(fake_time.sleeps) == 1 and 0 <= fake_time.sleeps[0] <= 2.0


def test_persistent_503_is_raised_at_the_retry_timeout_with_jittered_backoff(server, fake_time):
    server.routes[API_PATH + "/registered_models"] = (503, "text/plain", b"datastore not available", {})
    start = fake_time.now
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, **fake_time.retry_kwargs()).create_registered_model({"name": "m"})
    assert err.value.status == 503 and "datastore not available" in err.value.msg
    posts = len([s for s in server.seen if s[0] == "POST"])
    assert posts > 4 and fake_time.now - start == pytest.approx(60, abs=0.06)
    assert err.value.msg.endswith("(%d attempts over 60 s)" % posts)
    assert [d <= bound for d, bound in zip(fake_time.sleeps, (2.0, 4.0, 8.0, 8.0))] == [True] * 4


def test_the_registry_database_down_for_40_s_is_waited_for(server, fake_time):
    """The registry answers 500 while its database restarts (the lab's upstream registry: "error listing
    registered models: dial tcp ...: connect: connection refused"); a database pod is back in tens of
    seconds. Before the retry timeout the client gave up after four attempts, at most 14 s."""
    back_at = fake_time.now + 40

    def database(handler):
        if fake_time.now < back_at:
            payload = jbody({"code": "Internal Server Error",
                             "message": "error listing registered models: dial tcp 127.0.0.1:13306: connect: "
                                        "connection refused"})
            handler.send_response(500)
        else:
            payload = jbody({"id": "3", "name": "m"})
            handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
        raise _Answered()

    server.routes[API_PATH + "/registered_model"] = (200, "application/json", database, {})
    assert RegistryClient(server.url, **fake_time.retry_kwargs()).find_registered_model("m")["id"] == "3"
    assert fake_time.now >= back_at


def test_the_database_still_down_at_the_retry_timeout_is_said_as_such(server, fake_time):
    down = {"code": "Internal Server Error",
            "message": "error listing registered models: dial tcp 127.0.0.1:13306: connect: connection refused"}
    server.routes[API_PATH + "/registered_model"] = (500, "application/json", jbody(down), {})
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, retry_timeout=10, **fake_time.retry_kwargs()).find_registered_model("m")
    assert err.value.status == 500
    assert err.value.msg.startswith("The Model Registry at %s%s failed on its side: GET " % (server.url, API_PATH))
    assert "connection refused" in err.value.msg and "check the registry's database pod, then run again" in err.value.msg
    assert "attempts over 10 s)" in err.value.msg


def test_a_retry_timeout_of_0_makes_one_attempt(server, fake_time):
    server.routes[API_PATH + "/registered_model"] = (503, "text/plain", b"datastore not available", {})
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, retry_timeout=0, **fake_time.retry_kwargs()).find_registered_model("m")
    assert len(server.seen) == 1 and fake_time.sleeps == [] and "attempts over" not in err.value.msg


def test_500_and_429_are_retried_and_retry_after_is_honoured(server, fake_time):
    """The shared retryable statuses (common.retry): before them a 500 or 429 failed at once."""
    answers = [(500, b"db connection reset", {}), (429, b"slow down", {"Retry-After": "3"}),
               (201, jbody({"id": "7", "name": "m"}), {})]
    server.routes[API_PATH + "/registered_models"] = scripted(answers)
    client = RegistryClient(server.url, **fake_time.retry_kwargs())
    assert client.create_registered_model({"name": "m"})["id"] == "7"
    assert answers == [] and fake_time.sleeps[1] == 3.0


def test_a_client_error_is_not_retried(server, fake_time):
    server.routes[API_PATH + "/registered_models"] = (
        400, "application/json", jbody({"code": "", "message": "bad name"}), {})
    with pytest.raises(RegistryError, match="HTTP 400"):
        RegistryClient(server.url, **fake_time.retry_kwargs()).create_registered_model({"name": "m"})
    assert fake_time.sleeps == [] and len(server.seen) == 1


def test_403_with_token_says_the_identity_lacks_access_not_that_the_token_is_bad(server):
    server.routes[API_PATH + "/registered_model"] = (403, "text/plain", b"Forbidden (user=x)", {})
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, token=TOKEN).find_registered_model("m")
    assert err.value.status == 403
    assert "the token is valid but its identity may not use this registry (HTTP 403)" in err.value.msg
    assert "registry-user-" in err.value.msg and TOKEN not in err.value.msg


def test_502_from_the_proxy_says_the_registry_behind_it_is_not_answering(server, fake_time):
    # kube-rbac-proxy (OpenShift AI's registry pod) answers 502 with an empty body when the
    # registry container behind it does not answer; that is retried, then said as such.
    server.routes[API_PATH + "/registered_model"] = (502, "text/plain", b"", {})
    with pytest.raises(RegistryError) as err:
        RegistryClient(server.url, token=TOKEN, **fake_time.retry_kwargs()).find_registered_model("m")
    assert err.value.status == 502 and len(server.seen) > 4
    assert err.value.msg == (
        "The Model Registry behind %s%s is not answering: the proxy or router in front of it answered "
        "HTTP 502 to GET; check that the registry's pod is running and ready (%d attempts over 60 s)"
        % (server.url, API_PATH, len(server.seen)))
