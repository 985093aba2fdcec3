"""Run an Ansible module file as its own process, the way Ansible's module wrapper does.

Ansible hands a module its arguments as JSON and reads one JSON result from stdout; starting the
module directly keeps that contract while letting tests and benchmarks start it in the background,
change the cluster at a known instant, and time the process's exit. The ansible-playbook tests
(test_*_playbook) cover the FQCN, the action group and module_defaults on top of this.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")


def module_path(fqcn):
    ns, coll, name = fqcn.split(".")
    if (ns, coll) == ("private_ai", "llm_serving"):
        return REPO / "plugins" / "modules" / (name + ".py")
    import ansible_collections  # the collections bundled with the ansible package
    for root in ansible_collections.__path__:
        path = Path(root) / ns / coll / "plugins" / "modules" / (name + ".py")
        if path.exists():
            return path
    raise FileNotFoundError(fqcn)


def start(fqcn, args):
    """Start the module in the background; returns the Popen (stdout/stderr piped)."""
    fd, path = tempfile.mkstemp(prefix="module-args-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, fh)
    env = dict(os.environ, PYTHONPATH=str(REPO / "collections"))
    proc = subprocess.Popen([PYTHON, str(module_path(fqcn)), path], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=str(REPO))
    proc.args_file = path
    return proc


def finish(proc, timeout=None):
    """Wait for the module; returns its JSON result (with `rc`)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.unlink(proc.args_file)
        except OSError:
            pass
    try:
        result = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError("module printed no JSON (rc %s): %s %s" % (proc.returncode, out[-2000:], err[-2000:]))
    result["rc"] = proc.returncode
    return result


def run(fqcn, args, timeout=None):
    return finish(start(fqcn, args), timeout)


if __name__ == "__main__":  # python module_runner.py <fqcn> '<json args>'
    print(json.dumps(run(sys.argv[1], json.loads(sys.argv[2])), indent=2))
