"""Named datasets, their locations, and the seeded train/validation split.

Built-in names and where their files are looked up (a ``directory`` argument wins over the
environment variable, which wins over the default folder):

============== ================================== ====================================
name           environment variable               default folder
============== ================================== ====================================
fashion-mnist  ``CNN_PLAYGROUND_FASHION_MNIST_DIR`` ``/usr/share/datasets/fashion-mnist``
mnist          ``CNN_PLAYGROUND_MNIST_DIR``         none
cifar10        ``CNN_PLAYGROUND_CIFAR10_DIR``       none
============== ================================== ====================================

Any other name is taken as the path of a folder of class folders or a .zip of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np

from . import cifar, idx
from .errors import DatasetError
from .folder import MAX_FILES, MAX_TOTAL_BYTES, read_image_folder
from .images import DEFAULT_MAX_PIXELS

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
SPLITS = ("train", "test")
_IDX_FILES = (
    "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"
)


@dataclass(frozen=True)
class BuiltinDataset:
    """A dataset known by name: where to look for it and how to get it."""

    name: str
    kind: str  # "idx" or "cifar10"
    env_var: str
    default_directory: Path | None
    input_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    hint: str


BUILTIN_DATASETS = {
    "fashion-mnist": BuiltinDataset(
        "fashion-mnist",
        "idx",
        "CNN_PLAYGROUND_FASHION_MNIST_DIR",
        Path("/usr/share/datasets/fashion-mnist"),
        (28, 28, 1),
        FASHION_MNIST_CLASSES,
        "install it with: apt-get install dataset-fashion-mnist, or set "
        f"CNN_PLAYGROUND_FASHION_MNIST_DIR to a folder containing {_IDX_FILES}",
    ),
    "mnist": BuiltinDataset(
        "mnist",
        "idx",
        "CNN_PLAYGROUND_MNIST_DIR",
        None,
        (28, 28, 1),
        MNIST_CLASSES,
        f"set CNN_PLAYGROUND_MNIST_DIR (or pass a directory) to a folder containing {_IDX_FILES}",
    ),
    "cifar10": BuiltinDataset(
        "cifar10",
        "cifar10",
        "CNN_PLAYGROUND_CIFAR10_DIR",
        None,
        (32, 32, 3),
        CIFAR10_CLASSES,
        "extract the CIFAR-10 python version (cifar-10-python.tar.gz) and set "
        "CNN_PLAYGROUND_CIFAR10_DIR (or pass a directory) to its cifar-10-batches-py folder",
    ),
}


@dataclass
class Dataset:
    """One split of a dataset.

    ``images`` is uint8 of shape (m, n_H, n_W, n_C) and ``labels`` int64 of shape (m,) with
    values in ``range(len(classes))``. ``path`` is the folder or file the data came from and
    ``skipped`` lists files of an image folder that were not images.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    path: str
    skipped: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The per-example shape (n_H, n_W, n_C)."""
        return tuple(int(size) for size in self.images.shape[1:])

    def __len__(self) -> int:
        return int(self.images.shape[0])


def dataset_directory(name: str, directory: str | PathLike[str] | None = None) -> Path:
    """Resolve the folder of a built-in dataset from the argument, its variable or its default."""
    spec = _builtin(name)
    if directory is not None:
        return Path(directory)
    from_env = os.environ.get(spec.env_var)
    if from_env:
        return Path(from_env)
    if spec.default_directory is None:
        raise DatasetError(f"no folder is set for the {name} dataset; {spec.hint}")
    return spec.default_directory


def _builtin(name: str) -> BuiltinDataset:
    try:
        return BUILTIN_DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {sorted(BUILTIN_DATASETS)}"
        ) from None


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _cifar_directory(directory: Path) -> Path:
    nested = directory / "cifar-10-batches-py"
    return nested if not (directory / cifar.META_FILE).exists() and nested.is_dir() else directory


def _load_builtin(name: str, split: str, directory: str | PathLike[str] | None) -> Dataset:
    spec = _builtin(name)
    folder = dataset_directory(name, directory)
    if not folder.is_dir():
        raise DatasetError(
            f"the {name} dataset was not found: {str(folder)!r} is not a folder; {spec.hint}"
        )

    if spec.kind == "idx":
        paths = idx.find_idx_split(folder, split)
        if paths is None:
            raise DatasetError(
                f"the {split} split of {name} was not found in {str(folder)!r}; {spec.hint}"
            )
        images, labels = idx.read_idx_split(*paths)
        classes = list(spec.classes)
        if labels.size and labels.max() >= len(classes):
            raise DatasetError(
                f"{str(paths[1])!r} contains label {int(labels.max())}, but {name} has only "
                f"{len(classes)} classes"
            )
    elif spec.kind == "cifar10":
        folder = _cifar_directory(folder)
        missing = [
            file
            for file in (cifar.META_FILE, *cifar.TRAIN_BATCHES, cifar.TEST_BATCH)
            if not (folder / file).is_file()
        ]
        if missing:
            raise DatasetError(
                f"the {name} dataset was not found: {str(folder)!r} has no {missing[0]}; "
                f"{spec.hint}"
            )
        images, labels, classes = cifar.read_cifar10(folder, split)
    else:
        raise AssertionError(f"unknown dataset kind {spec.kind!r}")

    return Dataset(name, split, images, labels, classes, str(folder))


def load_dataset(
    name: str | PathLike[str],
    split: str = "train",
    *,
    directory: str | PathLike[str] | None = None,
    image_shape: tuple[int, int, int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_files: int = MAX_FILES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Dataset:
    """Load the ``"train"`` or ``"test"`` split of a dataset.

    ``name`` is ``"fashion-mnist"``, ``"mnist"``, ``"cifar10"`` or the path of a folder of class
    folders or of a .zip of one. ``directory`` overrides the folder of a built-in dataset.
    ``image_shape``, ``max_pixels``, ``max_files`` and ``max_total_bytes`` apply to image folders
    only (see ``folder.read_image_folder``). An image folder has only a train split: carve a
    validation set out of it with ``train_validation_split``.

    Raises ``DatasetError`` (a ``ValueError``) with the path and the fix when the data is missing
    or damaged.
    """
    _check_split(split)
    if isinstance(name, str) and name in BUILTIN_DATASETS:
        return _load_builtin(name, split, directory)

    path = Path(name)
    if not path.exists():
        raise DatasetError(
            f"unknown dataset {str(name)!r}: it is neither one of {sorted(BUILTIN_DATASETS)} nor "
            "an existing folder or .zip of class folders"
        )
    if split != "train":
        raise DatasetError(
            f"{str(path)!r} is an image folder and has only a train split; use "
            "train_validation_split to hold out validation images"
        )
    data = read_image_folder(
        path,
        image_shape=image_shape,
        max_pixels=max_pixels,
        max_files=max_files,
        max_total_bytes=max_total_bytes,
    )
    stem = path.name[: -len(".zip")] if path.name.lower().endswith(".zip") else path.name
    return Dataset(stem, "train", data.images, data.labels, data.classes, str(path), data.skipped)


def _describe_builtin(spec: BuiltinDataset, directory: str | PathLike[str] | None) -> dict:
    info = {
        "name": spec.name,
        "available": False,
        "path": None,
        "input_shape": list(spec.input_shape),
        "classes": list(spec.classes),
        "train_size": None,
        "test_size": None,
        "hint": spec.hint,
    }
    try:
        folder = dataset_directory(spec.name, directory)
        info["path"] = str(folder)
        if spec.kind == "idx":
            sizes = {}
            for split in SPLITS:
                paths = idx.find_idx_split(folder, split)
                if paths is None:
                    raise DatasetError(f"the {split} split was not found in {str(folder)!r}")
                sizes[split] = idx.read_idx_count(paths[0])
        else:
            folder = _cifar_directory(folder)
            info["path"] = str(folder)
            info["classes"] = cifar.read_label_names(folder)
            sizes = {
                "train": sum(cifar.count_batch(folder / batch) for batch in cifar.TRAIN_BATCHES),
                "test": cifar.count_batch(folder / cifar.TEST_BATCH),
            }
    except DatasetError as error:
        info["hint"] = f"{error}; {spec.hint}" if spec.hint not in str(error) else str(error)
        return info

    info.update(available=True, train_size=sizes["train"], test_size=sizes["test"], hint=None)
    return info


def _describe_folder(path: str | PathLike[str]) -> dict:
    info = {
        "name": Path(path).name,
        "available": False,
        "path": str(path),
        "input_shape": None,
        "classes": None,
        "train_size": None,
        "test_size": 0,
        "hint": None,
    }
    try:
        dataset = load_dataset(path)
    except DatasetError as error:
        info["hint"] = str(error)
        return info
    info.update(
        name=dataset.name,
        available=True,
        input_shape=list(dataset.input_shape),
        classes=dataset.classes,
        train_size=len(dataset),
    )
    return info


def list_datasets(
    paths: tuple[str | PathLike[str], ...] = (),
    *,
    directories: dict[str, str | PathLike[str]] | None = None,
) -> list[dict]:
    """Describe the built-in datasets, then each image folder or zip in ``paths``.

    ``directories`` maps built-in names to folders that override their variables. Each entry is
    a JSON-ready dict with ``name``, ``available``, ``path``, ``input_shape`` ([n_H, n_W, n_C]),
    ``classes``, ``train_size``, ``test_size`` and ``hint`` (how to get a missing dataset, else
    None). Built-in datasets are described from file headers; an image folder is read in full.
    """
    directories = directories or {}
    unknown = set(directories) - set(BUILTIN_DATASETS)
    if unknown:
        raise ValueError(
            f"directories has unknown dataset names {sorted(unknown)}; "
            f"choose from {sorted(BUILTIN_DATASETS)}"
        )
    described = [
        _describe_builtin(spec, directories.get(name)) for name, spec in BUILTIN_DATASETS.items()
    ]
    return described + [_describe_folder(path) for path in paths]


def train_validation_split(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split examples into training and validation sets, stratified by class and seeded.

    ``images`` has shape (m, ...) and ``labels`` shape (m,). Each class gives
    ``round(validation_fraction * count)`` of its examples, chosen by a permutation from
    ``numpy.random.default_rng(seed)``, to the validation set. Both sets keep that permuted order.
    Returns ``(images_train, labels_train, images_val, labels_val)`` as new arrays.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if labels.ndim != 1 or images.ndim < 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            "images must have shape (m, ...) and labels shape (m,) with the same m, got "
            f"{images.shape} and {labels.shape}"
        )
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")

    order = np.random.default_rng(seed).permutation(labels.shape[0])
    ordered_labels = labels[order]
    is_validation = np.zeros(order.shape[0], dtype=bool)
    for label in np.unique(ordered_labels):
        positions = np.flatnonzero(ordered_labels == label)
        n_validation = int(round(validation_fraction * positions.size))
        is_validation[positions[:n_validation]] = True

    train_index = order[~is_validation]
    validation_index = order[is_validation]
    return (
        images[train_index],
        labels[train_index],
        images[validation_index],
        labels[validation_index],
    )
