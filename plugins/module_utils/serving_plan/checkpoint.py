# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the planner needs to know about a checkpoint, read from a local directory or from S3.

Only small files are read (config.json, params.json, the safetensors index); weight sizes come
from the index's ``metadata.total_size`` when there is one, else from the file sizes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import fnmatch
import json
import os
import posixpath

INDEX_NAME = "model.safetensors.index.json"
# Files whose presence makes the Mistral-native flags usable (vLLM's mistral loaders).
MISTRAL_PARAMS = "params.json"
MISTRAL_WEIGHTS_GLOB = "consolidated*.safetensors"
MISTRAL_TOKENIZER_GLOBS = ("tekken.json", "tokenizer.model.v*")
SMALL_FILE_LIMIT = 16 * 1024 * 1024


class CheckpointError(Exception):
    """The checkpoint cannot be read; the message names the model and the location."""


class Checkpoint(collections.namedtuple("Checkpoint", "location config files index_total_size params")):
    """config (dict), files ({relative name: size}), index_total_size (int or None), location,
    params (Mistral's params.json or None): what was read, never changed afterwards."""

    __slots__ = ()

    def __new__(cls, location, config, files, index_total_size=None, params=None):
        return super(Checkpoint, cls).__new__(cls, location, config, files, index_total_size, params)

    def has(self, pattern):
        return any(fnmatch.fnmatch(posixpath.basename(n), pattern) for n in self.files)

    @property
    def mistral_files(self):
        """Which Mistral-native artefacts are present: params, weights, tokenizer."""
        return {
            "params": self.has(MISTRAL_PARAMS),
            "weights": self.has(MISTRAL_WEIGHTS_GLOB),
            "tokenizer": any(self.has(g) for g in MISTRAL_TOKENIZER_GLOBS),
        }

    def weight_bytes(self, mistral_format=False):
        """Bytes of weights vLLM will load.

        Mistral's repositories ship the same weights twice (model-*.safetensors for transformers
        and consolidated.safetensors for the mistral loader); count only the set that is loaded.
        """
        # The index states the tensor bytes of the checkpoint; consolidated.safetensors holds the
        # same tensors, so the index is the best number for either loader.
        if self.index_total_size:
            return int(self.index_total_size)
        if mistral_format:
            return sum(s for n, s in self.files.items()
                       if fnmatch.fnmatch(posixpath.basename(n), MISTRAL_WEIGHTS_GLOB))
        hf = sum(s for n, s in self.files.items()
                 if n.endswith(".safetensors") and not fnmatch.fnmatch(posixpath.basename(n), MISTRAL_WEIGHTS_GLOB))
        if hf:
            return hf
        return sum(s for n, s in self.files.items() if n.endswith((".bin", ".pt", ".pth")))


def _parse_json(raw, what):
    try:
        return json.loads(raw)
    except ValueError as e:
        raise CheckpointError("%s is not valid JSON (%s)." % (what, e))


def _config_from_params(params):
    """Translate Mistral's params.json into the config.json keys the planner uses."""
    return {
        "num_hidden_layers": params.get("n_layers"),
        "hidden_size": params.get("dim"),
        "num_attention_heads": params.get("n_heads"),
        "num_key_value_heads": params.get("n_kv_heads"),
        "head_dim": params.get("head_dim"),
        "vocab_size": params.get("vocab_size"),
        "intermediate_size": params.get("hidden_dim"),
        "max_position_embeddings": params.get("max_position_embeddings") or params.get("max_seq_len"),
        "torch_dtype": "bfloat16",
        "quantization_config": params.get("quantization"),
        "_from_params_json": True,
    }


def _finish(location, files, read_small):
    index_total = None
    if INDEX_NAME in files:
        index = _parse_json(read_small(INDEX_NAME), "%s/%s" % (location, INDEX_NAME))
        index_total = (index.get("metadata") or {}).get("total_size")
    params = None
    if MISTRAL_PARAMS in files:
        params = _parse_json(read_small(MISTRAL_PARAMS), "%s/%s" % (location, MISTRAL_PARAMS))
    if "config.json" in files:
        config = _parse_json(read_small("config.json"), "%s/config.json" % location)
    elif params is not None:
        config = _config_from_params(params)
    else:
        raise CheckpointError("no config.json (or Mistral params.json) found in %s." % location)
    return Checkpoint(location, config, files, index_total, params)


def read_local(directory):
    """Read a checkpoint from a local directory (top level plus subdirectories)."""
    if not os.path.isdir(directory):
        raise CheckpointError("directory %s does not exist." % directory)
    files = {}
    for root, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, directory).replace(os.sep, "/")
            if rel.startswith("."):
                continue
            files[rel] = os.path.getsize(path)

    def read_small(rel):
        with open(os.path.join(directory, rel), "rb") as f:
            return f.read(SMALL_FILE_LIMIT).decode("utf-8")

    return _finish(directory, files, read_small)


def read_s3(reader, bucket, prefix):
    """Read a checkpoint from ``s3://bucket/prefix/`` with an S3 reader (``s3_sync.client.make_reader``):
    one listing and GETs of the small files."""
    prefix = prefix.strip("/")
    base = prefix + "/" if prefix else ""
    location = "s3://%s/%s" % (bucket, base)
    listed = reader.list_objects(bucket, base)
    if listed is None:
        raise CheckpointError("bucket %s does not exist (looked for %s)." % (bucket, location))
    files = {}
    for key, obj in listed.items():
        rel = key[len(base):]
        if rel and not rel.endswith("/"):
            files[rel] = int(obj["size"])
    if not files:
        raise CheckpointError("no objects under %s." % location)

    def read_small(rel):
        return reader.get(bucket, base + rel)[:SMALL_FILE_LIMIT].decode("utf-8")

    return _finish(location, files, read_small)
