"""Model files: one `.npz` that `numpy.load` reads with `allow_pickle=False`.

File layout (format version 1). Text entries are 0-d unicode arrays holding JSON, so no entry
needs pickle:

| key | contents |
|---|---|
| `format` | JSON `{"name": "cnn-playground-model", "version": 1, "dtype": "float32"}` |
| `spec` | JSON list of normalized layer dicts |
| `input_shape` | JSON `[n_H, n_W, n_C]` |
| `classes` | JSON list of `n_classes` class names |
| `normalization` | JSON `{"mean": [...], "std": [...]}` or `null` |
| `metadata` | JSON object, free-form (training command, seed, accuracy, ...) |
| `param.<layer_index>.<key>` | one float array per entry of `Network.parameters()` |

`save_model` writes a temporary file in the target directory, flushes it to disk and renames it
over the target, so a crash leaves either the old file or the new one, never a partial file.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .layers import SpecError
from .network import Network, parameter_shapes

FORMAT_NAME = "cnn-playground-model"

# First bytes of a zip archive (an .npz) and of a single .npy array.
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
FORMAT_VERSION = 1
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"

_JSON_KEYS = ("format", "spec", "input_shape", "classes", "normalization", "metadata")
_PARAM_PREFIX = "param."
_SHIPPED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class ModelFileError(ValueError):
    """A model file that is missing, unreadable, truncated or not a model of this format."""


def _check_normalization(normalization: object, n_C: int) -> dict | None:
    if normalization is None:
        return None
    if not isinstance(normalization, Mapping) or set(normalization) != {"mean", "std"}:
        raise ValueError(
            f"normalization must be None or a dict with the keys 'mean' and 'std'; "
            f"got {normalization!r}"
        )

    checked = {}
    for key in ("mean", "std"):
        values = normalization[key]
        if isinstance(values, (int, float)):
            values = [values]
        valid = (
            isinstance(values, Sequence)
            and len(values) in (1, n_C)
            and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in values
            )
        )
        if not valid:
            raise ValueError(
                f"normalization[{key!r}] must be a list of 1 or {n_C} finite numbers; "
                f"got {normalization[key]!r}"
            )
        checked[key] = [float(v) for v in values]
    if min(checked["std"]) <= 0:
        raise ValueError(f"normalization['std'] must be positive; got {checked['std']!r}")
    return checked


@dataclass
class Model:
    """A trained network with what is needed to use it on raw images.

    Attributes
    ----------
    network : the Network.
    classes : one name per output class, in label order.
    normalization : `{"mean": [...], "std": [...]}` with 1 or n_C values each, applied to inputs
        scaled to [0, 1], or None.
    metadata : JSON-serializable dict, such as the training command, seed and test accuracy.
    """

    network: Network
    classes: list[str]
    normalization: dict | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.network, Network):
            raise TypeError(f"network must be a Network; got {type(self.network).__name__}")
        classes = self.classes
        if isinstance(classes, str) or not isinstance(classes, Sequence):
            raise TypeError(f"classes must be a list of strings; got {classes!r}")
        if not all(isinstance(name, str) for name in classes):
            raise TypeError(f"classes must be a list of strings; got {classes!r}")
        if len(classes) != self.network.n_classes:
            raise ValueError(
                f"classes has {len(classes)} names but the network has "
                f"{self.network.n_classes} outputs"
            )
        self.classes = list(classes)
        self.normalization = _check_normalization(self.normalization, self.network.input_shape[2])
        if self.metadata is None:
            self.metadata = {}
        if not isinstance(self.metadata, Mapping):
            raise TypeError(f"metadata must be a dict; got {self.metadata!r}")
        self.metadata = dict(self.metadata)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.network.input_shape

    @property
    def n_classes(self) -> int:
        return self.network.n_classes


def _json_entry(key: str, value: object) -> np.ndarray:
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model {key} must be JSON-serializable without NaN: {error}") from None
    return np.array(text)


def save_model(path: str | os.PathLike, model: Model) -> Path:
    """Write `model` to `path` atomically and return the path.

    The file is written to a temporary file in the same directory, flushed with fsync and renamed
    over `path`. On any error the temporary file is removed and an existing file at `path` is left
    as it was.
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be a Model; got {type(model).__name__}")
    path = Path(path)
    network = model.network

    arrays = {
        "format": _json_entry(
            "format", {"name": FORMAT_NAME, "version": FORMAT_VERSION, "dtype": network.dtype.name}
        ),
        "spec": _json_entry("spec", network.spec),
        "input_shape": _json_entry("input_shape", list(network.input_shape)),
        "classes": _json_entry("classes", model.classes),
        "normalization": _json_entry("normalization", model.normalization),
        "metadata": _json_entry("metadata", model.metadata),
    }
    for key, value in network.parameters().items():
        arrays[_PARAM_PREFIX + key] = value

    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        # mkstemp creates the file as 0600; a model file is meant to be readable like any other
        # file, for example by the non-root user of a container that did not write it.
        os.fchmod(descriptor, 0o644)
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        # BaseException so that a KeyboardInterrupt mid-write also removes the temporary file.
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Not every platform lets a directory be opened for this.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _read_json(archive, key: str, path: Path):
    if key not in archive.files:
        raise ModelFileError(f"model file {path} has no {key!r} entry; it is not a model file")
    entry = archive[key]
    if entry.shape != () or entry.dtype.kind != "U":
        raise ModelFileError(f"model file {path}: entry {key!r} is not a JSON string")
    try:
        return json.loads(str(entry))
    except json.JSONDecodeError as error:
        raise ModelFileError(f"model file {path}: entry {key!r} is invalid JSON: {error}") from None


def _check_magic(head: bytes, path: Path) -> None:
    """Raise ModelFileError unless ``head``, the first bytes of a file, start a zip or .npy file."""
    if head.startswith((_ZIP_MAGIC, _NPY_MAGIC)):
        return
    raise ModelFileError(
        f"model file {path} is not a CNN Playground model (.npz) file: it does not start like a "
        f"zip archive, so it is damaged, truncated or not a model .npz file"
    )


def load_model(path: str | os.PathLike) -> Model:
    """Read a model written by `save_model`.

    Raises ModelFileError, naming the path, for a missing, truncated or corrupt file, a file of
    another format or version, or weights that do not match the spec.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} not found")

    try:
        # NOTE: the file is opened here, not by np.load, so that it is closed even when np.load
        # fails on a damaged zip (NumPy 2.x can leave its own handle open in that case).
        with path.open("rb") as file:
            _check_magic(file.read(len(_NPY_MAGIC)), path)
            file.seek(0)
            archive = np.load(file, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ModelFileError(f"model file {path} is a single .npy array, not a model .npz")
            with archive:
                header = _read_json(archive, "format", path)
                if not isinstance(header, dict) or header.get("name") != FORMAT_NAME:
                    raise ModelFileError(f"model file {path} is not a {FORMAT_NAME} file")
                if header.get("version") != FORMAT_VERSION:
                    raise ModelFileError(
                        f"model file {path} has format version {header.get('version')!r}; "
                        f"this version of cnn_core reads version {FORMAT_VERSION}"
                    )
                dtype = header.get("dtype", "float32")
                if dtype not in ("float32", "float64"):
                    raise ModelFileError(f"model file {path} has unsupported dtype {dtype!r}")
                fields = {key: _read_json(archive, key, path) for key in _JSON_KEYS[1:]}
                params = {
                    key[len(_PARAM_PREFIX) :]: archive[key]
                    for key in archive.files
                    if key.startswith(_PARAM_PREFIX)
                }
    except ModelFileError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError) as error:
        # NumPy's own text for pickled data suggests loading with allow_pickle=True, which would
        # run code from the file, so that advice is never passed on.
        detail = str(error)
        if "allow_pickle" in detail:
            detail = "it contains pickled Python objects, which model files never contain"
        raise ModelFileError(
            f"model file {path} could not be read; it is damaged, truncated or not a model "
            f".npz file: {detail}"
        ) from None

    try:
        # Compare the stored arrays with the spec before building the network, so that a file
        # whose spec declares huge layers fails here instead of allocating them.
        expected = parameter_shapes(fields["spec"], fields["input_shape"])
        stored = {key: value.shape for key, value in params.items()}
        if stored != expected:
            raise ValueError(
                f"its weights do not match its spec: expected {expected}, found {stored}"
            )
        network = Network(fields["spec"], fields["input_shape"], dtype=dtype, seed=0)
        network.load_parameters(params)
        return Model(
            network,
            fields["classes"],
            normalization=fields["normalization"],
            metadata=fields["metadata"],
        )
    except (SpecError, ValueError, TypeError) as error:
        raise ModelFileError(f"model file {path} is invalid: {error}") from None


def shipped_model_path(name: str = "default") -> Path:
    """Return the path of the shipped model `name` in `cnn_core/pretrained/`."""
    if not isinstance(name, str) or not _SHIPPED_NAME.fullmatch(name):
        raise ValueError(
            f"shipped model name must contain only letters, digits, '_' and '-'; got {name!r}"
        )
    return PRETRAINED_DIR / f"{name}.npz"


def load_shipped_model(name: str = "default") -> Model:
    """Load a model shipped with the package from `cnn_core/pretrained/<name>.npz`."""
    path = shipped_model_path(name)
    if not path.is_file():
        available = sorted(p.stem for p in PRETRAINED_DIR.glob("*.npz"))
        raise ModelFileError(
            f"shipped model {name!r} not found at {path}; available: "
            f"{', '.join(available) or 'none'}. Train one with the 'train' command and save it "
            f"there, or reinstall the package."
        )
    return load_model(path)
