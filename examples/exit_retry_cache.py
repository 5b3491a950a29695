"""Exit handler with PipelineTaskFinalStatus, retry policy, and caching.

`flaky` fails until its marker file records enough attempts; `fail_always` fails when asked
to, so the exit handler sees a FAILED status."""
import sys

from kfp import compiler, dsl
from kfp.dsl import PipelineTaskFinalStatus


@dsl.component
def flaky(marker: str, succeed_on: int) -> int:
    import os
    n = int(open(marker).read()) + 1 if os.path.exists(marker) else 1
    with open(marker, "w") as f:
        f.write(str(n))
    if n < succeed_on:
        raise RuntimeError(f"attempt {n} fails on purpose")
    return n


@dsl.component
def add_one(x: int, stamp_file: str) -> int:
    with open(stamp_file, "a") as f:
        f.write("executed\n")
    return x + 1


@dsl.component
def fail_if(should_fail: bool):
    if should_fail:
        raise RuntimeError("asked to fail")


@dsl.component
def report(status: PipelineTaskFinalStatus, out_file: str):
    with open(out_file, "w") as f:
        f.write(f"{status.state}|{status.pipeline_task_name}|{status.error_message or ''}")


@dsl.pipeline(name="exit-retry-cache")
def exit_retry_cache(marker: str, stamp_file: str, status_file: str, should_fail: bool = False):
    final = report(out_file=status_file).set_caching_options(False)
    with dsl.ExitHandler(final):
        f = flaky(marker=marker, succeed_on=3).set_retry(num_retries=3, backoff_duration="0s", backoff_factor=1.0).set_caching_options(False)
        cached = add_one(x=41, stamp_file=stamp_file).set_caching_options(True)
        failing = fail_if(should_fail=should_fail).set_caching_options(False)
        failing.after(f)


if __name__ == "__main__":
    compiler.Compiler().compile(exit_retry_cache, sys.argv[1])
