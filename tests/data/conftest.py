"""Builders of small dataset files in the real on-disk formats, written without the readers."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

IDX_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file: magic, big-endian sizes, big-endian values."""
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype], array.ndim)
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX, gzip-compressed when ``compress`` (default: the name ends in .gz)."""
    data = idx_bytes(array)
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def write_idx_dataset(
    directory: Path, n_train: int = 12, n_test: int = 5, seed: int = 0, gz: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny MNIST-style dataset of 28x28 images and return its arrays per split."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    splits = {}
    for split, prefix, m in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(m, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=m).astype(np.uint8)
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        splits[split] = (images, labels)
    return splits


def write_cifar_batch(path: Path, images_hwc: np.ndarray, labels: np.ndarray, protocol=2) -> None:
    """Pickle a CIFAR batch: rows of red, green and blue planes (CHW), and a list of labels."""
    data = images_hwc.transpose(0, 3, 1, 2).reshape(images_hwc.shape[0], -1)
    batch = {b"batch_label": b"tiny batch", b"labels": [int(v) for v in labels], b"data": data}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))


def write_cifar_dataset(directory: Path, per_batch: int = 3, seed: int = 0, protocol: int = 2):
    """Write a tiny CIFAR-10 directory; return (train images, train labels, test images, labels)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    meta = {b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    (directory / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))

    def batch(name: str):
        images = rng.integers(0, 256, size=(per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, len(names), size=per_batch)
        write_cifar_batch(directory / name, images, labels, protocol)
        return images, labels

    train = [batch(f"data_batch_{i}") for i in range(1, 6)]
    test_images, test_labels = batch("test_batch")
    return (
        np.concatenate([images for images, _ in train]),
        np.concatenate([labels for _, labels in train]),
        test_images,
        test_labels,
    )


def png_bytes(image: Image.Image, format: str = "PNG", **options) -> bytes:
    """Encode a Pillow image in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def fashion_test_images() -> tuple[np.ndarray, np.ndarray]:
    """The first 200 Fashion-MNIST test images (200, 28, 28) uint8 and labels, read with gzip."""
    with gzip.open(FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz", "rb") as stream:
        header = stream.read(16)
        images = np.frombuffer(stream.read(200 * 28 * 28), dtype=np.uint8).reshape(200, 28, 28)
    with gzip.open(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz", "rb") as stream:
        stream.read(8)
        labels = np.frombuffer(stream.read(200), dtype=np.uint8)
    assert header[:4] == b"\x00\x00\x08\x03"
    return images, labels
