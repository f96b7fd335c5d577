"""``cnn-playground presets``: list the preset networks and their training defaults."""

from __future__ import annotations

import argparse
import json

from cnn_core.network import Network
from cnn_core.presets import PRESETS, preset_layers

# Parameter counts are shown for a 10-class dataset of the preset's own input shape, which is
# what `train` builds for Fashion-MNIST (28x28x1) and CIFAR-10 (32x32x3).
_N_CLASSES = 10


def run(args: argparse.Namespace) -> int:
    """Print every preset with its parameter count, input shape and training defaults."""
    rows = []
    for preset in PRESETS.values():
        network = Network(preset_layers(preset.name, _N_CLASSES), preset.input_shape)
        rows.append({**preset.to_dict(), "n_params": network.n_params})

    if args.json:
        print(json.dumps(rows))
        return 0

    for row in rows:
        shape = "x".join(str(size) for size in row["input_shape"])
        print(
            f"{row['name']}: {row['n_params']:,} parameters for {shape} input and "
            f"{_N_CLASSES} classes; defaults: {row['epochs']} epochs, batch size "
            f"{row['batch_size']}, {row['optimizer']}, learning rate {row['learning_rate']}"
        )
        print(f"  {row['description']}")
    return 0
