# -*- coding: utf-8 -*-
# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps a run's lock (module_utils/k8s/lease.py) as long as its ansible-playbook process lives, and no longer.

An interrupted ansible-playbook runs no ``always:``, so the release task never runs: Ctrl-C, SIGTERM, and
an Ansible Automation Platform job cancelled or timed out, which ansible-runner ends with ``podman kill`` of
the job's container and SIGKILL of the process group (ansible-runner ``runner.py`` kill_container and
handle_termination). A lock that lasted hours would then block every later run. So, as client-go's
leader election renews its Lease every retry period (tools/leaderelection/leaderelection.go renew), the
run takes a short Lease and this process, started by run_lock in a session of its own (daemonized as
ansible's async_wrapper does: double fork, setsid, stdio to /dev/null), renews it every third of its
duration while the ansible-playbook process is alive, and deletes it as soon as that process is gone.
If the renewer dies with the run (a killed container), the Lease expires one duration later.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import time

from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s import lease
from ansible_collections.private_ai.llm_serving.plugins.module_utils.k8s.client import ApiError


def proc_file(pid, name):
    """/proc/<pid>/<name> (bytes), None when there is no such process or no /proc."""
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as handle:
            return handle.read()
    except (OSError, ValueError):
        return None


def process_alive(pid):
    """True while ``pid`` is an ansible-playbook process (a reused pid is another program)."""
    return b"ansible-playbook" in (proc_file(pid, "cmdline") or b"")


def renew_once(cluster, name, namespace, holder, seconds, moment):
    """Renew the Lease; False when it is no longer this holder's (released, or taken over)."""
    current = cluster.get(lease.API, "Lease", name, namespace)
    if current is None or (current.get("spec") or {}).get("holderIdentity") != holder:
        return False
    try:
        cluster.write("PUT", lease.desired(name, namespace, holder, seconds, moment, current))
    except ApiError as exc:
        if exc.status != 409:  # 409: written meanwhile (a release or a takeover): look again next time
            raise
    return True


def keep(cluster, name, namespace, holder, seconds, alive, clock=time.monotonic, sleep=time.sleep,
         moment=lease.now_utc, poll=1.0):
    """Renew every third of ``seconds`` while ``alive()``; release when it is not. Returns why it stopped:
    ``released`` (the run is gone), ``not held`` (released by the run or taken over) or ``lost`` (no renewal
    got through for a whole lease duration: the lock may be another run's by now)."""
    period = max(1.0, seconds / 3.0)
    renew_at, renewed = clock() + period, clock()
    while True:
        if not alive():
            try:
                lease.release(cluster, name, namespace, holder)
            except Exception:  # pylint: disable=broad-except
                pass  # it expires by itself
            return "released"
        if clock() >= renew_at:
            try:
                if not renew_once(cluster, name, namespace, holder, seconds, moment()):
                    return "not held"
                renewed = clock()
            except Exception:  # pylint: disable=broad-except
                if clock() - renewed > seconds:
                    return "lost"
            renew_at = clock() + period
        sleep(poll)


def _leave(signum, frame):
    raise SystemExit(128 + signum)


def start(cluster, name, namespace, holder, seconds, playbook_pid):
    """Start the renewer for ``holder``'s Lease, watching ``playbook_pid``; returns its pid (None if the fork
    failed: then the Lease just lasts ``seconds``)."""
    read, write = os.pipe()
    try:
        first = os.fork()
    except OSError:
        return None
    if first:
        os.close(write)
        os.waitpid(first, 0)
        with os.fdopen(read, "rb") as handle:
            answer = handle.read()
        return int(answer) if answer.strip().isdigit() else None
    copies = []
    try:
        os.close(read)
        os.setsid()
        second = os.fork()
        if second:
            os.write(write, str(second).encode())
            os._exit(0)
        os.close(write)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)  # the module's pipes close: Ansible sees the task end
        os.chdir("/")  # the module's temporary directory is removed after it
        # a signal ends the renewer through the cleanup below (SIGTERM's default action, or the
        # Ansible worker's handler inherited in-process, would end it past it)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, _leave)
        copies = cluster.client.after_fork() or []  # no socket of the module's (k8s/client.py)
        keep(cluster, name, namespace, holder, seconds, lambda: process_alive(playbook_pid))
    except BaseException:  # pylint: disable=broad-except
        pass
    finally:
        for copy in copies:
            try:
                os.unlink(copy)
            except OSError:
                pass
        os._exit(0)
