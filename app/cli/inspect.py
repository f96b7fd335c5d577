"""``cnn-playground inspect``: write every layer's feature maps for one image as PNG heatmaps."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from cnn_core.datasets.images import preprocess

from app.cli.errors import CliError
from app.cli.heatmaps import feature_grid, vector_grid
from app.cli.loading import load_model_argument, read_image

INDEX_FILE = "index.json"


def run(args: argparse.Namespace) -> int:
    """Write ``00_input.png``, one ``NN_<layer>.png`` per layer and ``index.json`` to ``--out``."""
    model = load_model_argument(args.model)
    network = model.network
    X = preprocess(read_image(args.image), network.input_shape, model.normalization)

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create output folder {out}: {error.strerror}") from None

    _, trace = network.forward(X, trace=True)
    entries = [_write_layer(out, 0, "input", "input", X)]
    for layer in trace:
        entries.append(
            _write_layer(out, layer["index"] + 1, layer["name"], layer["type"], layer["output"])
        )

    probabilities = trace[-1]["output"][:, 0] if trace[-1]["type"] == "softmax" else None
    if probabilities is None:
        probabilities = network.predict_proba(X)[:, 0]
    best = int(np.argmax(probabilities))
    index = {
        "model": args.model,
        "image": args.image,
        "input_shape": list(network.input_shape),
        "prediction": {
            "class_index": best,
            "label": model.classes[best],
            "probability": float(probabilities[best]),
        },
        "colormap": "viridis-style, each channel scaled from its own min (dark) to max (yellow)",
        "files": entries,
    }
    (out / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")

    print(
        f"wrote {len(entries)} heatmaps and {INDEX_FILE} to {out}; "
        f"predicted {model.classes[best]} ({probabilities[best]:.4f})"
    )
    return 0


def _write_layer(out: Path, position: int, name: str, kind: str, output: np.ndarray) -> dict:
    """Render one layer's output for the single example in the batch and describe the file.

    ``output`` is ``(1, n_H, n_W, n_C)`` for maps or ``(n_features, 1)`` for vectors.
    """
    file_name = f"{position:02d}_{name}.png"
    if output.ndim == 4:
        image, minimum, maximum = feature_grid(output[0])
        ranges = {"min": minimum.tolist(), "max": maximum.tolist()}
        layout = "one tile per channel, left to right then top to bottom"
    elif output.ndim == 2:
        image, minimum, maximum = vector_grid(output[:, 0])
        ranges = {"min": [minimum], "max": [maximum]}
        layout = "one cell per feature, left to right then top to bottom"
    else:
        raise CliError(f"layer {name!r} has an output of unexpected shape {output.shape}")

    image.save(out / file_name)
    return {
        "position": position,
        "name": name,
        "type": kind,
        "output_shape": list(output.shape[1:] if output.ndim == 4 else output.shape[:1]),
        "file": file_name,
        "layout": layout,
        **ranges,
    }
