"""A container step that writes malformed executor output: the task must fail naming the file."""
import sys

from kfp import compiler, dsl


@dsl.container_component
def broken():
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'printf "{not json" > "$0"'], args=[dsl.PIPELINE_TASK_EXECUTOR_OUTPUT_PATH_PLACEHOLDER])


@dsl.pipeline(name="bad-output")
def bad_output():
    broken()


if __name__ == "__main__":
    compiler.Compiler().compile(bad_output, sys.argv[1])
