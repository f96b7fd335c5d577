"""Model store: trained models as ``.npz`` files under the data directory, indexed in SQLite.

The shipped default model (id ``default``) comes with the ``cnn_core`` package. It is listed
first, can be used like any other model and cannot be deleted.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from app.core import db
from app.core.config import Settings
from app.services.errors import ConflictError, NotFoundError
from cnn_core.serialization import (
    Model,
    ModelFileError,
    load_model,
    load_shipped_model,
    save_model,
    shipped_model_path,
)

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "default"

# Ids are uuid4().hex, or the name of the shipped model. Anything else is rejected before any
# lookup, and no path is ever built from an id: paths come from the database row.
MODEL_ID_PATTERN = r"^(?:[0-9a-f]{32}|default)$"
_MODEL_ID_RE = re.compile(MODEL_ID_PATTERN)

# Loaded networks kept in memory, most recently used last.
CACHE_SIZE = 8


def new_id() -> str:
    """Return a fresh random record id: 32 lowercase hex digits."""
    return uuid.uuid4().hex


def is_model_id(value: str) -> bool:
    """Tell whether ``value`` has the form of a model id."""
    return bool(_MODEL_ID_RE.fullmatch(value))


def describe_layers(model: Model) -> list[dict[str, Any]]:
    """List the layer specs of ``model`` with each layer's index and per-example output shape."""
    network = model.network
    layers = []
    for index, (spec, shape) in enumerate(zip(network.spec, network.output_shapes, strict=True)):
        layers.append({"index": index, **spec, "output_shape": [int(n) for n in shape]})
    return layers


def _metrics_of(model: Model) -> dict[str, Any]:
    metadata = model.metadata or {}
    metrics = dict(metadata.get("metrics") or {})
    if "test_accuracy" in metadata and "test_accuracy" not in metrics:
        metrics["test_accuracy"] = metadata["test_accuracy"]
    metrics.setdefault("test_accuracy", None)
    return metrics


class ModelStore:
    """Create, list, load and delete models in one data directory.

    Safe to use from several threads and from several processes sharing the data directory.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db_path = settings.db_path
        self._models_dir = settings.models_dir
        self._cache: OrderedDict[str, Model] = OrderedDict()
        self._load_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

        db.init_db(self._db_path)

    def sync_shipped_model(self) -> bool:
        """Insert or refresh the row of the shipped default model; return whether it exists.

        Called at startup, so a newer package version brings its newer default model.
        """
        path = shipped_model_path()
        if not path.is_file():
            db.execute(self._db_path, "DELETE FROM models WHERE id = ?", (DEFAULT_MODEL_ID,))
            logger.warning("The shipped default model %s is missing; it will not be listed", path)
            return False

        try:
            model = load_shipped_model()
        except ModelFileError:
            db.execute(self._db_path, "DELETE FROM models WHERE id = ?", (DEFAULT_MODEL_ID,))
            logger.exception(
                "The shipped default model %s cannot be loaded; it will not be listed", path
            )
            return False
        metadata = dict(model.metadata or {})
        row = self._row_for(
            model,
            model_id=DEFAULT_MODEL_ID,
            name=metadata.get("name") or "Default model",
            dataset=metadata.get("dataset") or "fashion-mnist",
            preset=metadata.get("preset"),
            path=path,
            builtin=True,
            created_at=db.to_utc_text(metadata.get("created_at") or db.utc_now()),
        )
        with db.transaction(self._db_path) as connection:
            connection.execute("DELETE FROM models WHERE id = ?", (DEFAULT_MODEL_ID,))
            self._insert(connection, row)

        with self._lock:
            self._cache.pop(DEFAULT_MODEL_ID, None)
        return True

    def list(self) -> list[dict[str, Any]]:
        """Return every model record: built-in ones first, then the newest first."""
        return db.fetch_all(
            self._db_path, "SELECT * FROM models ORDER BY builtin DESC, created_at DESC, id"
        )

    def get(self, model_id: str) -> dict[str, Any]:
        """Return the record of one model, or raise ``NotFoundError``."""
        record = None
        if is_model_id(model_id):
            record = db.fetch_one(self._db_path, "SELECT * FROM models WHERE id = ?", (model_id,))
        if record is None:
            raise NotFoundError(f"Model {model_id!r} not found.")
        return record

    def is_loaded(self, model_id: str) -> bool:
        """Return whether the model is in the memory cache, and so known to exist.

        ``delete`` drops a model from the cache, so a hit needs no database query.
        """
        with self._lock:
            return model_id in self._cache

    def weights_path(self, model_id: str) -> Path:
        """Return the path of a model's ``.npz`` file, or raise ``NotFoundError``."""
        record = self.get(model_id)
        path = Path(record["path"])
        if not path.is_file():
            raise NotFoundError(f"The weights file of model {model_id!r} is missing.")
        return path

    def load(self, model_id: str) -> Model:
        """Return the loaded model, reading its file on first use.

        Models are immutable once saved, so a cached copy never goes stale. Concurrent first
        uses of one model wait for a single read of its file.
        """
        with self._lock:
            model = self._cached(model_id)
            if model is not None:
                return model
            load_lock = self._load_locks.setdefault(model_id, threading.Lock())

        try:
            with load_lock:
                with self._lock:
                    model = self._cached(model_id)
                if model is None:
                    model = self._read(model_id)
        finally:
            with self._lock:
                self._load_locks.pop(model_id, None)

        with self._lock:
            self._cache[model_id] = model
            self._cache.move_to_end(model_id)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return model

    def _cached(self, model_id: str) -> Model | None:
        model = self._cache.get(model_id)
        if model is not None:
            self._cache.move_to_end(model_id)
        return model

    def _read(self, model_id: str) -> Model:
        path = self.weights_path(model_id)
        try:
            return load_model(path)
        except ModelFileError as exc:
            logger.error("Model %s cannot be loaded from %s: %s", model_id, path, exc)
            raise ConflictError(
                f"The weights file of model {model_id!r} is damaged and cannot be loaded."
            ) from exc

    def add(
        self,
        model: Model,
        *,
        name: str,
        dataset: str,
        preset: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> str:
        """Save ``model`` as a new file, record it, and return its new id.

        The file is written atomically before the row is inserted, so a reader never sees a
        row without its file. ``metrics`` defaults to the ones in ``model.metadata``.
        """
        model_id = new_id()
        self._models_dir.mkdir(parents=True, exist_ok=True)
        path = self._models_dir / f"{model_id}.npz"

        save_model(path, model)
        row = self._row_for(
            model,
            model_id=model_id,
            name=name,
            dataset=dataset,
            preset=preset,
            path=path,
            builtin=False,
            created_at=db.utc_now(),
            metrics=metrics,
        )
        try:
            with db.transaction(self._db_path) as connection:
                self._insert(connection, row)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

        logger.info("Stored model %s (%s) trained on %s", model_id, name, dataset)
        return model_id

    def delete(self, model_id: str) -> None:
        """Delete a model's row and file; raise ``ConflictError`` for a built-in model."""
        record = self.get(model_id)
        if record["builtin"]:
            raise ConflictError(
                f"Model {model_id!r} is the shipped default model and cannot be deleted."
            )

        with db.transaction(self._db_path) as connection:
            connection.execute("DELETE FROM models WHERE id = ?", (model_id,))
        Path(record["path"]).unlink(missing_ok=True)

        with self._lock:
            self._cache.pop(model_id, None)
        logger.info("Deleted model %s", model_id)

    def _row_for(
        self,
        model: Model,
        *,
        model_id: str,
        name: str,
        dataset: str,
        preset: str | None,
        path: Path,
        builtin: bool,
        created_at: str,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        network = model.network
        metadata = dict(model.metadata or {})
        metadata["n_params"] = int(network.n_params)
        metadata["normalization"] = model.normalization
        return {
            "id": model_id,
            "name": name,
            "dataset": dataset,
            "preset": preset,
            "path": str(path),
            "input_shape": db.to_json([int(n) for n in network.input_shape]),
            "classes": db.to_json(list(model.classes)),
            "layers": db.to_json(describe_layers(model)),
            "metrics": db.to_json(metrics if metrics is not None else _metrics_of(model)),
            "metadata": db.to_json(metadata),
            "builtin": int(builtin),
            "created_at": created_at,
        }

    @staticmethod
    def _insert(connection: Any, row: dict[str, Any]) -> None:
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        connection.execute(
            f"INSERT INTO models ({columns}) VALUES ({placeholders})", tuple(row.values())
        )
