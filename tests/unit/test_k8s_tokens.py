"""read_tokens (module_utils/k8s/tokens.py): waiting for kube-controller-manager to fill the token
Secrets, and the sentence when it does not. A scripted client stands in for the API server so that
the clock can be stepped (the lab covers the real Secrets: tests/integration/test_profiles.py, whose
endpoints answer only with the token chat_completion reads this way)."""

import base64
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "collections"))

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError  # noqa: E402
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.tokens import read_tokens  # noqa: E402
from stepclock import StepClock  # noqa: E402


class Secrets:
    """GET answers per Secret name: a list consumed one per request (the last one repeats)."""

    def __init__(self, answers):
        self.answers = answers
        self.gets = []

    def request(self, method, path):
        name = path.rsplit("/", 1)[-1]
        self.gets.append(name)
        seq = self.answers[name]
        answer = seq.pop(0) if len(seq) > 1 else seq[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def filled(token):
    return {"data": {"token": base64.b64encode(token.encode()).decode()}}


def test_waits_until_the_token_controller_fills_every_secret():
    clock = StepClock()
    api = Secrets({"default-token-a-sa": [filled("ta")],
                   "default-token-b-sa": [ApiError(404, "NotFound"), {"data": {}}, filled("tb")]})
    tokens = read_tokens(api, "ns", {"a": "default-token-a-sa", "b": "default-token-b-sa"}, timeout=30,
                         clock=clock, sleep=clock.sleep)
    assert tokens == {"a": "ta", "b": "tb"}
    assert api.gets.count("default-token-a-sa") == 1 and clock.now == 2.0


def test_a_secret_still_without_token_is_named_without_any_token():
    clock = StepClock()
    api = Secrets({"default-token-a-sa": [filled("secret-value-a")], "default-token-b-sa": [{"data": {}}],
                   "default-token-c-sa": [ApiError(404, "NotFound")]})
    with pytest.raises(ModuleError) as err:
        read_tokens(api, "ns", {"a": "default-token-a-sa", "b": "default-token-b-sa", "c": "default-token-c-sa"},
                    timeout=5, clock=clock, sleep=clock.sleep)
    msg = err.value.msg
    assert "Secret default-token-b-sa (has no token yet); Secret default-token-c-sa (does not exist)" in msg
    assert "in namespace ns after 5 s" in msg and "secret-value-a" not in msg


def test_a_refused_read_is_one_sentence_at_once():
    api = Secrets({"default-token-a-sa": [ApiError(403, "Forbidden", b'{"message": "secrets is forbidden"}')]})
    with pytest.raises(ModuleError, match="Cannot read the token Secret ns/default-token-a-sa: HTTP 403 Forbidden: secrets is forbidden"):
        read_tokens(api, "ns", {"a": "default-token-a-sa"}, timeout=30, clock=StepClock(), sleep=lambda s: None)


def test_a_module_reads_its_tokens_through_an_apiserver_restart(monkeypatch):
    """module_tokens goes through k8s/transient.py like every other request of the collection: connections
    refused by a restarting apiserver (after it answered once) are retried, not a failed smoke test."""
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import client as kc
    from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import tokens

    class Restarting(object):
        config = type("Config", (), {"server": "https://api.example:6443"})()

        def __init__(self):
            self.calls = 0

        def request(self, method, path, query=None, body=None, content_type=None, timeout=None, raw=False):
            self.calls += 1
            if self.calls in (2, 3):
                raise kc.ConnectionFailed("Cannot reach the Kubernetes API at https://api.example:6443: "
                                          "Connection refused", sent=False, server=self.config.server)
            if path == "/readyz":
                return b"ok" if raw else {}
            return {"data": {"token": base64.b64encode(b"tok-%d" % self.calls).decode()}}

    class Module(object):
        no_log_values = set()

        def fail_json(self, **kwargs):
            raise AssertionError(kwargs)

    client = Restarting()
    monkeypatch.setattr(tokens, "connect", lambda module, params=None: client)
    got = tokens.module_tokens(Module(), {"namespace": "ns", "names": {"a": "sa-a", "b": "sa-b"}, "timeout": 30})
    assert sorted(got) == ["a", "b"] and client.calls >= 4
    assert set(got.values()) <= Module.no_log_values
