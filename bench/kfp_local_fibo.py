"""Runs a compiled fibo chain under kfp.local.SubprocessRunner (the anchor):
python kfp_local_fibo.py YAML WORKDIR [venv]   (venv: kfp.local's default, a fresh venv per task)"""
import sys
import time

from kfp import components, local

use_venv = len(sys.argv) > 3 and sys.argv[3] == "venv"
local.init(runner=local.SubprocessRunner(use_venv=use_venv), pipeline_root=sys.argv[2], raise_on_error=True)
pipeline = components.load_component_from_file(sys.argv[1])
start = time.perf_counter()
pipeline()
print(f"{time.perf_counter() - start:.3f}")
