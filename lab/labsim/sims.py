"""Start, adopt and stop vllm_sim processes, one per predictor pod.

Each sim runs in its own process group; `<state-dir>/vllm/<ns>_<pod>.json` records its pid,
port and the profile it serves, so a restarted labsim adopts running sims instead of restarting
them. Ports are stable per pod (`<state-dir>/vllm/ports.json`).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

LAB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def alive(pid):
    """True while pid is a running vllm_sim."""
    return _alive(pid)


def _alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return b"labsim.vllm_sim" in fh.read()
    except OSError:
        return False


def _port_free(port):
    with socket.socket() as sock:
        # as the sim's server does: TIME_WAIT connections of a stopped sim do not block the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class SimManager:
    def __init__(self, state_dir, port_base, log):
        self.dir = os.path.join(state_dir, "vllm")
        os.makedirs(self.dir, exist_ok=True)
        self.port_base = port_base
        self.log = log
        self.lock = threading.Lock()
        self.ports_file = os.path.join(self.dir, "ports.json")
        self.ports = self._load(self.ports_file) or {}
        self.sims = {}  # key -> record
        for name in os.listdir(self.dir):
            if name.endswith(".json") and name != "ports.json":
                rec = self._load(os.path.join(self.dir, name))
                if rec and _alive(rec.get("pid", -1)):
                    self.sims[rec["key"]] = rec
                    self.log.info("adopted vllm_sim for %s (pid %d, port %d)", rec["key"],
                                  rec["pid"], rec["port"])
                else:
                    os.unlink(os.path.join(self.dir, name))

    @staticmethod
    def _load(path):
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def _file(self, key):
        return os.path.join(self.dir, key.replace("/", "_") + ".json")

    def port_for(self, key):
        """Stable port: the lowest free index, remembered across restarts."""
        with self.lock:
            if key not in self.ports:
                used = set(self.ports.values())
                idx = 0
                while idx in used or not _port_free(self.port_base + idx):
                    idx += 1
                self.ports[key] = idx
                with open(self.ports_file, "w", encoding="utf-8") as fh:
                    json.dump(self.ports, fh)
            return self.port_base + self.ports[key]

    def release_port(self, key):
        with self.lock:
            if self.ports.pop(key, None) is not None:
                with open(self.ports_file, "w", encoding="utf-8") as fh:
                    json.dump(self.ports, fh)

    def get(self, key):
        rec = self.sims.get(key)
        if rec and not _alive(rec["pid"]):
            self.log.warning("vllm_sim for %s (pid %d) died", key, rec["pid"])
            self.stop(key)
            return None
        return rec

    def keys(self):
        return list(self.sims)

    def pids(self):
        return [(key, rec["pid"]) for key, rec in list(self.sims.items())]

    def start(self, key, name, profile, extra=None):
        """Start a sim for key (a pod) serving `name`; returns its record."""
        self.stop(key)
        port = self.port_for(key)
        if not _port_free(port):  # taken by something else since we chose it
            self.release_port(key)
            port = self.port_for(key)
        args = [sys.executable, "-m", "labsim.vllm_sim", "--port", str(port),
                "--served-model-name", name, "--model", "/mnt/models",
                "--max-model-len", str(profile["max_model_len"]),
                "--max-num-seqs", str(profile.get("max_num_seqs", 256)),
                "--time-to-first-token", str(profile["ttft_ms"]),
                "--inter-token-latency", str(profile["itl_ms"]),
                "--inter-token-latency-std-dev", str(profile.get("itl_std_dev_ms", 0)),
                "--prefill-ms-per-token", str(profile.get("prefill_ms_per_token", 0)),
                "--prefill-batch-slope", str(profile.get("prefill_batch_slope", 0)),
                "--decode-batch-slope", str(profile.get("decode_batch_slope", 0)),
                "--startup-duration", str(profile["ready_delay_s"]),
                "--mode", profile.get("mode", "random")] + list(extra or [])
        env = dict(os.environ, PYTHONPATH=LAB_DIR)
        logf = open(self._file(key)[:-5] + ".log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(args, cwd=LAB_DIR, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        rec = {"key": key, "pid": proc.pid, "port": port, "name": name, "profile": profile,
               "started": time.time(), "args": args[1:]}
        self._procs = getattr(self, "_procs", {})
        self._procs[proc.pid] = proc
        with open(self._file(key), "w", encoding="utf-8") as fh:
            json.dump(rec, fh)
        self.sims[key] = rec
        self.log.info("started vllm_sim for %s on port %d (pid %d, ttft %sms, itl %sms, "
                      "load %ss)", key, port, proc.pid, profile["ttft_ms"], profile["itl_ms"],
                      profile["ready_delay_s"])
        return rec

    def stop(self, key, release=False):
        rec = self.sims.pop(key, None)
        if rec:
            pid = rec["pid"]
            try:
                if _alive(pid):
                    os.killpg(pid, signal.SIGTERM)
                    for _ in range(20):
                        if not _alive(pid):
                            break
                        time.sleep(0.05)
                    else:
                        os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc = getattr(self, "_procs", {}).pop(pid, None)
            if proc is not None:
                proc.poll()
            self.log.info("stopped vllm_sim for %s (pid %d)", key, pid)
        try:
            os.unlink(self._file(key))
        except OSError:
            pass
        if release:  # the pod is gone: forget its port and its log
            self.release_port(key)
            try:
                os.unlink(self._file(key)[:-5] + ".log")
            except OSError:
                pass

    def stop_all(self):
        for key in list(self.sims):
            self.stop(key)

    @staticmethod
    def healthy(rec):
        """True when rec's own process answers /v1/models with rec's served name."""
        if not _alive(rec["pid"]):
            return False
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/models" % rec["port"],
                                        timeout=0.5) as resp:
                models = json.load(resp).get("data") or []
        except (OSError, ValueError):
            return False
        return any(m.get("id") == rec["name"] for m in models)
