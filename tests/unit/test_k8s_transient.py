# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s/transient.py: which failures of the Kubernetes API are retried while its server restarts, and the
one sentence when it never comes back (the lab test: tests/integration/test_site_midrun_faults.py)."""

import sys
from pathlib import Path

import pytest
import urllib3
from kubernetes.client.rest import ApiException

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import transient  # noqa: E402

URL = "https://api.example:6443/apis/serving.kserve.io/v1beta1/namespaces/p/inferenceservices/m"


class Clock(object):
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Resp(object):
    def __init__(self, data):
        self.data = data


def refused():
    return urllib3.exceptions.MaxRetryError(None, URL, urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"))


def api(status, reason="x"):
    return ApiException(status=status, reason=reason)


def wrapper(answers, ready=("ok",)):
    """A TransientRetry whose request answers ``answers`` in turn (an exception is raised) and whose
    /readyz answers ``ready`` in turn; returns it and the calls made."""
    calls, answers, ready = [], list(answers), list(ready)

    def request(rest, method, url, *args, **kwargs):
        calls.append((method, url))
        if url.endswith("/readyz"):
            status = ready.pop(0) if len(ready) > 1 else ready[0]
            return Resp(status.encode())
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = Clock()
    return transient.TransientRetry(request, timeout=60, clock=clock, sleep=clock.sleep), calls, clock


def test_connection_refused_then_answer_is_retried():
    retry, calls, dummy = wrapper([refused(), refused(), Resp(b"{}")])
    assert retry(None, "PATCH", URL).data == b"{}"
    assert len(calls) == 3


def test_a_403_while_the_server_is_not_ready_is_retried_and_a_403_when_ready_is_not():
    retry, calls, dummy = wrapper([refused(), api(403, "Forbidden"), Resp(b"{}")],
                                  ready=["[-]poststarthook/rbac/bootstrap-roles failed\nreadyz check failed", "ok"])
    assert retry(None, "GET", URL).data == b"{}"
    assert [u.rsplit("/", 1)[-1] for _m, u in calls] == ["m", "m", "readyz", "m"]
    retry, calls, dummy = wrapper([api(403, "Forbidden")], ready=["ok"])
    with pytest.raises(ApiException) as info:
        retry(None, "GET", URL)
    assert info.value.status == 403 and len(calls) == 2


def test_server_errors_are_retried_except_on_post_and_client_errors_never():
    retry, calls, dummy = wrapper([api(503), api(500), Resp(b"{}")])
    assert retry(None, "PUT", URL).data == b"{}"
    for method, status in (("POST", 503), ("GET", 404), ("PATCH", 409), ("PATCH", 422)):
        retry, calls, dummy = wrapper([api(status)])
        with pytest.raises(ApiException):
            retry(None, method, URL)
        assert len(calls) == 1, (method, status)


def test_a_server_that_never_comes_back_fails_with_one_sentence_after_the_bound():
    retry, calls, clock = wrapper([refused()] * 1000)
    with pytest.raises(transient.APIUnavailable) as info:
        retry(None, "PATCH", URL)
    assert info.value.msg == ("The Kubernetes API server at https://api.example:6443 did not answer for 60s (PATCH, "
                              "last: connection refused): check that it is up and reachable from here, then run the "
                              "playbook again.")
    assert 59 <= clock.now <= 61 and 5 < len(calls) < 1000
