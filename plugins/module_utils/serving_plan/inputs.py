# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate and normalise ``llm_serving_models``: the only implementation of both.

Every field of every entry is checked against ``MODEL`` (types, ranges, choices, unknown keys),
then the entries against each other (names, S3 paths, registry versions). Each problem is one
sentence that names the entry, the field and the fix; all problems are returned together. A
normalised entry has every field, defaults filled in, so the roles never need a default of
their own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os
import re

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
S3_PATH = re.compile(r"^[A-Za-z0-9!_.*'()/-]+$")
DTYPES = ("auto", "bfloat16", "float16")
KV_CACHE_DTYPES = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")
SOURCES = ("local", "s3")
FORMATS = ("auto", "mistral", "huggingface")
SMOKE_PROMPT = "Say hello in one short sentence."

_UNSET = object()


class Field(object):
    """One field: ``kind`` is str, int, float, bool, "text" (str, int or float, kept as a
    string: versions), "strings" (a list of strings), "mapping" (a dict) or "tristate" (auto,
    true or false); ``default`` fills an absent or null value (``_UNSET``: required)."""

    def __init__(self, kind, default=None, minimum=None, maximum=None, choices=None, check=None, nullable=True):
        self.kind, self.default, self.minimum, self.maximum = kind, default, minimum, maximum
        self.choices, self.check, self.nullable = choices, check, nullable


def _dns_1035(value):
    if len(value) > 63 or not DNS_1035.match(value):
        return ("is not a DNS-1035 label (lower case letters, digits and '-', starting with a letter, at most 63 "
                "characters); it becomes the InferenceService name")
    return None


def _regex(value):
    try:
        re.compile(value)
    except re.error as e:
        return "is not a regular expression (%s)" % e
    return None


def _s3_path(value):
    value = value.strip("/")
    if not value or not S3_PATH.match(value) or ".." in value.split("/") or "//" in value:
        return ("is not a usable S3 key prefix (letters, digits and !_.*'()/- in '/'-separated parts, no '..' or "
                "empty part)")
    return None


def _globs(value):
    bad = [v for v in value if not v or v.startswith("/")]
    return "has empty or absolute patterns %r" % bad if bad else None


MODEL = {
    "name": Field(str, default=_UNSET, check=_dns_1035, nullable=False),
    "display_name": Field(str),
    "replicas": Field(int, default=1, minimum=0, maximum=100),
    "weights": {
        "source": Field(str, choices=SOURCES),
        "local_dir": Field(str),
        "bucket": Field(str),
        "path": Field(str, check=_s3_path),
        "exclude": Field("strings", check=_globs),
    },
    "hardware": {
        "instance_type": Field(str, default=_UNSET, nullable=False),
        "gpu_product": Field(str),
        "gpus": Field(int, minimum=1, maximum=64),
    },
    "vllm": {
        "tensor_parallel_size": Field(int, minimum=1, maximum=64),
        "dtype": Field(str, default="auto", choices=DTYPES),
        "max_model_len": Field(int, minimum=16, maximum=10 ** 7),
        "kv_cache_dtype": Field(str, default="auto", choices=KV_CACHE_DTYPES),
        "gpu_memory_utilization": Field(float, default=0.90, minimum=0.05, maximum=1.0),
        "quantization": Field(str),
        "format": Field(str, default="auto", choices=FORMATS),
        "tool_calling": Field("tristate", default="auto"),
        "extra_args": Field("strings", default=[]),
    },
    "registry": {
        "model_name": Field(str),
        "version": Field("text", default="1"),
        "description": Field(str),
        "owner": Field(str),
        "author": Field(str),
        "format_name": Field(str, default="vLLM"),
        "format_version": Field("text", default="1"),
        "custom_properties": Field("mapping"),
        "version_custom_properties": Field("mapping"),
    },
    "smoke_test": {
        "prompt": Field(str, default=SMOKE_PROMPT),
        "max_tokens": Field(int, default=32, minimum=1, maximum=32768),
        "expect": Field(str, check=_regex),
    },
}
REQUIRED_SECTIONS = ("weights", "hardware")


def _describe(value):
    if isinstance(value, str):
        return "the string %r" % value
    return "%s %r" % (type(value).__name__, value)


def _coerce(field, value):
    """(value, problem): the value in the field's kind, or why it is not."""
    kind = field.kind
    if kind is str:
        if isinstance(value, str) and value.strip():
            return value, None
        return None, "must be a non-empty string, got %s" % _describe(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, str, float)):
            return None, "must be an integer, got %s" % _describe(value)
        if isinstance(value, float) and value != int(value):
            return None, "must be a whole number, got %r" % value
        try:
            number = int(value)
        except ValueError:
            return None, "must be an integer, got %s" % _describe(value)
        return number, None
    if kind is float:
        if isinstance(value, bool):
            return None, "must be a number, got %r" % value
        try:
            return float(value), None
        except (TypeError, ValueError):
            return None, "must be a number, got %s" % _describe(value)
    if kind == "text":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            return None, "must be a string or a number, got %s" % _describe(value)
        return str(value), None
    if kind == "strings":
        if isinstance(value, str):
            return None, ("must be a list of strings, got the string %r; write it as a YAML list, e.g. [%s]"
                          % (value, ", ".join(value.split()) or '""'))
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                  for v in value):
            return None, "must be a list of strings, got %s" % _describe(value)
        return [str(v) for v in value], None
    if kind == "mapping":
        if not isinstance(value, dict):
            return None, "must be a mapping, got %s" % _describe(value)
        return dict(value), None
    if kind == "tristate":
        if value is True or value is False or value == "auto":
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes"), None
        return None, "must be auto, true or false, got %s" % _describe(value)
    raise ValueError(kind)  # pragma: no cover - a mistake in MODEL


def _field(where, key, field, value, errors):
    if value is None:
        if field.default is _UNSET:
            errors.append("%s.%s is missing; it is required." % (where, key))
            return None
        return list(field.default) if isinstance(field.default, list) else field.default
    value, problem = _coerce(field, value)
    if problem is None and field.minimum is not None and value < field.minimum:
        problem = "must be at least %s, got %s" % (field.minimum, value)
    if problem is None and field.maximum is not None and value > field.maximum:
        problem = "must be at most %s, got %s" % (field.maximum, value)
    if problem is None and field.choices and value not in field.choices:
        problem = "must be one of %s, got %r" % (", ".join(field.choices), value)
    if problem is None and field.check is not None:
        problem = field.check(value)
    if problem:
        errors.append("%s.%s %s." % (where, key, problem))
        return None
    return value


def _unknown(where, given, known, errors):
    for key in sorted(k for k in given if k not in known):
        close = difflib.get_close_matches(str(key), list(known), n=1)
        errors.append("%s.%s is not a field of a model entry%s (fields here: %s)."
                      % (where, key, "; did you mean %s?" % close[0] if close else "", ", ".join(sorted(known))))


def _section(where, key, spec, value, errors):
    if value is None:
        if key in REQUIRED_SECTIONS:
            errors.append("%s.%s is missing; it is required (docs/models.md)." % (where, key))
            errors = []  # not every one of its required fields again
        value = {}
    if not isinstance(value, dict):
        errors.append("%s.%s must be a mapping of its fields (%s), got %s."
                      % (where, key, ", ".join(spec), _describe(value)))
        value = {}
    _unknown("%s.%s" % (where, key), value, spec, errors)
    return dict((k, _field("%s.%s" % (where, key), k, f, value.get(k), errors)) for k, f in spec.items())


def _entry(index, raw, settings, errors):
    """One normalised entry (None fields where a value was refused), problems appended to errors."""
    label = "llm_serving_models[%d]" % index
    if isinstance(raw, dict) and isinstance(raw.get("name"), str) and DNS_1035.match(raw["name"]):
        label = "llm_serving_models[%d] (%s)" % (index, raw["name"])
    if not isinstance(raw, dict):
        errors.append("%s must be a mapping with name, weights, hardware, ...; got %s." % (label, _describe(raw)))
        return None
    _unknown(label, raw, MODEL, errors)
    m = {}
    for key, spec in MODEL.items():
        if isinstance(spec, dict):
            m[key] = _section(label, key, spec, raw.get(key), errors)
        else:
            m[key] = _field(label, key, spec, raw.get(key), errors)
    name = m["name"] or "model-%d" % index
    w, hw, vl, reg = m["weights"], m["hardware"], m["vllm"], m["registry"]
    m["display_name"] = m["display_name"] or name
    if w["source"] is None:
        w["source"] = "local" if w["local_dir"] else "s3"
    w["bucket"] = w["bucket"] or settings.get("s3_bucket") or "models"
    w["path"] = (w["path"] or name).strip("/")
    w["uri"] = "s3://%s/%s" % (w["bucket"], w["path"])
    if w["local_dir"]:
        w["local_dir"] = os.path.expanduser(w["local_dir"])
    # Whether the directory exists is checked by weights_problems, only for the models a run reads
    # the weights of: a teardown or a smoke test job runs without them mounted.
    if w["source"] == "local" and not w["local_dir"]:
        errors.append("%s.weights.source is local but weights.local_dir is not set; give the checkpoint's "
                      "directory on the controller, or set weights.source s3 for weights already in the bucket."
                      % label)
    tp, gpus = vl["tensor_parallel_size"], hw["gpus"]
    if tp is None:
        tp = vl["tensor_parallel_size"] = gpus or 1   # every GPU of the replica in one tensor-parallel group
    if gpus is None:
        gpus = hw["gpus"] = tp
    if tp and gpus:
        if tp > gpus:
            errors.append("%s: vllm.tensor_parallel_size %d is more than hardware.gpus %d; set hardware.gpus to %d."
                          % (label, tp, gpus, tp))
        elif gpus % tp:
            errors.append("%s: hardware.gpus %d is not a multiple of vllm.tensor_parallel_size %d (gpus = tensor "
                          "parallel x pipeline parallel); set hardware.gpus to %d."
                          % (label, gpus, tp, tp * max(1, gpus // tp)))
    reg["model_name"] = reg["model_name"] or name
    reg["artifact_uri"] = "%s?endpoint=%s&defaultRegion=%s" % (
        w["uri"], _quote(settings.get("connection_endpoint") or settings.get("s3_endpoint") or ""),
        _quote(settings.get("s3_region") or "us-east-1"))
    return m


def _quote(text):
    """Percent-encode as the registry's artifact URIs have it (every reserved character, '/' too)."""
    try:
        from urllib.parse import quote
    except ImportError:  # pragma: no cover - Python 2
        from urllib import quote
    return quote(text, safe="")


def _check_catalog(label, m, catalog, errors):
    instances = catalog["instance_types"]
    hw = m["hardware"]
    itype = hw["instance_type"]
    if itype is None:
        return
    if itype not in instances:
        close = difflib.get_close_matches(itype, list(instances), n=1)
        errors.append("%s: hardware.instance_type %r is not in the GPU catalog%s; known: %s (add it with "
                      "llm_serving_preflight_catalog)." % (label, itype, "; did you mean %s?" % close[0] if close else "",
                                                           ", ".join(sorted(instances))))
        return
    product = instances[itype]["gpu_product"]
    if hw["gpu_product"] and hw["gpu_product"] != product:
        errors.append("%s: hardware.gpu_product %s does not match instance type %s, which has %s; set gpu_product "
                      "to %s or pick an instance type with %s."
                      % (label, hw["gpu_product"], itype, product, product, hw["gpu_product"]))
    per_node = instances[itype]["gpus"]
    if hw["gpus"] and hw["gpus"] > per_node:
        errors.append("%s: hardware.gpus %d is more than the %d GPU(s) of one %s node (a replica runs on one node); "
                      "use an instance type with at least %d GPUs." % (label, hw["gpus"], per_node, itype, hw["gpus"]))
    hw["gpu_product"] = product


def normalize_all(models, settings, catalog):
    """(normalised entries, errors) of the whole list: every field, then the conflicts between
    entries. Entries with refused fields are still returned (with None there) so that every
    problem is reported at once; the caller plans nothing while there are errors."""
    errors = []
    if models is None or models == [] or models == "":
        return [], ["llm_serving_models is empty: give a profile inventory before the cluster's, e.g. "
                    "ansible-playbook site.yml -i inventories/triple_play -i inventories/lab, or set "
                    "llm_serving_models (docs/models.md)."]
    if not isinstance(models, list):
        return [], ["llm_serving_models must be a list of model entries (docs/models.md), got %s." % _describe(models)]
    out = []
    for i, raw in enumerate(models):
        m = _entry(i, raw, settings, errors)
        if m is None:
            continue
        label = "llm_serving_models[%d] (%s)" % (i, m["name"]) if m["name"] else "llm_serving_models[%d]" % i
        _check_catalog(label, m, catalog, errors)
        m["_label"] = label
        out.append(m)
    errors.extend(conflicts(out))
    return out, errors


def select(models, only):
    """(the entries to act on, errors): the normalised ``models`` named in ``only`` (the setting
    ``only_models``, in the list's order), all of them when it is empty; a name that is not an
    entry is one sentence naming the variable and the names to choose from."""
    if not only:
        return models, []
    known = [m["name"] for m in models if m["name"]]
    unknown = [n for n in only if n not in known]
    if unknown:
        verb = "is" if len(unknown) == 1 else "are"
        return [], ["llm_serving_only_models names %s, which %s not in llm_serving_models; use names from %s, or "
                    "leave it empty to act on every model." % (", ".join(unknown), verb, ", ".join(known))]
    return [m for m in models if m["name"] in only], []


def weights_problems(models):
    """One sentence per model of ``models`` (normalised) whose local weights directory is not
    there: what a run that reads the checkpoints (the plan of site.yml, which uploads them, and of
    the benchmark) needs on the controller, or in an AAP job's container."""
    return ["%s.weights.local_dir %s does not exist on the controller (or is not a directory)."
            % (m["_label"], m["weights"]["local_dir"]) for m in models
            if m["weights"]["source"] == "local" and m["weights"]["local_dir"]
            and not os.path.isdir(m["weights"]["local_dir"])]


def conflicts(models):
    """Problems between entries: a name twice, two models writing the same S3 path or one's path a
    prefix of another's, and one registered model version given two different contents."""
    errors = []
    by_name = {}
    for m in models:
        if m["name"] is None:
            continue
        if m["name"] in by_name:
            errors.append("%s: name %s is also the name of %s; each name becomes an InferenceService and must be "
                          "unique." % (m["_label"], m["name"], by_name[m["name"]]["_label"]))
        else:
            by_name[m["name"]] = m
    errors.extend(_path_conflicts(models))
    errors.extend(_registry_conflicts(models))
    return errors


def _source_of(m):
    w = m["weights"]
    return (w["source"], os.path.realpath(w["local_dir"]) if w["source"] == "local" and w["local_dir"] else None)


def _path_conflicts(models):
    """The same bucket path written from two different sources loses the first's weights; a path
    that is a prefix of another's gives both models' files to the first: KServe's storage
    initializer lists a model's objects with its path as a plain prefix
    (kserve python/kserve/kserve/storage/storage.py _download_s3)."""
    errors = []
    located = [m for m in models if m["weights"]["path"] and m["weights"]["bucket"]]
    for i, a in enumerate(located):
        for b in located[i + 1:]:
            wa, wb = a["weights"], b["weights"]
            if wa["bucket"] != wb["bucket"]:
                continue
            if wa["path"] == wb["path"]:
                if _source_of(a) != _source_of(b):
                    errors.append("%s and %s: both write weights.path %s, from different sources (%s, %s); the "
                                  "second upload would overwrite the first's weights: give each model a path of its "
                                  "own." % (a["_label"], b["_label"], wa["uri"], wa["local_dir"] or wa["source"],
                                            wb["local_dir"] or wb["source"]))
                continue
            for short, long_ in ((a, b), (b, a)):
                if long_["weights"]["path"].startswith(short["weights"]["path"]):
                    errors.append("%s: weights.path %s is a prefix of %s's %s, and KServe's storage initializer "
                                  "downloads every object under a model's path as a prefix, so %s would get both "
                                  "models' files; rename one (e.g. %s/weights)."
                                  % (short["_label"], short["weights"]["uri"], long_["name"], long_["weights"]["uri"],
                                     short["name"], short["weights"]["path"]))
    return errors


VERSION_FIELDS = ("author", "format_name", "format_version", "version_custom_properties", "artifact_uri")
MODEL_FIELDS = ("description", "owner", "custom_properties")


def _registry_conflicts(models):
    """Entries registering the same registered model must agree on its fields, and on the
    fields of a version they share; otherwise each run rewrites the other's."""
    errors = []
    first_model, first_version = {}, {}
    for m in models:
        reg = m["registry"]
        if not reg["model_name"] or not reg["version"]:
            continue
        key = reg["model_name"]
        other = first_model.setdefault(key, m)
        if other is not m:
            for f in MODEL_FIELDS:
                if reg[f] != other["registry"][f]:
                    errors.append("%s and %s register the same model %s with different registry.%s (%r, %r); give "
                                  "them the same %s (it belongs to the registered model, not to a version)."
                                  % (other["_label"], m["_label"], key, f, other["registry"][f], reg[f], f))
        vkey = (key, reg["version"])
        other = first_version.setdefault(vkey, m)
        if other is not m:
            differ = [f for f in VERSION_FIELDS if reg[f] != other["registry"][f]]
            if differ:
                what = "weights" if "artifact_uri" in differ else "registry." + differ[0]
                errors.append("%s and %s both register %s version %s, with different %s (%s, %s): the second would "
                              "overwrite the first's; give one another registry.version."
                              % (other["_label"], m["_label"], key, reg["version"], what,
                                 other["registry"]["artifact_uri"] if what == "weights" else other["registry"][differ[0]],
                                 reg["artifact_uri"] if what == "weights" else reg[differ[0]]))
    return errors
