#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: inference_service_wait
short_description: Wait for KServe InferenceServices to be ready, with one watch, and say why not
version_added: 0.1.0
description:
  - Waits for all InferenceServices named in O(names) and/or matching O(label_selector) in one
    namespace, at once. It watches three resources of the namespace, however many
    InferenceServices there are - the InferenceServices, their predictor Deployments and their
    pods - each with one LIST and then one WATCH from its resourceVersion (no polling). Watches
    are resumed after dropped connections and apiserver restarts (with backoff, within
    O(timeout)) and re-listed when the apiserver answers 410 Gone.
  - "An InferenceService (raw deployment mode, the only mode of OpenShift AI 3.0) is ready when
    KServe has written its current spec into the predictor Deployment (container args, env and
    resources, pod template labels, node selector, tolerations, deployment strategy), that
    Deployment's rollout is complete (all pods run the current template, no old pod is left, all
    are available) and its C(Ready) condition is C(True). KServe's C(status.observedGeneration) is
    the Deployment's, not the InferenceService's, and C(Ready) stays C(True) during a rolling
    update, so neither alone says that a changed spec is served. An unchanged spec is ready at
    once."
  - With O(fail_fast), the module fails as soon as the current spec can never become ready -
    KServe's C(InvalidSpec); a model load failure KServe recorded for it; predictor pods the
    ReplicaSet cannot create (the Deployment's C(ReplicaFailure), for example KServe's pod webhook
    refusing a data connection without a storage type); a pod whose storage initializer failed
    (weights missing, wrong credentials) or whose container is stuck (C(CrashLoopBackOff),
    C(CreateContainerConfigError), C(InvalidImageName)) - without waiting for KServe, which
    does not watch pods.
  - On failure or timeout, the message has one sentence per InferenceService that is not ready and
    RV(diagnostics) what a person needs to act on it - conditions, modelStatus and
    lastFailureInfo, predictor pods (phase, scheduling gates, container waiting reasons, last
    termination message), recent Warning events (for example C(FailedScheduling ... Insufficient
    nvidia.com/gpu)) and Kueue Workloads with their messages.
  - An InferenceService that does not exist yet is waited for until it appears.
  - The module only reads and runs the same in check mode.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description:
      - Namespace of the InferenceServices.
    type: str
    required: true
  names:
    description:
      - Names of the InferenceServices to wait for. At least one of O(names) and
        O(label_selector) is required; with both, the named ones must also match the selector.
    type: list
    elements: str
    default: []
  label_selector:
    description:
      - Label selector (C(key=value,...)). Without O(names), every InferenceService matching it is
        waited for, and at least one must exist.
    type: str
  timeout:
    description:
      - Seconds to wait for all of them to be ready.
    type: float
    default: 1200
  fail_fast:
    description:
      - Fail as soon as one InferenceService is terminally failed, without waiting for O(timeout).
    type: bool
    default: true
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
notes:
  - Needs C(list) and C(watch) on C(inferenceservices.serving.kserve.io), C(deployments.apps) and
    C(pods) in O(namespace), and C(get) on its C(services) (the internal URL); the diagnostics also
    read events and C(workloads.kueue.x-k8s.io) there when allowed (what cannot be read is listed in
    C(diagnostic_errors)).
"""

EXAMPLES = r"""
- name: Wait for every model of the plan at once
  private_ai.llm_serving.inference_service_wait:
    namespace: private-ai
    names: "{{ llm_serving_models | map(attribute='name') | list }}"
    timeout: 1800
  register: llm_serving_inference_services_wait

- name: Wait for everything this collection deployed
  private_ai.llm_serving.inference_service_wait:
    namespace: private-ai
    label_selector: app.kubernetes.io/managed-by=private-ai-llm-serving
"""

RETURN = r"""
inference_services:
  description: One entry per InferenceService waited for, in the order of O(names).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: InferenceService name.
      type: str
    ready:
      description: Whether its current spec is served (see the description).
      type: bool
    url:
      description: C(status.url), the external URL (a Route when exposed).
      type: str
    internal_url:
      description:
        - The URL a client inside the cluster reaches the model at - C(status.address.url)'s host with the
          port that answers. OpenShift AI 3.0 makes the predictor Service headless, so its name resolves to
          the pods and the container port (8080), not the Service port 80 KServe's address implies, is the
          one vLLM listens on.
      type: str
    address_url:
      description: C(status.address.url) as KServe reports it.
      type: str
    seconds_to_ready:
      description: Seconds from the start of the wait until it was seen ready (0 if it already was); null when not ready.
      type: float
    generation:
      description: C(metadata.generation) that was seen ready.
      type: int
    observed_generation:
      description: C(status.observedGeneration) last seen (in raw mode, the predictor Deployment's generation).
      type: int
  sample:
    - name: mistral-24b-fp8
      ready: true
      url: https://mistral-24b-fp8-private-ai.apps.example.com
      internal_url: http://mistral-24b-fp8-predictor.private-ai.svc.cluster.local:8080
      address_url: http://mistral-24b-fp8-predictor.private-ai.svc.cluster.local
      seconds_to_ready: 212.4
      generation: 1
      observed_generation: 1
elapsed:
  description: Seconds the wait took.
  returned: always
  type: float
watch:
  description: How the wait talked to the apiserver (evidence that it is one watch, not polling).
  returned: always
  type: dict
  contains:
    list_requests:
      description: LIST requests (one per watched resource, plus one per 410 Gone).
      type: int
    watch_requests:
      description: WATCH requests (one per watched resource, plus one per reconnect or server-side watch timeout).
      type: int
    reconnects:
      description: Dropped connections or apiserver outages that were resumed.
      type: int
    relists:
      description: Re-lists after 410 Gone.
      type: int
    events:
      description: Watch events received.
      type: int
diagnostics:
  description: Per InferenceService that is not ready, what was last seen and why.
  returned: failure
  type: list
  elements: dict
  sample:
    - name: mistral-24b-bf16
      exists: true
      ready: false
      reason: "Ready is False (PredictorNotReady)"
      conditions: [{type: Ready, status: "False", reason: PredictorNotReady}]
      pods:
        - name: mistral-24b-bf16-predictor-7d9f-abcde
          phase: Pending
          scheduling_gates: []
          unschedulable: "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
      events: [{object: Pod/mistral-24b-bf16-predictor-7d9f-abcde, reason: FailedScheduling, message: "...", count: 4}]
      kueue_workloads: []
      last_failure_info: null
"""

import gc
import traceback

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ConnectionFailed, connect
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import argument_spec as k8s_argument_spec
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.diagnostics import (
    Diagnostics,
    failure_message,
)
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.readiness import summary
from ansible_collections.private_ai.llm_serving.plugins.module_utils.isvc.wait import (
    KubeTransport,
    Waiter,
    WaitError,
)


def argument_spec():
    return k8s_argument_spec(dict(
        namespace=dict(type="str", required=True),
        names=dict(type="list", elements="str", default=[]),
        label_selector=dict(type="str"),
        timeout=dict(type="float", default=1200),
        fail_fast=dict(type="bool", default=True),
    ))


def client(module, waiter):
    """The Kubernetes client. The collection's own connects only when it sends; kubernetes.core's (for
    proxies and exec plugins) discovers at once, so an apiserver that is down (restarting) is
    retried until the deadline."""
    attempt = 0
    while True:
        try:
            return connect(module)
        except ConnectionFailed as exc:
            if waiter.remaining() <= 0:
                module.fail_json(msg="Cannot reach the Kubernetes API within the %g s timeout: %s" % (waiter.timeout, exc.msg))
            waiter.backoff(attempt)
            attempt += 1
        except ModuleError as exc:
            module.fail_json(msg="Cannot create a Kubernetes client: %s" % exc.msg)


def summaries(transport, namespace, outcome):
    """Per InferenceService waited for: its URLs, readiness and timings (readiness.summary)."""
    out = []
    for n in outcome["targets"]:
        # The predictor Service decides the internal URL's port (headless on OpenShift AI 3.0).
        try:
            service = transport.get_json("/api/v1/namespaces/%s/services/%s" % (namespace, n + "-predictor"))
        except Exception:  # not readable or not there: fall back to KServe's address
            service = None
        out.append(summary(n, outcome["objects"].get(n), outcome["ready_at"].get(n), n in outcome["ready_at"],
                           service, outcome["deployments"].get(n)))
    return out


def main():
    module = new_module(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not p["names"] and not p["label_selector"]:
        module.fail_json(msg="Give names and/or label_selector: nothing to wait for in namespace %s."
                         % p["namespace"])
    if p["timeout"] <= 0:
        module.fail_json(msg="timeout must be a positive number of seconds, got %s." % p["timeout"])
    waiter = Waiter(None, p["namespace"], names=p["names"], label_selector=p["label_selector"],
                    timeout=p["timeout"], fail_fast=p["fail_fast"])
    waiter.transport = KubeTransport(client(module, waiter))
    transport = waiter.transport
    try:
        outcome = waiter.run()
    except WaitError as exc:
        module.fail_json(msg="Cannot watch InferenceServices in namespace %s: %s" % (p["namespace"], exc),
                         exception=traceback.format_exc())
    result = dict(changed=False, inference_services=summaries(transport, p["namespace"], outcome),
                  elapsed=outcome["elapsed"], watch=waiter.stats)
    # The interpreter's final garbage collection walks every object (0.3 s and more on a busy
    # controller with kubernetes.core's client) after the result is written: Ansible would only see
    # readiness that much later. Nothing is left to collect that matters, so skip it.
    gc.freeze()
    if outcome["ready"]:
        module.exit_json(**result)

    diag = Diagnostics(transport, p["namespace"])
    diagnostics = [diag.collect(n, outcome["objects"].get(n), outcome["deployments"].get(n), outcome["pods"].get(n))
                   for n in outcome["targets"] if n not in outcome["ready_at"]]
    module.fail_json(msg=failure_message(outcome, diagnostics, p["namespace"], p["label_selector"]),
                     diagnostics=diagnostics, **result)


if __name__ == "__main__":
    main()
