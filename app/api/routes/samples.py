"""Routes that show dataset images in the browser: random test samples and misclassified ones.

The playground classifies a random test image, and the training page opens the test images
behind each cell of a model's confusion matrix. Images travel as base64 PNG inside JSON.
"""

from __future__ import annotations

import base64
import copy
import io
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Path, Query
from PIL import Image
from pydantic import BaseModel, Field

from app.api.deps import ModelStoreDep, SettingsDep
from app.core.config import Settings
from app.schemas import error_responses
from app.services.datasets import load_training_dataset
from app.services.errors import ConflictError, InvalidParameterError
from app.services.models import MODEL_ID_PATTERN
from cnn_core.datasets.errors import DatasetError
from cnn_core.datasets.normalization import to_model_input

logger = logging.getLogger(__name__)

router = APIRouter(tags=["samples"])

# Examples per forward pass when a whole test split is classified; bounds the memory of the
# largest activation to EVALUATION_BATCH times one example's.
EVALUATION_BATCH = 256
# Test splits and evaluations kept in memory. Models are immutable and dataset ids are not reused,
# so an entry goes stale only when its uploaded dataset is deleted.
CACHE_SIZE = 4
MAX_EXAMPLES = 100

ModelId = Annotated[
    str, Path(pattern=MODEL_ID_PATTERN, description="Model id: 32 hex digits, or `default`.")
]
DatasetName = Annotated[
    str,
    Path(min_length=1, max_length=100, description="Dataset name, as listed by /api/datasets."),
]


class SamplePublic(BaseModel):
    """One test image of a dataset with its true label."""

    dataset: str
    split: str = Field(description="Always `test`: the images no model was trained on.")
    index: int = Field(description="Position of the image in the test split.")
    class_index: int
    label: str
    image: str = Field(description="Base64 of the image as PNG, at the dataset's own size.")


class EvaluationPublic(BaseModel):
    """Accuracy and confusion matrix of a model on the whole test split of its dataset."""

    model_id: str
    dataset: str
    n_evaluated: int = Field(description="Number of test images classified.")
    accuracy: float
    classes: list[str]
    confusion: list[list[int]] = Field(
        description="`confusion[i][j]` counts the test images of class i predicted as class j."
    )


class ExamplePublic(BaseModel):
    """One test image and what the model predicted for it."""

    index: int = Field(description="Position of the image in the test split.")
    label: str
    predicted_label: str
    probability: float = Field(description="Probability the model gave its predicted class.")
    image: str = Field(description="Base64 of the image as PNG.")


class ExamplesPublic(BaseModel):
    """The test images of one confusion-matrix cell, lowest index first."""

    model_id: str
    true_class: int
    predicted_class: int
    total: int = Field(description="Number of test images in the cell.")
    examples: list[ExamplePublic] = Field(description="The first `limit` images of the cell.")


@dataclass(frozen=True)
class _TestSplit:
    images: np.ndarray  # uint8 (m, n_H, n_W, n_C)
    labels: np.ndarray  # int (m,)
    classes: list[str]


@dataclass(frozen=True)
class _Evaluation:
    dataset: str
    labels: np.ndarray  # int (m,), true classes
    predicted: np.ndarray  # int (m,)
    confidence: np.ndarray  # float32 (m,), probability of the predicted class
    classes: list[str]


class _LruCache:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_splits = _LruCache(CACHE_SIZE)
_evaluations = _LruCache(CACHE_SIZE)
# One evaluation at a time: two requests for the same new model then compute it once.
_evaluation_lock = threading.Lock()


def _test_split(settings: Settings, name: str) -> _TestSplit:
    key = f"{settings.data_dir.resolve()}::{name}"
    split = _splits.get(key)
    if split is None:
        try:
            data = load_training_dataset(settings, name)
        except DatasetError as exc:
            raise ConflictError(f"Dataset {name!r} cannot be read: {exc}.") from exc
        split = _TestSplit(data.X_test, np.asarray(data.y_test), list(data.classes))
        _splits.put(key, split)
    return split


def _png_base64(image: np.ndarray) -> str:
    """Encode a uint8 image `(n_H, n_W, n_C)` with 1 or 3 channels as base64 PNG."""
    pixels = image[:, :, 0] if image.shape[2] == 1 else image
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _evaluate(settings: Settings, store: Any, model_id: str) -> _Evaluation:
    with _evaluation_lock:
        cached = _evaluations.get(model_id)
        if cached is not None:
            return cached

        record = store.get(model_id)
        model = store.load(model_id)
        split = _test_split(settings, record["dataset"])
        if split.images.shape[1:] != tuple(model.input_shape):
            raise InvalidParameterError(
                f"The test images of {record['dataset']!r} are {split.images.shape[1:]}, but "
                f"model {model_id!r} takes {tuple(model.input_shape)}."
            )

        # NOTE: layers keep forward caches on themselves, so this thread runs its own copy
        # instead of the network the inference threads share.
        network = copy.deepcopy(model.network)
        predicted = np.empty(len(split.labels), dtype=np.int64)
        confidence = np.empty(len(split.labels), dtype=np.float32)
        for start in range(0, len(split.labels), EVALUATION_BATCH):
            stop = start + EVALUATION_BATCH
            X = to_model_input(split.images[start:stop], model.normalization)
            probs = network.predict_proba(X)  # (n_classes, batch)
            predicted[start:stop] = np.argmax(probs, axis=0)
            confidence[start:stop] = np.max(probs, axis=0)

        evaluation = _Evaluation(record["dataset"], split.labels, predicted, confidence,
                                 list(model.classes))
        _evaluations.put(model_id, evaluation)
        logger.info("Evaluated model %s on %d test images of %s", model_id, len(predicted),
                    record["dataset"])
        return evaluation


@router.get(
    "/api/datasets/{name}/samples/random",
    response_model=SamplePublic,
    summary="Draw a random test image",
    responses=error_responses(404, 422),
)
def read_random_sample(name: DatasetName, settings: SettingsDep) -> SamplePublic:
    """Return a random image of the dataset's test split with its label, as base64 PNG."""
    split = _test_split(settings, name)
    if len(split.labels) == 0:
        raise InvalidParameterError(f"Dataset {name!r} has no test images.")

    index = int(np.random.default_rng().integers(len(split.labels)))
    class_index = int(split.labels[index])
    return SamplePublic(
        dataset=name,
        split="test",
        index=index,
        class_index=class_index,
        label=split.classes[class_index],
        image=_png_base64(split.images[index]),
    )


@router.get(
    "/api/models/{model_id}/evaluation",
    response_model=EvaluationPublic,
    summary="Evaluate a model on its test split",
    responses=error_responses(404, 409, 422),
)
def read_evaluation(
    model_id: ModelId, settings: SettingsDep, store: ModelStoreDep
) -> EvaluationPublic:
    """Classify every test image of the model's dataset; return the accuracy and confusion matrix.

    The first request for a model runs the whole test split; later ones are served from memory.
    """
    evaluation = _evaluate(settings, store, model_id)

    n_classes = len(evaluation.classes)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (evaluation.labels, evaluation.predicted), 1)
    n = len(evaluation.labels)
    return EvaluationPublic(
        model_id=model_id,
        dataset=evaluation.dataset,
        n_evaluated=n,
        accuracy=float(np.trace(confusion) / n) if n else 0.0,
        classes=evaluation.classes,
        confusion=confusion.tolist(),
    )


@router.get(
    "/api/models/{model_id}/evaluation/examples",
    response_model=ExamplesPublic,
    summary="List the test images of one confusion-matrix cell",
    responses=error_responses(404, 409, 422),
)
def list_evaluation_examples(
    model_id: ModelId,
    settings: SettingsDep,
    store: ModelStoreDep,
    true_class: Annotated[int, Query(ge=0, description="Row of the cell: the true class.")],
    predicted_class: Annotated[int, Query(ge=0, description="Column: the predicted class.")],
    limit: Annotated[int, Query(ge=1, le=MAX_EXAMPLES, description="Images to return.")] = 24,
) -> ExamplesPublic:
    """List the test images of class `true_class` that the model predicted as `predicted_class`."""
    evaluation = _evaluate(settings, store, model_id)
    n_classes = len(evaluation.classes)
    for field, value in (("true_class", true_class), ("predicted_class", predicted_class)):
        if value >= n_classes:
            raise InvalidParameterError(
                f"{field}: {value} is not a class of this model; use 0 to {n_classes - 1}."
            )

    in_cell = (evaluation.labels == true_class) & (evaluation.predicted == predicted_class)
    indices = np.flatnonzero(in_cell)
    split = _test_split(settings, evaluation.dataset)
    examples = [
        ExamplePublic(
            index=int(index),
            label=evaluation.classes[true_class],
            predicted_label=evaluation.classes[predicted_class],
            probability=float(evaluation.confidence[index]),
            image=_png_base64(split.images[index]),
        )
        for index in indices[:limit]
    ]
    return ExamplesPublic(
        model_id=model_id,
        true_class=true_class,
        predicted_class=predicted_class,
        total=int(len(indices)),
        examples=examples,
    )
