"""Pydantic schemas of the HTTP API: what each endpoint accepts and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorPublic(BaseModel):
    """Body of every error response."""

    detail: str = Field(description="What went wrong and, where possible, what to do about it.")


class HealthPublic(BaseModel):
    """Liveness report."""

    status: Literal["ok"] = "ok"
    version: str = Field(description="Version of the installed `cnn-playground` package.")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Build the ``responses`` argument of a route that documents these error statuses."""
    descriptions = {
        400: "Bad request: an empty, truncated or corrupt upload, or an invalid archive.",
        401: "Missing or invalid API token (only when a token is configured).",
        404: "No such resource.",
        409: "The resource cannot be changed in its current state.",
        413: "The upload is larger than the size limit, or the image has too many pixels.",
        415: "The uploaded bytes are not an image (or not a zip archive).",
        422: "Invalid parameters; the detail names the field.",
    }
    return {code: {"model": ErrorPublic, "description": descriptions[code]} for code in codes}


class StrictModel(BaseModel):
    """Base of request bodies: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid")


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "diverged"]


class JobCreate(StrictModel):
    """Request body of `POST /api/jobs`: what to train and how.

    Give either `preset` or `layers`. Hyperparameters left out take the preset's recommended
    values; a custom `layers` spec takes those of the `tiny` preset.
    """

    name: str | None = Field(
        None, min_length=1, max_length=100, description="Name of the job and of its model."
    )
    dataset: str = Field(
        min_length=1, max_length=100, description="Dataset to train on, as listed by /api/datasets."
    )
    preset: str | None = Field(None, description="Named architecture, as listed by /api/presets.")
    layers: list[dict[str, Any]] | None = Field(
        None,
        description="Custom layer spec: a list of layer objects such as "
        '`{"type": "conv", "filters": 8, "f": 3}`.',
    )
    epochs: int | None = Field(None, ge=1, description="Passes over the training subset.")
    batch_size: int | None = Field(None, ge=1, le=4096, description="Examples per minibatch.")
    optimizer: str | None = Field(None, description="`sgd`, `momentum` or `adam`.")
    learning_rate: float | None = Field(
        None, gt=0, le=1e6, allow_inf_nan=False, description="Step size of the optimizer."
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**32 - 1,
        description="Seed of the weight initialization, the subset, the split and the minibatches.",
    )
    train_limit: int | None = Field(
        None,
        ge=1,
        description="Number of training examples to use (a seeded random subset); default: all "
        "of them, up to the server's limit.",
    )
    validation_fraction: float = Field(
        0.1, ge=0.0, le=0.5, description="Fraction of the training subset held out for validation."
    )
    test_limit: int | None = Field(
        None,
        ge=1,
        description="Number of test examples the trained model is evaluated on (a seeded random "
        "subset); default: the whole test split.",
    )


class JobPublic(BaseModel):
    """A training job as the API shows it."""

    id: str
    name: str
    status: JobStatus
    progress: float = Field(description="Fraction of the training batches done, from 0 to 1.")
    epoch: int = Field(description="Epoch in progress, or the last one finished, from 1.")
    epochs: int | None = Field(description="Number of epochs the job runs.")
    history: list[dict[str, Any]] = Field(
        description="One entry per finished epoch: `epoch`, `train_loss`, `train_accuracy`, "
        "`val_loss`, `val_accuracy` and `seconds`."
    )
    model_id: str | None = Field(description="Id of the trained model once the job succeeded.")
    error: str | None = Field(description="Why the job failed or diverged.")
    params: dict[str, Any] = Field(
        description="The parameters the job runs with, after defaults and limits were applied."
    )
    created_at: str
    started_at: str | None
    finished_at: str | None
    eta_seconds: float | None = Field(
        description="Estimated seconds until a running job finishes; null when unknown."
    )


class PresetPublic(BaseModel):
    """A named architecture with its recommended training settings."""

    name: str
    description: str
    input_shape: list[int] = Field(description="`[n_H, n_W, n_C]` the preset was designed for.")
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    layers: list[dict[str, Any]] = Field(
        description="Layer spec of the preset for a 10-class dataset; the last dense layer "
        "gets the dataset's number of classes when trained."
    )


class DatasetPublic(BaseModel):
    """A dataset that training jobs can use."""

    name: str = Field(
        description="Value of `dataset` in a training job: a built-in name such as "
        "`fashion-mnist`, or the id of an uploaded dataset."
    )
    label: str = Field(description="Human-readable name.")
    kind: Literal["builtin", "uploaded"]
    available: bool = Field(description="Whether its files are present on this server.")
    input_shape: list[int] | None = Field(description="`[n_H, n_W, n_C]` of every image.")
    classes: list[str]
    n_train: int | None = Field(description="Number of training images.")
    n_test: int | None = Field(description="Number of test images.")
    problem: str | None = Field(
        None, description="Why the dataset is unavailable and how to fix it, when it is."
    )
    created_at: str | None = Field(None, description="Upload time (uploaded datasets only).")


class ModelPublic(BaseModel):
    """A trained model that can classify images."""

    id: str = Field(description="32 hex digits, or `default` for the shipped model.")
    name: str
    dataset: str = Field(description="Dataset the model was trained on.")
    preset: str | None = Field(None, description="Preset it was built from, if any.")
    input_shape: list[int] = Field(description="`[n_H, n_W, n_C]` of the model input.")
    classes: list[str] = Field(description="Class labels in output order.")
    layers: list[dict[str, Any]] = Field(
        description="Normalized layer specs with `index` and per-example `output_shape`."
    )
    metrics: dict[str, Any] = Field(description="Evaluation results such as `test_accuracy`.")
    n_params: int | None = Field(None, description="Number of trainable values.")
    builtin: bool = Field(description="True for the shipped model, which cannot be deleted.")
    created_at: str

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ModelPublic:
        """Build the public view of a ``models`` table row."""
        return cls(
            **{key: record[key] for key in cls.model_fields if key in record and key != "n_params"},
            n_params=(record.get("metadata") or {}).get("n_params"),
        )


class Prediction(BaseModel):
    """The probability of one class."""

    class_index: int
    label: str
    probability: float = Field(ge=0.0, le=1.0)


class PredictPublic(BaseModel):
    """Every class with its probability, most likely first."""

    model_id: str
    predictions: list[Prediction]


class Tensor(BaseModel):
    """An array: base64 of its little-endian float32 values in C order."""

    shape: list[int]
    dtype: Literal["float32"] = "float32"
    data: str = Field(description="Base64 of `prod(shape)` little-endian float32 values.")


class LayerTrace(BaseModel):
    """The values one layer computed for the uploaded image."""

    model_config = ConfigDict(extra="allow")

    index: int
    name: str
    type: str
    output_shape: list[int] = Field(description="Per-example output shape.")
    output: Tensor = Field(
        description="The layer output for the image: `(n_H, n_W, n_C)` maps or `(n_features,)` "
        "vectors; for `softmax`, the probabilities."
    )
    padded_input: Tensor | None = Field(None, description="Conv: zero-padded input map.")
    weights: Tensor | None = Field(None, description="Conv: `W` of shape `(f, f, n_C_prev, n_C)`.")
    bias: Tensor | None = Field(None, description="Conv: `b` of shape `(1, 1, 1, n_C)`.")
    f: int | None = Field(None, description="Conv and pooling: window size.")
    stride: int | None = Field(None, description="Conv and pooling: step between windows.")
    pad: int | None = Field(None, description="Conv: zeros added on each side.")
    mode: str | None = Field(None, description="Pooling: `max` or `average`.")
    pool_mask: Tensor | None = Field(
        None, description="Max-pool: input-shaped, 1 on each window's first maximum, else 0."
    )


class InspectPublic(BaseModel):
    """Predictions plus the exact tensors every selected layer computed."""

    model_id: str
    input: Tensor = Field(description="The preprocessed model input `(n_H, n_W, n_C)`.")
    predictions: list[Prediction]
    layers: list[LayerTrace]
