#!/usr/bin/env python3
"""Object-store pipeline root: upload and download throughput of one large artifact against a local
moto S3 server, and Penstock's peak memory while moving it, side by side with baselines measured in
the same run.

A two-step pipeline (container components run by the local launcher) makes one SIZE file
(default 1 GiB) and checks its size in the next step. With `--pipeline-root s3://…` Penstock
uploads it after the first step (multipart, streaming) and downloads it before the second; the
bench reads the transfer times from Penstock's own log lines and samples the `penstock run`
process's resident memory (the task processes are not counted: they are the pipeline's) every
20 ms. Baselines in the same run:

- the same pipeline with the default local root (no transfer): Penstock's memory without the
  object store, and the time of the steps themselves;
- boto3's `upload_file`/`download_file` of a file of the same size to and from the same server
  (its managed transfer: 8 MiB parts, 10 threads).

Usage (needs the moto venv and a built penstock):
    scripts/s3-test-venv && cargo build -p penstock
    .venv-s3/bin/python bench/object_store.py [SIZE_MIB] [--penstock PATH]
The kfp SDK used to compile the pipeline is `PENSTOCK_TEST_PYTHON` (default .venv/bin/python).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from boto3.s3.transfer import TransferConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "penstock-bench"

PIPELINE = r'''
import sys
from kfp import compiler, dsl


@dsl.container_component
def make(size_mib: int, big: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(image="busybox", command=["sh", "-c", 'head -c "$(($0 * 1048576))" /dev/urandom > "$1"'], args=[size_mib, big.path])


@dsl.container_component
def check(size_mib: int, big: dsl.Input[dsl.Dataset]):
    return dsl.ContainerSpec(image="busybox", command=["sh", "-c", 'test "$(wc -c < "$1")" -eq "$(($0 * 1048576))"'], args=[size_mib, big.path])


@dsl.pipeline(name="big-artifact")
def big_artifact(size_mib: int):
    check(size_mib=size_mib, big=make(size_mib=size_mib).outputs["big"])


if __name__ == "__main__":
    compiler.Compiler().compile(big_artifact, sys.argv[1])
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_penstock(penstock, spec, home, env, size_mib, root=None):
    """Runs the pipeline; returns (seconds, idle RSS KiB, peak RSS KiB, transfer log lines)."""
    args = [penstock, "run", spec, "-o", "json", "-p", f"size_mib={size_mib}"]
    if root:
        args += ["--pipeline-root", root]
    started = time.monotonic()
    proc = subprocess.Popen(args, env={**env, "PENSTOCK_HOME": home, "PENSTOCK_LOG": "penstock_launcher::staging=info"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []

    def sample():
        while proc.poll() is None:
            r = rss_kib(proc.pid)
            if r:
                samples.append((time.monotonic() - started, r))
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    out, err = proc.communicate()
    t.join()
    elapsed = time.monotonic() - started
    run = json.loads(out) if out.strip() else {}
    if proc.returncode != 0 or run.get("state") != "SUCCEEDED":
        raise SystemExit(f"penstock run failed ({proc.returncode}):\n{err[-3000:]}")
    # Idle: the process once started, before any task (the first 0.3 s of samples, at most).
    early = [r for (ts, r) in samples if ts < 0.3] or [samples[0][1]]
    return elapsed, max(early), max(r for _, r in samples), err


def transfer(err, what):
    """bytes and ms of Penstock's log line for `what` (`uploaded output`/`fetched input`)."""
    clean = re.sub(r"\x1b\[[0-9;]*m", "", err)
    for line in clean.splitlines():
        if what in line:
            b = int(re.search(r"bytes=(\d+)", line).group(1))
            ms = int(re.search(r"ms=(\d+)", line).group(1))
            return b, ms
    raise SystemExit(f"no '{what}' line in penstock's log:\n{clean[-2000:]}")


def main():
    argv = sys.argv[1:]
    penstock = os.path.join(ROOT, "target/debug/penstock")
    if "--penstock" in argv:
        i = argv.index("--penstock")
        penstock = argv[i + 1]
        del argv[i:i + 2]
    size_mib = int(argv[0]) if argv else 1024
    kfp_python = os.environ.get("PENSTOCK_TEST_PYTHON", os.path.join(ROOT, ".venv/bin/python"))
    work = tempfile.mkdtemp(prefix="penstock-bench-s3-")
    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("moto did not start")
                time.sleep(0.1)
        creds = dict(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
        s3 = boto3.client("s3", endpoint_url=endpoint, **creds)
        s3.create_bucket(Bucket=BUCKET)
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
               "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1"}
        spec = os.path.join(work, "big.yaml")
        src = os.path.join(work, "pipeline.py")
        with open(src, "w") as f:
            f.write(PIPELINE)
        subprocess.run([kfp_python, src, spec], check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        size = size_mib << 20
        print(f"artifact: {size_mib} MiB; moto on {endpoint}; penstock {penstock}\n", flush=True)

        local_s, local_idle, local_peak, _ = run_penstock(penstock, spec, os.path.join(work, "home-local"), env, size_mib)
        shutil.rmtree(os.path.join(work, "home-local"), ignore_errors=True)
        s3_s, s3_idle, s3_peak, err = run_penstock(penstock, spec, os.path.join(work, "home-s3"), env, size_mib,
                                                  root=f"s3://{BUCKET}/penstock")
        up_b, up_ms = transfer(err, "uploaded output artifact")
        down_b, down_ms = transfer(err, "fetched input artifact")
        assert up_b == size and down_b == size, (up_b, down_b, size)
        shutil.rmtree(os.path.join(work, "home-s3"), ignore_errors=True)

        # boto3's managed transfer of a file of the same size, same server.
        blob = os.path.join(work, "blob")
        with open(blob, "wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
        cfg = TransferConfig()
        t0 = time.monotonic()
        s3.upload_file(blob, BUCKET, "boto3/blob", Config=cfg)
        boto_up = time.monotonic() - t0
        t0 = time.monotonic()
        s3.download_file(BUCKET, "boto3/blob", blob + ".back", Config=cfg)
        boto_down = time.monotonic() - t0

        mib = size / (1 << 20)
        print("| measure | Penstock (object_store) | baseline |")
        print("|---|---|---|")
        print(f"| upload {size_mib} MiB | {up_ms / 1000:.1f} s, {mib / (up_ms / 1000):.0f} MiB/s | boto3 upload_file {boto_up:.1f} s, {mib / boto_up:.0f} MiB/s |")
        print(f"| download {size_mib} MiB | {down_ms / 1000:.1f} s, {mib / (down_ms / 1000):.0f} MiB/s | boto3 download_file {boto_down:.1f} s, {mib / boto_down:.0f} MiB/s |")
        print(f"| whole 2-step run | {s3_s:.1f} s (s3:// root) | {local_s:.1f} s (local root) |")
        print(f"| penstock run RSS: idle / peak | {s3_idle / 1024:.0f} / {s3_peak / 1024:.0f} MiB | {local_idle / 1024:.0f} / {local_peak / 1024:.0f} MiB (local root) |")
        print(f"| peak RSS above idle | {(s3_peak - s3_idle) / 1024:.0f} MiB (goal <= 100 MB) | {(local_peak - local_idle) / 1024:.0f} MiB (local root) |")
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
