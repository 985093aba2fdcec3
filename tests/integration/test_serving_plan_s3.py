"""serving_plan reading a checkpoint from the lab's MinIO with s3_model_sync's standard-library
reader (module_utils/s3_sync): the module process, real SigV4 requests, real S3 errors."""

import importlib.util
import json
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import module_runner  # noqa: E402

LAB_JSON = ROOT / ".lab" / "lab.json"
RUN = uuid.uuid4().hex[:8]
BF16 = "Mistral-Small-24B-Instruct-2501"


@pytest.fixture(scope="module")
def lab_s3(tmp_path_factory):
    """The lab's MinIO with a synthetic BF16 checkpoint (small shards, the real index) under a prefix
    of the run in the models bucket, put there with the admin's keys; the plan reads it with the
    collection's own user (lab.json s3_collection, limited to that bucket), as site.yml does."""
    if not LAB_JSON.exists():
        pytest.skip("lab not running: %s missing (make lab-up)" % LAB_JSON)
    facts = json.loads(LAB_JSON.read_text())
    if "s3_collection" not in facts:
        pytest.skip("this lab predates the collection's MinIO user: make lab-down lab-up")
    admin, user = facts["s3"], facts["s3_collection"]
    spec = importlib.util.spec_from_file_location("make_synthetic_model", ROOT / "tests/fixtures/make_synthetic_model.py")
    synth = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synth)
    src = tmp_path_factory.mktemp("ckpt") / BF16
    synth.main(["--checkpoint", BF16, "--out", str(src), "--shard-mb", "0.01", "--shards", "2", "--hf-only"])
    import boto3  # the test's own client, to put the fixture in place
    client = boto3.client("s3", endpoint_url=admin["endpoint"], aws_access_key_id=admin["access_key"],
                          aws_secret_access_key=admin["secret_key"], region_name="us-east-1")
    prefix = "plan-s3-%s/m/bf16" % RUN
    for path in sorted(src.iterdir()):
        client.upload_file(str(path), "models", prefix + "/" + path.name)
    yield dict(user, bucket="models", path=prefix)
    for obj in client.list_objects_v2(Bucket="models", Prefix=prefix + "/").get("Contents", []):
        client.delete_object(Bucket="models", Key=obj["Key"])


def run_plan(s3, secret_key, bucket=None):
    return module_runner.finish(module_runner.start("private_ai.llm_serving.serving_plan", {
        "models": [{"name": "bf16", "weights": {"source": "s3", "path": s3["path"]},
                    "hardware": {"instance_type": "g6.12xlarge", "gpus": 4},
                    "vllm": {"tensor_parallel_size": 4, "max_model_len": 8192}}],
        "settings": {"s3_endpoint": s3["endpoint"], "s3_bucket": bucket or s3["bucket"]},
        "s3_access_key": s3["access_key"], "s3_secret_key": secret_key}), timeout=120)


def test_plan_reads_the_checkpoint_from_minio(lab_s3):
    out = run_plan(lab_s3, lab_s3["secret_key"])
    assert out["rc"] == 0 and out["errors"] == [], out
    entry = out["plan"]["models"]["bf16"]
    assert entry["checkpoint"]["location"] == "s3://models/%s/" % lab_s3["path"]
    assert entry["checkpoint"]["weight_bytes"] == 47144806400  # the index's total_size


def test_wrong_secret_is_s3_model_syncs_sentence_without_the_secret(lab_s3):
    wrong = "wrong-" + uuid.uuid4().hex
    out = run_plan(lab_s3, wrong)
    assert out["failed"] and wrong not in json.dumps(out)
    assert out["errors"] == ["llm_serving_models[0] (bf16): cannot read s3://models/%s/ (the secret key does not "
                             "belong to the access key (SignatureDoesNotMatch); check secret_key or "
                             "AWS_SECRET_ACCESS_KEY)." % lab_s3["path"]]


def test_a_bucket_outside_the_users_policy_is_one_sentence_without_the_secret(lab_s3):
    bucket = "not-the-models-" + RUN
    out = run_plan(lab_s3, lab_s3["secret_key"], bucket=bucket)
    assert out["failed"] and lab_s3["secret_key"] not in json.dumps(out)
    assert out["errors"] == ["llm_serving_models[0] (bf16): cannot read s3://%s/%s/ (access denied "
                             "(AccessDenied); the credentials lack the S3 permission for bucket %s)."
                             % (bucket, lab_s3["path"], bucket)]
