"""``cnn-playground predict``: classify image files with a model."""

from __future__ import annotations

import argparse
import json

import numpy as np
from cnn_core.datasets.images import preprocess

from app.cli.loading import load_model_argument, read_image


def run(args: argparse.Namespace) -> int:
    """Print each image's top classes, or every probability as JSON with ``--json``."""
    model = load_model_argument(args.model)
    network = model.network
    inputs = [
        preprocess(read_image(path), network.input_shape, model.normalization)
        for path in args.images
    ]

    probabilities = network.predict_proba(np.concatenate(inputs, axis=0))  # (n_classes, m)
    top = min(args.top, len(model.classes))
    results = [
        _describe_prediction(path, probabilities[:, example], model.classes, top)
        for example, path in enumerate(args.images)
    ]

    if args.json:
        print(json.dumps({"model": args.model, "predictions": results}))
        return 0

    width = max(len(label) for label in model.classes)
    for result in results:
        print(result["image"])
        for entry in result["top"]:
            print(f"  {entry['label']:<{width}}  {entry['probability']:.4f}")
    return 0


def _describe_prediction(
    path: str, probabilities: np.ndarray, classes: list[str], top: int
) -> dict:
    """Describe one image's prediction; ``probabilities`` is ``(n_classes,)``."""
    # A stable sort keeps the lower class index first among equal probabilities.
    order = np.argsort(-probabilities, kind="stable")
    return {
        "image": path,
        "top": [
            {
                "class_index": int(index),
                "label": classes[index],
                "probability": float(probabilities[index]),
            }
            for index in order[:top]
        ],
        "probabilities": [float(value) for value in probabilities],
    }
