# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bearer tokens of token-authenticated endpoints, read from their ServiceAccount token Secrets.

For "Require token authentication" OpenShift AI's dashboard creates, per InferenceService, a Secret
of type kubernetes.io/service-account-token (odh-dashboard v3.0.0 frontend/src/api/k8s/secrets.ts
assembleSecretSA); kube-controller-manager's token controller then fills its data.token
(kubernetes pkg/controller/serviceaccount/tokens_controller.go). ``read_tokens`` waits for that,
within a deadline, and never puts a token in a message."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError, fail
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError, connect
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.transient import TransientRetry


def token_secrets_spec():
    """The ``token_secrets`` option of the modules that send to token-authenticated endpoints
    (chat_completion, llm_benchmark): the Secrets, and the cluster connection to read them."""
    return dict(type="dict", no_log=False, options=dict(
        namespace=dict(type="str", required=True),
        names=dict(type="dict", required=True),
        timeout=dict(type="float", default=30),
        kubeconfig=dict(type="raw", no_log=True),
        context=dict(type="str")))


def module_tokens(module, spec):
    """The tokens of a module's ``token_secrets`` (endpoint name -> token), registered as no_log
    values of ``module`` (never shown, the invocation at -vvv included); fails the module with one
    sentence when a Secret has no token within its timeout."""
    params = dict(kubeconfig=spec.get("kubeconfig"), context=spec.get("context"))
    err = None
    try:
        # an apiserver restarting meanwhile is waited for, as in every other module (k8s/transient.py)
        client = TransientRetry(connect(module, params=params))
        tokens = read_tokens(client, spec["namespace"], spec["names"], timeout=spec["timeout"])
    except ModuleError as exc:
        err = exc
    if err is not None:
        fail(module, err)
    module.no_log_values.update(tokens.values())
    return tokens


def read_tokens(client, namespace, secrets, timeout=30.0, clock=time.monotonic, sleep=time.sleep):
    """``secrets``: endpoint name -> Secret name. Returns endpoint name -> token once every Secret
    has its token; raises ModuleError naming the Secrets still without one after ``timeout`` s."""
    deadline = clock() + timeout
    tokens, missing = {}, {}
    while True:
        for endpoint, secret in sorted(secrets.items()):
            if endpoint in tokens:
                continue
            try:
                obj = client.request("GET", "/api/v1/namespaces/%s/secrets/%s" % (namespace, secret))
            except ApiError as exc:
                if exc.status not in (404,):
                    raise ModuleError("Cannot read the token Secret %s/%s: %s" % (namespace, secret, exc.msg),
                                      status=exc.status)
                missing[endpoint] = "does not exist"
                continue
            token = (obj.get("data") or {}).get("token")
            if token:
                tokens[endpoint] = base64.b64decode(token).decode("utf-8")
                missing.pop(endpoint, None)
            else:
                missing[endpoint] = "has no token yet"
        if len(tokens) == len(secrets):
            return tokens
        if clock() >= deadline:
            raise ModuleError(
                "No token in %s in namespace %s after %g s: run site.yml (the inference_services role creates "
                "them with llm_serving_enable_auth true), or check that kube-controller-manager's token "
                "controller runs." % ("; ".join("Secret %s (%s)" % (secrets[e], why) for e, why in sorted(missing.items())),
                                      namespace, timeout))
        sleep(min(1.0, max(0.0, deadline - clock())))
