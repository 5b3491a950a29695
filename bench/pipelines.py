"""Benchmark pipelines, compiled with kfp==2.16.1: python pipelines.py OUT_DIR"""
import sys

from kfp import compiler, dsl


@dsl.container_component
def noop():
    return dsl.ContainerSpec(image="alpine", command=["true"])


@dsl.pipeline(name="chain-200")
def chain_200():
    previous = noop().set_caching_options(False)
    for _ in range(199):
        previous = noop().set_caching_options(False).after(previous)


@dsl.component
def fibo(n: int, seed: int) -> int:
    def f(k):
        return k if k < 2 else f(k - 1) + f(k - 2)
    return f(n) + seed * 0


@dsl.pipeline(name="fibo-chain-40")
def fibo_chain_40():
    previous = fibo(n=10, seed=0).set_caching_options(False)
    for _ in range(39):
        previous = fibo(n=10, seed=previous.output).set_caching_options(False)


@dsl.pipeline(name="fibo-chain-3")
def fibo_chain_3():
    previous = fibo(n=10, seed=0).set_caching_options(False)
    for _ in range(2):
        previous = fibo(n=10, seed=previous.output).set_caching_options(False)


@dsl.pipeline(name="fanout-500")
def fanout_500():
    with dsl.ParallelFor(list(range(500))):
        noop().set_caching_options(False)


@dsl.pipeline(name="fanout-1000")
def fanout_1000():
    with dsl.ParallelFor(list(range(1000))):
        noop().set_caching_options(False)


if __name__ == "__main__":
    out = sys.argv[1]
    compiler.Compiler().compile(chain_200, f"{out}/chain_200.yaml")
    compiler.Compiler().compile(fibo_chain_40, f"{out}/fibo_chain_40.yaml")
    compiler.Compiler().compile(fanout_500, f"{out}/fanout_500.yaml")
    compiler.Compiler().compile(fanout_1000, f"{out}/fanout_1000.yaml")
    compiler.Compiler().compile(fibo_chain_3, f"{out}/fibo_chain_3.yaml")
