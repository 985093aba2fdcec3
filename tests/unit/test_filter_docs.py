"""Every filter of the collection has its own documentation: ansible-doc shows each filter's text.

A plugin file that holds several filters documents none of them in Python: ansible-core reads a
.py file's DOCUMENTATION for every filter the file defines, and an adjacent <filter>.yml only when
the .py file has none (ansible/utils/plugin_docs.py, find_plugin_docfile and _find_adjacent).
"""

import importlib
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "collections"))
FILTER_DIR = os.path.join(ROOT, "plugins", "filter")


def _filters():
    names = []
    for file_name in sorted(os.listdir(FILTER_DIR)):
        if file_name.endswith(".py") and not file_name.startswith("_"):
            module = importlib.import_module("ansible_collections.private_ai.llm_serving.plugins.filter." + file_name[:-3])
            names += sorted(module.FilterModule().filters())
    return names


def test_every_filter_has_its_own_documentation():
    names = _filters()
    assert len(names) >= 12
    fqcns = ["private_ai.llm_serving." + name for name in names]
    doc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-t", "filter", "--json"] + fqcns,
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    docs = json.loads(doc)
    described = {}
    for fqcn in fqcns:
        assert fqcn in docs, fqcn
        documentation = docs[fqcn]["doc"]
        assert documentation["name"] == fqcn.rsplit(".", 1)[1], "%s shows the documentation of %s" % (fqcn, documentation["name"])
        assert docs[fqcn]["examples"] and docs[fqcn]["return"], fqcn
        described.setdefault(documentation["short_description"], []).append(fqcn)
    assert [names for names in described.values() if len(names) > 1] == []
