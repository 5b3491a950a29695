"""The Docker launcher against kfp.local's DockerRunner, same daemon, same local images.

    eval "$(scripts/test-docker-env up)"      # a daemon with penstock-test/busybox:1
    bench/docker.py [STEPS] [REPEATS]          # default 10 steps, 3 repeats

1. The same STEPS-step chain of container components (busybox, each step reads the previous
   step's output parameter and writes its own) through kfp.local's DockerRunner and through
   `penstock run --launcher docker`: wall time of each, and the ratio.
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

PIPELINE = '''
import sys
from kfp import dsl, compiler

@dsl.container_component
def step(previous: str, out: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="{image}", command=["sh", "-c", 'echo "$0+" > "$1"'],
                             args=[previous, out])

@dsl.pipeline(name="docker-chain")
def chain(start: str = "x"):
    value = start
    for _ in range({steps}):
        value = step(previous=value).outputs["out"]

if __name__ == "__main__":
    if sys.argv[1] == "compile":
        compiler.Compiler().compile(chain, sys.argv[2])
    else:
        from kfp import local
        local.init(runner=local.DockerRunner(), pipeline_root=sys.argv[2])
        chain()
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
        f.write(PIPELINE.format(image=IMAGE, steps=steps))
    yaml = os.path.join(work, "chain.yaml")
    subprocess.run([python, source, "compile", yaml], check=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    import_docker = ("import docker, sys, time; c = docker.from_env(); n = int(sys.argv[1]); t = time.perf_counter()\n"
                     "for _ in range(n): c.containers.run('%s', ['true'], remove=True)\n"
                     "print(time.perf_counter() - t)" % IMAGE)
    rows = []
    for r in range(repeats):
        home = os.path.join(work, f"home-{r}")
        penstock = timed([BIN, "run", yaml, "--launcher", "docker", "-o", "json"],
                         env=dict(os.environ, PENSTOCK_HOME=home))
        kfp_local = timed([python, source, "local", os.path.join(work, f"kfp-local-{r}")],
                          env=dict(os.environ, PYTHONWARNINGS="ignore"), cwd=work)
        bare = subprocess.run([python, "-c", import_docker, str(steps)], capture_output=True, text=True, check=True)
        bare = float(bare.stdout.strip())
        rows.append((penstock, kfp_local, bare))
        print(f"repeat {r + 1}: penstock {penstock:.2f} s, kfp.local DockerRunner {kfp_local:.2f} s "
              f"({kfp_local / penstock:.1f}x), {steps} bare containers {bare:.2f} s, "
              f"penstock overhead per task {(penstock - bare) / steps * 1000:.0f} ms", flush=True)
    p = statistics.median(r[0] for r in rows)
    k = statistics.median(r[1] for r in rows)
    b = statistics.median(r[2] for r in rows)
    print(f"median of {repeats}: {steps}-step container chain: penstock --launcher docker {p:.2f} s, "
          f"kfp.local DockerRunner {k:.2f} s -> {k / p:.1f}x faster; bare `docker run` {b / steps * 1000:.0f} ms "
          f"per container; penstock overhead per container task {(p - b) / steps * 1000:.0f} ms")


if __name__ == "__main__":
    main()
