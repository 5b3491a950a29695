"""Penstock benchmarks, side by side with their anchors in the same run.

    bench/run.py            (uses .venv/bin/python for the SDK; builds the release binary)

1. Engine overhead per step: 200-step chain of `true` vs 200 bare spawns of `true`.
2. 40-step chain of lightweight Python components (fibo(10)) vs kfp.local.SubprocessRunner.
3. 500-way ParallelFor of `true`: wall time and peak memory of Penstock.
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("PENSTOCK_TEST_PYTHON", os.path.join(ROOT, ".venv/bin/python"))
BIN = os.path.join(ROOT, "target/release/penstock")


def penstock(yaml, home, *extra):
    env = dict(os.environ, PENSTOCK_HOME=home, PENSTOCK_VENVS=os.path.join(ROOT, "target/penstock-bench-venvs"))
    start = time.perf_counter()
    out = subprocess.run([BIN, "run", yaml, "-o", "json", *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"penstock failed on {yaml}: {out.stderr[-2000:]}")
    return wall


def peak_rss_of(cmd, env):
    """Runs cmd in a fresh measuring process; returns (wall seconds, peak RSS in MiB of the
    largest process in its tree: Penstock itself, its tasks being `true`)."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], env=env, check=True, capture_output=True, text=True)
    wall, rss_kib = out.stdout.split()
    return float(wall), int(rss_kib) / 1024


def main():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "penstock"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="penstock-bench-")
    subprocess.run([PYTHON, os.path.join(ROOT, "bench/pipelines.py"), work], check=True, capture_output=True)

    # 1. Overhead per step.
    bare_start = time.perf_counter()
    for _ in range(200):
        subprocess.run(["true"], check=True)
    bare = time.perf_counter() - bare_start
    chain = min(penstock(f"{work}/chain_200.yaml", tempfile.mkdtemp(dir=work)) for _ in range(3))
    per_step_ms = (chain - bare) / 200 * 1000
    print(f"1. chain of 200 `true`: penstock {chain:.3f}s, 200 bare spawns {bare:.3f}s "
          f"-> engine overhead {per_step_ms:.2f} ms/step, ratio {chain / bare:.2f}x")

    # 2. Lightweight Python chain vs kfp.local (warm: the venv exists after the first run).
    penstock(f"{work}/fibo_chain_40.yaml", tempfile.mkdtemp(dir=work))
    ours = min(penstock(f"{work}/fibo_chain_40.yaml", tempfile.mkdtemp(dir=work)) for _ in range(2))
    anchor_out = subprocess.run([PYTHON, os.path.join(ROOT, "bench/kfp_local_fibo.py"), f"{work}/fibo_chain_40.yaml",
                                 tempfile.mkdtemp(dir=work)], capture_output=True, text=True, cwd=work)
    if anchor_out.returncode != 0:
        sys.exit(f"kfp.local failed: {anchor_out.stderr[-2000:]}")
    anchor = float(anchor_out.stdout.strip().splitlines()[-1])
    print(f"2. 40 lightweight Python steps: penstock {ours:.2f}s, kfp.local SubprocessRunner {anchor:.2f}s "
          f"-> penstock is {anchor / ours:.1f}x faster ({ours / 40 * 1000:.0f} ms/step vs {anchor / 40 * 1000:.0f} ms/step)")

    # 3. 500-way fan-out.
    env = dict(os.environ, PENSTOCK_HOME=tempfile.mkdtemp(dir=work))
    wall, rss = peak_rss_of([BIN, "run", f"{work}/fanout_500.yaml", "-o", "json"], env)
    print(f"3. ParallelFor x500 of `true`: wall {wall:.2f}s, peak RSS {rss:.1f} MiB "
          f"({wall / 500 * 1000:.2f} ms/iteration)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
