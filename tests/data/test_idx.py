"""IDX reader on the installed Fashion-MNIST files and on small files written by the tests."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnn_core.datasets import DatasetError, load_dataset, read_idx
from cnn_core.datasets.idx import read_idx_count

from .conftest import FASHION_MNIST_DIR, idx_bytes, write_idx, write_idx_dataset


@pytest.mark.parametrize("split, count", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_real_files(split, count):
    dataset = load_dataset("fashion-mnist", split)

    assert dataset.images.shape == (count, 28, 28, 1)
    assert dataset.images.dtype == np.uint8
    assert dataset.labels.shape == (count,)
    assert dataset.labels.dtype == np.int64
    assert set(np.unique(dataset.labels)) == set(range(10))
    assert np.bincount(dataset.labels).tolist() == [count // 10] * 10
    assert dataset.images.max() == 255
    assert dataset.classes[0] == "T-shirt/top"
    assert dataset.classes[9] == "Ankle boot"


def test_fashion_mnist_header_counts():
    assert read_idx_count(FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz") == 60000
    assert read_idx_count(FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz") == 10000


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, shape, compress):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal(shape) * 100).astype(dtype)

    path = write_idx(tmp_path / "values.idx", array, compress=compress)
    result = read_idx(path)

    assert result.dtype == np.dtype(dtype)
    assert result.dtype.isnative
    assert result.shape == shape
    np.testing.assert_array_equal(result, array)


def test_idx_result_is_writable(tmp_path):
    path = write_idx(tmp_path / "x.idx", np.arange(6, dtype=np.uint8).reshape(2, 3))
    result = read_idx(path)
    result[0, 0] = 9
    assert result[0, 0] == 9


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_style_directory(tmp_path, gz):
    splits = write_idx_dataset(tmp_path / "mnist", gz=gz)

    for split, (images, labels) in splits.items():
        dataset = load_dataset("mnist", split, directory=tmp_path / "mnist")
        np.testing.assert_array_equal(dataset.images[..., 0], images)
        np.testing.assert_array_equal(dataset.labels, labels)
        assert dataset.classes == [str(d) for d in range(10)]


def test_mnist_dotted_file_names(tmp_path):
    images = np.full((2, 28, 28), 7, dtype=np.uint8)
    write_idx(tmp_path / "train-images.idx3-ubyte", images)
    write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([3, 4], dtype=np.uint8))

    dataset = load_dataset("mnist", directory=tmp_path)

    assert dataset.labels.tolist() == [3, 4]
    assert dataset.images.shape == (2, 28, 28, 1)


def _write_pair(directory, images_data: bytes, labels_data: bytes):
    (directory / "train-images-idx3-ubyte").write_bytes(images_data)
    (directory / "train-labels-idx1-ubyte").write_bytes(labels_data)


def test_idx_truncated_data(tmp_path):
    images = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    _write_pair(tmp_path, images[:-10], idx_bytes(np.zeros(4, dtype=np.uint8)))

    with pytest.raises(DatasetError, match=r"truncated.*promises shape \(4, 28, 28\)"):
        load_dataset("mnist", directory=tmp_path)


def test_idx_truncated_header(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))[:9])

    with pytest.raises(DatasetError, match="truncated"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = tmp_path / "x.idx.gz"
    data = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(DatasetError, match="truncated gzip"):
        read_idx(path)


@pytest.mark.parametrize(
    "head", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"PK\x03\x04", b"", b"\x00\x00"]
)
def test_idx_bad_magic(tmp_path, head):
    path = tmp_path / "x.idx"
    path.write_bytes(head + b"\x00\x00\x00\x01\x05")

    with pytest.raises(DatasetError, match="bad magic number"):
        read_idx(path)


def test_idx_extra_bytes(tmp_path):
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(np.zeros(3, dtype=np.uint8)) + b"\x00\x00")

    with pytest.raises(DatasetError, match="2 bytes after"):
        read_idx(path)


def test_idx_count_mismatch(tmp_path):
    images = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    _write_pair(tmp_path, images, idx_bytes(np.zeros(3, dtype=np.uint8)))

    with pytest.raises(DatasetError, match="4 images but .* 3 labels"):
        load_dataset("mnist", directory=tmp_path)


def test_idx_wrong_rank(tmp_path):
    images = idx_bytes(np.zeros((4, 784), dtype=np.uint8))
    _write_pair(tmp_path, images, idx_bytes(np.zeros(4, dtype=np.uint8)))

    with pytest.raises(DatasetError, match=r"expected uint8 images of shape \(m, n_H, n_W\)"):
        load_dataset("mnist", directory=tmp_path)


def test_idx_label_out_of_range(tmp_path):
    images = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))
    _write_pair(tmp_path, images, idx_bytes(np.array([1, 10], dtype=np.uint8)))

    with pytest.raises(DatasetError, match="contains label 10"):
        load_dataset("mnist", directory=tmp_path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_idx(tmp_path / "nothing.idx")
