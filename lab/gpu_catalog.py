"""The GPU instance types the lab knows, read from the collection's own catalog.

One table for the collection's planner, the lab's MachineSets and the Machine API simulator's
Nodes: `plugins/module_utils/serving_plan/catalog.py` (plain Python, no Ansible imports), loaded
here by path so the lab needs neither Ansible nor the collection installed.
"""

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "plugins", "module_utils", "serving_plan", "catalog.py")
_spec = importlib.util.spec_from_file_location("_llm_serving_catalog", _PATH)
_catalog = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_catalog)

INSTANCE_TYPES = _catalog.INSTANCE_TYPES
GPU_PRODUCTS = _catalog.GPU_PRODUCTS
# The lab seeds one MachineSet (0 replicas) per type here, as an OpenShift cluster on AWS with
# GPU MachineSets prepared by its administrators would have them.
SEEDED = ("g6.4xlarge", "g6.12xlarge", "g6e.xlarge")


def shape(instance_type):
    """(vCPU, memory GiB, GPUs, GPU product, GPU memory MiB) of an instance type, or None."""
    entry = INSTANCE_TYPES.get(instance_type)
    if entry is None:
        return None
    product = entry["gpu_product"]
    return (entry["vcpu"], int(entry["memory_gib"]), entry["gpus"], product,
            int(GPU_PRODUCTS[product]["memory_mib"]))
