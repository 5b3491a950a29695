"""Runs the compiled fibo chain under kfp.local.SubprocessRunner (the anchor): python kfp_local_fibo.py YAML WORKDIR"""
import sys
import time

from kfp import components, local

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2], raise_on_error=True)
pipeline = components.load_component_from_file(sys.argv[1])
start = time.perf_counter()
pipeline()
print(f"{time.perf_counter() - start:.3f}")
