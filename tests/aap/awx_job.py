# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the job templates and the workflow of aap/configuration/ as Ansible Automation Platform
runs them, with ansible-runner (the engine AAP runs every job with), but without a controller or
a container engine. What AWX does is followed from its source (ansible/awx at the commit the
`fetch` tool mirrored, awx/main/...; ansible/awx-plugins for the managed credential injectors):

- private data dir (tasks/jobs.py BaseTask.build_private_data_dir, build_project_dir): `project/`
  a copy of the checkout (what a project sync leaves, the tracked and unignored files, symlinks
  kept), `inventory/hosts` an executable script printing the inventory as JSON
  (write_inventory_file), `env/extravars` (build_extra_vars_file), `env/cmdline` (build_args:
  -u root, --check for job type check, --diff, -t tags, --skip-tags);
- environment (RunJob.build_env): ANSIBLE_COLLECTIONS_PATHS/_PATH = requirements_collections, the
  project ansible.cfg's collections_path when it adds a path, ~/.ansible/collections and
  /usr/share/ansible/collections; the credentials' injectors on top;
- credentials (models/credential.py CredentialType.inject_credential): non-empty inputs in a
  jinja2 ImmutableSandboxedEnvironment, file injectors written with mkstemp 0600 under env/ and
  named by tower.filename, env and extra_vars injectors rendered; the managed "OpenShift or
  Kubernetes API Bearer Token" type by awx-plugins credentials/injectors.py kubernetes_bearer_token;
- extra vars (models/mixins.py SurveyJobTemplateMixin._update_unified_job_kwargs): job template
  extra_vars, then survey defaults that pass the question's validation, then the launch's;
- workflows (models/workflow.py WorkflowJobNode.get_job_kwargs): a node's job gets its parents'
  ancestor artifacts and their jobs' artifacts (set_stats, the playbook_on_stats event's
  artifact_data) as extra vars, the workflow's extra vars above them; success, failure and always
  edges (workflow DAG).

Where the lab differs from an EE (no container engine here): the job runs on this machine with
host paths instead of /runner, in a child process whose environment holds only PATH (without any
virtualenv), HOME (an empty directory, as in a fresh EE container) and what AWX and the
credentials set; its Python is the repository's pinned one, standing in for the EE's, which
carries the ansible package's kubernetes.core as an EE carries it. private_ai.llm_serving itself
resolves only from the project copy. The private data dir is removed when the job ends.
"""

import copy
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from jinja2 import sandbox

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONFIG = ROOT / "aap" / "configuration"
CLEAN_PATH = "/usr/local/bin:/usr/bin:/bin"


class _Loader(yaml.SafeLoader):
    """Reads Ansible's !unsafe tag as the plain string it marks (injector templates)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_configuration():
    """Every controller_* variable of aap/configuration/*.yml."""
    data = {}
    for path in sorted(CONFIG.glob("*.yml")):
        data.update(yaml.load(path.read_text(), Loader=_Loader) or {})
    return data


# --- credentials ---------------------------------------------------------------------------------

def _tmpfile(private_data_dir, content):
    handle, path = tempfile.mkstemp(dir=os.path.join(private_data_dir, "env"))
    with os.fdopen(handle, "w") as f:
        f.write(content)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def kubernetes_bearer_token(inputs, env, private_data_dir):
    """awx-plugins src/awx_plugins/credentials/injectors.py kubernetes_bearer_token."""
    env["K8S_AUTH_HOST"] = str(inputs.get("host", ""))
    env["K8S_AUTH_API_KEY"] = str(inputs.get("bearer_token", ""))
    if inputs.get("verify_ssl") and "ssl_ca_cert" in inputs:
        env["K8S_AUTH_VERIFY_SSL"] = "True"
        env["K8S_AUTH_SSL_CA_CERT"] = _tmpfile(private_data_dir, str(inputs["ssl_ca_cert"]))
    else:
        env["K8S_AUTH_VERIFY_SSL"] = "False"


MANAGED = {"OpenShift or Kubernetes API Bearer Token": kubernetes_bearer_token}


class _Tower:
    pass


def inject_credential(credential_type, inputs, env, private_data_dir):
    """A custom credential type's injectors, as CredentialType.inject_credential renders them.
    Returns the extra vars it injects."""
    namespace = {"tower": _Tower()}
    for name, value in inputs.items():
        if isinstance(value, bool) or len(value):
            namespace[name] = value
    for field in credential_type["inputs"].get("fields", []):
        if field.get("type") == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    injectors = credential_type.get("injectors") or {}
    box = sandbox.ImmutableSandboxedEnvironment()
    for label, template in (injectors.get("file") or {}).items():
        path = _tmpfile(private_data_dir, box.from_string(template).render(**namespace))
        if "." not in label:
            namespace["tower"].filename = path
        else:
            if not hasattr(namespace["tower"], "filename"):
                namespace["tower"].filename = _Tower()
            setattr(namespace["tower"].filename, label.split(".")[1], path)
    for var, template in (injectors.get("env") or {}).items():
        env[var] = box.from_string(template).render(**namespace)

    def build(node):
        if isinstance(node, dict):
            return {build(k): build(v) for k, v in node.items()}
        if isinstance(node, list):
            return [build(x) for x in node]
        return box.from_string(node).render(**namespace)

    return build(injectors.get("extra_vars") or {})


# --- extra vars ----------------------------------------------------------------------------------

def survey_element_errors(element, value):
    """The checks of SurveyJobTemplateMixin._survey_element_validation that a default can fail."""
    kind = element["type"]
    if kind in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["not a string"]
        if element.get("min") not in ("", None) and len(value) < int(element["min"]):
            return ["too short"]
        if element.get("max") not in ("", None) and len(value) > int(element["max"]):
            return ["too long"]
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return ["not an integer"]
        if element.get("min") not in ("", None) and value < int(element["min"]):
            return ["too small"]
        if element.get("max") not in ("", None) and value > int(element["max"]):
            return ["too large"]
    elif kind == "multiplechoice":
        choices = element["choices"]
        if isinstance(choices, str):
            choices = [c for c in choices.splitlines() if c.strip()]
        if value not in choices:
            return ["not a choice"]
    elif kind == "multiselect":
        if not isinstance(value, list):
            return ["not a list"]
    return []


def survey_defaults(template):
    if not template.get("survey_enabled"):
        return {}
    out = {}
    for element in (template.get("survey_spec") or {}).get("spec", []):
        default = element.get("default")
        if default is not None and not survey_element_errors(element, default):
            out[element["variable"]] = default
    return out


def job_extra_vars(template, launch_vars):
    """JT extra_vars -> JT survey defaults -> runtime extra vars (_update_unified_job_kwargs)."""
    extra = dict(template.get("extra_vars") or {})
    extra.update(survey_defaults(template))
    extra.update(launch_vars or {})
    return extra


# --- the job -------------------------------------------------------------------------------------

def copy_project(dest):
    """The checkout as a project sync leaves it: tracked and unignored files, symlinks kept."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = ROOT / rel
        if not os.path.lexists(src):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)


def clean_env(home):
    """The environment a job starts from: an empty HOME, and on PATH the system's directories and
    ``home/ee-bin``, which holds only the ansible-playbook and ansible-inventory commands of the
    pinned ansible (the EE's stand-in), not the repository's virtualenv."""
    ee_bin = Path(home) / "ee-bin"
    if not ee_bin.exists():
        ee_bin.mkdir(parents=True)
        for command in ("ansible-playbook", "ansible-inventory"):
            (ee_bin / command).symlink_to(BIN / command)
    return {"PATH": "%s:%s" % (ee_bin, CLEAN_PATH), "HOME": str(home), "LANG": "C.UTF-8"}


def inventory_from_source(project, source_path, home, variables):
    """What an SCM inventory source imports (ansible-inventory on the project file, as AWX's
    inventory update runs it), with the inventory's own variables set by the administrator."""
    out = subprocess.run(["ansible-inventory", "-i", source_path, "--list", "--export"],
                         cwd=project, env=clean_env(home), check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    if "localhost" not in data.get("_meta", {}).get("hostvars", {}):
        raise AssertionError("the inventory source %s gave no host: %s" % (source_path, out[:500]))
    data.setdefault("all", {}).setdefault("vars", {}).update(variables)
    return data


def collections_paths(project):
    """RunJob.build_env: requirements_collections, the project's ansible.cfg collections_path when
    it adds a path, then the defaults."""
    import configparser
    defaults = ["~/.ansible/collections", "/usr/share/ansible/collections"]
    cfg = configparser.ConfigParser()
    cfg.read(project / "ansible.cfg")
    paths = list(defaults)
    value = cfg.get("defaults", "collections_path", fallback=None) or cfg.get("defaults", "collections_paths", fallback=None)
    if value and any(p not in defaults for p in value.split(":")):
        paths = [value] + paths
    return ":".join([str(project.parent / "requirements_collections")] + paths)


class JobResult:
    def __init__(self, status, rc, artifacts, stdout, stats, leaked):
        self.status, self.rc, self.artifacts, self.stdout, self.stats, self.leaked = status, rc, artifacts, stdout, stats, leaked

    def __repr__(self):
        return "JobResult(%s, rc=%s)" % (self.status, self.rc)


_CHILD = r"""
import json, sys
import ansible_runner
job = json.load(sys.stdin)
r = ansible_runner.run(private_data_dir=job["pdd"], playbook=job["playbook"], inventory=job["inventory"],
                       ident=job["ident"], envvars=job["envvars"],
                       suppress_env_files=True, quiet=True)
artifacts = {}
for event in r.events:
    if event.get("event") == "playbook_on_stats":
        artifacts = event.get("event_data", {}).get("artifact_data", {}) or {}
json.dump({"status": r.status, "rc": r.rc, "artifacts": artifacts, "stats": r.stats}, sys.stdout)
"""


def run_job(template, credentials, inventory_vars, launch=None, secrets=()):
    """One job of ``template`` (a controller_templates entry) as AAP runs it.

    ``credentials``: credential name -> (credential type definition or a managed type's name,
    inputs). ``inventory_vars``: the AAP inventory's own variables. ``launch``: extra_vars,
    job_tags, skip_tags, job_type, diff_mode (prompts the template must allow). ``secrets``:
    strings that must appear in no file the job leaves and not in its output (checked, reported in
    ``leaked``)."""
    launch = dict(launch or {})
    for prompt, ask in (("job_tags", "ask_tags_on_launch"), ("skip_tags", "ask_skip_tags_on_launch"),
                        ("job_type", "ask_job_type_on_launch"), ("diff_mode", "ask_diff_mode_on_launch")):
        if prompt in launch and not template.get(ask):
            raise AssertionError("%s does not prompt for %s (%s)" % (template["name"], prompt, ask))
    base = Path(tempfile.mkdtemp(prefix="awx_job_"))
    try:
        pdd = base / "runner"
        home = base / "home"
        for sub in ("project", "inventory", "env", "requirements_collections"):
            (pdd / sub).mkdir(parents=True)
        home.mkdir()
        os.chmod(pdd, stat.S_IRWXU)
        project = pdd / "project"
        copy_project(project)
        source = load_configuration()["controller_inventory_sources"][0]
        inventory = inventory_from_source(project, source["source_path"], home, inventory_vars)
        script = pdd / "inventory" / "hosts"
        script.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(inventory))
        os.chmod(script, 0o700)

        env = clean_env(home)
        paths = collections_paths(project)
        env["ANSIBLE_COLLECTIONS_PATHS"] = env["ANSIBLE_COLLECTIONS_PATH"] = paths
        args = ["-u", "root"]
        for name in template.get("credentials", []):
            kind, inputs = credentials[name]
            if isinstance(kind, str):
                MANAGED[kind](inputs, env, str(pdd))
            else:
                injected = inject_credential(kind, inputs, env, str(pdd))
                if injected:
                    args += ["-e", "@%s" % _tmpfile(str(pdd), yaml.safe_dump(injected))]
        if launch.get("job_type", template.get("job_type", "run")) == "check":
            args.append("--check")
        if launch.get("diff_mode", template.get("diff_mode")):
            args.append("--diff")
        tags = launch.get("job_tags", template.get("job_tags"))
        if tags:
            args += ["-t", tags]
        if launch.get("skip_tags"):
            args.append("--skip-tags=%s" % launch["skip_tags"])
        (pdd / "env" / "extravars").write_text(yaml.safe_dump(job_extra_vars(template, launch.get("extra_vars"))))
        from ansible_runner.utils import args2cmdline
        (pdd / "env" / "cmdline").write_text(args2cmdline(*args))

        job = {"pdd": str(pdd), "playbook": template["playbook"], "inventory": str(pdd / "inventory" / "hosts"),
               "ident": "1", "envvars": env}
        proc = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(job), env=clean_env(home),
                              capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode:
            raise RuntimeError("ansible-runner did not run: %s" % proc.stderr[-3000:])
        result = json.loads(proc.stdout)
        stdout_path = pdd / "artifacts" / "1" / "stdout"
        stdout = stdout_path.read_text() if stdout_path.exists() else ""
        leaked = _leaks(base, [s for s in secrets if s])
        job_result = JobResult(result["status"], result["rc"], result["artifacts"], stdout, result["stats"], leaked)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    # the credentials' files and runner's record of the environment go with the private data dir
    job_result.removed = not base.exists()
    job_result.base = base  # where the job's private data dir was: what it writes belongs under it
    return job_result


def _leaks(base, secrets):
    """Files under ``base`` (the job's artifacts, events and stdout included) holding one of
    ``secrets``. ansible-runner always records the job's environment, credentials included, in
    artifacts/<ident>/command (mode 0600; ansible_runner/runner.py Runner.run), as it does under
    AWX: that file is removed with the private data dir, which run_job checks, and not counted."""
    found = []
    for path in base.rglob("*"):
        rel = path.relative_to(base).parts
        if rel[-1] == "command" and "artifacts" in rel:
            continue
        if path.is_file() and not path.is_symlink() and "project" not in rel:
            try:
                text = path.read_text(errors="ignore")
            except OSError:
                continue
            found += ["%s in %s" % ("secret #%d" % i, path.relative_to(base)) for i, s in enumerate(secrets) if s in text]
    return found


# --- workflows -----------------------------------------------------------------------------------

def run_workflow(workflow, templates, run, launch_vars=None):
    """The workflow's DAG as AWX's workflow manager walks it: roots first; after a node's job, its
    success (or failure) nodes and its always nodes. ``run(template, launch)`` runs one job.
    Returns [(identifier, launch, JobResult)] in the order they ran."""
    nodes = {n["identifier"]: n for n in workflow["simplified_workflow_nodes"]}
    parents = {i: [] for i in nodes}
    for ident, node in nodes.items():
        for edge in ("success_nodes", "failure_nodes", "always_nodes"):
            for child in node.get(edge) or []:
                parents[child].append(ident)
    wf_vars = dict(survey_defaults(workflow))
    wf_vars.update(launch_vars or {})
    done, ancestor, ran = {}, {}, []
    ready = [i for i in nodes if not parents[i]]
    while ready:
        ident = ready.pop(0)
        node = nodes[ident]
        aa = {}
        for parent in parents[ident]:
            aa.update(ancestor.get(parent, {}))
            if parent in done:
                aa.update(done[parent].artifacts)
        ancestor[ident] = aa
        extra = copy.deepcopy(aa)
        extra.pop("_ansible_no_log", None)
        extra.update(wf_vars)  # the workflow's extra vars outrank ancestor artifacts
        launch = {"extra_vars": extra}
        for prompt in ("job_tags", "skip_tags", "job_type"):
            if node.get(prompt):
                launch[prompt] = node[prompt]
        result = run(templates[node["unified_job_template"]], launch)
        done[ident] = result
        ran.append((ident, launch, result))
        edges = ["success_nodes" if result.status == "successful" else "failure_nodes", "always_nodes"]
        for edge in edges:
            for child in node.get(edge) or []:
                if child not in done and child not in ready:
                    ready.append(child)
    return ran
