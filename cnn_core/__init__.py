"""CNN Playground: a from-scratch NumPy CNN engine.

The names below are the engine's public entry points; `cnn_core.functional` contains the
forward/backward operations they are built on, and `cnn_core.datasets` the data readers.
"""

from .layers import SpecError
from .network import Network, infer_shapes, normalize_spec
from .optimizers import SGD, Adam, Momentum, make_optimizer
from .presets import PRESETS, Preset, preset_layers
from .serialization import Model, ModelFileError, load_model, load_shipped_model, save_model
from .training import (
    DivergenceError,
    EpochMetrics,
    Evaluation,
    Progress,
    TrainingCancelled,
    TrainingHistory,
    checkpoint_saver,
    evaluate,
    train,
)

__all__ = [
    "PRESETS",
    "SGD",
    "Adam",
    "DivergenceError",
    "EpochMetrics",
    "Evaluation",
    "Model",
    "ModelFileError",
    "Momentum",
    "Network",
    "Preset",
    "Progress",
    "SpecError",
    "TrainingCancelled",
    "TrainingHistory",
    "checkpoint_saver",
    "evaluate",
    "infer_shapes",
    "load_model",
    "load_shipped_model",
    "make_optimizer",
    "normalize_spec",
    "preset_layers",
    "save_model",
    "train",
]
