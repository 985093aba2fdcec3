"""Lab processes: start one in its own session, tell whether it is healthy, find and stop what
the lab started (every process carries the MARKER variable), read their memory."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from .base import MARKER, Lab, LabError, log
from .kube import tcp_open

def proc_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def proc_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def carries_marker(pid: int, state: Path) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{MARKER}={state}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def marked_pids(state: Path) -> list[int]:
    """Every live process started by this lab (directly or by one of its components)."""
    needle = f"{MARKER}={state}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if needle in env and proc_alive(int(entry)):
            out.append(int(entry))
    return out


class Component:
    """One long-running lab process: how to start it and how to tell that it is healthy."""

    def __init__(self, lab: Lab, name: str, port: int | None, timeout: float = 60.0) -> None:
        self.lab = lab
        self.name = name
        self.port = port
        self.timeout = timeout

    # subclasses define argv(), and may override env(), prepare(), healthy(), configure()
    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {}

    def cwd(self) -> Path:
        return self.lab.state

    def enabled(self) -> bool:
        return True

    def prepare(self) -> None:
        """One-time setup before the first start (data directories, database init)."""

    def healthy(self) -> bool:
        return self.port is not None and tcp_open(self.port)

    def configure(self) -> None:
        """Work done once the component is healthy (idempotent)."""

    @property
    def pidfile(self) -> Path:
        return self.lab.pids / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.lab.logs / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        # A pid file outliving its process (a reboot) may name someone else's process by now.
        return pid if proc_alive(pid) and carries_marker(pid, self.lab.state) else None

    def start(self) -> None:
        self.lab.logs.mkdir(parents=True, exist_ok=True)
        self.lab.pids.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env())
        env[MARKER] = str(self.lab.state)
        argv = self.argv()
        with open(self.logfile, "ab") as logfh:
            logfh.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {argv[0]}\n".encode())
            logfh.flush()
            # Own session = own process group: `down` signals the whole group, children included.
            proc = subprocess.Popen(argv, cwd=self.cwd(), env=env, stdin=subprocess.DEVNULL,
                                    stdout=logfh, stderr=subprocess.STDOUT, start_new_session=True)
        self.pidfile.write_text(f"{proc.pid}\n")
        self.proc = proc

    def running(self) -> bool:
        # Right after exec /proc/<pid>/environ can still read empty (the marker check would fail):
        # for a process started by this run, ask the kernel through the Popen handle instead.
        proc = getattr(self, "proc", None)
        if proc is not None:
            return proc.poll() is None
        return self.pid() is not None

    def executable(self) -> str:
        """The program the component's process ends up running (argv[0] unless a launcher execs it)."""
        return self.argv()[0]

    def runs_expected_binary(self, pid: int) -> bool:
        """False when the process runs another executable (e.g. a version bump in versions.env)."""
        try:
            return os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(self.executable())
        except (OSError, LabError):
            return True

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return
            if not self.running():
                raise LabError(f"{self.name} exited during start-up; last log lines:\n{self.tail()}")
            time.sleep(0.2)
        raise LabError(f"{self.name} (pid {self.pid()}) was not healthy after {self.timeout:.0f}s; "
                       f"last log lines:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 10.0) -> None:
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return
        kill_group(pid, grace)
        self.pidfile.unlink(missing_ok=True)

    def up(self) -> str:
        if not self.enabled():
            return "skipped"
        pid = self.pid()
        if pid is not None and not self.runs_expected_binary(pid):
            log(f"{self.name} (pid {pid}) runs another binary than {self.executable()}: restarting it")
            self.stop()
            pid = None
        if pid is not None:
            if self.healthy():
                self.configure()
                return "kept"
            try:
                self.wait_healthy()
                self.configure()
                return "kept"
            except LabError:
                log(f"{self.name} (pid {pid}) is running but unhealthy: restarting it")
                self.stop()
        if self.port is not None and tcp_open(self.port):
            raise LabError(f"port {self.port} for {self.name} is already taken by a process this lab "
                           f"did not start; free it or set the port's LAB_*_PORT variable")
        self.prepare()
        self.start()
        self.wait_healthy()
        self.configure()
        return "started"


def kill_group(pid: int, grace: float) -> None:
    """SIGTERM the process group led by pid, then SIGKILL whatever is left after `grace` seconds."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not proc_alive(pid) and not _group_alive(pgid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) also succeeds for zombies; look for a live member.
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid and proc_alive(int(entry)):
                    return True
            except (ProcessLookupError, PermissionError):
                continue
    return False
