"""Control flow: If/Elif/Else, ParallelFor over a literal list, a parameter list and an artifact
list with a parallelism limit, dsl.Collected fan-in, nested pipelines and an importer."""
import sys
from typing import List

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component
def classify(n: int) -> str:
    return "big" if n > 10 else ("medium" if n > 5 else "small")


@dsl.component
def say(msg: str) -> str:
    print(msg)
    return msg


@dsl.component
def square(x: int) -> int:
    return x * x


@dsl.component
def total(values: List[int]) -> int:
    return sum(values)


@dsl.component
def make_list(n: int) -> List[int]:
    return list(range(1, n + 1))


@dsl.component
def write(x: int, out: Output[Dataset]):
    with open(out.path, "w") as f:
        f.write(str(x))


@dsl.component
def read_all(items: Input[List[Dataset]]) -> str:
    return ",".join(sorted(open(i.path).read() for i in items))


@dsl.component
def read_one(item: Input[Dataset]) -> int:
    return int(open(item.path).read())


@dsl.component
def count_lines(data: Input[Dataset]) -> int:
    return len(open(data.path).read().splitlines())


@dsl.pipeline(name="inner")
def inner(x: int) -> int:
    return square(x=x).output


@dsl.pipeline(name="each-artifact")
def each_artifact(items: Input[List[Dataset]]) -> List[int]:
    with dsl.ParallelFor(items) as one:
        r = read_one(item=one)
    return dsl.Collected(r.output)


@dsl.pipeline(name="control-flow")
def control_flow(n: int = 7, data_uri: str = "/dev/null") -> int:
    c = classify(n=n)
    with dsl.If(c.output == "big"):
        say(msg="big branch")
    with dsl.Elif(c.output == "medium"):
        say(msg="medium branch")
    with dsl.Else():
        say(msg="small branch")

    with dsl.ParallelFor([1, 2, 3]) as item:
        sq = square(x=item)
    literal_total = total(values=dsl.Collected(sq.output))

    numbers = make_list(n=n)
    with dsl.ParallelFor(numbers.output, parallelism=2) as x:
        w = write(x=x)
    joined = read_all(items=dsl.Collected(w.outputs["out"]))

    per_item = each_artifact(items=dsl.Collected(w.outputs["out"]))
    total(values=per_item.output)

    nested = inner(x=literal_total.output)
    imported = dsl.importer(artifact_uri=data_uri, artifact_class=Dataset, reimport=False, metadata={"source": "importer"})
    count_lines(data=imported.output)
    say(msg=joined.output)
    return nested.output


if __name__ == "__main__":
    compiler.Compiler().compile(control_flow, sys.argv[1])
