# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every job template and the workflow of aap/configuration/, run through ansible-runner as
Ansible Automation Platform runs them (awx_job.py), against the lab, with the lab's values in the
credentials and the inventory an administrator would configure for it: the cluster credential is
the lab's restricted deployer ServiceAccount token. One model (the fp8_showcase profile's FP8
Mistral, one GPU) keeps the run short; the tests run in order and share its deployment.

Runs after the integration suite (scripts/test-all.sh), on a lab whose namespace holds nothing
else. Skips when the lab is not running.
"""

import re
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "lab"))

import awx_job  # noqa: E402
from testing.labclient import kube_api_client, lab_facts  # noqa: E402

PROFILE, MODEL = "fp8_showcase", "mistral-24b-fp8"
LAUNCH = {"llm_serving_profile": PROFILE, "llm_serving_only_models": MODEL}
KSERVE = ("serving.kserve.io", "v1beta1")


@pytest.fixture(scope="module")
def lab():
    return lab_facts()


@pytest.fixture(scope="module")
def aap():
    return awx_job.load_configuration()


@pytest.fixture(scope="module")
def templates(aap):
    return {t["name"]: t for t in aap["controller_templates"]}


@pytest.fixture(scope="module")
def token(lab):
    config = yaml.safe_load(Path(lab["deployer_kubeconfig"]).read_text())
    return config["users"][0]["user"]["token"]


def _runner(lab, aap, token, models_root=None):
    """run(template, launch) -> JobResult, with the credentials and inventory of the lab and
    ``token`` as the cluster credential's bearer token; the weights under ``models_root`` (the
    lab's checkpoints by default)."""
    types = {t["name"]: t for t in aap["controller_credential_types"]}
    creds = {}
    for cred in aap["controller_credentials"]:
        kind = types.get(cred["credential_type"], cred["credential_type"])
        creds[cred["name"]] = kind
    inputs = {
        "LLM serving cluster": {"host": lab["apiserver"], "bearer_token": token, "verify_ssl": True,
                                "ssl_ca_cert": Path(lab["ca"]).read_text()},
        # the collection's own MinIO user (limited to the models bucket), not MinIO's root
        "LLM serving S3": {"access_key": lab["s3_collection"]["access_key"],
                           "secret_key": lab["s3_collection"]["secret_key"],
                           "endpoint": lab["s3_collection"]["endpoint"], "ca_bundle": ""},
        # the lab's registry behind kube-rbac-proxy, with the collection's ServiceAccount token
        "LLM serving Model Registry": {"url": lab["registry_proxy"]["url"], "token": lab["registry_proxy"]["token"],
                                       "ca_bundle": Path(lab["registry_proxy"]["ca"]).read_text()},
    }
    credentials = {name: (creds[name], inputs[name]) for name in creds}
    # The AAP inventory's own variables for the lab: where the weights are (a path the job's
    # container would mount), how the job reaches the routes (the lab's network proxy and CA), and
    # the lab's short timeouts (inventories/lab).
    lab_vars = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all" / "lab.yml").read_text())
    lab_vars.pop("llm_serving_models_root")
    inventory_vars = dict(lab_vars, llm_serving_models_root=str(models_root or Path(lab["state_dir"]) / "models"),
                          llm_serving_inference_services_proxy=lab["proxy_url"],
                          llm_serving_inference_services_ca_path=lab["ca"])
    secrets = (token, lab["s3_collection"]["secret_key"], lab["s3"]["secret_key"], lab["registry_proxy"]["token"])

    def run_one(template, launch=None):
        result = awx_job.run_job(template, credentials, inventory_vars, launch, secrets=secrets)
        assert not result.leaked, "a secret was left in the job's files or output: %s" % result.leaked
        assert result.removed, "the private data dir (credential files included) was not removed"
        return result
    return run_one


@pytest.fixture(scope="module")
def run(lab, aap, token):
    return _runner(lab, aap, token)


@pytest.fixture(scope="module")
def custom(lab):
    from kubernetes import client
    api = kube_api_client(lab)
    yield client.CustomObjectsApi(api)
    api.close()


def _explain(ran):
    """The statuses, then each job's output (its start and its end)."""
    lines = ["%s" % [(step[0], step[2].status) for step in ran]]
    for ident, _launch, result in ran:
        lines.append("%s: %s\n%s ... %s" % (ident, result, result.stdout[:1500], result.stdout[-2500:]))
    return "\n".join(lines)


def test_every_job_template_runs_a_playbook_of_the_project_with_the_survey(templates):
    assert set(templates) == {"LLM serving - site", "LLM serving - smoke test", "LLM serving - benchmark",
                              "LLM serving - teardown", "LLM serving - diagnostics"}
    for template in templates.values():
        assert (ROOT / template["playbook"]).is_file(), template["playbook"]
        defaults = awx_job.survey_defaults(template)
        assert defaults["llm_serving_profile"] == "triple_play" and defaults["llm_serving_only_models"] == ""
    site = templates["LLM serving - site"]
    assert site["ask_job_type_on_launch"] and site["ask_tags_on_launch"]  # check mode and tags


def test_every_step_after_the_preflight_fails_over_to_the_diagnostics(aap):
    # (the preflight has none: a bad input stops the workflow there, with nothing to diagnose)
    nodes = aap["controller_workflows"][0]["simplified_workflow_nodes"]
    edges = {node["identifier"]: node.get("failure_nodes") for node in nodes}
    assert edges.pop("preflight") is None and edges.pop("diagnostics") is None
    assert edges == dict.fromkeys(["capacity", "weights", "serve", "summary", "smoke_test"], ["diagnostics"])


def test_workflow_deploys_in_role_order_passing_the_plan_and_results(aap, templates, run, custom):
    workflow = aap["controller_workflows"][0]
    ran = awx_job.run_workflow(workflow, templates, run, LAUNCH)
    order = [step[0] for step in ran]
    assert order == ["preflight", "capacity", "weights", "serve", "summary", "smoke_test"], _explain(ran)
    assert all(step[2].status == "successful" for step in ran), _explain(ran)
    jobs = {step[0]: (step[1], step[2]) for step in ran}
    plan = jobs["preflight"][1].artifacts["llm_serving_plan"]
    assert plan["order"] == [MODEL] and plan["settings"]["profile"] == PROFILE
    # each later node received the plan the preflight node published (set_stats -> extra vars)
    for ident in order[1:]:
        assert jobs[ident][0]["extra_vars"]["llm_serving_plan"]["order"] == [MODEL], ident
    # the summary node received the results the serve node published, and printed them
    handed = jobs["summary"][0]["extra_vars"]["llm_serving_inference_services_results"]
    assert handed[MODEL]["url"].startswith("https://"), handed
    assert MODEL in jobs["summary"][1].stdout and "tokens/s" in jobs["summary"][1].stdout
    assert jobs["smoke_test"][1].artifacts["llm_serving_inference_services_results"][MODEL]["ttft_seconds"] > 0
    # only the chosen model of the chosen profile is served
    names = [o["metadata"]["name"] for o in custom.list_namespaced_custom_object(
        *KSERVE, plan["settings"]["namespace"], "inferenceservices")["items"]]
    assert names == [MODEL]


def test_site_in_check_mode_with_diff_changes_nothing(templates, run):
    result = run(templates["LLM serving - site"], {"extra_vars": LAUNCH, "job_type": "check", "diff_mode": True})
    assert result.status == "successful", result.stdout[-3000:]
    assert not any(result.stats.get("changed", {}).values()), result.stdout[-3000:]


def test_benchmark_job_template(templates, run):
    result = run(templates["LLM serving - benchmark"],
                 {"extra_vars": dict(LAUNCH, llm_serving_benchmark_max_requests=4, llm_serving_benchmark_sweep_points=2,
                                     llm_serving_benchmark_output_tokens=16, llm_serving_benchmark_prompt_tokens=32)})
    assert result.status == "successful", result.stdout[-3000:]
    assert MODEL in result.stdout and "TTFT" in result.stdout
    # ansible-runner sets no PWD: the report goes to the project's benchmark-report/ (the survey's
    # empty "Report directory"), inside the private data dir, not to /benchmark-report
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    written = re.findall(r"report file: (\S+?)'?$", plain, re.M)
    assert sorted(Path(p).name for p in written) == ["report.html", "report.json", "report.md"], result.stdout[-3000:]
    for path in written:
        assert path.startswith(str(result.base / "runner" / "project" / "benchmark-report") + "/"), written


def test_a_failed_step_runs_the_diagnostics(aap, templates, run):
    # A ClusterQueue that is not there and not ours to create: the capacity step fails (after the
    # preflight, before anything is applied), and the workflow's failure edge runs the diagnostics.
    launch = dict(LAUNCH, llm_serving_cluster_queue="aap-not-there", llm_serving_kueue_manage_cluster_queue=False)
    ran = awx_job.run_workflow(aap["controller_workflows"][0], templates, run, launch)
    assert [(step[0], step[2].status) for step in ran] == [
        ("preflight", "successful"), ("capacity", "failed"), ("diagnostics", "successful")], _explain(ran)
    capacity, diagnostics = ran[1][2], ran[2][2]
    assert "ClusterQueue aap-not-there does not exist and llm_serving_kueue_manage_cluster_queue is false" in capacity.stdout
    assert "Every InferenceService of the plan is ready" in diagnostics.stdout, diagnostics.stdout[-3000:]


def test_a_bad_survey_answer_stops_the_workflow_at_the_preflight(aap, templates, run):
    ran = awx_job.run_workflow(aap["controller_workflows"][0], templates, run,
                               dict(LAUNCH, llm_serving_only_models="mistral-24b-fp8, mistral-24b"))
    assert [(step[0], step[2].status) for step in ran] == [("preflight", "failed")], _explain(ran)
    assert "llm_serving_only_models names mistral-24b, which is not in llm_serving_models" in ran[0][2].stdout


@pytest.fixture()
def limited_token(lab):
    """The token of a ServiceAccount with the deployer's RBAC (the collection's own table) but for
    one permission: create on inferenceservices. Removed afterwards."""
    import base64
    import time
    from kubernetes import client, dynamic
    sys.path.insert(0, str(ROOT / "lab"))
    import deployer_rbac
    api = kube_api_client(lab)
    dyn = dynamic.DynamicClient(api)
    objs = deployer_rbac.manifests("aap-limited", "llm-serving-system", ["private-ai"], token_secret=True)
    for obj in objs:
        if obj["kind"] == "ClusterRole":
            for rule in list(obj["rules"]):
                if "inferenceservices" in rule["resources"]:
                    rule["resources"].remove("inferenceservices")
                    obj["rules"].append(dict(rule, resources=["inferenceservices"],
                                             verbs=[v for v in rule["verbs"] if v != "create"]))
            obj["metadata"]["name"] = "aap-limited-" + obj["metadata"]["name"]
        if "roleRef" in obj:
            obj["roleRef"]["name"] = "aap-limited-" + obj["roleRef"]["name"]
    applied = [o for o in objs if o["kind"] != "Namespace"]
    for obj in applied:
        dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"]).server_side_apply(
            body=obj, namespace=obj["metadata"].get("namespace"), field_manager="aap-test", force_conflicts=True)
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + 60
    token = None
    while token is None and time.monotonic() < deadline:
        data = core.read_namespaced_secret("aap-limited-token", "llm-serving-system").data or {}
        token = base64.b64decode(data["token"]).decode() if data.get("token") else None
        time.sleep(0.2)
    assert token, "the token controller did not fill aap-limited-token"
    yield token
    for obj in reversed(applied):
        dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"]).delete(
            name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
    api.close()


def test_a_job_whose_identity_lacks_a_permission_fails_right_after_the_preflight(lab, aap, templates, limited_token):
    run_limited = _runner(lab, aap, limited_token)
    result = run_limited(templates["LLM serving - site"], {"extra_vars": LAUNCH})
    assert result.status == "failed", result.stdout[-3000:]
    text = " ".join(result.stdout.split())
    expected = "lacks 1 permission(s) the collection needs: create inferenceservices.serving.kserve.io cluster-wide"
    assert expected in text, result.stdout[-3000:]
    # it failed before anything changed
    assert not any(result.stats.get("changed", {}).values())
    assert "TASK [Check the cluster identity's permissions]" in result.stdout


def test_smoke_test_diagnostics_and_teardown_job_templates_need_no_weights(lab, aap, templates, token, custom, tmp_path):
    # Only site.yml (and the benchmark's plan) reads the checkpoints: a job of these templates runs
    # without the weights mounted, here a models root that does not exist.
    run = _runner(lab, aap, token, models_root=tmp_path / "not-mounted")
    smoke = run(templates["LLM serving - smoke test"], {"extra_vars": LAUNCH})
    assert smoke.status == "successful", smoke.stdout[-3000:]
    assert smoke.artifacts["llm_serving_inference_services_results"][MODEL]["content"]
    diagnostics = run(templates["LLM serving - diagnostics"], {"extra_vars": LAUNCH})
    assert diagnostics.status == "successful", diagnostics.stdout[-3000:]
    assert "Every InferenceService of the plan is ready" in diagnostics.stdout, diagnostics.stdout[-3000:]
    result = run(templates["LLM serving - teardown"], {"extra_vars": LAUNCH})
    assert result.status == "successful", result.stdout[-3000:]
    assert custom.list_namespaced_custom_object(*KSERVE, "private-ai", "inferenceservices")["items"] == []
    assert "No GPU node of these models is left running" in result.stdout, result.stdout[-3000:]
