"""The Docker launcher against kfp.local's DockerRunner, same daemon, same local images.

    eval "$(scripts/test-docker-env up)"      # a daemon with penstock-test/busybox:1
    bench/docker.py [STEPS] [REPEATS]          # default 10 steps, 3 repeats

1. The same pipelines through kfp.local's DockerRunner and `penstock run --launcher docker`,
   wall time of each and the ratio: `chain`, STEPS container components in a row (busybox, each
   reads the previous step's output parameter), where both are bound by container starts; and
   `mixed`, a typical KFP shape: a container step, four lightweight Python components on its
   output (python-kfp image) and one that adds their results.
2. Penstock's overhead per container task above a bare container: the chain's wall time minus
   STEPS bare `docker run --rm` of the same image (through the Docker API, as Penstock does),
   divided by STEPS.

kfp.local needs the `docker` Python package next to kfp; the script installs it into a venv
of its own (bench/.venv-docker, kfp==2.16.1 + docker) on first use.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "bench", ".venv-docker")
BIN = os.path.join(ROOT, "target/release/penstock")
IMAGE = "penstock-test/busybox:1"
PYTHON_IMAGE = "penstock-test/python-kfp:3.11"

PIPELINE = '''
import sys
from kfp import dsl, compiler

# kfp.local does not create an output file's folder for a container component: the step does.
@dsl.container_component
def step(previous: str, out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="{image}", command=["sh", "-c", 'mkdir -p "$(dirname "$1")" && echo "$0+" > "$1"'],
                             args=[previous, out])

@dsl.component(base_image="{python_image}")
def square(text: str, index: int) -> int:
    return len(text) * index * index

@dsl.component(base_image="{python_image}")
def total(a: int, b: int, c: int, d: int) -> int:
    return a + b + c + d

@dsl.pipeline(name="docker-mixed")
def mixed(start: str = "x"):
    first = step(previous=start).outputs["out"]
    parts = [square(text=first, index=i).output for i in range(4)]
    total(a=parts[0], b=parts[1], c=parts[2], d=parts[3])

@dsl.pipeline(name="docker-chain")
def chain(start: str = "x"):
    value = start
    for _ in range({steps}):
        value = step(previous=value).outputs["out"]

if __name__ == "__main__":
    pipeline = {{"chain": chain, "mixed": mixed}}[sys.argv[3]]
    if sys.argv[1] == "compile":
        compiler.Compiler().compile(pipeline, sys.argv[2])
    else:
        from kfp import local
        local.init(runner=local.DockerRunner(), pipeline_root=sys.argv[2])
        pipeline()
'''


def venv_python():
    python = os.path.join(VENV, "bin", "python")
    ok = subprocess.run([python, "-c", "import kfp, docker; assert kfp.__version__ == '2.16.1'"],
                        capture_output=True).returncode == 0 if os.path.exists(python) else False
    if not ok:
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "kfp==2.16.1", "docker==7.1.0"], check=True)
    return python


def timed(cmd, **kw):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{cmd[:3]} failed: {out.stdout[-1500:]}\n{out.stderr[-1500:]}")
    return wall


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if "DOCKER_HOST" not in os.environ:
        sys.exit("DOCKER_HOST is not set: eval \"$(scripts/test-docker-env up)\" first")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "penstock"], cwd=ROOT, check=True)
    python = venv_python()
    work = tempfile.mkdtemp(prefix="penstock-docker-bench-")
    source = os.path.join(work, "chain.py")
    with open(source, "w") as f:
        f.write(PIPELINE.format(image=IMAGE, python_image=PYTHON_IMAGE, steps=steps))
    import_docker = ("import docker, sys, time; c = docker.from_env(); n = int(sys.argv[1]); t = time.perf_counter()\n"
                     "for _ in range(n): c.containers.run('%s', ['true'], remove=True)\n"
                     "print(time.perf_counter() - t)" % IMAGE)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for name, tasks in (("chain", steps), ("mixed", 6)):
        yaml = os.path.join(work, f"{name}.yaml")
        subprocess.run([python, source, "compile", yaml, name], check=True, env=env)
        # The prepared image of the lightweight steps is made once, before timing (kfp.local
        # has no such step: it runs the pip preamble in every task).
        timed([BIN, "run", yaml, "--launcher", "docker", "-o", "json"],
              env=dict(os.environ, PENSTOCK_HOME=os.path.join(work, f"warmup-{name}")))
        rows = []
        for r in range(repeats):
            home = os.path.join(work, f"home-{name}-{r}")
            penstock = timed([BIN, "run", yaml, "--launcher", "docker", "-o", "json"],
                             env=dict(os.environ, PENSTOCK_HOME=home))
            kfp_local = timed([python, source, "local", os.path.join(work, f"kfp-local-{name}-{r}"), name],
                              env=env, cwd=work)
            bare = subprocess.run([python, "-c", import_docker, str(tasks)], capture_output=True, text=True, check=True)
            bare = float(bare.stdout.strip())
            rows.append((penstock, kfp_local, bare))
            print(f"{name} repeat {r + 1}: penstock {penstock:.2f} s, kfp.local DockerRunner {kfp_local:.2f} s "
                  f"({kfp_local / penstock:.1f}x), {tasks} bare containers in sequence {bare:.2f} s", flush=True)
        p = statistics.median(r[0] for r in rows)
        k = statistics.median(r[1] for r in rows)
        b = statistics.median(r[2] for r in rows)
        line = (f"median of {repeats}, {name} ({tasks} container tasks): penstock --launcher docker {p:.2f} s, "
                f"kfp.local DockerRunner {k:.2f} s -> {k / p:.1f}x faster")
        if name == "chain":
            line += (f"; bare `docker run` {b / tasks * 1000:.0f} ms per container; penstock overhead per "
                     f"container task {(p - b) / tasks * 1000:.0f} ms")
        print(line, flush=True)



if __name__ == "__main__":
    main()
