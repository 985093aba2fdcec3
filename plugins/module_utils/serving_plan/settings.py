# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection-wide settings: their defaults (the only ones), and their validation.

The preflight passes every ``llm_serving_<setting>`` variable the inventory defines; the plan
carries the result as ``llm_serving_plan.settings``, which every role reads. Credentials are not
settings: they never enter the plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os
import re

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# S3 bucket naming rules (AWS; MinIO follows them): 3-63 characters, lower case letters, digits,
# dots and hyphens, starting and ending with a letter or digit, not an IP address.
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
URL = re.compile(r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$")
REGION = re.compile(r"^[a-z0-9-]{1,32}$")


def _label(value):
    return bool(DNS_1123_LABEL.match(value)) and len(value) <= 63


def _subdomain(value):
    return bool(DNS_1123_SUBDOMAIN.match(value)) and len(value) <= 253


def _bucket(value):
    return bool(BUCKET.match(value)) and not IPV4.match(value) and ".." not in value


def _url(value):
    return bool(URL.match(value))


def _file(value):
    return os.path.isfile(os.path.expanduser(value))


def _seconds(value):
    return value >= 0


def _positive(value):
    return value > 0


# setting: (default, check, what a valid value is). A None check accepts any value of the default's
# type; an empty default means "not set" where the setting is optional. Settings with a bool or int
# default take a bool or an int (a string of one, as an extra var gives it, is converted).
SETTINGS = {
    "namespace": ("private-ai", _label, "a DNS-1123 label (lower case letters, digits and '-', at most 63)"),
    "s3_endpoint": ("", _url, "an http:// or https:// URL of the S3 endpoint (MinIO), as the controller reaches it"),
    "s3_bucket": ("models", _bucket, "an S3 bucket name (3-63 lower case letters, digits, '.' and '-')"),
    "s3_region": ("us-east-1", REGION.match, "an S3 region such as us-east-1"),
    "s3_ca_bundle": ("", _file, "the path of a CA bundle file on the controller"),
    "connection_name": ("models-s3", _subdomain, "a Secret name (DNS-1123 subdomain)"),
    "connection_endpoint": ("", _url, "an http:// or https:// URL of the S3 endpoint as the cluster reaches it"),
    "cluster_queue": ("default", _subdomain, "a ClusterQueue name (DNS-1123 subdomain)"),
    "local_queue": ("default", _subdomain, "a LocalQueue name (DNS-1123 subdomain)"),
    "runtime_name": ("vllm-cuda-runtime", _label, "a ServingRuntime name (DNS-1123 label)"),
    "registry_url": ("", _url, "the Model Registry's REST base URL (http:// or https://)"),
    "registry_name": ("private-ai-registry", _label, "the ModelRegistry's name (DNS-1123 label)"),
    "registry_namespace": ("rhoai-model-registries", _label, "a namespace name (DNS-1123 label)"),
    "registry_ca_bundle": ("", _file, "the path of a CA bundle file on the controller"),
    # The run lock (playbooks/site.yml, plugins/modules/run_lock.py): a Lease in the namespace.
    "lock": (True, None, "true or false (take the run lock, a Lease in the namespace)"),
    "lock_wait": (0, _seconds, "a number of seconds, 0 or more, to wait for another run's lock (0: stop at once)"),
    "lock_seconds": (300, _positive, "a number of seconds, more than 0, the lock lasts if a run and its renewer die"),
    # security.opendatahub.io/enable-auth on every InferenceService, and the dashboard's
    # ServiceAccount, Role, RoleBinding and token Secret for its clients (docs/authentication.md).
    "enable_auth": (True, None, "true or false"),
}
REQUIRED = ("s3_endpoint",)
# Settings that are not one string.
# - only_models: the models to act on, by name; an AAP survey's text answer ("a, b") is accepted
#   as well as a list. Empty: every model. The planner applies it (inputs.select), so every role,
#   which reads only the plan, acts on the same subset.
# - profile: a models list the collection ships (inventories/<profile>/group_vars/all/models.yml),
#   loaded by the preflight role instead of the inventory's; validated against those it found.
OTHER_SETTINGS = {
    "only_models": "the names of llm_serving_models entries, as a list or a comma-separated string (empty: every model)",
    "profile": "the name of a profile the collection ships",
}


def variable(setting):
    return "llm_serving_" + setting


def _typed(value, kind):
    """(value as ``kind`` (bool or int), whether it is one): a bool or int as itself, a string of one
    (an extra var) converted; never a bool for an int or a float for either."""
    if kind is bool:
        if isinstance(value, bool):
            return value, True
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text in ("true", "yes", "on", "1"):
            return True, True
        if text in ("false", "no", "off", "0"):
            return False, True
        return value, False
    if isinstance(value, bool) or isinstance(value, float):
        return value, False
    if isinstance(value, int):
        return value, True
    if isinstance(value, str) and re.match(r"^\s*-?\d+\s*$", value):
        return int(value), True
    return value, False


def names(key, value, errors):
    """The list of names a name-list setting (``only_models``) holds, or [] with a sentence in
    ``errors`` when it is neither a list of strings nor a string."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        items = re.split(r"[,\s]+", value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        errors.append("%s must be %s, got %s %r." % (variable(key), OTHER_SETTINGS[key], type(value).__name__, value))
        return []
    out = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out


def profile(value, profiles, errors):
    """The profile name (empty when not set), checked against the ``profiles`` found."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or value.strip() not in (profiles or ()):
        errors.append("%s %r is not a profile of this collection; set it to one of %s, or leave it unset to use the "
                      "inventory's llm_serving_models." % (variable("profile"), value, ", ".join(sorted(profiles or ())) or "(none found)"))
        return ""
    return value.strip()


def normalize(given, profiles=None):
    """(settings, errors): every setting with its default where ``given`` (setting -> value, the
    inventory's llm_serving_<setting> without the prefix) leaves it out or empty. ``profiles``
    are the profile names the collection ships (for ``profile``)."""
    errors = []
    out = {}
    for key in sorted(given or {}):
        if key not in SETTINGS and key not in OTHER_SETTINGS:
            errors.append("%s is not a setting of this collection; known: %s."
                          % (variable(key), ", ".join(variable(k) for k in sorted(list(SETTINGS) + list(OTHER_SETTINGS)))))
    out["only_models"] = names("only_models", (given or {}).get("only_models"), errors)
    out["profile"] = profile((given or {}).get("profile"), profiles, errors)
    for key, (default, check, what) in SETTINGS.items():
        value = (given or {}).get(key)
        if value is None or value == "":
            if key in REQUIRED:
                errors.append("%s is not set; set it to %s." % (variable(key), what))
            out[key] = default
            continue
        if not isinstance(default, str):
            value, ok = _typed(value, type(default))
            if not ok or (check is not None and not check(value)):
                fix = "; set it to true or false" if isinstance(default, bool) else ""
                errors.append("%s must be %s, got %s %r%s." % (variable(key), what, type(value).__name__, value, fix))
                value = default
            out[key] = value
            continue
        if not isinstance(value, str):
            errors.append("%s must be %s, got %s %r." % (variable(key), what, type(value).__name__, value))
            out[key] = default
            continue
        value = value.strip()
        if check is not None and not check(value):
            hint = " (the file does not exist)" if check is _file else ""
            errors.append("%s %r is not %s%s." % (variable(key), value, what, hint))
        out[key] = os.path.expanduser(value) if check is _file else value
    if not out["connection_endpoint"]:
        out["connection_endpoint"] = out["s3_endpoint"]
    return out, errors


# llm_serving_* variables that are neither settings nor role options: connection, profile and
# credentials variables, and the facts the roles set.
OTHER_VARIABLES = (
    "llm_serving_models", "llm_serving_models_root", "llm_serving_kubeconfig", "llm_serving_context",
    "llm_serving_s3_access_key", "llm_serving_s3_secret_key", "llm_serving_registry_token",
    "llm_serving_plan", "llm_serving_registry_ids", "llm_serving_summary",
    "llm_serving_inference_services_results", "llm_serving_minio_models_synced",
    # false: the Kubernetes modules run as module processes even on a local connection
    # (plugins/plugin_utils/in_process.py)
    "llm_serving_in_process",
)
# The options of the playbooks that are not roles (playbooks/*.yml; tests/unit/test_serving_plan.py
# checks the list against what they read): a typo in one would otherwise run that playbook with the default.
PLAYBOOK_VARIABLES = tuple("llm_serving_benchmark_" + name for name in (
    "models", "output_dir", "read_checkpoints", "simulated", "profile", "concurrency", "rate", "sweep_points",
    "max_concurrency", "max_requests", "max_seconds", "prompt_tokens", "output_tokens", "seed", "slo_ttft_ms",
    "slo_tpot_ms")) + ("llm_serving_teardown_scale_down", "llm_serving_teardown_shared", "llm_serving_teardown_timeout",
                       "llm_serving_diagnostics_timeout")
# Variables that became settings: a run that still sets one is told its new name.
REPLACED = {"llm_serving_inference_services_enable_auth": "llm_serving_enable_auth"}


def split_variables(variables, known):
    """(settings given, errors): the settings among the inventory's llm_serving_* ``variables``
    (name -> value), and one sentence for each name that is neither a setting, a role option
    (``known``), nor one of OTHER_VARIABLES: most often a typo, which would otherwise be ignored."""
    names = (set(variable(k) for k in list(SETTINGS) + list(OTHER_SETTINGS)) | set(known or ()) | set(OTHER_VARIABLES)
             | set(PLAYBOOK_VARIABLES))
    given, errors = {}, []
    for name in sorted(variables or {}):
        short = name[len("llm_serving_"):]
        if name.startswith("llm_serving_") and (short in SETTINGS or short in OTHER_SETTINGS):
            given[name[len("llm_serving_"):]] = variables[name]
        elif name in REPLACED:
            errors.append("%s is no longer read; set %s instead (it applies to every InferenceService)." % (name, REPLACED[name]))
        elif name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.75)
            if close:
                errors.append("%s is not a variable of this collection; rename it to %s (or remove it)." % (name, close[0]))
            else:
                errors.append("%s is not a variable of this collection; remove it (the settings are in docs/models.md, "
                              "each role's options in its argument spec)." % name)
    return given, errors
