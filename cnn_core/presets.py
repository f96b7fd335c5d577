"""Named network architectures with their recommended training settings.

`preset_layers(name, n_classes)` returns a fresh layer spec (a list of dicts) for `Network`.
`PRESETS[name]` describes the preset and carries the defaults that its training numbers were
measured with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from types import MappingProxyType

LayerSpec = list[dict]


@dataclass(frozen=True)
class Preset:
    """A named architecture and the training settings recommended for it."""

    name: str
    description: str
    input_shape: tuple[int, int, int]  # (n_H, n_W, n_C) the preset was designed and tuned for
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_schedule: str = "cosine"

    def training_defaults(self) -> dict:
        """Return the recommended settings as keyword arguments of `cnn_core.training.train`.

        The keys are `epochs`, `batch_size`, `optimizer`, `learning_rate` and `lr_schedule`.
        """
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer,
            "learning_rate": self.learning_rate,
            "lr_schedule": self.lr_schedule,
        }

    def to_dict(self) -> dict:
        """Return the preset as a JSON-serializable dict."""
        data = asdict(self)
        data["input_shape"] = list(self.input_shape)
        return data


def _seed_layers(n_classes: int) -> LayerSpec:
    layers: LayerSpec = []
    for filters in (32, 64, 128):
        layers += [
            {"type": "conv", "filters": filters, "f": 3, "stride": 1, "pad": 1},
            {"type": "relu"},
            {"type": "maxpool", "f": 3, "stride": 1},
        ]
    layers += [
        {"type": "flatten"},
        {"type": "dense", "units": 256},
        {"type": "relu"},
        {"type": "dense", "units": n_classes},
        {"type": "softmax"},
    ]
    return layers


def _tiny_layers(n_classes: int) -> LayerSpec:
    return [
        {"type": "conv", "filters": 16, "f": 3, "stride": 1, "pad": 1},
        {"type": "relu"},
        {"type": "maxpool", "f": 2, "stride": 2},
        {"type": "conv", "filters": 32, "f": 3, "stride": 1, "pad": 1},
        {"type": "relu"},
        {"type": "maxpool", "f": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 64},
        {"type": "relu"},
        {"type": "dense", "units": n_classes},
        {"type": "softmax"},
    ]


def _small_layers(n_classes: int) -> LayerSpec:
    return [
        {"type": "conv", "filters": 32, "f": 3, "stride": 1, "pad": 1},
        {"type": "relu"},
        {"type": "maxpool", "f": 2, "stride": 2},
        {"type": "conv", "filters": 64, "f": 3, "stride": 1, "pad": 1},
        {"type": "relu"},
        {"type": "maxpool", "f": 2, "stride": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 128},
        {"type": "relu"},
        {"type": "dense", "units": n_classes},
        {"type": "softmax"},
    ]


_BUILDERS: dict[str, Callable[[int], LayerSpec]] = {
    "seed": _seed_layers,
    "tiny": _tiny_layers,
    "small": _small_layers,
}

PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {
        "seed": Preset(
            name="seed",
            description=(
                "The classic course network: three blocks of 3x3 conv (32, 64, 128 filters, "
                "pad 1), ReLU and 3x3 max-pool with stride 1, then dense 256 and the classifier. "
                "Made for 32x32x3 images; slow because its pools barely shrink the maps."
            ),
            input_shape=(32, 32, 3),
            epochs=5,
            batch_size=32,
            optimizer="adam",
            learning_rate=0.001,
        ),
        # Fashion-MNIST, all 60,000 training images, seed 0: 0.9093 test accuracy after these 4
        # epochs in 69 s of training on an idle 2-core x86 machine (benchmarks/accuracy.py).
        # A constant rate in place of the cosine decay gave 0.895.
        "tiny": Preset(
            name="tiny",
            description=(
                "The fast default: two 3x3 conv blocks (16 and 32 filters) with 2x2 max-pools, "
                "dense 64 and the classifier (106k parameters for 10 classes)."
            ),
            input_shape=(28, 28, 1),
            epochs=4,
            batch_size=64,
            optimizer="adam",
            learning_rate=0.002,
        ),
        # Fashion-MNIST, all 60,000 training images, seed 0: 0.9270 test accuracy after these
        # 10 epochs in 359 s of training on an idle 2-core x86 machine (benchmarks/accuracy.py).
        "small": Preset(
            name="small",
            description=(
                "A stronger small network: two 3x3 conv blocks (32 and 64 filters) with 2x2 "
                "max-pools, dense 128 and the classifier (422k parameters for 10 classes), "
                "trained longer than tiny."
            ),
            input_shape=(28, 28, 1),
            epochs=10,
            batch_size=64,
            optimizer="adam",
            learning_rate=0.001,
        ),
    }
)


def preset_layers(name: str, n_classes: int) -> LayerSpec:
    """Return a new layer spec for preset `name` ending in `n_classes` outputs and a softmax."""
    builder = _BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2; got {n_classes!r}")
    return builder(n_classes)
