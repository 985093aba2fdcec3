"""A plain `ansible-galaxy collection build` in a working checkout ships no development leftover.

scripts/galaxy_import.sh builds from the files git knows, so what .gitignore hides never reaches
its tarball; someone who runs `ansible-galaxy collection build` in their checkout (or `make build`
after a benchmark) builds from the directory as it is. Every path .gitignore names must therefore
be in galaxy.yml's build_ignore too. The test fills each ignored path of a copy of the checkout
and builds it with the pinned ansible-galaxy.
"""

import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")


def _leftovers():
    """A file for every .gitignore pattern: the path a development run would leave there."""
    paths = []
    with open(os.path.join(ROOT, ".gitignore")) as handle:
        for line in handle:
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            pattern = pattern.strip("/")
            if pattern.startswith("*."):  # *.pyc, *.tar.gz: a file of that kind in a package
                paths.append("plugins/modules/leftover" + pattern[1:])
            elif "." in os.path.basename(pattern) and not pattern.startswith("."):
                paths.append(pattern)  # a file (inventories/lab/.../lab_connection.yml)
            else:
                paths.append(pattern + "/leftover.txt")  # a directory
    return paths


def test_every_ignored_path_stays_out_of_the_tarball(tmp_path):
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout.decode()
    source = tmp_path / "checkout"
    for name in filter(None, tracked.split("\0")):
        if name.startswith("collections/ansible_collections/"):
            continue  # the link back to the root
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isfile(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), target)
    leftovers = _leftovers()
    assert "benchmark-report/leftover.txt" in leftovers  # the parser reads .gitignore as meant
    for path in leftovers:
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_text("left by a development run\n")
    subprocess.run([GALAXY, "collection", "build", "--output-path", str(tmp_path), str(source)],
                   check=True, capture_output=True)
    tarball = next(tmp_path.glob("private_ai-llm_serving-*.tar.gz"))
    with tarfile.open(tarball) as archive:
        shipped = set(archive.getnames())
    assert sorted(set(leftovers) & shipped) == []
    assert "plugins/modules/llm_benchmark.py" in shipped  # the build itself is not empty
