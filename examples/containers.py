"""Container components with every placeholder kind: input values, input and output artifact
paths and URIs, output parameter files, Concat, IfPresent, and env vars from the spec."""
import sys

from kfp import compiler, dsl
from kfp.dsl import Artifact, Input, Output, OutputPath


@dsl.container_component
def write_text(text: str, out: Output[Artifact], length: OutputPath(int)):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'mkdir -p "$(dirname "$1")" && printf "%s" "$0" > "$1" && printf "%s" "${#0}" > "$2"'],
        args=[text, out.path, length],
    )


@dsl.container_component
def read_text(data: Input[Artifact], greeting: str, result: OutputPath(str), optional_word: str = ""):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'printf "%s|%s|%s|%s|%s" "$GREETING_PREFIX" "$0" "$(cat "$1")" "$3" "$4" > "$2"'],
        args=[
            dsl.ConcatPlaceholder([greeting, "-", "there"]),
            data.path,
            result,
            data.uri,
            dsl.IfPresentPlaceholder(input_name="optional_word", then=[optional_word], else_=["absent"]),
        ],
    )


@dsl.container_component
def check_optional(word: str = None, result: OutputPath(str) = None):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'printf "%s" "$0" > "$1"'],
        args=[dsl.IfPresentPlaceholder(input_name="word", then=[word], else_=["no-word"]), result],
    )


@dsl.pipeline(name="containers")
def containers(text: str = "hello world"):
    written = write_text(text=text)
    read = read_text(data=written.outputs["out"], greeting="hi", optional_word="extra")
    read.set_env_variable(name="GREETING_PREFIX", value="env-ok")
    check_optional()


if __name__ == "__main__":
    compiler.Compiler().compile(containers, sys.argv[1])
