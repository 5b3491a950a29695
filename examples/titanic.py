"""A realistic pipeline in the shape of Kubeflow's Titanic sample: preprocess a CSV dataset,
train a (tiny, dependency-free) model that logs Metrics, deploy it only when accuracy is high
enough, and always report the outcome in an exit handler."""
import sys

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output, PipelineTaskFinalStatus


@dsl.component
def preprocess(rows: int, train: Output[Dataset]):
    import random
    random.seed(7)
    with open(train.path, "w") as f:
        f.write("age,fare,survived\n")
        for _ in range(rows):
            age = random.randint(1, 80)
            fare = round(random.uniform(5, 100), 2)
            survived = int(fare > 40 or age < 12)
            f.write(f"{age},{fare},{survived}\n")
    train.metadata["rows"] = rows


@dsl.component
def train_model(data: Input[Dataset], threshold: float, model: Output[Model], metrics: Output[Metrics]) -> float:
    import csv, json
    with open(data.path) as f:
        rows = list(csv.DictReader(f))
    correct = sum(int((float(r["fare"]) > threshold or int(r["age"]) < 12) == bool(int(r["survived"]))) for r in rows)
    accuracy = correct / len(rows)
    with open(model.path, "w") as f:
        json.dump({"fare_threshold": threshold}, f)
    model.metadata["framework"] = "rules"
    metrics.log_metric("accuracy", accuracy)
    metrics.log_metric("rows", len(rows))
    return accuracy


@dsl.component
def deploy(model: Input[Model], target: str) -> str:
    import shutil
    shutil.copy(model.path, target)
    return target


@dsl.component
def notify(status: PipelineTaskFinalStatus, log_file: str):
    with open(log_file, "w") as f:
        f.write(status.state)


@dsl.pipeline(name="titanic")
def titanic(rows: int = 200, threshold: float = 40.0, min_accuracy: float = 0.9, deploy_target: str = "/tmp/model.json", notify_file: str = "/tmp/notify.txt"):
    done = notify(log_file=notify_file)
    with dsl.ExitHandler(done):
        data = preprocess(rows=rows)
        trained = train_model(data=data.outputs["train"], threshold=threshold)
        with dsl.If(trained.outputs["Output"] >= min_accuracy):
            deploy(model=trained.outputs["model"], target=deploy_target)


if __name__ == "__main__":
    compiler.Compiler().compile(titanic, sys.argv[1])
