#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: serving_plan
short_description: Check that LLMs fit their GPUs and plan vLLM arguments, nodes, quota and cost
version_added: 0.1.0
description:
  - Reads each model's C(config.json) and the size of its weights, from a local directory or an
    S3 prefix, and checks the deployment before anything is touched.
  - "Memory: weights / GPUs + a KV cache for one sequence of C(max_model_len) tokens + runtime
    overhead must fit under C(gpu_memory_utilization) x GPU memory. A refusal names the numbers
    and the fixes: a bigger GPU from the catalog, a higher tensor parallel size, an FP8 KV cache,
    or the longest C(max_model_len) that fits."
  - "Parallelism: tensor parallel size divides the attention and KV heads, a replica fits one
    node, C(hardware.gpus) = tensor parallel x pipeline parallel."
  - "Flags: C(max_model_len) at most the model's C(max_position_embeddings); no C(--quantization)
    for a pre-quantized checkpoint (a C(quantization_config) in C(config.json)); an FP8 KV cache
    only on compute capability 8.9 or more; Mistral-format flags only when Mistral's own files
    (C(params.json), C(consolidated*.safetensors), C(tekken.json)) are present."
  - Returns the vLLM arguments per model, GPU nodes per instance type (replicas packed first-fit
    decreasing), the Kueue quota per resource flavor and the on-demand cost per hour.
  - Only reads; check mode runs the same plan.
author:
  - Private AI platform team (@private-ai)
options:
  models:
    description:
      - The models list, C(llm_serving_models) (see docs/models.md). Every field of every entry is
        validated here (types, ranges, choices, unknown fields) and the entries against each other
        (names, S3 paths, registry versions); all problems are reported together, one sentence
        each naming the entry, the field and the fix.
    type: raw
  settings:
    description:
      - The collection-wide settings the inventory gives, without the C(llm_serving_) prefix
        (C(namespace), C(s3_endpoint), C(s3_bucket), C(s3_region), C(s3_ca_bundle),
        C(connection_name), C(connection_endpoint), C(cluster_queue), C(local_queue),
        C(runtime_name), C(registry_url), C(registry_name), C(registry_namespace),
        C(registry_ca_bundle)), and C(only_models) (the models to act on, a list of names or a
        comma-separated string, empty for all; the plan holds only those, after the whole list is
        validated) and C(profile) (checked against O(profiles)). Their defaults live here and
        nowhere else; the plan returns them all as C(plan.settings).
    type: dict
    default: {}
  variables:
    description:
      - Every C(llm_serving_*) variable the inventory gives (name to value), but the models list and
        secrets. The settings among them are taken as O(settings) (over it); any other name must be
        in O(known_variables) or be one the collection uses itself, else it is reported as unknown
        (a typo would otherwise be ignored).
    type: dict
    default: {}
  known_variables:
    description: The role options' names (from the roles' argument specs), for O(variables).
    type: list
    elements: str
    default: []
  profiles:
    description:
      - The names of the profiles the collection ships (its C(inventories/<profile>/group_vars/all/models.yml)),
        against which the setting C(profile) (C(llm_serving_profile)) is checked.
    type: list
    elements: str
    default: []
  option_errors:
    description:
      - Problems with role options found by the roles' argument specs (role name to messages), to
        report with the others in one failure.
    type: dict
    default: {}
  s3_access_key:
    description:
      - S3 access key, to read the weights of models with C(weights.source=s3); the environment
        variable E(AWS_ACCESS_KEY_ID) when unset.
    type: str
  s3_secret_key:
    description: S3 secret key; the environment variable E(AWS_SECRET_ACCESS_KEY) when unset.
    type: str
  s3_validate_certs:
    description: Verify the S3 endpoint's TLS certificate.
    type: bool
    default: true
  catalog:
    description:
      - "GPU catalog entries merged over the shipped one, as C(gpu_products) (name to C(memory_mib),
        C(compute_capability), C(fp8)) and C(instance_types) (name to C(gpu_product), C(gpus), C(vcpu),
        C(memory_gib), C(hourly_cost))."
      - A field given replaces the shipped value; a new name must give every field; a name mapped
        to null removes the entry.
    type: dict
    default: {}
  read_checkpoints:
    description:
      - With V(false), validate and normalise the inputs only, without reading any checkpoint. The
        plan has the settings and each model's inputs (names, weights, registry, smoke test,
        instance type) but no memory, vLLM arguments, nodes or quota, and no local weights
        directory need exist. For the teardown, the smoke test and the diagnostics, which must not
        need the weights. With V(true) only the planned models' (O(variables) C(llm_serving_only_models))
        local weights directories must exist.
    type: bool
    default: true
  flavor:
    description:
      - Kueue ResourceFlavor the GPU quota is planned in.
    type: str
    default: nvidia-gpu-flavor
  fail_on_error:
    description:
      - Fail when any model is refused. With V(false), returns the plan of every model that could
        be planned, with RV(errors) listing every problem (useful to explain a layout).
    type: bool
    default: true
requirements:
  - boto3, only to read the weights in S3 through an HTTP proxy (E(https_proxy) and the like); the
    S3 endpoint itself is read with the Python standard library, as M(private_ai.llm_serving.s3_model_sync) does
notes:
  - GPU memory in the catalog is what nodes report in C(nvidia.com/gpu.memory), for example
    23034 MiB for an L4; prices are AWS on-demand us-east-1 and can be overridden with O(catalog).
"""

EXAMPLES = r"""
- name: Plan the models list
  private_ai.llm_serving.serving_plan:
    models: "{{ llm_serving_models }}"
    settings:
      namespace: private-ai
      s3_endpoint: http://minio.minio.svc:9000
    s3_access_key: "{{ llm_serving_s3_access_key }}"
    s3_secret_key: "{{ llm_serving_s3_secret_key }}"
  register: plan

- name: Explain why a layout is refused, without failing
  private_ai.llm_serving.serving_plan:
    models:
      - name: mistral-24b-fp8
        weights: {source: local, local_dir: /models/Mistral-Small-24B-Instruct-2501-FP8-dynamic}
        hardware: {instance_type: g6.4xlarge, gpus: 1}
        vllm: {tensor_parallel_size: 1, max_model_len: 8192, kv_cache_dtype: fp8}
    settings: {s3_endpoint: http://minio.minio.svc:9000}
    fail_on_error: false
  register: explained

- name: Price a different region
  private_ai.llm_serving.serving_plan:
    models: "{{ llm_serving_models }}"
    settings: {s3_endpoint: http://minio.minio.svc:9000}
    catalog:
      instance_types:
        g6.12xlarge: {hourly_cost: 5.06}
"""

RETURN = r"""
plan:
  description:
    - The plan, the one shaped source every role reads. C(settings) are the collection-wide
      settings with their defaults. C(order) lists the model names as given.
    - C(models) is keyed by model name; each has C(name), C(display_name), C(queue), C(weights)
      (C(source), C(local_dir), C(bucket), C(path), C(uri), C(exclude)), C(registry) (C(model_name),
      C(version), C(description), C(owner), C(author), C(format_name), C(format_version),
      C(custom_properties), C(version_custom_properties), C(artifact_uri)), C(smoke_test)
      (C(prompt), C(max_tokens), C(expect)), C(instance_type), C(gpu_product), C(gpus),
      C(replicas), and when checkpoints were read C(flavor), C(tensor_parallel_size),
      C(pipeline_parallel_size), C(dtype), C(max_model_len), C(kv_cache_dtype), C(quantization),
      C(vllm_args), C(checkpoint), C(memory) (GiB per GPU), C(resources) (cpu and memory
      requests), C(hourly_cost) and C(ok).
    - C(nodes) maps instance type to nodes needed, C(node_layout) shows which replicas share a
      node, C(quota) maps flavor to C(nvidia.com/gpu), C(cpu) and C(memory).
    - Null when the inputs themselves are invalid.
  returned: always
  type: dict
  sample:
    models:
      mistral-24b-bf16:
        instance_type: g6.12xlarge
        gpu_product: NVIDIA-L4
        gpus: 4
        replicas: 1
        flavor: nvidia-gpu-flavor
        vllm_args: ["--dtype=bfloat16", "--tensor-parallel-size=4", "--max-model-len=16384",
                    "--gpu-memory-utilization=0.9"]
        memory: {per_gpu_gib: 13.28, weights_gib: 10.98, kv_cache_gib: 0.62, overhead_gib: 1.67,
                 usable_gib: 20.24}
        hourly_cost: 4.6016
    nodes: {g6.12xlarge: 2, g6e.xlarge: 1}
    quota: {nvidia-gpu-flavor: {nvidia.com/gpu: 9, cpu: 27, memory: 144Gi}}
    gpus_total: 9
    hourly_cost_total: 11.0642
errors:
  description: Every problem found, one sentence each naming the model, the numbers and a fix.
  returned: always
  type: list
  elements: str
table:
  description: The plan as fixed-width lines for people.
  returned: when a plan was made
  type: list
  elements: str
"""

from ansible.module_utils.basic import env_fallback

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.module import new_module
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan import settings as settings_mod
from ansible_collections.private_ai.llm_serving.plugins.module_utils.serving_plan.planner import build_plan, table


def argspec():
    return dict(
        models=dict(type="raw"),
        settings=dict(type="dict", default={}),
        variables=dict(type="dict", default={}),
        known_variables=dict(type="list", elements="str", default=[]),
        profiles=dict(type="list", elements="str", default=[]),
        option_errors=dict(type="dict", default={}),
        s3_access_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_ACCESS_KEY_ID"])),
        s3_secret_key=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY"])),
        s3_validate_certs=dict(type="bool", default=True),
        catalog=dict(type="dict", default={}),
        read_checkpoints=dict(type="bool", default=True),
        flavor=dict(type="str", default="nvidia-gpu-flavor"),
        fail_on_error=dict(type="bool", default=True),
    )


def main():
    module = new_module(argument_spec=argspec(), supports_check_mode=True)
    p = module.params
    given, errors = settings_mod.split_variables(p["variables"], p["known_variables"])
    for role, messages in sorted(p["option_errors"].items()):
        errors.extend("role %s: %s" % (role, m.rstrip(".") + ".") for m in messages or [])
    settings, setting_errors = settings_mod.normalize(dict(p["settings"], **given), p["profiles"])
    errors.extend(setting_errors)
    s3 = {"endpoint_url": settings["s3_endpoint"], "bucket": settings["s3_bucket"], "region": settings["s3_region"],
          "ca_bundle": settings["s3_ca_bundle"] or None, "validate_certs": p["s3_validate_certs"],
          "access_key": p["s3_access_key"], "secret_key": p["s3_secret_key"]}
    if p["read_checkpoints"] and not (p["s3_access_key"] and p["s3_secret_key"]):
        # every model's weights are read from or uploaded to S3
        errors.append("S3 credentials are missing: set llm_serving_s3_access_key and llm_serving_s3_secret_key, or "
                      "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment.")
        s3["credentials_reported"] = True
    plan, plan_errors, warnings = build_plan(p["models"], p["catalog"], s3, p["flavor"], settings=settings,
                                             read_checkpoints=p["read_checkpoints"])
    errors.extend(plan_errors)
    for w in warnings:
        module.warn(w)
    result = dict(changed=False, plan=plan, errors=errors)
    if plan is not None and plan.get("complete"):
        result["table"] = table(plan)
    if errors and p["fail_on_error"]:
        # only the problems: the plan of a refused input is for fail_on_error=false
        msg = errors[0] if len(errors) == 1 else "%d problems: %s" % (len(errors), " | ".join(errors))
        module.fail_json(msg=msg, errors=errors)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
