# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The least privilege the collection runs with: one table for the deployer's RBAC (the
deployer_rbac role, the lab) and for the preflight's SelfSubjectAccessReview check.

Plain Python without Ansible imports: the lab loads this file by path (lab/deployer_rbac.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

READ = ["get", "list", "watch"]
WRITE = READ + ["create", "update", "patch", "delete"]

# Cluster-wide (a ClusterRole bound by a ClusterRoleBinding): what the roles and playbooks read or
# drive across namespaces. (group, resources, verbs, why)
CLUSTER_RULES = [
    ("machine.openshift.io", ["machinesets", "machinesets/scale"], READ + ["create", "patch", "update"],
     "gpu_machinesets finds, clones and scales the GPU MachineSets"),
    ("machine.openshift.io", ["machines"], READ + ["patch"],
     "teardown marks idle Machines for deletion before a scale-down"),
    ("", ["nodes"], READ, "gpu_machinesets waits for Ready GPU nodes"),
    ("config.openshift.io", ["infrastructures"], READ, "the cluster's infrastructure name"),
    ("", ["namespaces"], READ + ["create", "patch"], "site.yml ensures the models' namespace"),
    ("kueue.x-k8s.io", ["resourceflavors", "clusterqueues", "localqueues", "workloads",
                        "clusterqueues/status", "localqueues/status", "workloads/status"], WRITE,
     "kueue_quota; the wait reads Kueue admission"),
    ("serving.kserve.io", ["servingruntimes", "inferenceservices", "inferenceservices/status"], WRITE,
     "vllm_runtime, inference_services, teardown"),
    ("serving.kserve.io", ["clusterservingruntimes"], READ, "KServe's runtime selection"),
    # get on the registry's Service is also what the registry's kube-rbac-proxy checks when
    # registry_seed sends this identity's token (llm_serving_registry_seed_token_from_cluster).
    ("", ["pods", "pods/log", "events", "services", "endpoints"], READ,
     "inference_service_wait's readiness and diagnostics; registry_seed finds and reaches the registry's Service"),
    ("events.k8s.io", ["events"], READ, "inference_service_wait's diagnostics"),
    ("apps", ["deployments", "replicasets"], READ, "inference_service_wait follows the predictor rollout"),
    ("route.openshift.io", ["routes"], READ, "endpoint and registry URLs"),
    ("apiextensions.k8s.io", ["customresourcedefinitions"], ["get", "list"], "which APIs the cluster serves"),
    ("template.openshift.io", ["templates"], ["get", "list"],
     "OpenShift AI's vllm-cuda-runtime-template: the vLLM image to use"),
]
# In each namespace the collection deploys into only (a ClusterRole bound by RoleBindings).
NAMESPACED_RULES = [
    ("", ["secrets", "configmaps", "serviceaccounts"], WRITE,
     "minio_models' data connection Secret; inference_services' token ServiceAccount and Secret"),
    # Each InferenceService's view Role and its RoleBinding to the token ServiceAccount (what the
    # OpenShift AI dashboard creates). The Role only grants get on one InferenceService, which this
    # identity holds, so no escalate/bind is needed.
    ("rbac.authorization.k8s.io", ["roles", "rolebindings"], WRITE,
     "inference_services' token authentication (the dashboard's Role and RoleBinding)"),
    ("coordination.k8s.io", ["leases"], ["get", "create", "update", "delete"], "site.yml's run lock (run_lock)"),
]

CLUSTER_ROLE = "llm-serving-deployer"
NAMESPACED_ROLE = "llm-serving-deployer-namespaced"


def _rules(table):
    return [{"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}
            for group, resources, verbs, _why in table]


def manifests(service_account="llm-serving-deployer", sa_namespace="llm-serving-system",
              namespaces=("private-ai",), token_secret=True):
    """The objects that give ``service_account`` exactly what the collection needs, in apply
    order: its namespace, the ServiceAccount, the two ClusterRoles, the ClusterRoleBinding, one
    RoleBinding per namespace of ``namespaces`` (each namespace too) and, with ``token_secret``,
    a long-lived token Secret (what an AAP bearer token credential is given)."""
    subject = [{"kind": "ServiceAccount", "name": service_account, "namespace": sa_namespace}]
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole"}
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": sa_namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": service_account, "namespace": sa_namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": CLUSTER_ROLE},
         "rules": _rules(CLUSTER_RULES)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": NAMESPACED_ROLE},
         "rules": _rules(NAMESPACED_RULES)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": service_account}, "roleRef": dict(role_ref, name=CLUSTER_ROLE), "subjects": subject},
    ]
    for ns in namespaces:
        objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": {"name": service_account, "namespace": ns},
                     "roleRef": dict(role_ref, name=NAMESPACED_ROLE), "subjects": subject})
    if token_secret:
        objs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                     "metadata": {"name": service_account + "-token", "namespace": sa_namespace,
                                  "annotations": {"kubernetes.io/service-account.name": service_account}}})
    return objs


def checks(namespaces):
    """Every permission to review: dicts of SelfSubjectAccessReview resourceAttributes (verb,
    group, resource, subresource, namespace; an empty namespace means cluster-wide) and ``why``."""
    out = []
    for table, scopes in ((CLUSTER_RULES, [""]), (NAMESPACED_RULES, list(namespaces))):
        for group, resources, verbs, why in table:
            for resource in resources:
                name, sub = (resource.split("/", 1) + [""])[:2]
                for ns in scopes:
                    for verb in verbs:
                        out.append({"verb": verb, "group": group, "resource": name, "subresource": sub,
                                    "namespace": ns, "why": why})
    return out


def describe(check):
    """``create inferenceservices.serving.kserve.io in private-ai`` (``(cluster-wide)`` without
    a namespace)."""
    resource = check["resource"] + ("/" + check["subresource"] if check["subresource"] else "")
    if check["group"]:
        resource += "." + check["group"]
    where = "in %s" % check["namespace"] if check["namespace"] else "cluster-wide"
    return "%s %s %s" % (check["verb"], resource, where)


def missing_message(missing, user=None):
    """One sentence naming every missing permission and the fix."""
    who = "The cluster identity%s" % (" %s" % user if user else "")
    return ("%s lacks %d permission(s) the collection needs: %s. Grant them with the deployer_rbac role "
            "(playbooks/deployer_rbac.yml, ClusterRoles %s and %s) or the same rules in your own roles."
            % (who, len(missing), "; ".join("%s (%s)" % (describe(c), c["why"]) for c in missing),
               CLUSTER_ROLE, NAMESPACED_ROLE))
