# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The GPU catalog the planner reasons with, shipped as data and overridable by the user.

GPU memory is what a node reports as ``nvidia.com/gpu.memory`` (MiB usable by CUDA), not the
marketing number: an L4 sold as 24 GB reports 23034 MiB. Prices are AWS on-demand Linux,
us-east-1, in USD per hour; override them through the ``catalog`` option for other regions,
discounts or clouds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

DEFAULT_FLAVOR = "nvidia-gpu-flavor"

GPU_PRODUCTS = {
    # compute_capability decides FP8 (>= 8.9 for FP8 tensor cores and an FP8 KV cache) and
    # bfloat16 (>= 8.0).
    "NVIDIA-L4": {"memory_mib": 23034, "compute_capability": 8.9, "fp8": True},
    "NVIDIA-L40S": {"memory_mib": 46068, "compute_capability": 8.9, "fp8": True},
    "NVIDIA-A10G": {"memory_mib": 23028, "compute_capability": 8.6, "fp8": False},
    "NVIDIA-A100-SXM4-40GB": {"memory_mib": 40960, "compute_capability": 8.0, "fp8": False},
    "NVIDIA-A100-SXM4-80GB": {"memory_mib": 81920, "compute_capability": 8.0, "fp8": False},
    "NVIDIA-H100-80GB-HBM3": {"memory_mib": 81559, "compute_capability": 9.0, "fp8": True},
}

INSTANCE_TYPES = {
    "g6.xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 1, "vcpu": 4, "memory_gib": 16, "hourly_cost": 0.8048},
    "g6.2xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 1, "vcpu": 8, "memory_gib": 32, "hourly_cost": 0.9776},
    "g6.4xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 1, "vcpu": 16, "memory_gib": 64, "hourly_cost": 1.3232},
    "g6.8xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 1, "vcpu": 32, "memory_gib": 128, "hourly_cost": 2.0144},
    "g6.12xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 4, "vcpu": 48, "memory_gib": 192, "hourly_cost": 4.6016},
    "g6.24xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 4, "vcpu": 96, "memory_gib": 384, "hourly_cost": 6.6752},
    "g6.48xlarge": {"gpu_product": "NVIDIA-L4", "gpus": 8, "vcpu": 192, "memory_gib": 768, "hourly_cost": 13.3504},
    "g6e.xlarge": {"gpu_product": "NVIDIA-L40S", "gpus": 1, "vcpu": 4, "memory_gib": 32, "hourly_cost": 1.861},
    "g6e.2xlarge": {"gpu_product": "NVIDIA-L40S", "gpus": 1, "vcpu": 8, "memory_gib": 64, "hourly_cost": 2.24208},
    "g6e.12xlarge": {"gpu_product": "NVIDIA-L40S", "gpus": 4, "vcpu": 48, "memory_gib": 384, "hourly_cost": 10.493},
    "g6e.48xlarge": {"gpu_product": "NVIDIA-L40S", "gpus": 8, "vcpu": 192, "memory_gib": 1536, "hourly_cost": 30.13118},
    "g5.xlarge": {"gpu_product": "NVIDIA-A10G", "gpus": 1, "vcpu": 4, "memory_gib": 16, "hourly_cost": 1.006},
    "g5.12xlarge": {"gpu_product": "NVIDIA-A10G", "gpus": 4, "vcpu": 48, "memory_gib": 192, "hourly_cost": 5.672},
    # p4d carries the 40 GB A100; the 80 GB part is p4de.
    "p4d.24xlarge": {"gpu_product": "NVIDIA-A100-SXM4-40GB", "gpus": 8, "vcpu": 96, "memory_gib": 1152, "hourly_cost": 21.9576},
    "p4de.24xlarge": {"gpu_product": "NVIDIA-A100-SXM4-80GB", "gpus": 8, "vcpu": 96, "memory_gib": 1152, "hourly_cost": 27.4471},
    "p5.48xlarge": {"gpu_product": "NVIDIA-H100-80GB-HBM3", "gpus": 8, "vcpu": 192, "memory_gib": 2048, "hourly_cost": 55.04},
}

_PRODUCT_KEYS = {"memory_mib": float, "compute_capability": float, "fp8": bool}
_INSTANCE_KEYS = {"gpu_product": str, "gpus": int, "vcpu": int, "memory_gib": float, "hourly_cost": float}


class CatalogError(ValueError):
    """A catalog override that cannot be used; the message names the entry and the field."""


def _merge_section(base, override, keys, section):
    for name, entry in (override or {}).items():
        if entry is None:
            base.pop(name, None)
            continue
        if not isinstance(entry, dict):
            raise CatalogError("catalog.%s.%s must be a mapping of %s, got %r."
                               % (section, name, ", ".join(sorted(keys)), entry))
        merged = dict(base.get(name, {}))
        for key, value in entry.items():
            if key not in keys:
                raise CatalogError("catalog.%s.%s has unknown field %r; known fields: %s."
                                   % (section, name, key, ", ".join(sorted(keys))))
            try:
                merged[key] = keys[key](value) if keys[key] is not bool else bool(value)
            except (TypeError, ValueError):
                raise CatalogError("catalog.%s.%s.%s must be a %s, got %r."
                                   % (section, name, key, keys[key].__name__, value))
        missing = sorted(set(keys) - set(merged))
        if missing:
            raise CatalogError("catalog.%s.%s is new and lacks %s."
                               % (section, name, ", ".join(missing)))
        base[name] = merged


def load_catalog(override=None):
    """Return the shipped catalog with ``override`` merged over it.

    ``override`` has the shape ``{gpu_products: {NAME: {...}}, instance_types: {NAME: {...}}}``;
    a field given replaces the shipped one, a new name must give every field, a name mapped to
    null removes the entry. Raises CatalogError with one sentence naming the bad field.
    """
    override = override or {}
    unknown = sorted(set(override) - {"gpu_products", "instance_types"})
    if unknown:
        raise CatalogError("catalog has unknown section(s) %s; use gpu_products and instance_types."
                           % ", ".join(unknown))
    products = copy.deepcopy(GPU_PRODUCTS)
    instances = copy.deepcopy(INSTANCE_TYPES)
    _merge_section(products, override.get("gpu_products"), _PRODUCT_KEYS, "gpu_products")
    _merge_section(instances, override.get("instance_types"), _INSTANCE_KEYS, "instance_types")
    for name, inst in instances.items():
        if inst["gpu_product"] not in products:
            raise CatalogError("catalog.instance_types.%s.gpu_product %s is not in catalog.gpu_products."
                               % (name, inst["gpu_product"]))
        if inst["gpus"] < 1:
            raise CatalogError("catalog.instance_types.%s.gpus must be at least 1, got %d."
                               % (name, inst["gpus"]))
    return {"gpu_products": products, "instance_types": instances}


def instance_types_by_cost(catalog):
    """Instance type names, cheapest first (ties by name), for suggestions."""
    inst = catalog["instance_types"]
    return sorted(inst, key=lambda n: (inst[n]["hourly_cost"], n))
