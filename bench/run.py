"""Penstock benchmarks, side by side with their anchors in the same run.

    bench/run.py            (uses .venv/bin/python for the SDK; builds the release binary, or
                            measures PENSTOCK_BENCH_BIN)

1. Engine overhead per step: 200-step chain of `true` vs 200 bare spawns of `true` (posix_spawn +
   waitpid, the cheapest way to run a program): the median over the steps of the time between
   two steps' ends minus the median spawn, and the whole run's wall minus the spawns, per step
   (which also carries the start of `penstock run` on a fresh home: migrations, the watchdog).
2. 40-step chain of lightweight Python components (fibo(10)): warm interpreters vs --no-warm vs
   kfp.local.SubprocessRunner(use_venv=False).
3. kfp.local's default mode (SubprocessRunner(use_venv=True): a fresh venv and pip install per
   task) on a 3-step chain of the same component, per step, against warm Penstock per step.
4. 500- and 1,000-way ParallelFor of `true`: wall time above the spawn floor (as many bare spawns
   of `true`) and peak memory of Penstock.
"""
import json
import os
import statistics
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.environ.get("PENSTOCK_TEST_PYTHON", os.path.join(ROOT, ".venv/bin/python"))
# PENSTOCK_BENCH_BIN: measure this binary (a copy, safe from other builds) instead of building
# and measuring target/release/penstock.
BIN = os.environ.get("PENSTOCK_BENCH_BIN") or os.path.join(ROOT, "target/release/penstock")


LAST_RUNS = {}
TRUE = shutil.which("true")


def spawn_true():
    """Runs `true` the cheapest way; returns the seconds it took."""
    start = time.perf_counter()
    os.waitpid(os.posix_spawn(TRUE, ["true"], os.environ), 0)
    return time.perf_counter() - start


def penstock(yaml, home, *extra):
    env = dict(os.environ, PENSTOCK_HOME=home, PENSTOCK_VENVS=os.path.join(ROOT, "target/penstock-bench-venvs"))
    start = time.perf_counter()
    out = subprocess.run([BIN, "run", yaml, "-o", "json", *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"penstock failed on {yaml}: {out.stderr[-2000:]}")
    LAST_RUNS.setdefault(extra, []).append(json.loads(out.stdout))
    return wall


def ends(run):
    """The tasks' end times in ms, in order."""
    from datetime import datetime
    return sorted(datetime.fromisoformat(t["end_time"][:26].rstrip("Z") + "+00:00").timestamp() * 1000
                  for t in run["run_details"]["task_details"] if t.get("end_time"))


def median_step(runs):
    """Median of the tasks' end - start, in ms, over `runs` (run JSON)."""
    from datetime import datetime
    def ts(s):
        return datetime.fromisoformat(s[:26].rstrip("Z") + "+00:00")
    steps = [(ts(t["end_time"]) - ts(t["start_time"])).total_seconds() * 1000
             for run in runs for t in run["run_details"]["task_details"] if t.get("end_time")]
    return statistics.median(steps)


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
    if not os.environ.get("PENSTOCK_BENCH_BIN"):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "penstock"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="penstock-bench-")
    subprocess.run([PYTHON, os.path.join(ROOT, "bench/pipelines.py"), work], check=True, capture_output=True)

    # PENSTOCK_BENCH_ONLY=chain,python,fanout runs only those sections (python includes
    # kfp.local's venv mode unless PENSTOCK_BENCH_SKIP_VENV=1).
    only = set(filter(None, os.environ.get("PENSTOCK_BENCH_ONLY", "").split(",")))
    if not only or "chain" in only:
        # 1. Overhead per step.
        spawns = [spawn_true() for _ in range(200)]
        bare, spawn_ms = sum(spawns), statistics.median(spawns) * 1000
        # The fastest of three runs (the machine's noise only ever adds), its wall and its steps.
        walls = [penstock(f"{work}/chain_200.yaml", tempfile.mkdtemp(dir=work)) for _ in range(3)]
        chain, fastest = min(zip(walls, LAST_RUNS[()][-3:]), key=lambda pair: pair[0])
        per_step_ms = (chain - bare) / 200 * 1000
        intervals = [b - a for a, b in zip(ends(fastest), ends(fastest)[1:])]
        median_ms = statistics.median(intervals) - spawn_ms
        print(f"1. chain of 200 `true`: penstock {chain:.3f}s, 200 bare spawns {bare:.3f}s (median {spawn_ms:.3f} ms) "
              f"-> engine overhead per step: median {median_ms:.2f} ms (step to step {statistics.median(intervals):.2f} ms), "
              f"whole run {per_step_ms:.2f} ms/step, ratio {chain / bare:.2f}x")

    if not only or "fanout" in only:
        # 4. Fan-out, above the floor of spawning as many processes. Measured before the Python
        # sections: kfp.local's venv mode creates and deletes thousands of files, and for a while
        # after mass deletions ext4 allocates inodes slowly (it skips recently freed ones).
        for n in (500, 1000):
            floor = sum(spawn_true() for _ in range(n))
            env = dict(os.environ, PENSTOCK_HOME=tempfile.mkdtemp(dir=work))
            wall, rss = peak_rss_of([BIN, "run", f"{work}/fanout_{n}.yaml", "-o", "json"], env)
            print(f"4. ParallelFor x{n} of `true`: wall {wall:.2f}s, {n} bare spawns {floor:.2f}s -> "
                  f"{wall - floor:+.2f}s above the floor, peak RSS {rss:.1f} MiB ({wall / n * 1000:.2f} ms/iteration)")
    if not only or "python" in only:
        # 2. Lightweight Python chain: warm interpreters, fresh processes (--no-warm) and kfp.local,
        # side by side (the venv exists after the first run). Median per step from each task's
        # start/end in the run JSON. kfp.local runs with -P: bench/docker.py must not shadow the
        # `docker` package it imports.
        penstock(f"{work}/fibo_chain_40.yaml", tempfile.mkdtemp(dir=work))
        warm = [penstock(f"{work}/fibo_chain_40.yaml", tempfile.mkdtemp(dir=work)) for _ in range(3)]
        cold = [penstock(f"{work}/fibo_chain_40.yaml", tempfile.mkdtemp(dir=work), "--no-warm") for _ in range(3)]
        anchor_out = subprocess.run([PYTHON, "-P", os.path.join(ROOT, "bench/kfp_local_fibo.py"), f"{work}/fibo_chain_40.yaml",
                                     tempfile.mkdtemp(dir=work)], capture_output=True, text=True, cwd=work)
        if anchor_out.returncode != 0:
            sys.exit(f"kfp.local failed: {anchor_out.stderr[-2000:]}")
        anchor = float(anchor_out.stdout.strip().splitlines()[-1])
        ours, theirs = min(warm), min(cold)
        warm_json, cold_json = LAST_RUNS[()][-3:], LAST_RUNS[("--no-warm",)]
        print(f"2. 40 lightweight Python steps: penstock warm {ours:.2f}s ({ours / 40 * 1000:.0f} ms/step), "
              f"--no-warm {theirs:.2f}s ({theirs / 40 * 1000:.0f} ms/step), kfp.local SubprocessRunner {anchor:.2f}s "
              f"({anchor / 40 * 1000:.0f} ms/step) -> warm is {anchor / ours:.1f}x kfp.local, {theirs / ours:.1f}x --no-warm "
              f"(median step: warm {median_step(warm_json):.1f} ms, --no-warm {median_step(cold_json):.1f} ms)")

        # 3. kfp.local's default mode, a few steps (each creates a venv and installs kfp from PyPI).
        if os.environ.get("PENSTOCK_BENCH_SKIP_VENV") != "1":
            venv_out = subprocess.run([PYTHON, "-P", os.path.join(ROOT, "bench/kfp_local_fibo.py"), f"{work}/fibo_chain_3.yaml",
                                       tempfile.mkdtemp(dir=work), "venv"], capture_output=True, text=True, cwd=work)
            if venv_out.returncode != 0:
                sys.exit(f"kfp.local (use_venv=True) failed: {venv_out.stderr[-2000:]}")
            venv_step = float(venv_out.stdout.strip().splitlines()[-1]) / 3
            print(f"3. kfp.local default (use_venv=True): {venv_step:.1f} s/step over 3 steps -> warm Penstock "
                  f"({ours / 40 * 1000:.0f} ms/step) is {venv_step / (ours / 40):.0f}x faster per step")

    # The next run of this script is slowed for about a minute by this deletion (see section 4).
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
