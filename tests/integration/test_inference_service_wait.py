"""inference_service_wait against real kube-apiservers.

Two settings:
- a private kube-apiserver (private_apiserver.py, the lab's binaries, no controllers) where the
  test itself writes InferenceService and Deployment status at a known instant and kills the
  apiserver mid-wait: a change KServe's observedGeneration never reflects, a rollout in progress,
  a spec KServe has not applied, apiserver restart, objects that appear late;
- the shared lab with the real KServe and Kueue: several InferenceServices ready together (then
  smoke-tested with chat_completion through the lab's network), missing weights, 4 GPUs asked on
  1-GPU nodes, Kueue quota too small, a data connection KServe's pod webhook refuses.
"""

import time
import uuid

import pytest

import module_runner
from isvc_lab import KSERVE, create_isvc, isvc_manifest, kueue_queue
# pytest fixtures, used by name as test arguments
from isvc_lab import api_client, core, custom, gpu_pool, lab, s3, serving_ns, weights  # noqa: F401 pylint: disable=unused-import
from testing.serving import data_connection
from private_apiserver import PrivateAPIServer, binaries, isvc_body, set_deployment, set_status

MODULE = "private_ai.llm_serving.inference_service_wait"


# -- private apiserver ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_api():
    if not binaries():
        pytest.skip("the lab's kube/kine binaries are not built: run `make lab-build`")
    api = PrivateAPIServer().start()
    yield api
    api.stop()


@pytest.fixture
def pns(private_api):
    """A namespace on the private apiserver, a CustomObjectsApi and an AppsV1Api for it."""
    from kubernetes import client
    api = private_api.api_client()
    ns = "w" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api).create_namespace({"metadata": {"name": ns}})
    yield ns, client.CustomObjectsApi(api), client.AppsV1Api(api)
    api.close()


def create_private(custom_api, ns, name, **kw):
    return custom_api.create_namespaced_custom_object(*KSERVE, ns, "inferenceservices", isvc_body(name, **kw))


def serving(cust, apps, ns, name, ready=True, **kw):
    """An InferenceService KServe has reconciled: its Deployment rolled out, Ready as given."""
    labels = kw.pop("labels", None)
    create_private(cust, ns, name, labels=labels, **kw)
    set_deployment(apps, ns, name, labels=labels, **kw)
    set_status(cust, ns, name, ready=ready, observed_generation=1)


def wait_args(api, ns, **kw):
    args = {"kubeconfig": api.kubeconfig, "namespace": ns, "timeout": 60}
    args.update(kw)
    return args


def still_running(proc, seconds):
    time.sleep(seconds)
    return proc.poll() is None


def watching(api, proc, timeout=60):
    """True once the module has its watches open (nothing else watches InferenceServices on the
    private apiserver), so what the test does next happens during the wait, however slowly the
    module process started on a loaded machine."""
    deadline = time.monotonic() + timeout
    while api.metric("apiserver_longrunning_requests", verb="WATCH", resource="inferenceservices") < 1:
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return proc.poll() is None


NEW_ARGS = ["--dtype=bfloat16", "--max-model-len=8192"]


def test_an_isvc_only_change_is_ready_at_once(private_api, pns):
    """KServe's status.observedGeneration is the predictor Deployment's (kserve/kserve#6081): after
    a change that does not touch the Deployment it stays below metadata.generation for ever. The
    wait used to take that for a stale Ready and time out."""
    ns, cust, apps = pns
    serving(cust, apps, ns, "m")
    obj = cust.patch_namespaced_custom_object(*KSERVE, ns, "inferenceservices", "m", {
        "spec": {"predictor": {"timeout": 120}}})
    assert obj["metadata"]["generation"] == 2 and obj["status"]["observedGeneration"] == 1
    out = module_runner.run(MODULE, wait_args(private_api, ns, names=["m"], timeout=20), timeout=60)
    assert out["rc"] == 0, out.get("msg")
    (isvc,) = out["inference_services"]
    assert isvc["ready"] and isvc["seconds_to_ready"] < 5 and isvc["generation"] == 2
    assert isvc["url"] == "http://m-%s.apps.test" % ns
    assert isvc["internal_url"] == "http://m-predictor.%s.svc.cluster.local" % ns
    assert out["watch"]["list_requests"] == 3


def test_ready_during_a_rollout_waits_for_the_new_pod(private_api, pns):
    """Ready stays True while a rolling update runs (kserve/kserve#4626): a changed spec is ready
    once KServe wrote it into the Deployment and the rollout is complete."""
    ns, cust, apps = pns
    serving(cust, apps, ns, "m")
    cust.patch_namespaced_custom_object(*KSERVE, ns, "inferenceservices", "m", {
        "spec": {"predictor": {"model": {"args": NEW_ARGS}}}})
    proc = module_runner.start(MODULE, wait_args(private_api, ns, names=["m"]))
    assert watching(private_api, proc) and still_running(proc, 1.5), module_runner.finish(proc)
    set_deployment(apps, ns, "m", args=NEW_ARGS, old_pods=1, available=0)  # KServe applied it
    assert still_running(proc, 1.5), module_runner.finish(proc)
    t_done = time.monotonic()
    set_deployment(apps, ns, "m", args=NEW_ARGS)  # the old pod is gone, the new one available
    out = module_runner.finish(proc, timeout=30)
    assert out["rc"] == 0, out
    assert time.monotonic() - t_done < 5
    assert out["inference_services"][0]["seconds_to_ready"] >= 3.0


def test_unapplied_spec_times_out_saying_why(private_api, pns):
    ns, cust, apps = pns
    serving(cust, apps, ns, "m")
    cust.patch_namespaced_custom_object(*KSERVE, ns, "inferenceservices", "m", {
        "spec": {"predictor": {"model": {"args": NEW_ARGS}}}})
    out = module_runner.run(MODULE, wait_args(private_api, ns, names=["m"], timeout=3), timeout=60)
    assert out["rc"] != 0
    assert out["msg"].startswith("1 of 1 InferenceServices not ready after 3 s: InferenceService %s/m" % ns)
    assert ("KServe has not applied its current spec to m-predictor yet (its container args are "
            "['--port=8080', '--model=/mnt/models', '--served-model-name=m', '--dtype=bfloat16'], the "
            "InferenceService asks ['--dtype=bfloat16', '--max-model-len=8192'])") in out["msg"]
    (diag,) = out["diagnostics"]
    assert diag["deployment"]["name"] == "m-predictor" and diag["pods"] == []


def test_apiserver_restart_during_wait_still_succeeds(private_api, pns):
    ns, cust, apps = pns
    for name in ("a", "b"):
        serving(cust, apps, ns, name, ready=False)
    proc = module_runner.start(MODULE, wait_args(private_api, ns, names=["a", "b"], timeout=240))
    assert watching(private_api, proc), module_runner.finish(proc)
    private_api.restart_apiserver(down_seconds=2)  # SIGKILL: the watch connections drop
    assert proc.poll() is None, module_runner.finish(proc)
    from kubernetes import client
    with private_api.api_client() as api:
        cust = client.CustomObjectsApi(api)
        set_status(cust, ns, "a", ready=True, observed_generation=1)
        set_status(cust, ns, "b", ready=True, observed_generation=1)
    out = module_runner.finish(proc, timeout=60)
    assert out["rc"] == 0, out
    assert [i["ready"] for i in out["inference_services"]] == [True, True]
    print("\nwatch stats across the restart: %s" % out["watch"])
    assert out["watch"]["reconnects"] >= 1 and out["watch"]["watch_requests"] >= 4


def test_isvc_that_does_not_exist_yet_is_waited_for(private_api, pns):
    ns, cust, apps = pns
    proc = module_runner.start(MODULE, wait_args(private_api, ns, names=["late"]))
    assert watching(private_api, proc) and still_running(proc, 1), module_runner.finish(proc)
    serving(cust, apps, ns, "late")
    out = module_runner.finish(proc, timeout=30)
    assert out["rc"] == 0, out
    assert out["inference_services"][0]["seconds_to_ready"] >= 1.0


def test_isvc_that_never_appears_is_named(private_api, pns):
    ns, cust, apps = pns
    serving(cust, apps, ns, "here")
    out = module_runner.run(MODULE, wait_args(private_api, ns, names=["here", "ghost"], timeout=2), timeout=60)
    assert out["rc"] != 0
    assert out["msg"] == ("1 of 2 InferenceServices not ready after 2 s: InferenceService %s/ghost does not "
                          "exist (waited 2 s for it to appear)." % ns)
    assert [(i["name"], i["ready"]) for i in out["inference_services"]] == [("here", True), ("ghost", False)]


def test_label_selector_selects_and_waits_for_all(private_api, pns):
    ns, cust, apps = pns
    for name in ("x", "y"):
        serving(cust, apps, ns, name, ready=False, labels={"team": "ai"})
    create_private(cust, ns, "not-mine")
    proc = module_runner.start(MODULE, wait_args(private_api, ns, label_selector="team=ai"))
    assert watching(private_api, proc), module_runner.finish(proc)
    set_status(cust, ns, "x", ready=True, observed_generation=1)
    assert still_running(proc, 1)
    set_status(cust, ns, "y", ready=True, observed_generation=1)
    out = module_runner.finish(proc, timeout=30)
    assert out["rc"] == 0 and [i["name"] for i in out["inference_services"]] == ["x", "y"]


# -- the shared lab with its simulator ---------------------------------------------------------
def lab_args(lab, ns, **kw):
    args = {"kubeconfig": lab["kubeconfig"], "namespace": ns, "timeout": 120}
    args.update(kw)
    return args


def lab_watches(lab):
    """Open WATCH requests on inferenceservices in the lab apiserver."""
    import ssl
    import urllib.request
    import yaml
    with open(lab["kubeconfig"]) as fh:
        token = yaml.safe_load(fh)["users"][0]["user"]["token"]
    req = urllib.request.Request(lab["apiserver"] + "/metrics", headers={"Authorization": "Bearer " + token})
    ctx = ssl.create_default_context(cafile=lab["ca"])
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:  # noqa: S310 - lab apiserver
        total = 0.0
        for line in resp.read().decode().splitlines():
            if line.startswith("apiserver_longrunning_requests{") and 'verb="WATCH"' in line \
                    and 'resource="inferenceservices"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total


def test_several_ready_together_then_smoke_tested(lab, custom, serving_ns, gpu_pool):
    ns = serving_ns
    names = ["chat-a", "chat-b", "chat-c"]
    # Create them only once the module watches (one more WATCH on inferenceservices than the
    # lab's own controllers hold), so readiness is seen through the watch, not the first LIST.
    baseline = lab_watches(lab)
    proc = module_runner.start(MODULE, lab_args(lab, ns, names=names, timeout=180))
    deadline = time.monotonic() + 60
    while lab_watches(lab) <= baseline and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    for name in names:
        create_isvc(custom, ns, isvc_manifest(name, gpu_pool))
    out = module_runner.finish(proc, timeout=240)
    assert out["rc"] == 0, out.get("msg")
    assert [i["name"] for i in out["inference_services"]] == names
    assert all(i["ready"] and i["url"] == "https://%s-%s.apps.lab.local" % (i["name"], ns)
               for i in out["inference_services"])
    assert out["watch"]["list_requests"] == 3 and out["watch"]["events"] >= 3
    print("\nseconds_to_ready: %s; watch: %s" % (
        {i["name"]: i["seconds_to_ready"] for i in out["inference_services"]}, out["watch"]))
    for isvc in out["inference_services"]:
        # The internal URL reaches the pod port of the headless predictor Service (OpenShift AI 3.0).
        assert isvc["internal_url"] == "http://%s-predictor.%s.svc.cluster.local:8080" % (isvc["name"], ns)
        for url in (isvc["url"], isvc["internal_url"]):
            smoke = module_runner.run("private_ai.llm_serving.chat_completion", {
                "url": url, "model": isvc["name"], "prompt": "Say hello.", "max_tokens": 8,
                "proxy": lab["proxy_url"], "ca_path": lab["ca"], "timeout": 30}, timeout=120)
            assert smoke["rc"] == 0, smoke
            assert smoke["output_tokens"] == 8 and smoke["ttft_seconds"] > 0


def test_missing_weights_fail_fast_with_the_storage_initializers_message(lab, custom, serving_ns, gpu_pool):
    """KServe does not watch pods: the wait reads the storage initializer itself."""
    ns = serving_ns
    create_isvc(custom, ns, isvc_manifest("no-weights", gpu_pool, path="m/absent"))
    t0 = time.monotonic()
    out = module_runner.run(MODULE, lab_args(lab, ns, names=["no-weights"], timeout=300), timeout=360)
    assert out["rc"] != 0
    assert time.monotonic() - t0 < 60  # failed fast, not at the 300 s timeout
    print("\n" + out["msg"])
    assert out["msg"].startswith("1 of 1 InferenceServices failed terminally: InferenceService %s/no-weights "
                                 "cannot become ready: the storage initializer of pod no-weights-predictor-" % ns)
    assert "RuntimeError: Failed to fetch model. No model found in m/absent." in out["msg"]


def test_data_connection_without_storage_type_fails_fast_naming_the_webhook(
        lab, core, custom, serving_ns, gpu_pool, weights):
    """KServe's pod webhook refuses the pods; only the Deployment's ReplicaFailure says so."""
    ns = serving_ns
    core.create_namespaced_secret(ns, data_connection(lab, weights, name="untyped", connection_type=False))
    body = isvc_manifest("untyped", gpu_pool)
    body["metadata"]["annotations"]["opendatahub.io/connections"] = "untyped"
    body["spec"]["predictor"]["model"]["storage"]["key"] = "untyped"
    create_isvc(custom, ns, body)
    t0 = time.monotonic()
    out = module_runner.run(MODULE, lab_args(lab, ns, names=["untyped"], timeout=300), timeout=360)
    assert out["rc"] != 0 and time.monotonic() - t0 < 60
    print("\n" + out["msg"])
    assert ("cannot become ready: its predictor pods cannot be created: FailedCreate: "
            'admission webhook "inferenceservice.kserve-webhook-server.pod-mutator" denied the request: '
            "storage type must be one of [s3, hdfs, webhdfs]. storage type [] is not supported") in out["msg"]


def test_four_gpus_on_one_gpu_nodes_names_insufficient_gpu(lab, custom, serving_ns, gpu_pool):
    ns = serving_ns
    create_isvc(custom, ns, isvc_manifest("too-big", gpu_pool, gpus=4))
    out = module_runner.run(MODULE, lab_args(lab, ns, names=["too-big"], timeout=25), timeout=120)
    assert out["rc"] != 0
    print("\n" + out["msg"])
    assert "InferenceService %s/too-big cannot be scheduled: pod too-big-predictor-" % ns in out["msg"]
    assert "Insufficient nvidia.com/gpu" in out["msg"]
    (diag,) = out["diagnostics"]
    assert diag["pods"] and diag["pods"][0]["phase"] == "Pending"
    assert any(e["reason"] == "FailedScheduling" and "Insufficient nvidia.com/gpu" in e["message"]
               for e in diag["events"])


def test_quota_too_small_names_kueue_message(lab, core, custom, serving_ns, gpu_pool):
    ns = serving_ns
    with kueue_queue(custom, core, ns, gpu_pool, gpus=0) as queue:
        create_isvc(custom, ns, isvc_manifest("queued", gpu_pool, labels={"kueue.x-k8s.io/queue-name": queue}))
        out = module_runner.run(MODULE, lab_args(lab, ns, names=["queued"], timeout=20), timeout=120)
    assert out["rc"] != 0
    print("\n" + out["msg"])
    assert "InferenceService %s/queued is waiting for Kueue admission: Workload pod-queued-predictor-" % ns in out["msg"]
    assert "insufficient quota for nvidia.com/gpu in flavor lq-" in out["msg"]
    (diag,) = out["diagnostics"]
    assert "kueue.x-k8s.io/admission" in diag["pods"][0]["scheduling_gates"]
    assert diag["kueue_workloads"][0]["admitted"] is False


def test_through_ansible_playbook_with_group_module_defaults(private_api, pns, tmp_path):
    """Auth comes from module_defaults for group/private_ai.llm_serving.k8s, as the roles use it."""
    import subprocess
    ns, cust, apps = pns
    serving(cust, apps, ns, "pb")
    play = tmp_path / "play.yml"
    play.write_text("""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/private_ai.llm_serving.k8s:
      kubeconfig: "%s"
  tasks:
    - name: Wait
      private_ai.llm_serving.inference_service_wait:
        namespace: "%s"
        names: [pb]
        timeout: 30
      register: waited
    - name: Check
      ansible.builtin.assert:
        that:
          - waited.inference_services[0].ready
          - waited.inference_services[0].url == "http://pb-%s.apps.test"
""" % (private_api.kubeconfig, ns, ns))
    proc = subprocess.run([str(module_runner.REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", "ansible_python_interpreter=%s" % module_runner.PYTHON, str(play)],
                          cwd=str(module_runner.REPO), capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
