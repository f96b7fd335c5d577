"""Loading what the commands take as arguments: model files, shipped models and image files."""

from __future__ import annotations

import zipfile
from pathlib import Path

from cnn_core.datasets.images import decode_image
from cnn_core.serialization import Model, load_model, load_shipped_model
from PIL import Image

from app.cli.errors import CliError
from cnn_core.datasets import ImageError

# Errors that numpy.load and the model reader raise for a file that is not a valid model.
_BAD_MODEL_FILE_ERRORS = (ValueError, KeyError, EOFError, zipfile.BadZipFile)


def load_model_argument(text: str) -> Model:
    """Load the model that a MODEL argument names: a ``.npz`` path or a shipped model's name.

    A text that ends in ``.npz``, contains a path separator or names an existing file is a path.
    """
    path = Path(text)
    looks_like_path = path.suffix == ".npz" or len(path.parts) > 1 or path.exists()
    if not looks_like_path:
        try:
            return load_shipped_model(text)
        except (ValueError, FileNotFoundError) as error:
            raise CliError(f"no model file or shipped model named {text!r}: {error}") from None

    if not path.exists():
        raise CliError(f"model file not found: {text}")
    if not path.is_file():
        raise CliError(f"model path is not a file: {text}")
    try:
        return load_model(path)
    except _BAD_MODEL_FILE_ERRORS as error:
        raise CliError(f"invalid model file {text}: {error}") from None


def read_image(text: str) -> Image.Image:
    """Read and decode the image file at path ``text`` with the web app's decoder."""
    path = Path(text)
    if not path.exists():
        raise CliError(f"image file not found: {text}")
    if not path.is_file():
        raise CliError(f"image path is not a file: {text}")
    try:
        return decode_image(path.read_bytes())
    except ImageError as error:
        raise CliError(f"invalid image {text}: {error}") from None
