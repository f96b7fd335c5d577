"""Datasets and image input: IDX, CIFAR-10 and image-folder readers, decoding and preprocessing."""

from .errors import (
    CorruptImageError,
    DatasetError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from .idx import read_idx
from .images import DEFAULT_MAX_PIXELS, decode_image, image_to_array, preprocess
from .normalization import compute_normalization, to_model_input
from .registry import (
    BUILTIN_DATASETS,
    CIFAR10_CLASSES,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    Dataset,
    list_datasets,
    load_dataset,
    train_validation_split,
)

__all__ = [
    "BUILTIN_DATASETS",
    "CIFAR10_CLASSES",
    "DEFAULT_MAX_PIXELS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "CorruptImageError",
    "Dataset",
    "DatasetError",
    "EmptyImageError",
    "ImageError",
    "ImageTooLargeError",
    "UnsupportedImageError",
    "compute_normalization",
    "decode_image",
    "image_to_array",
    "list_datasets",
    "load_dataset",
    "preprocess",
    "read_idx",
    "to_model_input",
    "train_validation_split",
]
