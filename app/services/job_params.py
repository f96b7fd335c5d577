"""Validation of training job requests before they are queued.

`resolve_job_params` turns a `JobCreate` body into the complete parameters a worker runs with.
Preset defaults fill the missing hyperparameters and the server's limits are applied. The layer
spec is checked against the dataset's input shape by shape inference, which allocates no
weights. Every problem raises `InvalidParameterError` (HTTP 422) naming the field.
"""

from __future__ import annotations

import math
from typing import Any

from app.core.config import Settings
from app.schemas import JobCreate
from app.services.datasets import DatasetInfo, get_dataset_info
from app.services.errors import InvalidParameterError, NotFoundError
from cnn_core.network import infer_shapes, normalize_spec
from cnn_core.optimizers import OPTIMIZERS
from cnn_core.presets import PRESETS, preset_layers

# Preset whose recommended hyperparameters fill the gaps of a request with a custom `layers` spec.
DEFAULT_PRESET = "tiny"

# NOTE: these two bounds are fixed here rather than settings. They stop a spec that passes the
# per-layer limits (a 128-filter conv flattened into a 4096-unit dense layer has 411 million
# weights) from exhausting the worker's memory. The `seed` preset on 32x32x3 images has about
# 22 million parameters and 0.6 million activation values per example, well inside both.
MAX_PARAMS = 50_000_000
MAX_ACTIVATION_VALUES = 4_000_000


def invalid(field: str, message: str) -> InvalidParameterError:
    """Build the 422 error for one request field."""
    return InvalidParameterError(f"Invalid request: {field}: {message}")


def resolve_job_params(settings: Settings, request: JobCreate) -> tuple[str, dict[str, Any]]:
    """Return the job's name and complete parameters, or raise `InvalidParameterError`."""
    dataset = _find_dataset(settings, request.dataset)
    preset, layers = _choose_layers(settings, request, dataset)
    defaults = PRESETS[preset or DEFAULT_PRESET].training_defaults()

    epochs = request.epochs if request.epochs is not None else defaults["epochs"]
    if epochs > settings.max_epochs:
        raise invalid("epochs", f"{epochs} is over the server limit of {settings.max_epochs}.")

    optimizer = request.optimizer if request.optimizer is not None else defaults["optimizer"]
    if optimizer not in OPTIMIZERS:
        raise invalid("optimizer", f"{optimizer!r} is unknown. Use one of {', '.join(OPTIMIZERS)}.")

    train_limit = _check_train_limit(settings, request.train_limit, dataset)
    test_limit = request.test_limit
    if test_limit is not None and dataset.n_test is not None:
        test_limit = min(test_limit, dataset.n_test)

    name = request.name or f"{preset or 'custom'} on {dataset.name}"
    params = {
        "dataset": dataset.name,
        "preset": preset,
        "layers": layers,
        "input_shape": list(dataset.input_shape),
        "classes": list(dataset.classes),
        "epochs": epochs,
        "batch_size": request.batch_size or defaults["batch_size"],
        "optimizer": optimizer,
        "learning_rate": (
            request.learning_rate
            if request.learning_rate is not None
            else defaults["learning_rate"]
        ),
        "seed": request.seed if request.seed is not None else 0,
        "train_limit": train_limit,
        "validation_fraction": request.validation_fraction,
        "test_limit": test_limit,
    }
    return name, params


def _find_dataset(settings: Settings, name: str) -> DatasetInfo:
    try:
        dataset = get_dataset_info(settings, name)
    except NotFoundError as exc:
        raise invalid("dataset", str(exc)) from exc

    if not dataset.available:
        raise invalid("dataset", f"{name!r} is not available: {dataset.problem}")
    return dataset


def _choose_layers(
    settings: Settings, request: JobCreate, dataset: DatasetInfo
) -> tuple[str | None, list[dict[str, Any]]]:
    """Return the preset name (None for a custom spec) and the normalized, shape-checked spec."""
    n_classes = len(dataset.classes)

    if request.preset is not None and request.layers is not None:
        raise invalid("layers", "give either preset or layers, not both.")
    if request.layers is None:
        preset = request.preset or DEFAULT_PRESET
        if preset not in PRESETS:
            raise invalid("preset", f"{preset!r} is unknown. Use one of {', '.join(PRESETS)}.")
        raw_layers = preset_layers(preset, n_classes)
        field = "preset"
    else:
        preset = None
        raw_layers = request.layers
        field = "layers"
    _check_layer_limits(settings, raw_layers, field)

    try:
        layers = normalize_spec(raw_layers)
        shapes = infer_shapes(layers, dataset.input_shape)
    except ValueError as exc:
        raise invalid("layers", f"{exc}.") from exc

    logits_index = len(layers) - 2
    if layers[logits_index]["units"] != n_classes:
        raise invalid(
            "layers",
            f"layer {logits_index} {layers[logits_index]['name']!r} gives "
            f"{layers[logits_index]['units']} logits, but {dataset.name} has {n_classes} classes; "
            f"set its units to {n_classes}.",
        )
    _check_network_size(layers, shapes, dataset.input_shape)
    return preset, layers


def _check_layer_limits(settings: Settings, layers: list[dict[str, Any]], field: str) -> None:
    if len(layers) > settings.max_layers:
        raise invalid(
            field, f"{len(layers)} layers is over the server limit of {settings.max_layers}."
        )

    limits = {"filters": settings.max_filters, "units": settings.max_units}
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            continue  # normalize_spec raises an error that names the layer and the problem
        for key, limit in limits.items():
            value = layer.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > limit:
                raise invalid(
                    f"{field}[{index}].{key}",
                    f"{value} is over the server limit of {limit}.",
                )


def _check_network_size(
    layers: list[dict[str, Any]], shapes: list[tuple[int, ...]], input_shape: tuple[int, ...]
) -> None:
    n_params = 0
    previous = tuple(input_shape)
    for layer, shape in zip(layers, shapes, strict=True):
        if layer["type"] == "conv":
            n_params += layer["f"] * layer["f"] * previous[-1] * layer["filters"] + layer["filters"]
        elif layer["type"] == "dense":
            n_params += previous[0] * layer["units"] + layer["units"]
        previous = shape

    if n_params > MAX_PARAMS:
        raise invalid(
            "layers",
            f"the network has {n_params:,} parameters, over the limit of {MAX_PARAMS:,}; "
            "use fewer filters or units, or pool before the dense layers.",
        )

    n_activations = sum(math.prod(shape) for shape in shapes)
    if n_activations > MAX_ACTIVATION_VALUES:
        raise invalid(
            "layers",
            f"the layers output {n_activations:,} values per example, over the limit of "
            f"{MAX_ACTIVATION_VALUES:,}; use fewer filters, a larger stride or more pooling.",
        )


def _check_train_limit(settings: Settings, train_limit: int | None, dataset: DatasetInfo) -> int:
    if train_limit is None:
        return min(dataset.n_train, settings.max_train_examples)
    if train_limit > settings.max_train_examples:
        raise invalid(
            "train_limit",
            f"{train_limit} is over the server limit of {settings.max_train_examples}.",
        )
    if train_limit > dataset.n_train:
        raise invalid(
            "train_limit",
            f"{train_limit} is more than the {dataset.n_train} training examples of "
            f"{dataset.name}.",
        )
    return train_limit
