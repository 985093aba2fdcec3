# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s/transient.py: which failures of the Kubernetes API are retried while its server restarts, and the
one sentence when it never comes back. A scripted client stands in for the server so the clock can be
stepped (the lab test, an apiserver killed during the InferenceService apply: tests/integration/
test_site_faults.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import transient  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import (  # noqa: E402
    ApiError,
    ConnectionFailed,
)
from stepclock import StepClock  # noqa: E402

PATH = "/apis/serving.kserve.io/v1beta1/namespaces/p/inferenceservices/m"


class Config(object):
    server = "https://api.example:6443"


class Scripted(object):
    """Answers ``answers`` in turn (an exception is raised); /readyz answers ``ready`` in turn."""

    config = Config()

    def __init__(self, answers, ready=("ok",)):
        self.answers, self.ready, self.calls = list(answers), list(ready), []

    def request(self, method, path, *args, **kwargs):
        self.calls.append((method, path))
        if path == "/readyz":
            answer = self.ready.pop(0) if len(self.ready) > 1 else self.ready[0]
            return answer.encode()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def refused():
    return ConnectionFailed("Cannot reach the Kubernetes API at https://api.example:6443: [Errno 111] Connection refused",
                            sent=False)


def dropped():
    return ConnectionFailed("Cannot reach the Kubernetes API at https://api.example:6443: Remote end closed connection "
                            "without response", sent=True)


def wrapped(answers, ready=("ok",)):
    client, clock = Scripted(answers, ready), StepClock()
    return transient.TransientRetry(client, timeout=60, clock=clock, sleep=clock.sleep), client, clock


def test_connection_refused_then_answer_is_retried():
    retry, client, dummy = wrapped([refused(), refused(), {"ok": 1}])
    assert retry.request("PATCH", PATH) == {"ok": 1}
    assert len(client.calls) == 3


def test_a_dropped_post_is_not_sent_again_but_a_refused_one_is():
    retry, client, dummy = wrapped([dropped()])
    with pytest.raises(ConnectionFailed):
        retry.request("POST", PATH)
    retry, client, dummy = wrapped([refused(), {"kind": "Lease"}])
    assert retry.request("POST", PATH) == {"kind": "Lease"}


def test_a_403_while_the_server_is_not_ready_is_retried_and_a_403_when_ready_is_not():
    retry, client, dummy = wrapped([refused(), ApiError(403, "Forbidden"), {}],
                                   ready=["[-]poststarthook/rbac/bootstrap-roles failed\nreadyz check failed", "ok"])
    assert retry.request("GET", PATH) == {}
    assert [p.rsplit("/", 1)[-1] for _m, p in client.calls] == ["m", "m", "readyz", "m"]
    retry, client, dummy = wrapped([ApiError(403, "Forbidden")], ready=["ok"])
    with pytest.raises(ApiError) as info:
        retry.request("GET", PATH)
    assert info.value.status == 403 and len(client.calls) == 2


def test_server_errors_are_retried_except_on_post_and_client_errors_never():
    retry, client, dummy = wrapped([ApiError(503, "x"), ApiError(502, "x"), {}])
    assert retry.request("PUT", PATH) == {}
    # 500: what an admission webhook's error comes back as; its message is for the user at once
    for method, status in (("POST", 503), ("GET", 404), ("PATCH", 409), ("PATCH", 422), ("PATCH", 500)):
        retry, client, dummy = wrapped([ApiError(status, "x")])
        with pytest.raises(ApiError):
            retry.request(method, PATH)
        assert len(client.calls) == 1, (method, status)


def test_a_server_that_never_answered_is_the_clients_sentence_after_a_short_while():
    """A wrong host or kubeconfig should not cost a minute; a certificate that does not verify, not a retry."""
    retry, client, clock = wrapped([refused()] * 1000)
    with pytest.raises(ConnectionFailed) as info:
        retry.request("GET", PATH)
    assert info.value.msg.startswith("Cannot reach the Kubernetes API at https://api.example:6443")
    assert 10 <= clock.now <= 10 + 10  # the window, and at most the last (jittered, capped) backoff past it
    bad_ca = ConnectionFailed("The Kubernetes API at https://api.example:6443 presented a certificate that does not "
                              "verify", sent=False, retry=False)
    retry, client, clock = wrapped([bad_ca])
    with pytest.raises(ConnectionFailed):
        retry.request("GET", PATH)
    assert len(client.calls) == 1 and clock.now == 0


def test_a_server_that_never_comes_back_fails_with_one_sentence_after_the_bound():
    retry, client, clock = wrapped([{}] + [refused()] * 1000)
    retry.request("GET", PATH)  # it answered once: then it went away (a restart)
    with pytest.raises(transient.APIUnavailable) as info:
        retry.request("PATCH", PATH)
    assert info.value.msg == ("The Kubernetes API server at https://api.example:6443 did not answer for 60s (PATCH, "
                              "last: connection refused): check that it is up and reachable from here, then run the "
                              "playbook again.")
    assert 59 <= clock.now <= 61 and 5 < len(client.calls) < 1000
