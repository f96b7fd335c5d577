"""Predict and inspect: decode an uploaded image, run a stored model on it, shape the result.

The engine's NumPy work runs in a thread pool so the event loop keeps serving other requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from app.core.config import Settings
from app.services.errors import (
    BadInputError,
    InvalidParameterError,
    ServiceError,
    TooLargeError,
    UnsupportedMediaError,
)
from app.services.models import ModelStore
from app.services.tensors import encode_tensor, encode_tensor_bytes, json_bytes
from cnn_core.datasets.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from cnn_core.datasets.images import decode_image, preprocess
from cnn_core.functional import softmax
from cnn_core.serialization import Model

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Trace entries whose arrays carry the batch axis; the API returns them for the single example.
_BATCH_KEYS = frozenset({"output", "padded_input", "pool_mask"})
_ENTRY_KEYS = ("index", "name", "type", "output_shape")


class InferenceService:
    """Run predict and inspect requests on a pool of ``settings.inference_threads`` threads."""

    def __init__(self, store: ModelStore, settings: Settings) -> None:
        self.store = store
        self.max_pixels = settings.max_image_pixels
        self._executor = ThreadPoolExecutor(
            max_workers=settings.inference_threads, thread_name_prefix="inference"
        )

    def close(self) -> None:
        """Wait for running requests and stop the threads."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def predict_json(self, model_id: str, data: bytes) -> bytes:
        """Classify the image in ``data`` and return the JSON body of ``predict_sync``'s result."""
        return await self._run(lambda: to_json_bytes(self.predict_sync(model_id, data)))

    async def inspect_json(
        self, model_id: str, data: bytes, layers: Sequence[str] | None = None
    ) -> bytes:
        """Inspect the image in ``data`` and return the JSON body of ``inspect_sync``'s result.

        The JSON of every layer's tensors can take megabytes, so it is built in the thread pool
        too, not on the event loop.
        """
        return await self._run(lambda: self.inspect_body(model_id, data, layers))

    def inspect_body(
        self, model_id: str, data: bytes, layers: Sequence[str] | None = None
    ) -> bytes:
        """Inspect the image in ``data`` and return the JSON body. Blocks the caller.

        The body is the JSON of ``inspect_sync``'s result, but the tensors' base64 text goes
        into it without passing through the JSON encoder, which would scan every character.
        """
        return json_bytes(self._inspect(model_id, data, layers, encode_tensor_bytes))

    def predict_sync(self, model_id: str, data: bytes) -> dict[str, Any]:
        """Classify the image in ``data``: every class, most likely first. Blocks the caller."""
        model = self.store.load(model_id)
        X = self.prepare_input(model, data)

        probs = model.network.predict_proba(X)[:, 0]
        return {"model_id": model_id, "predictions": rank_predictions(probs, model.classes)}

    def inspect_sync(
        self, model_id: str, data: bytes, layers: Sequence[str] | None = None
    ) -> dict[str, Any]:
        """Classify ``data`` and collect what each selected layer computed. Blocks the caller."""
        return self._inspect(model_id, data, layers, encode_tensor)

    def _inspect(
        self,
        model_id: str,
        data: bytes,
        layers: Sequence[str] | None,
        encode: Callable[[np.ndarray], Any],
    ) -> dict[str, Any]:
        model = self.store.load(model_id)
        selected = select_layers(model, layers)
        X = self.prepare_input(model, data)

        # Network.forward builds the trace from local values, so requests may share one network.
        # The caches it leaves on the layers for backward are dropped at once.
        network = model.network
        Z, trace = network.forward(X, trace=True)
        network.clear_cache()
        last = trace[-1]
        probs = last["output"] if last["type"] == "softmax" else softmax(Z)

        return {
            "model_id": model_id,
            "input": encode(X[0]),
            "predictions": rank_predictions(probs[:, 0], model.classes),
            "layers": [
                encode_trace_entry(entry, encode) for entry in trace if entry["index"] in selected
            ],
        }

    def prepare_input(self, model: Model, data: bytes) -> np.ndarray:
        """Decode ``data`` and preprocess it into the model's input ``(1, n_H, n_W, n_C)``."""
        image = decode_upload(data, self.max_pixels)
        try:
            return preprocess(image, model.network.input_shape, model.normalization)
        except ImageError as exc:
            raise image_error_to_service_error(exc) from exc

    async def _run(self, function: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function)


def to_json_bytes(payload: dict[str, Any]) -> bytes:
    """Encode a response body as compact UTF-8 JSON; NaN and infinity raise ``ValueError``."""
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()


def decode_upload(data: bytes, max_pixels: int) -> Image.Image:
    """Decode uploaded bytes with the engine's decoder, mapping its errors to HTTP statuses.

    The decoder reads the width and height from the header first, so an image over
    ``max_pixels`` (such as a decompression bomb) is rejected before any pixel is decoded.
    """
    try:
        return decode_image(data, max_pixels=max_pixels)
    except ImageError as exc:
        raise image_error_to_service_error(exc) from exc


def image_error_to_service_error(exc: ImageError) -> ServiceError:
    """Map an engine image error to the service error with the matching HTTP status."""
    message = f"Invalid image upload: {exc}."
    if isinstance(exc, EmptyImageError):
        return BadInputError(message)
    if isinstance(exc, UnsupportedImageError):
        return UnsupportedMediaError(message)
    if isinstance(exc, CorruptImageError):
        return BadInputError(message)
    if isinstance(exc, ImageTooLargeError):
        return TooLargeError(message)
    return BadInputError(message)


def rank_predictions(probs: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """List ``{"class_index", "label", "probability"}`` for every class, most likely first.

    ``probs`` has shape ``(n_classes,)``. Ties keep class order.
    """
    if not np.all(np.isfinite(probs)):
        raise InvalidParameterError(
            "The model produced non-finite probabilities for this image; its weights may be "
            "damaged. Retrain it or use another model."
        )

    order = np.argsort(-probs, kind="stable")
    return [
        {"class_index": int(i), "label": str(classes[i]), "probability": float(probs[i])}
        for i in order
    ]


def select_layers(model: Model, requested: Sequence[str] | None) -> set[int]:
    """Resolve layer indices or names (comma-separated allowed) into a set of layer indices.

    ``None`` or an empty list selects every layer. Unknown entries raise
    ``InvalidParameterError`` listing the valid ones.
    """
    spec = model.network.spec
    by_name = {layer["name"]: index for index, layer in enumerate(spec)}
    if not requested:
        return set(range(len(spec)))

    selected: set[int] = set()
    unknown: list[str] = []
    for item in requested:
        for token in (part.strip() for part in item.split(",")):
            if not token:
                continue
            if token.isdigit() and int(token) < len(spec):
                selected.add(int(token))
            elif token in by_name:
                selected.add(by_name[token])
            else:
                unknown.append(token)

    if unknown:
        valid = ", ".join(f"{index}={layer['name']}" for index, layer in enumerate(spec))
        raise InvalidParameterError(
            f"layers: unknown layer {', '.join(repr(t) for t in unknown)}; "
            f"use indices or names among {valid}."
        )
    return selected


def encode_trace_entry(
    entry: dict[str, Any], encode: Callable[[np.ndarray], Any] = encode_tensor
) -> dict[str, Any]:
    """Convert one entry of ``Network.forward(X, trace=True)`` into its JSON form.

    Batch arrays (``output``, ``padded_input``, ``pool_mask``) lose their batch axis:
    ``(1, n_H, n_W, n_C)`` becomes ``(n_H, n_W, n_C)`` and ``(n_features, 1)`` becomes
    ``(n_features,)``. Parameters (``weights``, ``bias``) keep their shapes. ``encode`` turns
    each array into its tensor form: ``encode_tensor`` or ``encode_tensor_bytes``.
    """
    result: dict[str, Any] = {key: entry[key] for key in _ENTRY_KEYS}
    result["output_shape"] = [int(n) for n in entry["output_shape"]]

    for key, value in entry.items():
        if key in _ENTRY_KEYS:
            continue
        if isinstance(value, np.ndarray):
            array = _first_example(value) if key in _BATCH_KEYS else value
            result[key] = encode(array)
        elif isinstance(value, float) and not math.isfinite(value):
            raise InvalidParameterError(f"Layer {entry['name']!r} produced a non-finite {key}.")
        elif isinstance(value, np.generic):
            result[key] = value.item()
        else:
            result[key] = value
    return result


def _first_example(array: np.ndarray) -> np.ndarray:
    if array.ndim == 4:
        return array[0]
    if array.ndim == 2:
        return array[:, 0]
    raise ValueError(f"trace array of shape {array.shape} has no batch axis the API knows")
