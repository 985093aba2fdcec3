# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults in the middle of site.yml on the lab (issue 17): what the user sees, what is left, and that a
re-run converges. The Model Registry killed before registry_seed; injected WHILE site.yml runs: the
registry's database restarting during registry_seed, the kube-apiserver restarting during the apply of the
InferenceServices, MinIO restarting during the weights
upload, a model's vLLM dying during the smoke test, and site.yml interrupted with SIGINT and with SIGTERM
in each role. (Two runs at once, and the lock of an interrupted run: tests/integration/test_run_lock.py.)

The mid-run tests start ansible-playbook, read its output until the targeted task starts, wait until that
task's module process runs under it (a signal sent while ansible-playbook forks the task's worker reaches
only the main process, which then waits for the task: test_run_lock.py), inject the fault, and check what
the user saw (printed as "what the user saw:" for the closing table), that a re-run converges (changed=0
on the run after) and that nothing is half-made (`left_behind`). One converged deploy (`deployed`) is
shared by every test of the module, the faults targeted with --tags, and one teardown after.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from isvc_lab import api_client, core, custom, lab, s3_client, wait_for  # noqa: F401 pylint: disable=unused-import
from test_bad_input import INVENTORY, PLAYBOOK, REPO, failure_messages

LAB_STATE = Path(os.environ.get("LAB_STATE_DIR") or REPO / ".lab")


def lab_up():
    subprocess.run(["make", "--no-print-directory", "lab-up"], cwd=REPO, capture_output=True, check=True, timeout=600)


@pytest.fixture(scope="module", autouse=True)
def torn_down_after():
    """These tests deploy the triple_play profile into private-ai, which other suites share (the AAP
    workflow deploys another profile there, with quota for its own models only): teardown.yml after."""
    yield
    teardown()


def teardown():
    subprocess.run([PLAYBOOK, "playbooks/teardown.yml"] + INVENTORY, cwd=REPO, capture_output=True, text=True,
                   timeout=900, check=False)


NAMESPACE = "private-ai"  # inventories/triple_play
BUCKET = "models"
LOCK = "private-ai-llm-serving-run"
MODELS = {  # inventories/triple_play: name -> (checkpoint under llm_serving_models_root, S3 path, registered model)
    "mistral-3-bf16": ("Mistral-Small-24B-Instruct-2501", "mistral-small-24b/bf16", "Mistral-Small-24B-Instruct-2501"),
    "mistral-3-fp8": ("Mistral-Small-24B-Instruct-2501-FP8-dynamic", "mistral-small-24b/fp8",
                      "Mistral-Small-24B-Instruct-2501"),
    "devstral-2-bf16": ("Devstral-Small-2507", "devstral-small-24b/2507-bf16", "Devstral-Small-2507"),
}
PLANNED_NODES = {"g6.12xlarge": 2, "g6e.xlarge": 1}  # the profile's plan; every other GPU MachineSet 0
REGISTRY_LABELS = ("modelregistry.opendatahub.io/registered-model-id", "modelregistry.opendatahub.io/model-version-id",
                   "modelregistry.opendatahub.io/name")
BIG_FILE = "zz-fault-test-shard.bin"


# -- running site.yml and watching it ---------------------------------------------------------------

def _children():
    """ppid -> [pid] of every process."""
    tree = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def descendants(pid):
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Site(object):
    """ansible-playbook site.yml in a session of its own, its output read line by line.

    The faults are timed on a module's own process (``until_module``), so the modules run as module
    processes here (``llm_serving_in_process=false``); by default they run inside the task's worker
    (plugins/plugin_utils/in_process.py), the same code: tests/integration/test_in_process.py compares
    the two, and test_run_lock.py interrupts a default run."""

    def __init__(self, *args):
        args = ("-e", "llm_serving_in_process=false") + args
        self.proc = subprocess.Popen([PLAYBOOK, "site.yml"] + INVENTORY + list(args), cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.out = ""

    def until_task(self, task):
        """Read the output up to the line that starts ``task`` (a substring of its TASK line)."""
        for line in self.proc.stdout:
            self.out += line
            if line.startswith("TASK [") and task in line:
                return
        raise AssertionError("site.yml ended before the task %r:\n%s" % (task, self.out[-3000:]))

    def until_module(self, module, timeout=60):
        """Wait until the module's AnsiballZ process runs under this ansible-playbook."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("AnsiballZ_%s" % module in _cmdline(p) for p in descendants(self.proc.pid)):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("the %s module never ran:\n%s" % (module, self.out[-3000:]))

    def signal(self, signum):
        """As a terminal's Ctrl-C (SIGINT) or `kill`/a job scheduler (SIGTERM) would: to the whole group."""
        os.killpg(self.proc.pid, signum)

    def finish(self, timeout=600):
        try:
            self.out += self.proc.communicate(timeout=timeout)[0]
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode, self.out


def site(*args):
    return Site(*args).finish(timeout=900)


def recap(out):
    m = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out)
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()))) if m else None


def converges(*args, **kwargs):
    """After the faulty run (rc ``after``): a run that completes (skipped when the faulty one did), then
    the run after it changes nothing. Returns the output of the completing run."""
    out = ""
    if kwargs.get("after", 1) != 0:
        rc, out = site(*args)
        assert rc == 0, out[-4000:]
    rc, again = site(*args)
    assert rc == 0 and recap(again)["changed"] == 0, again[-4000:]
    return out


def what_the_user_saw(fault, rc, out):
    """The failure sentences (or the last lines) the run printed; printed for the closing table."""
    msgs = failure_messages(out)
    tail = [line for line in out.strip().splitlines() if line.strip()][-2:]
    saw = msgs or tail
    print("\nwhat the user saw (%s): rc=%s %s" % (fault, rc, json.dumps(saw)))
    assert "Traceback" not in out, out[-4000:]
    assert "MODULE FAILURE" not in out, out[-4000:]
    return msgs


# -- what is left -----------------------------------------------------------------------------------

def registry_get(lab, path):
    try:
        with urllib.request.urlopen(lab["registry_url"] + "/api/model_registry/v1alpha3" + path,  # noqa: S310
                                    timeout=30) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def lease(custom):
    from kubernetes.client.rest import ApiException
    try:
        return custom.get_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", LOCK)
    except ApiException as exc:
        assert exc.status == 404, exc
        return None


def left_behind(lab, custom, lock_free=True):
    """Everything half-made a fault could leave, as a list of sentences (empty: nothing)."""
    problems = []
    s3 = s3_client(lab)
    for model, (checkpoint, path, _registered) in MODELS.items():
        local = Path(lab["state_dir"]) / "models" / checkpoint
        # MinIO answers ListMultipartUploads for an exact object name only: ask for every file.
        for name in sorted(os.listdir(str(local))) + [BIG_FILE]:
            key = "%s/%s" % (path, name)
            uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
            if uploads:
                problems.append("%d incomplete multipart upload(s) of s3://%s/%s" % (len(uploads), BUCKET, key))
    for isvc in custom.list_namespaced_custom_object("serving.kserve.io", "v1beta1", NAMESPACE,
                                                     "inferenceservices")["items"]:
        labels = isvc["metadata"].get("labels") or {}
        missing = [k for k in REGISTRY_LABELS if not labels.get(k)]
        if missing:
            problems.append("InferenceService %s without %s" % (isvc["metadata"]["name"], missing))
        else:
            status, versions = registry_get(lab, "/registered_models/%s/versions"
                                            % labels["modelregistry.opendatahub.io/registered-model-id"])
            if status != 200:
                problems.append("InferenceService %s names registered model %s: HTTP %s" % (
                    isvc["metadata"]["name"], labels["modelregistry.opendatahub.io/registered-model-id"], status))
    for registered in sorted({m[2] for m in MODELS.values()}):
        status, model = registry_get(lab, "/registered_model?name=%s" % registered)
        if status == 404:
            continue
        status, versions = registry_get(lab, "/registered_models/%s/versions" % model["id"])
        items = (versions or {}).get("items") or []
        if not items:
            problems.append("registered model %s without a version" % registered)
        for version in items:
            status, artifacts = registry_get(lab, "/model_versions/%s/artifacts" % version["id"])
            if not (artifacts or {}).get("items"):
                problems.append("model version %s/%s without an artifact" % (registered, version["name"]))
    infra = custom.get_cluster_custom_object("config.openshift.io", "v1", "infrastructures", "cluster")
    infra = infra["status"]["infrastructureName"]
    for ms in custom.list_namespaced_custom_object("machine.openshift.io", "v1beta1", "openshift-machine-api",
                                                   "machinesets")["items"]:
        itype = ms["spec"]["template"]["spec"]["providerSpec"]["value"].get("instanceType")
        name = ms["metadata"]["name"]
        if name.startswith(infra + "-gpu-") and ms["spec"].get("replicas", 0) > PLANNED_NODES.get(itype, 0):
            problems.append("MachineSet %s at %s replicas, the plan needs %s" % (
                name, ms["spec"]["replicas"], PLANNED_NODES.get(itype, 0)))
    held = lease(custom)
    if lock_free and held is not None:
        problems.append("the run lock is still held by %s" % held["spec"].get("holderIdentity"))
    return problems


@pytest.fixture(scope="module")
def deployed(lab):
    """One converged deploy of triple_play that every fault below starts from."""
    rc, out = site()
    assert rc == 0, out[-4000:]
    return lab


def test_model_registry_down_during_registry_seed_then_back(deployed):
    """The registry's process dies before registry_seed: the run stops there with one sentence naming
    the registry and its URL, releases the run lock, and once the registry is back a re-run converges."""
    lab = deployed
    pid = int((LAB_STATE / "pids" / "model-registry.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    try:
        # a registry that stays down: the requests answered 502 by its proxy are retried for
        # llm_serving_registry_seed_retry_timeout (60 s by default; 5 here)
        rc, out = site("--tags", "registry_seed", "-e", "llm_serving_registry_seed_retry_timeout=5")
        assert rc != 0
        msgs = failure_messages(out)
        assert len(msgs) == 1, msgs
        print("\nwhat the user saw:", msgs[0])
        assert "Model Registry" in msgs[0] or "registry" in msgs[0].lower(), msgs
        # the URL the lab inventory gives the collection: the registry's kube-rbac-proxy, which
        # answers 502 while the registry behind it is down
        configured = (lab.get("registry_proxy") or {}).get("url") or lab["registry_url"]
        assert configured in msgs[0], msgs
        assert "not answering" in msgs[0] or "Cannot reach" in msgs[0], msgs
        assert "Traceback" not in msgs[0]
        # always: the lock was released, so the next run need not wait for it
        assert "TASK [Release the run lock]" in out and "Another run holds the lock" not in out
    finally:
        lab_up()
    rc, out = site()
    assert rc == 0 and " changed=0 " in out, out[-3000:]


# -- the faults -------------------------------------------------------------------------------------

def restart(component, down_seconds=0.0):
    """SIGKILL a lab component (as an OOM kill or a node loss would), then `make lab-up` starts it again."""
    pid = int((LAB_STATE / "pids" / ("%s.pid" % component)).read_text())
    os.kill(pid, signal.SIGKILL)
    time.sleep(down_seconds)
    lab_up()


def test_apiserver_restarts_during_the_apply_of_the_inference_services(deployed, custom):
    """One InferenceService deleted, so the apply creates it; the apiserver is killed while the apply's module
    runs and is back about 5 s later."""
    lab = deployed
    custom.delete_namespaced_custom_object("serving.kserve.io", "v1beta1", NAMESPACE, "inferenceservices",
                                           "mistral-3-fp8")
    run = Site("--tags", "inference_services")
    run.until_task("Apply the InferenceServices")
    run.until_module("k8s_apply")
    restart("kube-apiserver")
    rc, out = run.finish()
    msgs = what_the_user_saw("kube-apiserver restart during the InferenceService apply", rc, out)
    if rc != 0:
        assert len(msgs) == 1 and "Kubernetes API" in msgs[0], msgs
    converges("--tags", "inference_services", after=rc)
    assert left_behind(lab, custom) == []


def test_minio_restarts_during_the_weights_upload(deployed, custom):
    """A 256 MiB file added to a model's directory, so that its multipart upload is in flight; MinIO is
    killed once parts of it are stored, and `make lab-up` starts it again."""
    lab = deployed
    checkpoint, path = MODELS["devstral-2-bf16"][:2]
    big = Path(lab["state_dir"]) / "models" / checkpoint / BIG_FILE
    key = "%s/%s" % (path, BIG_FILE)
    block = os.urandom(1 << 20)
    with open(str(big), "wb") as fh:
        for number in range(256):
            fh.write(number.to_bytes(4, "big") + block[4:])
    s3 = s3_client(lab)
    try:
        run = Site("--tags", "minio_models")
        run.until_task("Upload the weights")
        run.until_module("s3_model_sync")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # once parts of the big file are stored
            uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
            if uploads and s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uploads[0]["UploadId"]).get("Parts"):
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the upload of %s never started:\n%s" % (key, run.out[-3000:]))
        restart("minio")
        rc, out = run.finish()
        msgs = what_the_user_saw("MinIO restart during the weights upload", rc, out)
        if rc != 0:
            assert len(msgs) == 1 and lab["s3"]["endpoint"] in msgs[0], msgs
        first = converges("--tags", "minio_models", after=rc)
        if rc != 0:
            print("the re-run:", [line.strip() for line in first.splitlines() if "uploaded in" in line])
        assert left_behind(lab, custom) == []
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentLength"] == big.stat().st_size
    finally:
        big.unlink()
        s3.delete_object(Bucket=BUCKET, Key=key)


def registry_patch(lab, path, body):
    request = urllib.request.Request(lab["registry_url"] + "/api/model_registry/v1alpha3" + path, method="PATCH",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        return json.loads(resp.read().decode())


def test_the_registry_database_restarts_during_registry_seed(deployed, custom):
    """A registered model's description drifted (so registry_seed writes); the Model Registry's database
    (MariaDB) is killed as registry_seed starts and is back 10 s later, as a database pod restarting on a
    drained node would be. The registry answers 500 meanwhile ("error listing registered models: dial tcp
    ...: connection refused"); model_registry retries those for retry_timeout (60 s), so the run completes."""
    lab = deployed
    name = MODELS["devstral-2-bf16"][2]
    status, model = registry_get(lab, "/registered_model?name=%s" % name)
    assert status == 200, status
    wanted = model.get("description")
    registry_patch(lab, "/registered_models/%s" % model["id"], {"description": "drifted by a fault test"})
    run = Site("--tags", "registry_seed")
    run.until_task("Register the models in the Model Registry")
    pid = int((LAB_STATE / "pids" / "mariadb.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    try:
        time.sleep(10)
        assert run.proc.poll() is None, "site.yml ended while the database was down:\n" + run.out[-3000:]
    finally:
        lab_up()
    print("\nthe database was down %.1f s" % (time.monotonic() - started))
    rc, out = run.finish()
    what_the_user_saw("registry database restart during registry_seed", rc, out)
    assert rc == 0, out[-4000:]
    assert registry_get(lab, "/registered_models/%s" % model["id"])[1].get("description") == wanted
    converges("--tags", "registry_seed", after=0)
    assert left_behind(lab, custom) == []


def vllm_pid(lab, model):
    """The pid of a model's vLLM simulator (a child of the lab's labsim, which plays the kubelet)."""
    labsim = int((Path(lab["state_dir"]) / "pids" / "labsim.pid").read_text())
    for pid in _children().get(labsim, []):
        argv = _cmdline(pid).split()
        if "labsim.vllm_sim" in argv and argv[argv.index("--served-model-name") + 1] == model:
            return pid
    raise AssertionError("no vLLM simulator of %s under labsim %d" % (model, labsim))


def restarts(core, model):
    pods = core.list_namespaced_pod(NAMESPACE, label_selector="serving.kserve.io/inferenceservice=%s" % model).items
    return sum(c.restart_count for p in pods for c in (p.status.container_statuses or []))


def test_a_models_vllm_dies_during_the_smoke_test(deployed, core, custom):
    """The vLLM process of mistral-3-fp8 is killed once the smoke test's module runs; the kubelet (labsim)
    restarts the container as it would on a cluster."""
    lab = deployed
    before = restarts(core, "mistral-3-fp8")
    run = Site("--tags", "inference_services", "-v")  # -v: the smoke test's attempts per endpoint
    run.until_task("Send a chat completion")
    run.until_module("chat_completion")
    os.kill(vllm_pid(lab, "mistral-3-fp8"), signal.SIGKILL)
    rc, out = run.finish()
    msgs = what_the_user_saw("vLLM of mistral-3-fp8 killed during the smoke test", rc, out)
    attempts = re.findall(r"attempts: (\d+)", out.split("Send a chat completion", 1)[-1])
    print("smoke test attempts per endpoint:", attempts)
    assert restarts(core, "mistral-3-fp8") > before, "the kubelet restarted the container"
    if rc != 0:
        assert len(msgs) == 1 and "mistral-3-fp8" in msgs[0], msgs
    converges("--tags", "inference_services", after=rc)
    assert left_behind(lab, custom) == []


# -- interrupted in each role ------------------------------------------------------------------------

ROLES = {  # role: (--tags, a substring of the TASK line to wait for, the module that task runs)
    "preflight": ("preflight", "Validate the models and the settings", "serving_plan"),
    "gpu_machinesets": ("gpu_machinesets", "Scale the GPU MachineSets to the plan", "gpu_machinesets"),
    "kueue_quota": ("kueue_quota", "Ensure the Kueue flavors", "kueue_quota"),
    "minio_models": ("minio_models", "Upload the weights", "s3_model_sync"),
    "vllm_runtime": ("vllm_runtime", "Apply the ServingRuntime", "k8s_apply"),
    "registry_seed": ("registry_seed", "Register the models in the Model Registry", "model_registry"),
    "inference_services": ("inference_services", "Apply the InferenceServices", "k8s_apply"),
    "smoke_test": ("inference_services", "Send a chat completion", "chat_completion"),
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
SHORT_LOCK = ["-e", "llm_serving_lock_seconds=6"]  # renewed every 2 s while the run lives


@pytest.mark.parametrize("signame", list(SIGNALS))
@pytest.mark.parametrize("role", list(ROLES))
def test_interrupted_in_each_role(deployed, custom, role, signame):
    """Interrupted runs skip the release in always:; the lock's renewer (module_utils/k8s/lease_renewer.py)
    releases it once the run's ansible-playbook is gone. The InferenceService apply is given work (one
    InferenceService deleted) so that it is cut mid-change; the runs after repair it."""
    lab = deployed
    tags, task, module = ROLES[role]
    if role == "inference_services" and signame == "SIGINT":
        custom.delete_namespaced_custom_object("serving.kserve.io", "v1beta1", NAMESPACE, "inferenceservices",
                                               "mistral-3-fp8")
    run = Site("--tags", tags, *SHORT_LOCK)
    run.until_task(task)
    run.until_module(module)
    held = lease(custom)
    if role != "preflight":  # the preflight runs before the lock is taken
        assert held is not None and " ansible-playbook pid %d " % run.proc.pid in held["spec"]["holderIdentity"], held
    if role == "smoke_test":  # seconds after the lock was taken: renewed meanwhile, if it was due (every 2 s)
        acquired = datetime.datetime.strptime(held["spec"]["acquireTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        age = (datetime.datetime.now(datetime.timezone.utc) - acquired).total_seconds()
        assert held["spec"]["renewTime"] > held["spec"]["acquireTime"] or age < 2.5, (age, held["spec"])
    run.signal(SIGNALS[signame])
    rc, out = run.finish(timeout=120)
    what_the_user_saw("%s in %s" % (signame, role), rc, out)
    assert rc != 0, out[-3000:]
    wait_for(lambda: lease(custom), lambda held: held is None, 15, "the interrupted run's lock released")
    assert left_behind(lab, custom) == []


def test_a_killed_run_whose_renewer_died_too_expires_or_is_taken_over(deployed, custom):
    """As an AAP job cancelled: ansible-runner kills the job's container and SIGKILLs the process group
    (runner.py kill_container, handle_termination), the renewer dies with it. Nobody renews the Lease any
    more, so a run elsewhere (which cannot see the dead process) takes it once renewTime + its duration has
    passed (lease.held_by_other: tests/unit/test_run_lock.py, test_run_lock.py's expired lock); a run on
    this host sees the holder's ansible-playbook gone and takes it over at once."""
    run = Site("--tags", "gpu_machinesets", "-v", "-e", "llm_serving_lock_seconds=60")  # outlives the next run's start
    run.until_task("Scale the GPU MachineSets")
    run.until_module("gpu_machinesets")
    renewer = int(re.search(r"renewer_pid: (\d+)", run.out).group(1))
    os.kill(renewer, signal.SIGKILL)
    run.signal(signal.SIGKILL)
    rc, out = run.finish(timeout=60)
    held = lease(custom)
    assert rc == -signal.SIGKILL and held is not None, out[-2000:]
    assert held["spec"]["leaseDurationSeconds"] == 60
    rc, out = site("--tags", "gpu_machinesets")
    print("\nwhat the user saw (the next run on this host):",
          [line.strip() for line in out.splitlines() if "Took over" in line])
    assert rc == 0 and "Took over the run lock from %s" % held["spec"]["holderIdentity"] in " ".join(out.split()), \
        out[-3000:]
    assert lease(custom) is None


def test_after_the_interruptions_site_yml_converges(deployed, custom):
    lab = deployed
    rc, out = site()
    assert rc == 0, out[-4000:]
    converges(after=0)
    assert left_behind(lab, custom) == []
