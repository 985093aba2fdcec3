#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: run_lock
short_description: Take or release the run lock, a Lease in the namespace, so two runs do not deploy at once
version_added: 0.1.0
description:
  - O(state=acquired) takes the C(coordination.k8s.io/v1) Lease O(name) in O(namespace) for a new holder
    identity (returned as RV(holder)), as client-go's leader election takes a Lease - create when absent,
    otherwise replace at the resourceVersion read only when nobody holds it or the holder's time is up - so
    of two runs started together exactly one gets it.
  - When another run holds it, waits up to O(wait) seconds for it, then fails with one sentence naming the
    holder, since when, until when, and how to remove a lock an interrupted run left.
  - A lock whose holder is an C(ansible-playbook) process of this host that no longer runs (an interrupted run,
    Ctrl-C skips the release) is taken over at once, with a warning. A run on another host or in another AAP
    job's container cannot be seen from here; its lock holds until O(lease_seconds) have passed.
  - With O(renew=true) a process of its own renews the Lease every third of O(lease_seconds) while the
    C(ansible-playbook) process of the run lives, and deletes it as soon as that process is gone - Ctrl-C,
    SIGTERM, or an AAP job cancelled (its container killed, ansible-playbook SIGKILLed). If that process dies
    too, the Lease expires O(lease_seconds) after its last renewal. Not started in check mode. When the
    module does not run under C(ansible-playbook) (or the host has no C(/proc)) nothing can renew the Lease,
    so it is taken for 7200 s (or O(lease_seconds) if longer), with a warning.
  - O(state=released) deletes the Lease if O(holder) still holds it, with its resourceVersion as
    precondition, so a run never removes a lock another run took since.
  - Taking and releasing the lock is bookkeeping, not a change of the deployment - reported as C(changed=false)
    so a converged run still reports no change.
  - Check mode writes nothing; it warns when another run holds the lock.
author:
  - Private AI platform team (@private-ai)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: Namespace of the Lease (the namespace the models are served in).
    type: str
    required: true
  name:
    description: Name of the Lease.
    type: str
    default: private-ai-llm-serving-run
  state:
    description: Take (V(acquired)) or release (V(released)) the lock.
    type: str
    choices: [acquired, released]
    default: acquired
  holder:
    description:
      - Holder identity. With O(state=released), the RV(holder) the acquiring task returned (required).
      - With O(state=acquired), defaults to C(<user>@<host> pid <pid> <random>).
    type: str
  lease_seconds:
    description:
      - Duration of the Lease. With O(renew=true), how long the lock can outlive a run that died with its
        renewer; without, how long the lock lasts when the run that took it dies without releasing it.
    type: int
    default: 300
  renew:
    description: Keep the Lease renewed while the run's C(ansible-playbook) process lives, and release it when it is gone.
    type: bool
    default: true
    version_added: 0.2.0
  wait:
    description: Seconds to wait while another run holds the lock (0, fail at once).
    type: int
    default: 0
requirements:
  - kubernetes >= 24.2.0, only for connection options the collection's client leaves to kubernetes.core (proxies, exec plugins)
notes:
  - The logic is in C(module_utils/k8s/lease.py), after k8s.io/client-go tools/leaderelection (leaselock.go,
    tryAcquireOrRenew in leaderelection.go).
"""

EXAMPLES = r"""
- name: Take the run lock
  private_ai.llm_serving.run_lock:
    namespace: private-ai
    wait: 600
  register: lock

- name: Release it
  private_ai.llm_serving.run_lock:
    namespace: private-ai
    state: released
    holder: "{{ lock.holder }}"
"""

RETURN = r"""
holder:
  description: The holder identity of this run.
  returned: always
  type: str
  sample: "deployer@bastion ansible-playbook pid 4242 3f9c1a2b"
held:
  description: Whether this run holds the lock after the task (false after a release, and in check mode).
  returned: always
  type: bool
taken_over:
  description: The holder of a stale lock taken over (its run no longer exists), else null.
  returned: with O(state=acquired)
  type: str
renewer_pid:
  description: The process that renews the Lease (null when none was started).
  returned: with O(state=acquired)
  type: int
released:
  description: Whether the release deleted the Lease (false when another run had taken it since, or it was gone).
  returned: with O(state=released)
  type: bool
"""

import getpass
import re
import os
import socket
import uuid

from ansible_collections.private_ai.llm_serving.plugins.module_utils.common.errors import ModuleError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import lease, lease_renewer
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.module import run_module


OPTIONS = dict(
    namespace=dict(type="str", required=True),
    name=dict(type="str", default="private-ai-llm-serving-run"),
    state=dict(type="str", choices=["acquired", "released"], default="acquired"),
    holder=dict(type="str"),
    lease_seconds=dict(type="int", default=300),
    renew=dict(type="bool", default=True),
    wait=dict(type="int", default=0),
)


HOLDER = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>\S+) (?P<what>ansible-playbook pid|pid) (?P<pid>\d+) \S+$")


UNRENEWED_SECONDS = 7200  # a lock nothing renews lasts as long as a long run


def playbook_pid():
    """The ansible-playbook process this module runs under (the top of the chain of ansible-playbook
    processes above it: its worker, then the main process); None when /proc does not tell."""
    found, pid = None, os.getppid()
    try:
        for dummy in range(16):
            if pid <= 1:
                break
            if lease_renewer.process_alive(pid):
                found = pid
            elif found:
                break
            status = (lease_renewer.proc_file(pid, "status") or b"").decode("utf-8", "replace")
            pid = int(re.search(r"^PPid:\s*(\d+)", status, re.M).group(1))
    except (ValueError, AttributeError):
        return found
    return found


def default_holder():
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = str(os.getuid())
    pid = playbook_pid()
    what = "ansible-playbook pid" if pid else "pid"
    return "%s@%s %s %d %s" % (user, socket.gethostname(), what, pid or os.getppid(), uuid.uuid4().hex[:8])


def gone(holder):
    """True when ``holder`` is a run on this host whose ansible-playbook process no longer runs (it was
    interrupted: Ctrl-C does not run the release in always:). Runs elsewhere (another controller, another
    AAP job's container) cannot be seen from here: their lock holds until it expires."""
    match = HOLDER.match(holder or "")
    if not match or match.group("host") != socket.gethostname() or not os.path.isdir("/proc/self"):
        return False  # without /proc (a macOS controller) nothing here can tell
    cmdline = lease_renewer.proc_file(int(match.group("pid")), "cmdline")
    if cmdline is None:
        return True
    return match.group("what") == "ansible-playbook pid" and b"ansible-playbook" not in cmdline


def api_error(params, exc):
    """One sentence for an API refusal of the Lease (a 403 names the permission the deployer lacks)."""
    message = exc.message
    hint = ""
    if exc.status == 403:
        hint = ("; the identity running the collection needs get, create, update and delete on leases "
                "(coordination.k8s.io) in namespace %s, or set llm_serving_lock to false" % params["namespace"])
    return ModuleError("The run lock, Lease %s/%s: HTTP %s %s%s." % (params["namespace"], params["name"], exc.status,
                                                                     message, hint), status=exc.status)


def run(module, cluster):
    try:
        return _run(module, cluster)
    except ApiError as exc:
        raise api_error(module.params, exc)


def _run(module, cluster):
    p = module.params
    holder = p["holder"] or default_holder()
    if p["state"] == "released":
        done = False if module.check_mode else lease.release(cluster, p["name"], p["namespace"], holder)
        return dict(changed=False, holder=holder, held=False, released=done)
    if module.check_mode:
        current = cluster.get(lease.API, "Lease", p["name"], p["namespace"])
        if lease.held_by_other(current, holder, lease.now_utc()):
            module.warn(lease.busy_message(p["name"], p["namespace"], current, 0))
        return dict(changed=False, holder=holder, held=False)
    pid = playbook_pid() if p["renew"] else None
    seconds = p["lease_seconds"]
    if p["renew"] and pid is None:
        # nothing would renew a short Lease: it would lapse in the middle of the run and let another in
        seconds = max(seconds, UNRENEWED_SECONDS)
        module.warn("No ansible-playbook process found above this module (no /proc, or not run by ansible-playbook), "
                    "so nothing renews the run lock: it is taken for %d s instead of lease_seconds (%d s)."
                    % (seconds, p["lease_seconds"]))
    stale = lease.acquire(cluster, p["name"], p["namespace"], holder, seconds, wait=p["wait"], gone=gone)
    if stale:
        module.warn("Took over the run lock from %s, which no longer runs on this host (interrupted)." % stale)
    renewer = lease_renewer.start(cluster, p["name"], p["namespace"], holder, seconds, pid) if pid else None
    if pid and renewer is None:
        module.warn("The run lock's renewer could not start: the lock lasts lease_seconds (%d s) from now; a run "
                    "longer than that may be joined by another." % seconds)
    return dict(changed=False, holder=holder, held=True, taken_over=stale, renewer_pid=renewer)


def main():
    run_module(OPTIONS, run, field_manager="private-ai-llm-serving-lock",
               required_if=[("state", "released", ["holder"])])


if __name__ == "__main__":
    main()
