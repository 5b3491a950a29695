"""Data passing: constants, defaults, optional inputs, output parameters and artifacts,
`.after`, and pipeline outputs. Compile: python data_passing.py data_passing.yaml"""
import sys
from typing import NamedTuple, Optional

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component
def make_numbers(count: int, scale: float, out: Output[Dataset]) -> NamedTuple("Stats", [("total", float), ("label", str)]):
    values = [i * scale for i in range(count)]
    with open(out.path, "w") as f:
        f.write("\n".join(str(v) for v in values))
    out.metadata["rows"] = count
    Stats = NamedTuple("Stats", [("total", float), ("label", str)])
    return Stats(sum(values), f"{count} numbers")


@dsl.component
def describe(data: Input[Dataset], total: float, label: str, note: Optional[str] = None, flag: bool = False) -> str:
    with open(data.path) as f:
        rows = f.read().splitlines()
    assert len(rows) == data.metadata["rows"], (rows, data.metadata)
    return f"{label}: total={total} rows={len(rows)} note={note} flag={flag}"


@dsl.component
def shout(text: str, suffix: str) -> str:
    return text.upper() + suffix


@dsl.pipeline(name="data-passing")
def data_passing(count: int = 4, scale: float = 0.5, note: Optional[str] = None) -> str:
    numbers = make_numbers(count=count, scale=scale)
    described = describe(data=numbers.outputs["out"], total=numbers.outputs["total"], label=numbers.outputs["label"], note=note, flag=True)
    loud = shout(text=described.output, suffix="!").after(numbers)
    return loud.output


if __name__ == "__main__":
    compiler.Compiler().compile(data_passing, sys.argv[1])
