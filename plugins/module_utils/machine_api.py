# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the OpenShift Machine API says about Machines that do not become nodes.

The AWS actuator (openshift/machine-api-provider-aws pkg/actuators/machine/instances.go,
launchInstance) and the machine controller (machine-api-operator pkg/controller/machine/
controller.go) report a launch EC2 refuses with HTTP 4xx (unknown or unsupported instance type,
vCPU limit) as phase Failed with status.errorReason InvalidConfiguration and status.errorMessage;
anything else (InsufficientInstanceCapacity is HTTP 500) leaves the Machine Provisioning and
retrying, the error only in providerStatus.conditions (MachineCreation False,
MachineCreationFailed) and in events.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

MACHINESET_LABEL = "machine.openshift.io/cluster-api-machineset"


def _short(text, limit=300):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


def machine_problem(machine):
    """One sentence when a Machine reports why it has no node, else None."""
    meta = machine.get("metadata") or {}
    status = machine.get("status") or {}
    name = meta.get("name")
    if status.get("errorReason") or status.get("errorMessage"):
        return "Machine %s is %s: %s: %s" % (name, status.get("phase") or "Failed",
                                             status.get("errorReason") or "error",
                                             _short(status.get("errorMessage")))
    for cond in ((status.get("providerStatus") or {}).get("conditions")) or []:
        if cond.get("type") == "MachineCreation" and cond.get("status") == "False":
            return "Machine %s is %s: %s: %s" % (name, status.get("phase") or "Provisioning",
                                                 cond.get("reason") or "MachineCreationFailed",
                                                 _short(cond.get("message")))
    return None


def machineset_report(machines, machineset):
    """(phase counts as 'Running=1, Provisioning=2', problem sentences) of a MachineSet's Machines."""
    phases, problems = {}, []
    for m in machines or []:
        if ((m.get("metadata") or {}).get("labels") or {}).get(MACHINESET_LABEL) != machineset:
            continue
        phase = (m.get("status") or {}).get("phase") or "Pending"
        phases[phase] = phases.get(phase, 0) + 1
        problem = machine_problem(m)
        if problem:
            problems.append(problem)
    counts = ", ".join("%s=%d" % kv for kv in sorted(phases.items())) or "none"
    return counts, problems
