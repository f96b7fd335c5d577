"""Reader for the CIFAR-10 "python version" batches.

The directory contains ``data_batch_1`` to ``data_batch_5``, ``test_batch`` and ``batches.meta``.
Each batch is a pickled dict with ``b"data"``, a uint8 array of shape (N, 3072) containing every
image's red, green and blue planes of 32x32 pixels in turn, and ``b"labels"``, a list of N ints.
``batches.meta`` contains ``b"label_names"``.

Unpickling can run arbitrary code, so these files are read with ``RestrictedUnpickler``. It
resolves only the globals that NumPy needs to rebuild a plain array of a non-object dtype, plus
``_codecs.encode``, which Python 3 uses for bytes in protocol 2. Any other global in the file is
rejected. Lists, dicts, tuples, strings, bytes and numbers need no globals at all.
"""

from __future__ import annotations

import codecs
import functools
import io
import pickle
from pathlib import Path

import numpy as np

from .errors import DatasetError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
IMAGE_SHAPE = (32, 32, 3)


def _checked_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"object arrays are not allowed (dtype {dtype})")
    return dtype


def _checked_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"only plain numpy arrays are allowed, got {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, _checked_dtype(dtype))


def _checked_frombuffer(buffer, dtype, shape, order):
    values = np.frombuffer(buffer, dtype=_checked_dtype(dtype))
    return values.reshape(shape, order=order)


def _checked_encode(text, encoding="utf-8"):
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"unexpected encoding {encoding!r} in a pickled bytes value")
    return codecs.encode(text, "latin1")


# (module, name) -> the callable that replaces it.
# NumPy 1.x pickles name numpy.core, NumPy 2.x numpy._core.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _checked_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _checked_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _checked_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _checked_frombuffer,
    ("_codecs", "encode"): _checked_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds builtin containers and plain NumPy arrays, and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a CIFAR-10 batch"
            ) from None


def load_pickle(path: Path) -> object:
    """Unpickle a CIFAR batch file with ``RestrictedUnpickler`` (Python 2 strings become bytes)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{str(path)!r} was not found") from None
    except OSError as error:
        raise DatasetError(f"{str(path)!r} could not be read: {error}") from error

    unpickler = RestrictedUnpickler(io.BytesIO(data), encoding="bytes")
    try:
        result = unpickler.load()
    except EOFError:
        raise DatasetError(
            f"{str(path)!r} is truncated; extract cifar-10-python.tar.gz again"
        ) from None
    except (pickle.UnpicklingError, ValueError, TypeError, IndexError, KeyError) as error:
        raise DatasetError(f"{str(path)!r} is not a valid CIFAR-10 batch file: {error}") from error
    if not isinstance(result, dict):
        raise DatasetError(
            f"{str(path)!r} is not a valid CIFAR-10 batch file: it is a "
            f"{type(result).__name__}, expected a dict"
        )
    return result


def _field(batch: dict, key: bytes, path: Path):
    for candidate in (key, key.decode("ascii")):
        if candidate in batch:
            return batch[candidate]
    raise DatasetError(f"{str(path)!r} is not a valid CIFAR-10 batch file: it has no {key!r} entry")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file.

    Returns ``images`` uint8 of shape (N, 32, 32, 3) and ``labels`` int64 of shape (N,).
    """
    batch = load_pickle(path)
    data = _field(batch, b"data", path)
    labels = np.asarray(_field(batch, b"labels", path))

    n_values = int(np.prod(IMAGE_SHAPE))
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or (data.shape[1] != n_values)
    ):
        raise DatasetError(
            f"{str(path)!r} is damaged: its data is {getattr(data, 'dtype', type(data).__name__)} "
            f"of shape {getattr(data, 'shape', None)}, expected uint8 of shape (N, {n_values})"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(f"{str(path)!r} is damaged: its labels are not a list of integers")
    if labels.shape[0] != data.shape[0]:
        raise DatasetError(
            f"{str(path)!r} is damaged: image and label counts do not match "
            f"({data.shape[0]} images, {labels.shape[0]} labels)"
        )

    # Rows are channel planes (CHW); the engine uses HWC.
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def read_label_names(directory: Path) -> list[str]:
    """Read the class names from ``batches.meta``."""
    path = directory / META_FILE
    names = _field(load_pickle(path), b"label_names", path)
    if not isinstance(names, list) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DatasetError(f"{str(path)!r} is damaged: label_names is not a list of strings")
    return [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]


def read_cifar10(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read the ``"train"`` or ``"test"`` split of CIFAR-10 from ``directory``.

    Returns ``images`` uint8 (m, 32, 32, 3), ``labels`` int64 (m,) and the class names. Raises
    ``DatasetError`` when a label is outside the class names.
    """
    names = TRAIN_BATCHES if split == "train" else (TEST_BATCH,)
    classes = read_label_names(directory)
    parts = [read_batch(directory / name) for name in names]
    images = np.concatenate([part[0] for part in parts])
    labels = np.concatenate([part[1] for part in parts])

    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetError(
            f"{str(directory)!r} contains labels in [{labels.min()}, {labels.max()}] but "
            f"{META_FILE} names {len(classes)} classes"
        )
    return images, labels, classes


@functools.lru_cache(maxsize=32)
def _cached_count(path: str, mtime_ns: int, size: int) -> int:
    return int(read_batch(Path(path))[1].shape[0])


def count_batch(path: Path) -> int:
    """Return the number of images in a batch file; cached while the file is unchanged."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DatasetError(f"{str(path)!r} was not found") from None
    return _cached_count(str(path), stat.st_mtime_ns, stat.st_size)
