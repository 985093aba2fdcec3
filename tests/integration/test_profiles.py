# Copyright: (c) 2026, private_ai.llm_serving contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The profiles are the documents: each profile is deployed on the lab with
`ansible-playbook site.yml -i inventories/<profile> -i inventories/lab`, then the commands of its
document's validation sections (../shared/seeds/step-05-*.md) are read from the document itself and
run in Python against what it deployed: the same URLs, paths, headers and JSON bodies, through the
lab's cluster network (its proxy stands in for the cluster's DNS, Services and router). Then
teardown.yml, which must leave no GPU node running. The profiles share the namespace private-ai, so
they run one after the other.

Where a document cannot work as written on OpenShift AI 3.0 the test says so and checks what does:
the triple-play document's internal URLs have no port, and OpenShift AI 3.0's predictor Services
are headless (inferenceservice-config serviceClusterIPNone), so nothing answers on port 80 of the
pod: the vLLM container listens on 8080 (RHOAIENG-39715, opendatahub-io/kserve#1073). And the
collection turns token authentication on (security.opendatahub.io/enable-auth), which the documents'
commands predate: a Route answers them 401 as written, and 200 with the model's token (the
`Authorization: Bearer` header the OpenShift AI documentation adds), read from the token Secret the
collection made.
"""

import base64
import json
import re
import shlex
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml

from isvc_lab import wait_for
from isvc_lab import api_client, core, custom, lab  # noqa: F401 pylint: disable=unused-import
from testing.serving import KSERVE, KUEUE, MACHINE_NS, MAPI, isvc_ready, predictor_pods, via_proxy

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO.parent / "shared" / "seeds"
PLAYBOOK = str(REPO / ".venv" / "bin" / "ansible-playbook")
NAMESPACE = "private-ai"

PROFILES = {
    # profile: (document, the sections whose commands are run, GPUs per InferenceService)
    "triple_play": ("step-05-triple-play.md", ("Validation",),
                    {"mistral-3-bf16": 4, "mistral-3-fp8": 1, "devstral-2-bf16": 4}),
    "fp8_showcase": ("step-05-fp8-efficiency.md", ("Validation Commands", "API Usage"),
                     {"mistral-24b-full": 4, "mistral-24b-fp8": 1}),
}


# -- the document's commands ------------------------------------------------------------------

def sections(text, titles):
    """The text of the `## <title>` sections (up to the next `## `)."""
    out = []
    for title in titles:
        m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.M | re.S)
        assert m, "section %r not in the document" % title
        out.append(m.group(1))
    return "\n".join(out)


def shell_lines(text):
    """The commands of the ```bash blocks, one string each: backslash continuations and quoted
    strings over several lines joined; comments, blanks and sample output ("# Expected output:"
    and what follows it) dropped."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            if not pending and line.strip().startswith("# Expected output"):
                break
            if not pending and (not line.strip() or line.strip().startswith("#")):
                continue
            pending = (pending + "\n" + line) if pending else line.strip()
            try:
                shlex.split(pending)
            except ValueError:  # a quote still open: the command goes on
                continue
            lines.append(pending)
            pending = ""
    return lines


def curl_request(argv, env):
    """(method, url, headers, body) of a curl command line, with the shell's ${VAR} expanded."""
    method, url, headers, body = "GET", None, {}, None
    args = iter(argv[1:])
    for arg in args:
        if arg == "-X":
            method = next(args)
        elif arg == "-H":
            name, value = next(args).split(":", 1)
            headers[name.strip()] = value.strip()
        elif arg in ("-d", "--data"):
            body = json.loads(next(args))
            method = "POST" if method == "GET" else method
        elif not arg.startswith("-"):
            url = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env[m.group(1) or m.group(2)], arg)
    return method, url, headers, body


def document_commands(profile):
    """The document's commands in order, as ("curl", request) / ("oc", argv) / ("set", name)."""
    doc, titles = PROFILES[profile][:2]
    out = []
    for line in shell_lines(sections((SEEDS / doc).read_text(), titles)):
        route = re.match(r"^(\w+)=\$\(oc get route (\S+) -n (\S+) -o jsonpath='\{\.spec\.host\}'\)$", line)
        assign = re.match(r"^(\w+)=\"([^\"$]*)\"$", line)
        if route:
            out.append(("route", route.groups()))
        elif assign:
            out.append(("set", assign.groups()))
        else:
            pipeline = [shlex.split(part) for part in line.split(" | ")]
            argv = pipeline[0][1:] if pipeline[0][0] == "time" else pipeline[0]
            if argv[:2] == ["oc", "run"] and "--" in argv:  # a throw-away pod running curl in-cluster
                argv = argv[argv.index("--") + 1:]
            out.append((argv[0], (argv, pipeline[1:])))
    return out


def token_of(core, model):
    """The bearer token of a model's token Secret (what the dashboard shows as "Token secret")."""
    secret = core.read_namespaced_secret("default-token-%s-sa" % model, NAMESPACE)
    return base64.b64decode(secret.data["token"]).decode()


def registry_get(lab, path):
    """(status, body) of a GET on the lab's Model Registry (on loopback, not behind the proxy)."""
    with urllib.request.urlopen(lab["registry_url"] + path, timeout=30) as resp:  # noqa: S310 - lab URL
        return resp.status, resp.read().decode()


# -- the deployment ---------------------------------------------------------------------------

def playbook(profile, play, *args):
    proc = subprocess.run([PLAYBOOK, play, "-i", "inventories/%s" % profile, "-i", "inventories/lab"] + list(args),
                          cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module", params=list(PROFILES))
def deployed(request, lab, custom):
    """site.yml of one profile on the lab; teardown.yml afterwards if the test of it did not run."""
    profile = request.param
    if not SEEDS.is_dir():
        pytest.skip("the seed documents are not beside the repository (%s)" % SEEDS)
    rc, out = playbook(profile, "site.yml")
    state = {"profile": profile, "site": (rc, out), "torn_down": False}
    yield state
    if not state["torn_down"]:
        playbook(profile, "playbooks/teardown.yml")


def test_site_yml_deploys_the_profile(deployed):
    rc, out = deployed["site"]
    assert rc == 0, out[-5000:]
    assert "failed=0" in out


def test_site_yml_ran_with_the_labs_least_privilege_credentials(deployed, lab, core):
    """The lab inventory hands the collection a MinIO user limited to the models bucket and the
    registry's proxied URL with a ServiceAccount token, never MinIO's root or the bare registry:
    the data connection KServe's storage initializer reads carries that user."""
    assert deployed["site"][0] == 0, deployed["site"][1][-3000:]
    inventory = yaml.safe_load((REPO / "inventories" / "lab" / "group_vars" / "all" / "lab_connection.yml").read_text())
    assert inventory["llm_serving_registry_url"] == lab["registry_proxy"]["url"] != lab["registry_url"]
    secret = core.read_namespaced_secret("models-s3", NAMESPACE)
    access_key = base64.b64decode(secret.data["AWS_ACCESS_KEY_ID"]).decode()
    assert access_key == lab["s3_collection"]["access_key"] != lab["s3"]["access_key"]


def test_inference_services_are_ready_under_the_documents_names(deployed, custom):
    """`oc get inferenceservice -n private-ai`: the document's names, READY True."""
    want = PROFILES[deployed["profile"]][2]
    names = [o["metadata"]["name"] for o in custom.list_namespaced_custom_object(
        *KSERVE, NAMESPACE, "inferenceservices")["items"] if isvc_ready(o)]
    assert set(want) <= set(names), names


def test_the_documents_commands_work_as_written(deployed, lab, core, custom):
    """Every command of the document's validation sections, run against the lab."""
    profile = deployed["profile"]
    gpus = PROFILES[profile][2]
    env, ran = {}, []
    for kind, args in document_commands(profile):
        if kind == "set":
            env[args[0]] = args[1]
        elif kind == "route":  # VAR=$(oc get route NAME -n NS -o jsonpath='{.spec.host}')
            var, name, ns = args
            env[var] = custom.get_namespaced_custom_object("route.openshift.io", "v1", ns, "routes", name)["spec"]["host"]
        elif kind == "curl":
            argv = args[0]
            method, url, headers, body = curl_request(argv, env)
            assert headers.get("Content-Type", "application/json") == "application/json"
            if "private-ai-registry-internal" in url:
                # `oc run ... curl http://private-ai-registry-internal:8080/api/model_registry/...
                # | grep -i mistral`: the lab's registry has no Service; the same path on its URL.
                path = url.split(":8080", 1)[1]
                status, text = registry_get(lab, path)
                assert status == 200 and re.search("(?i)mistral", text), (status, text[:300])
                ran.append("registry " + path)
                continue
            status, text = via_proxy(lab, url, body, timeout=120, headers=headers)
            host = url.split("/")[2]
            if status == 401 and "Authorization" not in headers:
                # Written before token authentication: refused by the kube-rbac-proxy, answered
                # with the model's token.
                headers = dict(headers, Authorization="Bearer " + token_of(core, body["model"]))
                status, text = via_proxy(lab, url, body, timeout=120, headers=headers)
                ran.append("401 without a token: " + url)
            if host.endswith(".svc.cluster.local") and ":" not in host:
                # The document's internal URL: refused on a headless Service (module docstring).
                assert status == 502 and "connection refused" in text, (url, status, text[:300])
                url = url.replace(host, host + ":8080")
                status, text = via_proxy(lab, url, body, timeout=120)
            assert status == 200, (url, status, text[:500])
            answer = json.loads(text)
            assert answer["model"] == body["model"] and body["model"] in gpus
            choice = answer["choices"][0]
            assert choice["message"]["role"] == "assistant" and choice["message"]["content"]
            assert answer["usage"]["completion_tokens"] <= body["max_tokens"]
            ran.append("%s %s" % (method, url))
        elif kind == "oc" and args[0][1:3] == ["get", "inferenceservice"]:
            ready = [o["metadata"]["name"] for o in custom.list_namespaced_custom_object(
                *KSERVE, NAMESPACE, "inferenceservices")["items"] if isvc_ready(o)]
            assert set(gpus) <= set(ready), ready
            ran.append("oc get inferenceservice")
        elif kind == "oc" and args[0][1:3] == ["get", "pods"]:
            running = {p.metadata.labels["serving.kserve.io/inferenceservice"]
                       for name in gpus for p in predictor_pods(core, NAMESPACE, name) if p.status.phase == "Running"}
            assert running == set(gpus), running
            ran.append("oc get pods")
        elif kind == "oc" and args[0][1:3] == ["get", "route"]:
            routes = {o["metadata"]["name"] for o in custom.list_namespaced_custom_object(
                "route.openshift.io", "v1", NAMESPACE, "routes")["items"]}
            assert set(gpus) <= routes, routes
            ran.append("oc get route")
        elif kind == "oc" and args[0][1] == "describe" and "Limits:" in " ".join(" ".join(p) for p in args[1]):
            # oc describe pod -l serving.kserve.io/inferenceservice=<name> | grep -A5 "Limits:"
            name = next(a.split("=", 1)[1] for a in args[0] if a.startswith("serving.kserve.io/inferenceservice="))
            limits = [c.resources.limits for p in predictor_pods(core, NAMESPACE, name) for c in p.spec.containers
                      if c.name == "kserve-container"]
            assert [lim.get("nvidia.com/gpu") for lim in limits] == [str(gpus[name])], limits
            ran.append("limits of " + name)
    # Every call through a Route was refused without a token; the internal URLs reach vLLM's own
    # port 8080 on the pod (headless Service), behind no proxy, on OpenShift AI too.
    routed = [r for r in ran if r.startswith("POST ") and ".svc.cluster.local" not in r]
    assert len([r for r in ran if r.startswith("401 without a token")]) == len(routed), ran
    calls = [r for r in ran if r.startswith("POST")]
    assert len(calls) == (3 if profile == "triple_play" else 4), ran


def test_every_endpoint_answers_the_api_reference(deployed, lab, custom, core):
    """The API the documents list: GET /health, GET /v1/models (the name), POST
    /v1/chat/completions, POST /v1/completions, on each Route, with the model's token."""
    for name in PROFILES[deployed["profile"]][2]:
        route = custom.get_namespaced_custom_object("route.openshift.io", "v1", NAMESPACE, "routes", name)
        base = "https://%s" % route["spec"]["host"]
        auth = {"Authorization": "Bearer " + token_of(core, name)}
        assert via_proxy(lab, base + "/health")[0] == 401
        assert via_proxy(lab, base + "/health", headers=auth)[0] == 200
        status, text = via_proxy(lab, base + "/v1/models", headers=auth)
        assert status == 200 and [m["id"] for m in json.loads(text)["data"]] == [name]
        status, text = via_proxy(lab, base + "/v1/completions",
                                 {"model": name, "prompt": "Kubernetes is", "max_tokens": 8}, headers=auth)
        assert status == 200 and json.loads(text)["choices"][0]["text"], text[:300]


def test_kueue_admitted_every_workload_and_pods_hold_the_documents_gpus(deployed, core, custom):
    """`oc get workload -n private-ai`: each predictor pod's Workload admitted; its GPU limit as the
    document (corrected) gives it."""
    gpus = PROFILES[deployed["profile"]][2]
    admitted = set()
    for wl in custom.list_namespaced_custom_object(*KUEUE, NAMESPACE, "workloads")["items"]:
        if any(c["type"] == "Admitted" and c["status"] == "True" for c in wl.get("status", {}).get("conditions", [])):
            admitted.update(r["name"] for r in wl["metadata"].get("ownerReferences", []))
    for name, want in gpus.items():
        pods = predictor_pods(core, NAMESPACE, name)
        assert len(pods) == 1 and pods[0].metadata.name in admitted, (name, [p.metadata.name for p in pods])
        [container] = [c for c in pods[0].spec.containers if c.name == "kserve-container"]
        assert container.resources.limits["nvidia.com/gpu"] == str(want)


def test_both_mistral_versions_are_one_registered_model(deployed, lab):
    status, text = registry_get(lab, "/api/model_registry/v1alpha3/registered_model?name=Mistral-Small-24B-Instruct-2501")
    assert status == 200, text
    model = json.loads(text)
    status, text = registry_get(lab, "/api/model_registry/v1alpha3/registered_models/%s/versions" % model["id"])
    versions = {v["name"] for v in json.loads(text)["items"]}
    assert {"2501-bf16", "2501-fp8-dynamic"} <= versions, versions


BENCH_SMALL = ["-e", "llm_serving_benchmark_max_requests=6", "-e", "llm_serving_benchmark_sweep_points=3",
               "-e", "llm_serving_benchmark_max_concurrency=4", "-e", "llm_serving_benchmark_output_tokens=16",
               "-e", "llm_serving_benchmark_prompt_tokens=32"]


def test_benchmark_playbook_answers_fp8_versus_bf16(deployed, tmp_path):
    """playbooks/benchmark.yml on the deployed profile with a small load: every model answered
    every request, the models ran interleaved level by level (ABBA), the report's files are
    written, and the FP8/BF16 table pairs the two Mistral deployments with a cost per million tokens
    for each and their one-request-at-a-time latency. --check sends and writes nothing. Models that
    are not deployed are not waited for."""
    if deployed["profile"] != "fp8_showcase":
        pytest.skip("the FP8/BF16 question is the fp8_showcase document's; one profile keeps CI short")
    small = ["-e", "llm_serving_benchmark_output_dir=%s" % tmp_path] + BENCH_SMALL
    rc, out = playbook("fp8_showcase", "playbooks/benchmark.yml", "-e", '{"llm_serving_benchmark_models": ["nope"]}', *small)
    assert rc != 0 and "llm_serving_benchmark_models names nope, not in llm_serving_models" in out, out[-3000:]
    # another profile's plan, none of whose models is deployed: fails at once, naming them (no
    # 1800 s wait for InferenceServices that do not exist), for all of them and for a subset
    no_ckpt = ["-e", "llm_serving_benchmark_read_checkpoints=false"]
    rc, out = playbook("triple_play", "playbooks/benchmark.yml", *(no_ckpt + small))
    assert rc != 0 and ("None of the plan's models (mistral-3-bf16, mistral-3-fp8, devstral-2-bf16) has an "
                        "InferenceService in namespace private-ai") in out, out[-3000:]
    rc, out = playbook("triple_play", "playbooks/benchmark.yml", "-e", '{"llm_serving_benchmark_models": ["mistral-3-fp8"]}',
                       *(no_ckpt + small))
    assert rc != 0 and "llm_serving_benchmark_models names mistral-3-fp8, which has no InferenceService" in out, out[-3000:]
    assert "Wait for the InferenceServices" not in out
    rc, out = playbook("fp8_showcase", "playbooks/benchmark.yml", "--check", *small)
    assert rc == 0, out[-4000:]
    assert not list(tmp_path.iterdir()), "check mode wrote %s" % list(tmp_path.iterdir())
    rc, out = playbook("fp8_showcase", "playbooks/benchmark.yml", *small)
    assert rc == 0, out[-4000:]
    assert "FP8 versus BF16: Mistral-Small-24B-Instruct-2501" in out and "one request at a time" in out
    assert {p.name for p in tmp_path.iterdir()} >= {"report.html", "report.json", "report.md", "llm_benchmark.json"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["simulated"] is True
    for row in report["models"]:
        assert row["failed"] == 0 and row["requests"] == 3 * 6, row
        assert row["best"] is not None and row["usd_per_million_output_tokens"] > 0, row
        assert row["sync_ttft_p50_ms"] > 0 and row["sync_e2el_p50_ms"] > row["sync_ttft_p50_ms"], row
    # plan order (BF16 first) for level 0, then reversed, then again
    assert [(s["level"], s["target"]) for s in report["sequence"]] == [
        (0, "mistral-24b-full"), (0, "mistral-24b-fp8"), (1, "mistral-24b-fp8"), (1, "mistral-24b-full"),
        (2, "mistral-24b-full"), (2, "mistral-24b-fp8")]
    (cmp,) = report["comparison"]
    assert (cmp["fp8"], cmp["bf16"], cmp["fp8_gpus"], cmp["bf16_gpus"]) == ("mistral-24b-fp8", "mistral-24b-full", 1, 4)
    assert {r["name"]: r["precision"] for r in report["models"]} == {"mistral-24b-fp8": "FP8", "mistral-24b-full": "BF16"}
    assert "plotly" in (tmp_path / "report.html").read_text()[:200000].lower()


def test_tokens_never_appear_at_vvv(deployed, core, lab, tmp_path):
    """smoke_test.yml and benchmark.yml read each model's token from its Secret and send it (the
    endpoints refuse requests without one), and site.yml --check --diff shows the token Secrets and
    sends the registry token and the S3 keys: at -vvv none prints a token or the S3 secret key, nor
    does the benchmark write one to its files."""
    tokens = [token_of(core, name) for name in PROFILES[deployed["profile"]][2]]
    tokens += [lab["registry_proxy"]["token"], lab["s3_collection"]["secret_key"]]
    bench = ("playbooks/benchmark.yml", "-vvv", "-e", "llm_serving_benchmark_output_dir=%s" % tmp_path,
             "-e", "llm_serving_benchmark_profile=synchronous", "-e", "llm_serving_benchmark_max_requests=2",
             "-e", "llm_serving_benchmark_output_tokens=4", "-e", "llm_serving_benchmark_prompt_tokens=8")
    for args in (("playbooks/smoke_test.yml", "-vvv"), ("site.yml", "--check", "--diff", "-vvv"), bench):
        rc, out = playbook(deployed["profile"], *args)
        assert rc == 0, out[-3000:]
        assert "failed=0" in out
        leaked = [i for i, token in enumerate(tokens) if token in out or token[-40:] in out]
        assert not leaked, "%s -vvv printed secret(s) %s (model tokens, registry token, S3 key)" % (args[0], leaked)
    assert {p.name for p in tmp_path.iterdir()} >= {"report.html", "report.json", "report.md", "llm_benchmark.json"}
    files = "".join(p.read_text() for p in tmp_path.iterdir())
    assert not [i for i, token in enumerate(tokens) if token in files or token[-40:] in files]


def test_teardown_leaves_no_gpu_node_running(deployed, custom):
    """teardown.yml removes the profile's InferenceServices and scales the GPU MachineSets down to
    the nodes other workloads still use (none on the lab), and says so in its last line."""
    profile = deployed["profile"]
    rc, out = playbook(profile, "playbooks/teardown.yml")
    deployed["torn_down"] = True
    assert rc == 0, out[-4000:]
    assert "No GPU node of these models is left running" in out, out[-2000:]
    rc, out = playbook(profile, "playbooks/teardown.yml")
    assert rc == 0 and re.search(r"changed=0\s", out), "a second teardown changed something:\n" + out[-3000:]
    left = custom.list_namespaced_custom_object(*KSERVE, NAMESPACE, "inferenceservices")["items"]
    assert not {o["metadata"]["name"] for o in left} & set(PROFILES[profile][2])
    models = yaml.safe_load((REPO / "inventories" / profile / "group_vars" / "all" / "models.yml").read_text())
    types = {m["hardware"]["instance_type"] for m in models["llm_serving_models"]}

    def running():
        out = {}
        for ms in custom.list_namespaced_custom_object(*MAPI, MACHINE_NS, "machinesets")["items"]:
            itype = ms["spec"]["template"]["spec"]["providerSpec"]["value"].get("instanceType")
            if itype in types and not (ms["metadata"].get("labels") or {}).get("lab.private-ai.io/test-pool"):
                out[ms["metadata"]["name"]] = (ms["spec"].get("replicas"), (ms.get("status") or {}).get("replicas"))
        return out
    wait_for(running, lambda r: all(v == (0, 0) for v in r.values()), 60, "the GPU MachineSets at 0 replicas")
