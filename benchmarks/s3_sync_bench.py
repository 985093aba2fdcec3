#!/usr/bin/env python3
"""Upload throughput of s3_model_sync against mc mirror, rclone and aws s3 sync, in one run.

Generates a synthetic model (default 4 GB in 5 shards plus small files), uploads it with each tool
to its own prefix of the same MinIO, prints MB/s for each and the ratio of ours to each, then
times an unchanged re-run of every tool. Not a test: nothing is asserted.

    .venv/bin/python benchmarks/s3_sync_bench.py --size-gb 2

MinIO: the lab's (`--lab`, from .lab/lab.json) or, by default, a private one started from the
lab's binary (~/.cache/private-ai-lab/bin/minio-*) on a free port with a temporary data dir.
Peers: mc from `lab/build.sh mc`, rclone from Debian (apt-get install -y rclone), awscli in its
own venv (~/.cache/private-ai-llm-serving/bench-venv, `pip install awscli==1.46.2`); a missing
peer is reported and left out. Ours runs as its own process the way Ansible's module wrapper
starts it on the target (python, the module file, a JSON arguments file; credentials from the
AWS_* environment), so its wall time, like each peer's, covers the process from start to exit:
interpreter, imports (ansible.module_utils.basic alone is about 0.2 s), listing, upload,
verification. `--via-ansible` runs it through `ansible localhost -m` instead, adding Ansible's own
2-5 s start-up. The module's own `seconds` (listing through verification) is printed beside it.
"""

import argparse
import glob
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_BIN = os.path.expanduser(os.environ.get("LAB_CACHE", "~/.cache/private-ai-lab") + "/bin")
AWS = os.path.expanduser("~/.cache/private-ai-llm-serving/bench-venv/bin/aws")
MB = 1e6
MD5 = "s3_model_sync-md5"
REMOVE = """
import sys, boto3
client = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
for page in client.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[2], Prefix=sys.argv[3]):
    keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=sys.argv[2], Delete={"Objects": keys, "Quiet": True})
"""
MIB = 1024 * 1024


def newest(pattern):
    found = sorted(glob.glob(os.path.join(LAB_BIN, pattern)))
    return found[-1] if found else None


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live(endpoint):
    try:
        with urllib.request.urlopen(endpoint + "/minio/health/live", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def start_minio(tmp):
    binary = newest("minio-*")
    if not binary:
        sys.exit("no MinIO binary in %s: run lab/build.sh minio, or pass --lab" % LAB_BIN)
    port = free_port()
    s3 = {"endpoint": "http://127.0.0.1:%d" % port, "access_key": "bench-" + uuid.uuid4().hex[:6],
          "secret_key": uuid.uuid4().hex}
    env = dict(os.environ, MINIO_ROOT_USER=s3["access_key"], MINIO_ROOT_PASSWORD=s3["secret_key"],
               MINIO_BROWSER="off")
    log = open(os.path.join(tmp, "minio.log"), "ab")
    proc = subprocess.Popen([binary, "server", os.path.join(tmp, "data"), "--address",
                             "127.0.0.1:%d" % port, "--console-address",
                             "127.0.0.1:%d" % free_port(), "--quiet"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        if live(s3["endpoint"]):
            return s3, proc
        time.sleep(0.2)
    proc.kill()
    sys.exit("private MinIO did not start (see %s/minio.log)" % tmp)


def make_model(root, size_gb, shards, small):
    """Shards of random bytes (reused when already there with the right sizes) + small files."""
    os.makedirs(root, exist_ok=True)
    shard_size = int(size_gb * 1e9 / shards)
    for number in range(shards):
        path = os.path.join(root, "model-%05d-of-%05d.safetensors" % (number + 1, shards))
        if os.path.exists(path) and os.path.getsize(path) == shard_size:
            continue
        with open(path, "wb") as handle:
            left = shard_size
            while left:
                chunk = os.urandom(min(left, 64 * MIB))
                handle.write(chunk)
                left -= len(chunk)
    for name in os.listdir(root):
        if name.startswith("model-") and not name.endswith("-of-%05d.safetensors" % shards):
            os.unlink(os.path.join(root, name))
    for number in range(small):
        with open(os.path.join(root, "extra-%02d.json" % number), "w", encoding="utf-8") as handle:
            json.dump({"file": number, "pad": "x" * (1000 * (number + 1))}, handle)
    with open(os.path.join(root, "config.json"), "w", encoding="utf-8") as handle:
        json.dump({"architectures": ["MistralForCausalLM"], "hidden_size": 5120}, handle)
    return sum(os.path.getsize(os.path.join(root, n)) for n in os.listdir(root))


def run(cmd, env):
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (cmd[0], proc.returncode,
                                                   (proc.stderr or proc.stdout)[-800:]))
    return seconds, proc.stdout


class Tools:
    """One upload command per tool; each returns (wall seconds, module seconds or None)."""

    def __init__(self, s3, bucket, args, tmp):
        self.s3, self.bucket, self.args = s3, bucket, args
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID=s3["access_key"],
                        AWS_SECRET_ACCESS_KEY=s3["secret_key"], AWS_DEFAULT_REGION="us-east-1")
        self.env.pop("AWS_SESSION_TOKEN", None)
        self.cache_dir = os.path.join(tmp, "digest-cache")
        self.args_file = os.path.join(tmp, "module-args.json")  # no secret: those are in the env
        aws_config = os.path.join(tmp, "aws-config")
        with open(aws_config, "w", encoding="utf-8") as handle:
            handle.write("[default]\ns3 =\n  addressing_style = path\n")
        self.peer_env = dict(
            self.env, AWS_CONFIG_FILE=aws_config, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_REQUEST_CHECKSUM_CALCULATION="when_required",
            AWS_RESPONSE_CHECKSUM_VALIDATION="when_required",
            MC_CONFIG_DIR=os.path.join(tmp, "mc"),
            MC_HOST_bench="http://%s:%s@%s" % (s3["access_key"], s3["secret_key"],
                                               s3["endpoint"].split("://", 1)[1]),
            RCLONE_CONFIG=os.devnull, RCLONE_CONFIG_BENCH_TYPE="s3",
            RCLONE_CONFIG_BENCH_PROVIDER="Minio", RCLONE_CONFIG_BENCH_ENDPOINT=s3["endpoint"],
            RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=s3["access_key"],
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=s3["secret_key"])
        # rclone's SDK refuses a custom CA bundle with its own transport; the endpoint is http.
        self.peer_env.pop("AWS_CA_BUNDLE", None)
        self.mc, self.rclone = newest("mc-*"), shutil.which("rclone")
        self.aws = AWS if os.access(AWS, os.X_OK) else None

    def remove(self, prefix):
        """Delete what one tool uploaded (4 GB per tool and round add up)."""
        subprocess.run([sys.executable, "-c", REMOVE, self.s3["endpoint"], self.bucket,
                        prefix + "/"], env=self.env, check=True)

    def run_module(self, module_args):
        """(result, wall seconds) of one run of the module; credentials come from the env."""
        if self.args.via_ansible:
            env = dict(self.env, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
                       ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
            seconds, out = run([os.path.join(ROOT, ".venv", "bin", "ansible"), "localhost", "-c",
                                "local", "-i", "localhost,", "-e",
                                "ansible_python_interpreter=" + sys.executable, "-m",
                                "private_ai.llm_serving.s3_model_sync", "-a",
                                json.dumps(module_args)], env)
            data = json.loads(out[out.index("{"):])
            return data["plays"][0]["tasks"][0]["hosts"]["localhost"], seconds
        with open(self.args_file, "w", encoding="utf-8") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": module_args}, handle)
        env = dict(self.env, PYTHONPATH=os.path.join(ROOT, "collections"))
        seconds, out = run([sys.executable, os.path.join(ROOT, "plugins", "modules",
                                                         "s3_model_sync.py"), self.args_file], env)
        return json.loads(out.strip().splitlines()[-1]), seconds

    def available(self):
        found = {"s3_model_sync": True, "mc mirror": bool(self.mc), "rclone sync": bool(self.rclone),
                 "aws s3 sync": bool(self.aws)}
        missing = {"mc mirror": "lab/build.sh mc", "rclone sync": "apt-get install -y rclone",
                   "aws s3 sync": "python3 -m venv %s && pip install awscli==1.46.2"
                   % os.path.dirname(os.path.dirname(AWS))}
        for name, ok in found.items():
            if not ok:
                print("  (left out: %s not installed: %s)" % (name, missing[name]))
        return [name for name, ok in found.items() if ok]

    def upload(self, tool, src, prefix, as_task=False):
        """(wall seconds, module seconds or None, bytes moved or None) of one run of ``tool``.

        ``as_task``: a peer runs under ``ansible.builtin.command`` started the same way as our
        module, which is what a playbook that used the peer would run; ours is unchanged.
        """
        if tool.startswith("s3_model_sync"):
            module_args = {
                "src": src, "bucket": self.bucket, "prefix": prefix,
                "endpoint_url": self.s3["endpoint"], "part_size_mb": self.args.part_size_mb,
                "concurrency": self.args.concurrency, "cache_dir": self.cache_dir,
                "checksum": "md5" if tool == MD5 else "crc32"}
            result, seconds = self.run_module(module_args)
            return seconds, result["seconds"], result["bytes_uploaded"]
        dest = "%s/%s" % (self.bucket, prefix)
        if tool == "mc mirror":
            cmd = [self.mc, "mirror", "--quiet", src, "bench/" + dest]
        elif tool == "rclone sync":
            cmd = [self.rclone, "sync", src, "bench:" + dest]
        else:
            cmd = [self.aws, "s3", "sync", "--only-show-errors", src, "s3://" + dest,
                   "--endpoint-url", self.s3["endpoint"]]
        if as_task:
            with open(self.args_file, "w", encoding="utf-8") as handle:
                json.dump({"ANSIBLE_MODULE_ARGS": {"argv": cmd}}, handle)
            cmd = [sys.executable, "-m", "ansible.modules.command", self.args_file]
        seconds, _out = run(cmd, self.peer_env)
        return seconds, None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-gb", type=float, default=4.0, help="total size of the shards")
    parser.add_argument("--shards", type=int, default=5)
    parser.add_argument("--small-files", type=int, default=8)
    parser.add_argument("--part-size-mb", type=int, default=16, help="ours (module default 16)")
    parser.add_argument("--concurrency", type=int, default=8, help="ours (module default 8)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat and report the median")
    parser.add_argument("--reruns", type=int, default=5,
                        help="unchanged re-runs per tool and round (their median is reported)")
    parser.add_argument("--lab", action="store_true", help="use the lab's MinIO (.lab/lab.json)")
    parser.add_argument("--md5", action="store_true",
                        help="also run ours with checksum=md5 (%s)" % MD5)
    parser.add_argument("--via-ansible", action="store_true",
                        help="run ours through `ansible localhost -m` (adds Ansible's start-up)")
    parser.add_argument("--peers", default="mc,rclone,aws",
                        help="comma-separated subset of mc,rclone,aws to compare with")
    parser.add_argument("--workdir", default=os.path.expanduser("~/.cache/private-ai-llm-serving/bench-model"))
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="s3sync-bench-")
    minio = None
    try:
        if args.lab:
            with open(os.path.join(ROOT, ".lab", "lab.json"), encoding="utf-8") as handle:
                s3 = json.load(handle)["s3"]
        else:
            s3, minio = start_minio(tmp)
        total = make_model(args.workdir, args.size_gb, args.shards, args.small_files)
        run_id = uuid.uuid4().hex[:6]
        bucket = "bench-s3sync"
        tools = Tools(s3, bucket, args, tmp)
        subprocess.run([sys.executable, "-c", "import boto3,sys; c=boto3.client('s3', endpoint_url=sys.argv[1], "
                        "region_name='us-east-1'); [c.create_bucket(Bucket=sys.argv[2]) "
                        "if sys.argv[2] not in [b['Name'] for b in c.list_buckets()['Buckets']] else None]",
                        s3["endpoint"], bucket], env=tools.env, check=True)
        print("synthetic model: %s, %.2f GB (%d shards + %d small files); MinIO %s (%s)"
              % (args.workdir, total / 1e9, args.shards, args.small_files + 1, s3["endpoint"],
                 "lab" if args.lab else "private"))
        wanted = set(p.strip() for p in args.peers.split(","))
        names = [n for n in tools.available() if n == "s3_model_sync" or n.split()[0] in wanted]
        if args.md5:
            names.insert(1, MD5)
        first = {n: [] for n in names}
        again = {n: [] for n in names}
        task = {n: [] for n in names}
        for rnd in range(args.rounds):
            for name in names:
                prefix = "%s/r%d/%s" % (run_id, rnd, name.split()[0])
                os.sync()  # flush MinIO's writes of the previous tool so each starts clean
                wall, inner, moved = tools.upload(name, args.workdir, prefix)
                first[name].append((wall, inner, moved))
                # Re-runs take tenths of a second: the median of several, alternating the ways.
                runs, tasks = [], []
                for _ in range(args.reruns):
                    runs.append(tools.upload(name, args.workdir, prefix))
                    tasks.append(tools.upload(name, args.workdir, prefix, as_task=True))
                wall2, inner2, moved2 = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
                if moved2 is not None:
                    moved2 = max(r[2] for r in runs)
                again[name].append((wall2, inner2, moved2))
                task[name].append(sorted(tasks, key=lambda r: r[0])[len(tasks) // 2])
                tools.remove(prefix)  # MinIO refuses writes once its drive is nearly full
                print("  round %d %-17s %7.1f MB/s (%6.2f s%s); unchanged re-run %.3f s%s, "
                      "as a task %.3f s"
                      % (rnd + 1, name, total / MB / wall, wall,
                         ", module %.2f s = %.1f MB/s" % (inner, moved / MB / inner) if inner else "",
                         wall2, ", module %.3f s, %d bytes moved" % (inner2, moved2)
                         if inner2 is not None else "", task[name][-1][0]))
        med = {n: statistics.median(w for w, _i, _m in first[n]) for n in names}
        med2 = {n: statistics.median(w for w, _i, _m in again[n]) for n in names}
        print("\nupload of %.2f GB (median of %d round(s), wall clock incl. process start):"
              % (total / 1e9, args.rounds))
        for name in names:
            print("  %-13s %7.1f MB/s  %6.2f s" % (name, total / MB / med[name], med[name]))
        for ours in [n for n in names if n.startswith("s3_model_sync")]:
            inner = statistics.median(i for _w, i, _m in first[ours])
            print("  (%s module alone: %.1f MB/s, %.2f s)" % (ours, total / MB / inner, inner))
            for name in [n for n in names if not n.startswith("s3_model_sync")]:
                # Within one round both tools saw the same machine load: the median of those.
                per_round = [first[name][r][0] / first[ours][r][0] for r in range(args.rounds)]
                print("  ratio %s / %-12s %.2f  (per round: %s; module alone: %.2f)"
                      % (ours, name, statistics.median(per_round),
                         ", ".join("%.2f" % r for r in per_round), med[name] / inner))
        ours = "s3_model_sync"
        inner2 = statistics.median(i for _w, i, _m in again[ours])
        print("unchanged re-run (wall clock incl. process start; ratio = tool's time / ours, "
              ">= 1.0 means ours is faster):")
        for name in names:
            per_round = [again[name][r][0] / again[ours][r][0] for r in range(args.rounds)]
            print("  %-17s %6.3f s   ratio %.2f (per round: %s; vs module alone: %.2f)"
                  % (name, med2[name], statistics.median(per_round),
                     ", ".join("%.2f" % r for r in per_round), med2[name] / inner2))
        print("unchanged re-run as an Ansible task (peers under ansible.builtin.command, started "
              "like our module; same ratio):")
        for name in names:
            per_round = [task[name][r][0] / task[ours][r][0] for r in range(args.rounds)]
            print("  %-17s %6.3f s   ratio %.2f (per round: %s)"
                  % (name, statistics.median(w for w, _i, _m in task[name]),
                     statistics.median(per_round), ", ".join("%.2f" % r for r in per_round)))
        print("  (s3_model_sync module alone: %.3f s, bytes moved %d)"
              % (inner2, max(m for _w, _i, m in again[ours])))
    finally:
        if minio:
            minio.terminate()
            minio.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
