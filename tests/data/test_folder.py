"""Image-folder and zip datasets: layouts, conversion to one shape, and the safety checks."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnn_core.datasets import DatasetError, load_dataset
from cnn_core.datasets.folder import read_image_folder

from .conftest import png_bytes


def _gray(value: int, size=(6, 4)) -> Image.Image:
    return Image.new("L", size, value)


def _layout() -> dict[str, bytes]:
    """Relative paths and contents of a small two-class dataset with some non-image files."""
    return {
        "cat/a.png": png_bytes(_gray(10)),
        "cat/b.bmp": png_bytes(_gray(20), "BMP"),
        "cat/nested/c.gif": png_bytes(_gray(30), "GIF"),
        "cat/notes.txt": b"not an image",
        "dog/a.png": png_bytes(_gray(200)),
        "dog/.hidden.png": b"ignored",
        ".DS_Store": b"ignored",
        "README.md": b"top-level file",
    }


def _write_folder(root, files: dict[str, bytes]):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _zip_bytes(files: dict[str, bytes], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    return buffer.getvalue()


def _write_zip(path, files: dict[str, bytes], prefix: str = ""):
    path.write_bytes(_zip_bytes(files, prefix))
    return path


def test_folder_dataset(tmp_path):
    root = _write_folder(tmp_path / "pets", _layout())

    dataset = load_dataset(root)

    assert dataset.name == "pets"
    assert dataset.classes == ["cat", "dog"]
    assert dataset.images.shape == (4, 4, 6, 1)
    assert dataset.images.dtype == np.uint8
    assert dataset.labels.tolist() == [0, 0, 0, 1]
    assert dataset.images[:, 0, 0, 0].tolist() == [10, 20, 30, 200]
    assert sorted(dataset.skipped) == [str(root / "README.md"), str(root / "cat/notes.txt")]


@pytest.mark.parametrize("prefix", ["", "pets/"])
def test_zip_dataset(tmp_path, prefix):
    path = _write_zip(tmp_path / "pets.zip", _layout(), prefix)

    dataset = load_dataset(path)

    assert dataset.name == "pets"
    assert dataset.classes == ["cat", "dog"]
    assert dataset.images[:, 0, 0, 0].tolist() == [10, 20, 30, 200]
    assert dataset.labels.tolist() == [0, 0, 0, 1]


def test_zip_from_file_object():
    data = read_image_folder(io.BytesIO(_zip_bytes(_layout())))

    assert data.classes == ["cat", "dog"]
    assert data.images.shape == (4, 4, 6, 1)


def test_folder_mixed_sizes_and_modes(tmp_path):
    files = {
        "a/1.png": png_bytes(Image.new("RGB", (8, 8), (255, 0, 0))),
        "a/2.png": png_bytes(Image.new("RGB", (16, 4), (0, 255, 0))),
        "b/1.png": png_bytes(Image.new("L", (3, 3), 128)),
    }
    root = _write_folder(tmp_path / "mixed", files)

    dataset = load_dataset(root)

    assert dataset.images.shape == (3, 8, 8, 3)
    assert dataset.images[0, 4, 4].tolist() == [255, 0, 0]
    assert dataset.images[1, 4, 4].tolist() == [0, 255, 0]
    assert dataset.images[2, 4, 4].tolist() == [128, 128, 128]


def test_folder_target_shape(tmp_path):
    files = {
        "a/1.png": png_bytes(Image.new("RGB", (8, 8), (255, 0, 0))),
        "b/1.png": png_bytes(Image.new("RGB", (5, 7), (0, 0, 255))),
    }
    root = _write_folder(tmp_path / "colors", files)

    dataset = load_dataset(root, image_shape=(4, 4, 1))

    assert dataset.images.shape == (2, 4, 4, 1)
    # BT.601 luma of pure red and pure blue.
    assert dataset.images[0, 0, 0, 0] == round(0.299 * 255)
    assert dataset.images[1, 0, 0, 0] == round(0.114 * 255)


def test_zip_no_class_folders(tmp_path):
    path = _write_zip(tmp_path / "flat.zip", {"1.png": png_bytes(_gray(1))})

    with pytest.raises(DatasetError, match="no class folders"):
        load_dataset(path)


def test_folder_no_class_folders(tmp_path):
    root = _write_folder(tmp_path / "flat", {"1.png": png_bytes(_gray(1))})

    with pytest.raises(DatasetError, match="no class folders"):
        load_dataset(root)


def test_single_class_rejected(tmp_path):
    root = _write_folder(tmp_path / "one", {"a/1.png": png_bytes(_gray(1)), "a/2.png": b"x"})

    with pytest.raises(DatasetError, match="at least two classes"):
        load_dataset(root)


@pytest.mark.parametrize("name", ["../evil/1.png", "a/../../1.png", "/abs/1.png", "C:/x/1.png"])
def test_zip_traversal_rejected(tmp_path, name):
    files = {"a/1.png": png_bytes(_gray(1)), "b/1.png": png_bytes(_gray(2)), name: b"x"}
    path = _write_zip(tmp_path / "bad.zip", files)

    with pytest.raises(DatasetError, match="points outside the archive"):
        load_dataset(path)


def test_empty_class_rejected(tmp_path):
    files = {"a/1.png": png_bytes(_gray(1)), "b/readme.txt": b"no images here"}
    path = _write_zip(tmp_path / "empty.zip", files)

    with pytest.raises(DatasetError, match="class folder 'b' has no readable images"):
        load_dataset(path)


def test_corrupt_image_named(tmp_path):
    files = {"a/1.png": png_bytes(_gray(1)), "b/2.png": png_bytes(_gray(2))[:-30]}
    root = _write_folder(tmp_path / "broken", files)

    with pytest.raises(DatasetError, match="2.png' could not be read as an image"):
        load_dataset(root)


def test_zip_bomb_rejected_before_reading(tmp_path, monkeypatch):
    files = {"a/1.png": png_bytes(_gray(1)), "b/big.bin": bytes(20_000_000)}
    path = _write_zip(tmp_path / "bomb.zip", files)
    assert path.stat().st_size < 100_000

    def fail_open(*args, **kwargs):
        raise AssertionError("a member was read before the size check")

    monkeypatch.setattr(zipfile.ZipFile, "open", fail_open)
    with pytest.raises(DatasetError, match="more than the maximum of 1000000 bytes"):
        load_dataset(path, max_total_bytes=1_000_000)


def test_zip_member_count_limit(tmp_path):
    files = {f"{c}/{i}.png": png_bytes(_gray(i)) for c in "ab" for i in range(3)}
    path = _write_zip(tmp_path / "many.zip", files)

    with pytest.raises(DatasetError, match="contains 6 files, more than the maximum of 5"):
        load_dataset(path, max_files=5)


def test_folder_size_limit(tmp_path):
    root = _write_folder(tmp_path / "pets", _layout())

    with pytest.raises(DatasetError, match="more than the maximum of 100 bytes"):
        load_dataset(root, max_total_bytes=100)


def test_zip_member_larger_than_declared(tmp_path):
    files = {"a/1.png": png_bytes(_gray(1)), "b/1.png": png_bytes(_gray(2))}
    data = bytearray(_zip_bytes(files))
    # Halve the uncompressed size that the central directory declares for the last member.
    header = data.rindex(b"PK\x01\x02")
    declared = int.from_bytes(data[header + 24 : header + 28], "little")
    data[header + 24 : header + 28] = (declared // 2).to_bytes(4, "little")
    path = tmp_path / "lying.zip"
    path.write_bytes(bytes(data))

    with pytest.raises(DatasetError, match="b/1.png' is damaged"):
        load_dataset(path)


def test_not_a_zip(tmp_path):
    path = tmp_path / "data.zip"
    path.write_bytes(b"plain text")

    with pytest.raises(DatasetError, match="neither a folder nor a zip file"):
        load_dataset(path)


def test_folder_has_no_test_split(tmp_path):
    root = _write_folder(tmp_path / "pets", _layout())

    with pytest.raises(DatasetError, match="has only a train split"):
        load_dataset(root, "test")


def test_folder_pixel_limit(tmp_path):
    files = {"a/1.png": png_bytes(_gray(1, (50, 50))), "b/1.png": png_bytes(_gray(2))}
    root = _write_folder(tmp_path / "big", files)

    with pytest.raises(DatasetError, match="1.png' could not be read.*more than the maximum"):
        load_dataset(root, max_pixels=1000)
