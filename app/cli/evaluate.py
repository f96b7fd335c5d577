"""``cnn-playground evaluate``: accuracy, loss, per-class accuracy and confusion matrix."""

from __future__ import annotations

import argparse
import json
import math

from app.cli.errors import CliError
from app.cli.loading import load_model_argument
from cnn_core.datasets import load_dataset, to_model_input
from cnn_core.training import Evaluation, evaluate


def run(args: argparse.Namespace) -> int:
    """Evaluate the model on a dataset split and print tables or one JSON object."""
    model = load_model_argument(args.model)
    network = model.network
    dataset_name = args.dataset or model.metadata.get("dataset")
    if not dataset_name:
        raise CliError(f"model {args.model!r} records no dataset; pass --dataset NAME")

    dataset = load_dataset(
        dataset_name, args.split, directory=args.data_dir, image_shape=network.input_shape
    )
    if dataset.input_shape != network.input_shape:
        raise CliError(
            f"model {args.model!r} takes {_shape(network.input_shape)} images, but "
            f"{dataset.name} has {_shape(dataset.input_shape)} images"
        )
    if len(dataset.classes) != len(model.classes):
        raise CliError(
            f"model {args.model!r} has {len(model.classes)} classes, but {dataset.name} has "
            f"{len(dataset.classes)}"
        )

    X = to_model_input(dataset.images, model.normalization)
    result = evaluate(network, X, dataset.labels, batch_size=args.batch_size)

    if args.json:
        print(
            json.dumps(
                _as_json(args.model, dataset.name, args.split, len(dataset), model.classes, result)
            )
        )
    else:
        _print_tables(args.model, dataset.name, args.split, len(dataset), model.classes, result)
    return 0


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(size) for size in shape)


def _as_json(
    model: str, dataset: str, split: str, size: int, classes: list[str], result: Evaluation
) -> dict:
    values = result.to_dict()
    return {
        "model": model,
        "dataset": dataset,
        "split": split,
        "n_examples": size,
        "accuracy": values["accuracy"],
        "loss": values["loss"],
        "classes": list(classes),
        "per_class_accuracy": dict(zip(classes, values["per_class_accuracy"], strict=True)),
        "confusion_matrix": values["confusion"],
    }


def _print_tables(
    model: str, dataset: str, split: str, size: int, classes: list[str], result: Evaluation
) -> None:
    print(f"model {model} on the {split} split of {dataset} ({size:,} images)")
    print(f"accuracy {result.accuracy:.4f}, mean cross-entropy loss {result.loss:.4f}")
    print()

    width = max(len("class"), *(len(name) for name in classes))
    print(f"{'#':>2}  {'class':<{width}}  accuracy  images")
    support = result.confusion.sum(axis=1)
    for index, name in enumerate(classes):
        accuracy = result.per_class_accuracy[index]
        accuracy_text = "-" if math.isnan(accuracy) else f"{accuracy:.4f}"  # NaN: no image
        print(f"{index:>2}  {name:<{width}}  {accuracy_text:>8}  {support[index]:>6,}")
    print()

    print("confusion matrix: row = true class #, column = predicted class #")
    cell = max(5, len(f"{int(result.confusion.max()):,}") + 1)
    print("  " + "".join(f"{column:>{cell}}" for column in range(len(classes))))
    for index, row in enumerate(result.confusion):
        print(f"{index:>2}" + "".join(f"{int(count):>{cell},}" for count in row))
