# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kueue ClusterQueue a plan needs, computed from the one the cluster has, and checked against
Kueue's own rules before it is applied.

OpenShift AI 3.0 creates its ClusterQueue `default` once, at install (opendatahub-operator
internal/controller/components/kueue/kueue_support.go): one resource group covering cpu and memory
with `default-flavor` (quota: the nodes' allocatable then), and one group per GPU resource with its
flavor only if GPU nodes existed then. Installed before the GPU nodes, as this collection's flow
has it, the queue has no GPU group. Kueue's ClusterQueue webhook (pkg/webhooks/clusterqueue_webhook.go,
validateResourceGroups) refuses a resource covered by two groups, so the GPU quota goes into a
group of its own covering only what no other group covers; the cpu and memory of GPU pods are
admitted from the group that covers them, whose quota is raised. Quotas are never lowered and
existing groups, flavors and order are kept.

All pure functions over dicts, unit-tested; the kueue_quota module calls them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.quantity import (
    format_quantity,
    quantity,
)

# Kueue v0.14 limits (apis/kueue/v1beta1/clusterqueue_types.go kubebuilder markers).
MAX_RESOURCE_GROUPS = 16
MAX_FLAVORS_PER_GROUP = 16
MAX_RESOURCES_PER_GROUP = 64


def quota_targets(plan_quota, groups):
    """The plan's quota (flavor -> resource -> quantity) mapped onto existing resource groups:
    a resource the flavor's group does not cover is counted against the first flavor of the
    group that covers it, which is where Kueue admits it."""
    out = {}
    for flavor, resources in sorted((plan_quota or {}).items()):
        flavor_group = next((g for g in groups if flavor in [f.get("name") for f in g.get("flavors") or []]), None)
        for resource, need in sorted(resources.items()):
            target = flavor
            covers = flavor_group is not None and resource in (flavor_group.get("coveredResources") or [])
            if not covers:
                other = next((g for g in groups if resource in (g.get("coveredResources") or [])), None)
                if other is not None and other.get("flavors"):
                    target = other["flavors"][0]["name"]
            bucket = out.setdefault(target, {})
            bucket[resource] = _sum(bucket.get(resource), need)
    return out


def _sum(a, b):
    if a is None:
        return b
    return format_quantity(quantity(a) + quantity(b), like=b)


def _raise(quota, want):
    """The larger of two quantities, keeping the existing spelling when it is already enough."""
    if want is None:
        return quota
    have = quantity(quota)
    if have is not None and have >= quantity(want):
        return quota
    return want


def desired_cluster_queue(name, existing, plan_quota, default_flavor="default-flavor",
                          default_flavor_quota=None):
    """The ClusterQueue `name` with nominal quota >= the plan's for every (flavor, resource).

    existing: the live ClusterQueue (dict) or None. A new queue gets RHOAI's layout: a group
    covering cpu and memory with `default_flavor` (quota `default_flavor_quota`) and a group per
    flavor of the plan covering what remains (nvidia.com/gpu). Returns the full object."""
    spec = copy.deepcopy(((existing or {}).get("spec")) or {})
    groups = spec.get("resourceGroups") or []
    if not groups:
        base = dict(default_flavor_quota or {})
        groups = [{"coveredResources": ["cpu", "memory"], "flavors": [{
            "name": default_flavor, "resources": [{"name": r, "nominalQuota": base.get(r, 0)}
                                                  for r in ("cpu", "memory")]}]}]
    # A plan flavor the queue lacks joins a group covering all it needs (Kueue tries a group's
    # flavors in order: with no GPU quota on the first, GPU pods move on to it, and their cpu and
    # memory are charged to the GPU flavor, whose nodes bring them). OpenShift AI's group covering
    # cpu and memory alone is extended with the GPU resource (0 for its flavors) to that end,
    # which keeps its quota for the other workloads of the queue.
    placed = set(f["name"] for g in groups for f in g.get("flavors") or [])
    for flavor in sorted(f for f in (plan_quota or {}) if f not in placed):
        needs = list(plan_quota[flavor])
        group = next((g for g in groups if set(needs) <= set(g.get("coveredResources") or [])), None)
        if group is None:
            covered_elsewhere = set(r for g in groups for r in g.get("coveredResources") or [])
            for g in groups:
                covered = g.get("coveredResources") or []
                extra = [r for r in sorted(needs) if r not in covered]
                if set(covered) <= set(needs) and covered and not set(extra) & covered_elsewhere:
                    g["coveredResources"] = list(covered) + extra
                    for f in g.get("flavors") or []:
                        f["resources"] = list(f.get("resources") or []) + [{"name": r, "nominalQuota": 0} for r in extra]
                    group = g
                    break
        if group is not None:
            group["flavors"].append({"name": flavor, "resources": [
                {"name": r, "nominalQuota": 0} for r in group["coveredResources"]]})
    targets = quota_targets(plan_quota, groups)
    seen = set()
    for group in groups:
        for flavor in group.get("flavors") or []:
            seen.add(flavor["name"])
            want = targets.get(flavor["name"]) or {}
            for res in flavor.get("resources") or []:
                res["nominalQuota"] = _raise(res.get("nominalQuota"), want.get(res["name"]))
    covered = set(r for g in groups for r in g.get("coveredResources") or [])
    for flavor in sorted(f for f in targets if f not in seen):
        want = targets[flavor]
        resources = [r for r in sorted(want) if r not in covered]
        if not resources:
            continue
        group = next((g for g in groups if set(g.get("coveredResources") or []) == set(resources)), None)
        entry = {"name": flavor, "resources": [{"name": r, "nominalQuota": want[r]} for r in resources]}
        if group is not None:
            order = group["coveredResources"]
            entry["resources"].sort(key=lambda r: order.index(r["name"]))
            group["flavors"].append(entry)
        else:
            groups.append({"coveredResources": resources, "flavors": [entry]})
            covered.update(resources)
    spec["resourceGroups"] = groups
    spec.setdefault("namespaceSelector", {})
    return {"apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "ClusterQueue",
            "metadata": {"name": name}, "spec": spec}


def validate_resource_groups(spec):
    """Kueue's ClusterQueue webhook rules on resource groups, as error strings (empty: valid):
    a resource in at most one group, a flavor in at most one group, each flavor listing exactly
    the group's covered resources in their order, and Kueue's size limits."""
    errors = []
    groups = (spec or {}).get("resourceGroups") or []
    if len(groups) > MAX_RESOURCE_GROUPS:
        errors.append("spec.resourceGroups: Too many: %d: must have at most %d items"
                      % (len(groups), MAX_RESOURCE_GROUPS))
    seen_resources, seen_flavors = {}, {}
    for i, group in enumerate(groups):
        covered = group.get("coveredResources") or []
        for j, res in enumerate(covered):
            path = "spec.resourceGroups[%d].coveredResources[%d]" % (i, j)
            if res in seen_resources:
                errors.append('%s: Duplicate value: "%s"' % (path, res))
            seen_resources[res] = path
        if len(covered) > MAX_RESOURCES_PER_GROUP:
            errors.append("spec.resourceGroups[%d].coveredResources: Too many: %d" % (i, len(covered)))
        flavors = group.get("flavors") or []
        if len(flavors) > MAX_FLAVORS_PER_GROUP:
            errors.append("spec.resourceGroups[%d].flavors: Too many: %d" % (i, len(flavors)))
        for k, flavor in enumerate(flavors):
            path = "spec.resourceGroups[%d].flavors[%d]" % (i, k)
            if flavor.get("name") in seen_flavors:
                errors.append('%s.name: Duplicate value: "%s"' % (path, flavor.get("name")))
            seen_flavors[flavor.get("name")] = path
            names = [r.get("name") for r in flavor.get("resources") or []]
            if names != list(covered):
                errors.append("%s.resources: Invalid value: %s: must have the same resources as "
                              "the coveredResources %s, in the same order" % (path, names, covered))
            for r in flavor.get("resources") or []:
                q = quantity(r.get("nominalQuota"))
                if q is None or q < 0:
                    errors.append("%s.resources[%s].nominalQuota: Invalid value: %r"
                                  % (path, r.get("name"), r.get("nominalQuota")))
    return errors


def shortfall(spec, plan_quota):
    """[{flavor, resource, need, have}] where the ClusterQueue spec has less nominal quota than
    the plan needs (the plan's quota mapped onto its groups)."""
    groups = (spec or {}).get("resourceGroups") or []
    have = {}
    for group in groups:
        for flavor in group.get("flavors") or []:
            for r in flavor.get("resources") or []:
                have[(flavor["name"], r["name"])] = r.get("nominalQuota")
    out = []
    for flavor, resources in sorted(quota_targets(plan_quota, groups).items()):
        for res, need in sorted(resources.items()):
            got = have.get((flavor, res))
            if got is None or quantity(got) < quantity(need):
                out.append({"flavor": flavor, "resource": res, "need": str(need),
                            "have": "none" if got is None else str(got)})
    return out
