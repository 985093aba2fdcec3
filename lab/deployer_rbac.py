"""The deployer's RBAC, read from the collection's own table.

One source for the collection's deployer_rbac role, its preflight permission check and the lab's
restricted identity: `plugins/module_utils/k8s/rbac.py` (plain Python, no Ansible imports),
loaded here by path so the lab needs neither Ansible nor the collection installed.
"""

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "plugins", "module_utils", "k8s", "rbac.py")
_spec = importlib.util.spec_from_file_location("_llm_serving_rbac", _PATH)
_rbac = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rbac)

manifests = _rbac.manifests
checks = _rbac.checks
CLUSTER_RULES = _rbac.CLUSTER_RULES
NAMESPACED_RULES = _rbac.NAMESPACED_RULES
