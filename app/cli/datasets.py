"""``cnn-playground datasets``: which datasets are available, where, and how to get the rest."""

from __future__ import annotations

import argparse
import json

from cnn_core.datasets import list_datasets


def run(args: argparse.Namespace) -> int:
    """Print one entry per dataset, or a JSON list with ``--json``."""
    entries = list_datasets(tuple(args.folders))
    if args.json:
        print(json.dumps(entries))
        return 0

    for entry in entries:
        if entry["available"]:
            shape = "x".join(str(size) for size in entry["input_shape"])
            sizes = f"{entry['train_size']:,} training"
            if entry["test_size"]:
                sizes += f" and {entry['test_size']:,} test"
            print(
                f"{entry['name']}: available in {entry['path']} ({sizes} images of {shape}, "
                f"{len(entry['classes'])} classes)"
            )
        else:
            where = f" in {entry['path']}" if entry["path"] else ""
            print(f"{entry['name']}: missing{where}")
            print(f"  {entry['hint']}")
    return 0
