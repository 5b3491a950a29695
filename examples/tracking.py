"""Experiment tracking without an SDK: a training step appends its learning curve to the file
named by PENSTOCK_METRICS_FILE (one JSON object per line), logs final scores as a Metrics
artifact, and returns its validation loss. Compare runs with `penstock runs compare A B`.
"""
import sys

from kfp import compiler, dsl


@dsl.component
def train(epochs: int, learning_rate: float, metrics: dsl.Output[dsl.Metrics]) -> float:
    import json
    import os

    loss = 1.0
    with open(os.environ["PENSTOCK_METRICS_FILE"], "a") as curve:
        for epoch in range(epochs):
            loss = round(loss * (1.0 - learning_rate), 6)
            curve.write(json.dumps({"step": epoch, "loss": loss, "accuracy": round(1.0 - loss, 6)}) + "\n")
        curve.write("this line is not JSON\n")
        curve.write(json.dumps({"val_loss": round(loss * 1.1, 6)}) + "\n")
    metrics.log_metric("final_loss", loss)
    metrics.log_metric("epochs", epochs)
    return round(loss * 1.1, 6)


@dsl.pipeline(name="tracking")
def tracking(epochs: int = 3, learning_rate: float = 0.5):
    train(epochs=epochs, learning_rate=learning_rate)


if __name__ == "__main__":
    compiler.Compiler().compile(tracking, sys.argv[1])
