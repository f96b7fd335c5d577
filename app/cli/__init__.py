"""The ``cnn-playground`` command line: train, evaluate, predict, inspect, datasets and serve."""

from app.cli.main import main

__all__ = ["main"]
