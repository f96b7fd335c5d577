"""Datasets the service can train on: the built-in ones and zips of class folders users upload.

An uploaded zip is kept as it was sent, in ``<data_dir>/datasets/<id>.zip``, after
``cnn_core.datasets.load_dataset`` has read it once. Its images are brought to one
``input_shape`` chosen at upload time and stored in the database, and a fixed, stratified
``TEST_FRACTION`` of each class is held out as its test split.
"""

from __future__ import annotations

import logging
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from app.core import db
from app.core.config import Settings
from app.services.errors import BadInputError, ConflictError, NotFoundError, UnsupportedMediaError
from app.services.models import new_id
from cnn_core.datasets import BUILTIN_DATASETS, DatasetError, load_dataset, train_validation_split
from cnn_core.datasets import list_datasets as list_engine_datasets
from cnn_core.datasets.folder import GRAY_MODES

logger = logging.getLogger(__name__)

# Share of each class of an uploaded dataset held out as its test split, and the seed that
# picks those images. Both are fixed, so a dataset keeps the same split across jobs.
TEST_FRACTION = 0.2
SPLIT_SEED = 0

# Maximum image side of an uploaded dataset when the request does not give `image_size`:
# larger first images are scaled down to it, keeping their aspect ratio.
MAX_DEFAULT_SIDE = 64

# An uploaded zip may inflate to at most this many times its own size. Image formats barely
# compress further, so a higher ratio means BMP-like data or a zip bomb.
MAX_INFLATE_RATIO = 10

UPLOADED_ID_PATTERN = r"^[0-9a-f]{32}$"
_UPLOADED_ID_RE = re.compile(UPLOADED_ID_PATTERN)


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a dataset that a training job needs before loading it."""

    name: str  # built-in name or uploaded id; the value of `dataset` in a job
    label: str
    kind: str  # "builtin" or "uploaded"
    available: bool
    problem: str | None  # why it is unavailable, with the fix
    input_shape: tuple[int, int, int] | None
    classes: list[str]
    n_train: int | None
    n_test: int | None
    created_at: str | None = None

    def to_public(self) -> dict[str, Any]:
        """Return the JSON form served by ``GET /api/datasets``."""
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "available": self.available,
            "problem": self.problem,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "classes": self.classes,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "created_at": self.created_at,
        }


@dataclass
class TrainingData:
    """Both splits of a dataset as uint8 images and int64 labels.

    ``X_train`` is ``(m_train, n_H, n_W, n_C)``, ``y_train`` ``(m_train,)``, ``X_test``
    ``(m_test, n_H, n_W, n_C)`` and ``y_test`` ``(m_test,)``; labels index ``classes``.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Per-example shape ``(n_H, n_W, n_C)``."""
        return tuple(int(n) for n in self.X_train.shape[1:])


def _builtin_directories(settings: Settings) -> dict[str, Path]:
    directories = {"fashion-mnist": settings.fashion_mnist_dir}
    if settings.mnist_dir is not None:
        directories["mnist"] = settings.mnist_dir
    if settings.cifar10_dir is not None:
        directories["cifar10"] = settings.cifar10_dir
    return directories


def _builtin_info(entry: dict[str, Any]) -> DatasetInfo:
    return DatasetInfo(
        name=entry["name"],
        label=entry["name"],
        kind="builtin",
        available=entry["available"],
        problem=entry["hint"],
        input_shape=tuple(entry["input_shape"]) if entry["input_shape"] else None,
        classes=list(entry["classes"] or []),
        n_train=entry["train_size"],
        n_test=entry["test_size"],
    )


def _uploaded_info(row: dict[str, Any]) -> DatasetInfo:
    path = Path(row["path"])
    n_train, n_test = row["n_train"], row["n_test"]
    return DatasetInfo(
        name=row["id"],
        label=row["name"],
        kind="uploaded",
        available=path.is_file(),
        problem=None if path.is_file() else f"its file {path.name} is missing from the server",
        input_shape=tuple(row["input_shape"]),
        classes=row["classes"],
        n_train=n_train,
        n_test=n_test,
        created_at=row["created_at"],
    )


def list_datasets(settings: Settings) -> list[DatasetInfo]:
    """Describe the built-in datasets, then the uploaded ones, newest first."""
    builtin = list_engine_datasets(directories=_builtin_directories(settings))
    rows = db.fetch_all(settings.db_path, "SELECT * FROM datasets ORDER BY created_at DESC, id")
    return [_builtin_info(entry) for entry in builtin] + [_uploaded_info(row) for row in rows]


def get_dataset_info(settings: Settings, name: str) -> DatasetInfo:
    """Describe one dataset by built-in name or uploaded id, or raise ``NotFoundError``."""
    if name in BUILTIN_DATASETS:
        entries = list_engine_datasets(directories=_builtin_directories(settings))
        return next(_builtin_info(entry) for entry in entries if entry["name"] == name)

    row = None
    if _UPLOADED_ID_RE.fullmatch(name):
        row = db.fetch_one(settings.db_path, "SELECT * FROM datasets WHERE id = ?", (name,))
    if row is None:
        names = ", ".join(BUILTIN_DATASETS)
        raise NotFoundError(
            f"Dataset {name!r} not found; use a built-in name ({names}) or an uploaded id."
        )
    return _uploaded_info(row)


def load_training_dataset(settings: Settings, name: str) -> TrainingData:
    """Load both splits of a built-in dataset or of an uploaded one.

    Raises ``NotFoundError`` for an unknown name and ``DatasetError`` for missing or damaged files.
    """
    if name in BUILTIN_DATASETS:
        directory = _builtin_directories(settings).get(name)
        train = load_dataset(name, "train", directory=directory)
        test = load_dataset(name, "test", directory=directory)
        return TrainingData(
            name, train.images, train.labels, test.images, test.labels, train.classes
        )

    info = get_dataset_info(settings, name)
    row = db.fetch_one(settings.db_path, "SELECT path FROM datasets WHERE id = ?", (name,))
    data = _read_upload(settings, Path(row["path"]), info.input_shape)
    X_train, y_train, X_test, y_test = train_validation_split(
        data.images, data.labels, validation_fraction=TEST_FRACTION, seed=SPLIT_SEED
    )
    return TrainingData(name, X_train, y_train, X_test, y_test, data.classes)


def _read_upload(settings: Settings, path: Path, image_shape: tuple[int, int, int] | None):
    return load_dataset(
        path,
        image_shape=image_shape,
        max_pixels=settings.max_image_pixels,
        max_total_bytes=MAX_INFLATE_RATIO * settings.max_dataset_bytes,
    )


def default_image_shape(path: Path) -> tuple[int, int, int]:
    """Choose ``(n_H, n_W, n_C)`` for an uploaded zip from the header of its first image.

    ``n_C`` is 1 for grayscale modes and 3 otherwise. A first image with a side over
    ``MAX_DEFAULT_SIDE`` is scaled down to it, keeping the aspect ratio. Raises
    ``BadInputError`` when no member is an image.
    """
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda item: item.filename):
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue
            try:
                with archive.open(info) as stream, Image.open(stream) as image:
                    width, height = image.size
                    mode = image.mode
            except (OSError, SyntaxError, ValueError, zipfile.BadZipFile, NotImplementedError):
                continue
            if width == 0 or height == 0:
                continue
            scale = min(1.0, MAX_DEFAULT_SIDE / max(width, height))
            n_H = max(1, math.floor(height * scale + 0.5))
            n_W = max(1, math.floor(width * scale + 0.5))
            return n_H, n_W, 1 if mode in GRAY_MODES else 3

    raise BadInputError("The zip contains no image that Pillow can read.")


def split_sizes(labels: np.ndarray) -> tuple[int, int]:
    """Return ``(n_train, n_test)`` of the split that ``load_training_dataset`` makes."""
    positions = np.arange(labels.shape[0])
    train_index, _, test_index, _ = train_validation_split(
        positions, labels, validation_fraction=TEST_FRACTION, seed=SPLIT_SEED
    )
    return int(train_index.shape[0]), int(test_index.shape[0])


def store_uploaded_dataset(
    settings: Settings,
    upload_path: Path,
    *,
    label: str,
    filename: str | None = None,
    image_size: int | None = None,
    channels: int | None = None,
) -> DatasetInfo:
    """Validate an uploaded zip, move it into the datasets folder and record it.

    ``upload_path`` is a temporary file inside ``settings.datasets_dir``; it is moved (on
    success) or deleted (on failure), so nothing is stored for a rejected upload. Raises
    ``UnsupportedMediaError`` for data that is not a zip and ``BadInputError`` for a zip that
    is not a usable dataset. ``filename`` is the name the client sent, used in messages.
    """
    try:
        if not zipfile.is_zipfile(upload_path):
            raise UnsupportedMediaError(
                "The upload is not a zip archive; send a .zip of one folder per class."
            )
        try:
            n_H, n_W, n_C = default_image_shape(upload_path)
        except zipfile.BadZipFile as exc:
            raise BadInputError(f"The zip archive is damaged: {exc}.") from exc
        if image_size is not None:
            n_H = n_W = image_size
        if channels is not None:
            n_C = channels

        try:
            data = _read_upload(settings, upload_path, (n_H, n_W, n_C))
        except DatasetError as exc:
            # The engine names the temporary file; the user knows the file they sent.
            message = str(exc).replace(str(upload_path), filename or "the upload")
            raise BadInputError(f"The zip is not a usable dataset: {message}.") from exc
        if len(data.classes) < 2:
            raise BadInputError(
                f"The zip contains {len(data.classes)} class folder; a dataset needs at least 2."
            )

        n_train, n_test = split_sizes(data.labels)
        dataset_id = new_id()
        final_path = settings.datasets_dir / f"{dataset_id}.zip"
        os.replace(upload_path, final_path)
    finally:
        upload_path.unlink(missing_ok=True)

    created_at = db.utc_now()
    try:
        db.execute(
            settings.db_path,
            "INSERT INTO datasets (id, name, path, input_shape, classes, n_train, n_test,"
            " n_examples, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dataset_id,
                label,
                str(final_path),
                db.to_json([n_H, n_W, n_C]),
                db.to_json(list(data.classes)),
                n_train,
                n_test,
                n_train + n_test,
                final_path.stat().st_size,
                created_at,
            ),
        )
    except BaseException:
        final_path.unlink(missing_ok=True)
        raise

    logger.info(
        "Stored dataset %s (%s): %d images in %d classes, shape %s, %d files skipped",
        dataset_id,
        label,
        n_train + n_test,
        len(data.classes),
        (n_H, n_W, n_C),
        len(data.skipped),
    )
    return get_dataset_info(settings, dataset_id)


def delete_uploaded_dataset(settings: Settings, name: str) -> None:
    """Delete an uploaded dataset's row and zip; built-in datasets raise ``ConflictError``."""
    if name in BUILTIN_DATASETS:
        raise ConflictError(f"Dataset {name!r} is built in and cannot be deleted.")
    get_dataset_info(settings, name)

    row = db.fetch_one(settings.db_path, "SELECT path FROM datasets WHERE id = ?", (name,))
    db.execute(settings.db_path, "DELETE FROM datasets WHERE id = ?", (name,))
    Path(row["path"]).unlink(missing_ok=True)
    logger.info("Deleted dataset %s", name)
