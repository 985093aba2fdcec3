"""The execution environment metadata: every third-party Python import of plugins/ is in
meta/ee-requirements.txt, `ansible-builder introspect` reports boto3 and kubernetes for the
collection, and `ansible-builder create` writes the build context of the EE definition, whose
builder stage resolves system requirements the minimal EE's UBI repositories have (no container
engine is needed for any of it)."""

import ast
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Import name -> the distribution that provides it.
DISTRIBUTIONS = {"yaml": "PyYAML", "boto3": "boto3", "botocore": "botocore", "kubernetes": "kubernetes",
                 "urllib3": "urllib3", "certifi": "certifi", "plotly": "plotly"}
# Python 2 names behind a `try: ... except ImportError` fallback, never imported on Python 3.
PY2_ONLY = {"Queue"}


def third_party_imports():
    """{top-level module name: [files importing it]} of every absolute import under plugins/."""
    found = {}
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in ("ansible", "ansible_collections", "__future__") or top in PY2_ONLY:
                    continue
                found.setdefault(top, []).append(str(path.relative_to(ROOT)))
    return found


def ee_requirements():
    lines = (ROOT / "meta" / "ee-requirements.txt").read_text().splitlines()
    reqs = [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]
    return {req.name.lower(): req for req in reqs}


def test_meta_execution_environment_points_at_the_requirement_files():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    for path in meta["dependencies"].values():
        assert (ROOT / path).is_file(), path


def test_every_third_party_import_of_the_plugins_is_an_ee_requirement():
    imports = third_party_imports()
    assert {"boto3", "botocore", "kubernetes", "yaml"} <= set(imports)  # the scan does see them
    unknown = sorted(set(imports) - set(DISTRIBUTIONS))
    assert not unknown, "add these imports to DISTRIBUTIONS and meta/ee-requirements.txt: %s" % {
        name: imports[name] for name in unknown}
    requirements = ee_requirements()
    missing = sorted(DISTRIBUTIONS[name] for name in imports if DISTRIBUTIONS[name].lower() not in requirements)
    assert not missing, "meta/ee-requirements.txt lacks %s" % missing


def test_the_pinned_dev_versions_satisfy_the_ee_requirements():
    # What the tests run with must be something the EE allows, or the EE runs untested versions.
    from importlib import metadata
    for name, req in ee_requirements().items():
        assert req.specifier.contains(metadata.version(name), prereleases=True), (name, str(req))


def _collections_dir(tmp_path):
    """The collection and kubernetes.core (the copy the ansible package bundles) as an EE's
    ansible_collections tree."""
    from ansible_collections.kubernetes import core
    root = tmp_path / "collections" / "ansible_collections"
    (root / "private_ai").mkdir(parents=True)
    (root / "kubernetes").mkdir()
    (root / "private_ai" / "llm_serving").symlink_to(ROOT)
    (root / "kubernetes" / "core").symlink_to(Path(list(core.__path__)[0]))
    return root.parent


def test_ansible_builder_introspect_lists_boto3_and_kubernetes(tmp_path):
    out = subprocess.run([str(BIN / "ansible-builder"), "introspect", "--sanitize", str(_collections_dir(tmp_path))],
                         check=True, capture_output=True, text=True).stdout
    data = yaml.safe_load(out.split("---", 1)[1])
    ours = [line.split("#")[0].strip() for line in data["python"] if "private_ai.llm_serving" in line]
    assert {Requirement(line).name for line in ours} >= {"boto3", "kubernetes", "botocore"}


def test_ansible_builder_create_writes_the_build_context(tmp_path):
    definition = ROOT / "execution-environment" / "execution-environment.yml"
    spec = yaml.safe_load(definition.read_text())
    assert spec["version"] == 3
    base = spec["images"]["base_image"]["name"]
    assert base.startswith("registry.redhat.io/ansible-automation-platform-25/ee-minimal-rhel9")
    context = tmp_path / "context"
    subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(definition), "--context", str(context),
                    "--output-filename", "Containerfile"], check=True, capture_output=True, text=True)
    containerfile = (context / "Containerfile").read_text()
    assert "ARG EE_BASE_IMAGE=\"%s\"" % base in containerfile
    assert "ansible-galaxy collection install" in containerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    names = {c["name"] for c in galaxy["collections"]}
    assert names == {"private_ai.llm_serving", "kubernetes.core"}
    # the EE's kubernetes.core bound is the collection's own dependency bound
    ours = yaml.safe_load((ROOT / "galaxy.yml").read_text())["dependencies"]["kubernetes.core"]
    assert [c["version"] for c in galaxy["collections"] if c["name"] == "kubernetes.core"] == [ours]
    # the image holds the collection of this checkout's version (docs/aap.md tags it with that version)
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert [c["version"] for c in galaxy["collections"] if c["name"] == "private_ai.llm_serving"] == [version]


def test_the_build_installs_no_system_package_outside_the_ubi_repositories(tmp_path):
    # The builder stage runs `introspect.py introspect ... --write-bindep=/tmp/src/bindep.txt` on the
    # installed collections, and the final stage installs that file with microdnf from the base
    # image's (UBI) repositories. kubernetes.core before 5.4.3/6.5.0 lists openshift-clients for
    # RHEL 9, which those repositories lack (kubernetes.core issues #537, #1141): run the build
    # context's own command on the collections the bound allows (the bundled kubernetes.core has it).
    from ansible_collections.kubernetes import core
    bindep = (Path(list(core.__path__)[0]) / "bindep.txt").read_text()
    assert "openshift-clients [platform:rhel-9]" in bindep  # what the test guards against is there
    definition = ROOT / "execution-environment" / "execution-environment.yml"
    context = tmp_path / "context"
    subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(definition), "--context", str(context),
                    "--output-filename", "Containerfile"], check=True, capture_output=True, text=True)
    containerfile = (context / "Containerfile").read_text()
    runs = [line for line in containerfile.splitlines() if "/output/scripts/introspect.py introspect" in line]
    assert len(runs) == 1, containerfile
    argv = shlex.split(runs[0].split(None, 1)[1])
    assert argv[:2] == ["$PYCMD", "/output/scripts/introspect.py"]
    # the stage's files: COPY _build/<file> <file> into WORKDIR /build
    workdir = tmp_path / "build"
    workdir.mkdir()
    for line in containerfile.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and len(words) == 3 and words[1].startswith("_build/") and not words[2].startswith("/"):
            (workdir / words[2]).write_bytes((context / words[1]).read_bytes())
    out = tmp_path / "src"
    out.mkdir()
    args = [a.replace("/tmp/src/", str(out) + "/") for a in argv[2:]]
    subprocess.run([sys.executable, str(context / "_build" / "scripts" / "introspect.py")] + args
                   + [str(_collections_dir(tmp_path))], check=True, capture_output=True, text=True, cwd=workdir)
    system = (out / "bindep.txt").read_text() if (out / "bindep.txt").exists() else ""
    assert "openshift-clients" not in system, system
    # the Python requirements still come from both collections
    python = (out / "requirements.txt").read_text()
    assert "from collection private_ai.llm_serving" in python and "from collection kubernetes.core" in python
