"""Two builds of penstock side by side on one pipeline, alternated run by run, for a change
whose effect is smaller than the noise of a shared machine.

    python3 bench/ab.py BIN_BEFORE BIN_AFTER PIPELINE.yaml [PAIRS]

Prints, for each binary, the min / median / max of the wall time and of the CPU time (user +
system, Penstock and its tasks) of `penstock run PIPELINE.yaml -o json`, each in a fresh
PENSTOCK_HOME. Copy the binaries out of target/ first: other builds overwrite it.
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def main():
    before, after, yaml = sys.argv[1:4]
    pairs = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    results = {before: [], after: []}
    homes = []
    for _ in range(pairs):
        for binary in (before, after):
            home = tempfile.mkdtemp(prefix="penstock-ab-")
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([binary, "run", yaml, "-o", "json"], env=dict(os.environ, PENSTOCK_HOME=home),
                           capture_output=True, check=True)
            wall = time.perf_counter() - start
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            results[binary].append((wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime))
            homes.append(home)
    # Homes are removed at the end: on ext4, inodes freed a moment ago make creating files
    # slower for a few seconds, which would penalise whichever binary runs next.
    for home in homes:
        shutil.rmtree(home, ignore_errors=True)
    for binary, runs in results.items():
        walls = sorted(w for w, _ in runs)
        cpus = sorted(c for _, c in runs)
        print(f"{binary}: wall min/median/max {walls[0]:.3f}/{walls[len(walls) // 2]:.3f}/{walls[-1]:.3f} s, "
              f"CPU {cpus[0]:.3f}/{cpus[len(cpus) // 2]:.3f}/{cpus[-1]:.3f} s")


if __name__ == "__main__":
    main()
