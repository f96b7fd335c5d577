"""Loading what the commands take as arguments: model files, shipped models and image files."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from app.cli.errors import CliError
from cnn_core.datasets import ImageError
from cnn_core.datasets.images import decode_image
from cnn_core.serialization import Model, ModelFileError, load_model, load_shipped_model


def load_model_argument(text: str) -> Model:
    """Load the model that a MODEL argument names: a ``.npz`` path or a shipped model's name.

    A text that ends in ``.npz``, contains a path separator or names an existing file is a path.
    Any other text is the name of a shipped model, such as ``default``.
    """
    path = Path(text)
    looks_like_path = path.suffix == ".npz" or len(path.parts) > 1 or path.exists()
    if looks_like_path and path.is_dir():
        raise CliError(f"model path {text!r} is a folder, not a .npz model file")

    try:
        return load_model(path) if looks_like_path else load_shipped_model(text)
    except ModelFileError as error:
        raise CliError(str(error)) from None
    except ValueError as error:  # a shipped model name with characters a file name cannot have
        raise CliError(
            f"{text!r} is neither a model file nor a shipped model name: {error}"
        ) from None


def read_image(text: str) -> Image.Image:
    """Read and decode the image file at path ``text`` with the web app's decoder."""
    path = Path(text)
    if not path.exists():
        raise CliError(f"image file {text} not found")
    if not path.is_file():
        raise CliError(f"image path {text} is not a file")
    try:
        return decode_image(path.read_bytes())
    except ImageError as error:
        raise CliError(f"image file {text} is invalid: {error}") from None
