"""A step that runs until it is cancelled, with a background child in its process group."""
import sys

from kfp import compiler, dsl


@dsl.container_component
def sleep_forever(marker: str):
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'sleep 300 & echo "started $0"; sleep 300'], args=[marker])


@dsl.pipeline(name="sleepy")
def sleepy(marker: str):
    sleep_forever(marker=marker)


if __name__ == "__main__":
    compiler.Compiler().compile(sleepy, sys.argv[1])
