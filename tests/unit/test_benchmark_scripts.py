"""Every script of benchmarks/ starts: it imports the collection from the committed
collections/ link (ansible.cfg's collections_path) and its own helpers, and prints its --help.
A script that imports from a path that no longer exists (.ansible/collections) fails here, not
when someone finally runs the benchmark."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def test_there_are_scripts():
    assert any(p.name == "llm_benchmark_vs_guidellm.py" for p in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_script_imports_and_prints_its_help(script):
    proc = subprocess.run([sys.executable, str(script), "--help"], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout
