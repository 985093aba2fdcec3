# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pack model replicas onto GPU nodes, per instance type (first-fit decreasing)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def pack(replicas, gpus_per_node):
    """First-fit decreasing bin packing.

    ``replicas`` is a list of (label, gpus); returns a list of nodes, each
    ``{"replicas": [labels], "gpus_used": n, "gpus_free": m}``. A replica never spans nodes.
    """
    nodes = []
    for label, gpus in sorted(replicas, key=lambda r: (-r[1], r[0])):
        for node in nodes:
            if node["gpus_free"] >= gpus:
                break
        else:
            node = {"replicas": [], "gpus_used": 0, "gpus_free": gpus_per_node}
            nodes.append(node)
        node["replicas"].append(label)
        node["gpus_used"] += gpus
        node["gpus_free"] -= gpus
    return nodes


def pack_all(entries, catalog):
    """Nodes per instance type for the planned models.

    ``entries`` maps model name to a plan entry with instance_type, gpus and replicas.
    Returns (counts {instance_type: nodes}, layout {instance_type: [node, ...]}).
    """
    by_type = {}
    for name in sorted(entries):
        e = entries[name]
        items = by_type.setdefault(e["instance_type"], [])
        for r in range(e["replicas"]):
            items.append(("%s/%d" % (name, r), e["gpus"]))
    counts, layout = {}, {}
    for itype in sorted(by_type):
        nodes = pack(by_type[itype], catalog["instance_types"][itype]["gpus"])
        if nodes:
            counts[itype] = len(nodes)
            layout[itype] = nodes
    return counts, layout
