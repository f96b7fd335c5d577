"""Reader for the IDX format used by MNIST and Fashion-MNIST.

An IDX file starts with two zero bytes, a type code and the number of dimensions, followed by one
big-endian ``uint32`` size per dimension and the values in C order, all big-endian. The files may
be gzip-compressed; the reader recognizes gzip by its magic bytes, not by the file name.
"""

from __future__ import annotations

import gzip
import math
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

from .errors import DatasetError

# Type code -> big-endian NumPy dtype, as listed in the IDX format description on the MNIST page.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# File names of the two splits: the names used by the MNIST and Fashion-MNIST downloads, with and
# without .gz, and the dotted variant found in some re-distributions.
_SPLIT_PREFIXES = {"train": "train", "test": "t10k"}
_IMAGE_NAMES = ("{p}-images-idx3-ubyte.gz", "{p}-images-idx3-ubyte", "{p}-images.idx3-ubyte")
_LABEL_NAMES = ("{p}-labels-idx1-ubyte.gz", "{p}-labels-idx1-ubyte", "{p}-labels.idx1-ubyte")


def read_file_bytes(path: Path) -> bytes:
    """Read a file, decompressing it when it starts with the gzip magic bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{str(path)!r} was not found") from None
    except OSError as error:
        raise DatasetError(f"{str(path)!r} could not be read: {error}") from error

    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise DatasetError(
            f"{str(path)!r} is a truncated gzip file; download or install it again"
        ) from None
    except (OSError, zlib.error) as error:
        raise DatasetError(
            f"{str(path)!r} is a damaged gzip file ({error}); download or install it again"
        ) from error


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file.

    Returns a new writable array in native byte order whose shape is the one in the header.
    Raises ``DatasetError`` naming ``source`` for a bad magic number, a truncated file or extra
    bytes after the data.
    """
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_DTYPES:
        raise DatasetError(
            f"{source!r} is not an IDX file: bad magic number {data[:4].hex() or 'none'!r} "
            f"(expected 0000 followed by a type code in "
            f"{sorted(f'{code:02x}' for code in IDX_DTYPES)} and the number of dimensions)"
        )
    dtype = IDX_DTYPES[data[2]]
    ndim = data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DatasetError(
            f"{source!r} is truncated: the header of {ndim} dimensions needs {header_size} bytes "
            f"but the file has {len(data)}"
        )

    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = math.prod(shape)
    expected_size = header_size + count * dtype.itemsize
    if len(data) < expected_size:
        raise DatasetError(
            f"{source!r} is truncated: its header promises shape {shape} of {dtype.name} "
            f"({expected_size} bytes) but the file has {len(data)} bytes; "
            "download or install it again"
        )
    if len(data) > expected_size:
        raise DatasetError(
            f"{source!r} is damaged: it has {len(data) - expected_size} bytes after the "
            f"{expected_size} bytes that its header for shape {shape} describes"
        )

    values = np.frombuffer(data, dtype=dtype, count=count, offset=header_size)
    return values.reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | PathLike[str]) -> np.ndarray:
    """Read a plain or gzip-compressed IDX file of any type code and rank."""
    path = Path(path)
    return parse_idx(read_file_bytes(path), source=str(path))


def find_idx_split(directory: Path, split: str) -> tuple[Path, Path] | None:
    """Find the (images, labels) files of ``split`` in ``directory``; None if either is missing."""
    prefix = _SPLIT_PREFIXES[split]
    found = []
    for names in (_IMAGE_NAMES, _LABEL_NAMES):
        candidates = [directory / name.format(p=prefix) for name in names]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            return None
        found.append(existing[0])
    return found[0], found[1]


def read_idx_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one MNIST-style split: an image file of rank 3 and a label file of rank 1.

    Returns ``images`` of shape ``(m, n_H, n_W, 1)`` as uint8 and ``labels`` of shape ``(m,)`` as
    int64. Raises ``DatasetError`` when the types, ranks or counts do not fit together.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)

    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"{str(images_path)!r} contains {images.dtype.name} values of shape {images.shape}, "
            "expected uint8 images of shape (m, n_H, n_W)"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{str(labels_path)!r} contains {labels.dtype.name} values of shape {labels.shape}, "
            "expected integer labels of shape (m,)"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"image and label counts do not match: {str(images_path)!r} contains "
            f"{images.shape[0]} images but {str(labels_path)!r} contains {labels.shape[0]} labels"
        )
    if labels.size and labels.min() < 0:
        raise DatasetError(f"{str(labels_path)!r} contains a negative label {int(labels.min())}")

    return images[..., np.newaxis], labels.astype(np.int64)


def read_idx_count(path: Path) -> int:
    """Return the first dimension of an IDX file of rank 1 or more, reading only its header."""
    try:
        with open(path, "rb") as stream:
            compressed = stream.read(2) == _GZIP_MAGIC
        opener = gzip.open if compressed else open
        with opener(path, "rb") as stream:
            header = stream.read(8)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"{str(path)!r} could not be read: {error}") from error

    if len(header) < 8 or header[:2] != b"\x00\x00" or header[2] not in IDX_DTYPES or not header[3]:
        raise DatasetError(
            f"{str(path)!r} is not an IDX file: bad magic number {header[:4].hex()!r}"
        )
    return int.from_bytes(header[4:8], "big")
