"""A KFP v1 pipeline (compiled by kfp==1.8.22, see tests/e2e/ui.rs) whose step writes
mlpipeline-ui-metadata with one output of each Kubeflow viewer type, with scripts hidden in the
Markdown and table content that must never run. Usage: python v1_viewers.py OUT.yaml
"""
import sys

from kfp import compiler, dsl
from kfp.components import OutputPath, create_component_from_func


def report(mlpipeline_ui_metadata_path: OutputPath()):
    import json
    outputs = [
        {"type": "markdown", "storage": "inline",
         "source": "# Report heading\n\nsome *text*\n\n<script>document.body.setAttribute('data-pwned', 'md')</script>\n"},
        {"type": "table", "storage": "inline", "format": "csv", "header": ["name", "score"],
         "source": "alpha,0.9\n\"<script>document.title='pwned-table'</script>\",0.1\n"},
        {"type": "confusion_matrix", "storage": "inline", "format": "csv", "labels": ["cat", "dog"],
         "schema": [{"name": "target", "type": "CATEGORY"}, {"name": "predicted", "type": "CATEGORY"},
                    {"name": "count", "type": "NUMBER"}],
         "source": "cat,cat,7\ncat,dog,1\ndog,cat,2\ndog,dog,5\n"},
        {"type": "roc", "storage": "inline", "format": "csv",
         "schema": [{"name": "fpr", "type": "NUMBER"}, {"name": "tpr", "type": "NUMBER"},
                    {"name": "thresholds", "type": "NUMBER"}],
         "source": "0.0,0.0,1.0\n0.2,0.8,0.5\n1.0,1.0,0.0\n"},
        {"type": "web-app", "storage": "inline", "source": "<h1 id='app'>Web app</h1>"},
        {"type": "tensorboard", "source": "gs://bucket/tb-logs"},
    ]
    with open(mlpipeline_ui_metadata_path, "w") as f:
        json.dump({"outputs": outputs}, f)


report_op = create_component_from_func(report)


@dsl.pipeline(name="v1 viewers")
def main():
    report_op()


if __name__ == "__main__":
    compiler.Compiler().compile(main, sys.argv[1])
