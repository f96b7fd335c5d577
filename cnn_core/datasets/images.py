"""Image decoding and the one preprocessing path shared by datasets, the CLI and the web service.

Conventions, applied to every Pillow mode:

- Values are float32 in [0, 1]. 8-bit channels are divided by 255; 16-bit images (``I;16``,
  ``I;16B``, ``I;16L``, ``I;16N``) by 65535, so their full range is kept and nothing is clipped.
- Mode ``I`` (32-bit signed integers) is divided by 65535 when every value lies in 0..65535,
  which is how Pillow may store 16-bit PNG and TIFF images. Any other ``I`` image is scaled by
  its own minimum and maximum, and a constant one becomes all zeros.
- Mode ``F`` (32-bit float) is taken as already in [0, 1]: values are clipped to that range,
  NaN becomes 0, +inf 1 and -inf 0.
- Transparency is composited on black (``value * alpha``), because Fashion-MNIST pictures are
  light garments on a black background. Palette images with a transparent color count as
  transparent, and premultiplied modes (``La``, ``RGBa``) are already composited.
- ``CMYK``, ``YCbCr``, ``HSV`` and ``RGBX`` go through Pillow's own conversion to RGB; ``LAB``
  through an ImageCms transform to sRGB.
- Gray to RGB repeats the channel; RGB to gray uses the ITU-R BT.601 luma weights
  0.299 R + 0.587 G + 0.114 B, computed in float64 so a gray RGB image keeps its exact values.
- Resizing uses Pillow's bilinear filter on each float channel. Pillow widens the filter when
  shrinking, so downscaling averages neighboring pixels instead of skipping them.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from .normalization import normalize, uint8_to_unit

# About a 40-megapixel photo; decoded as RGBA it takes 160 MB.
DEFAULT_MAX_PIXELS = 40_000_000

RESIZE_FILTER = Image.Resampling.BILINEAR
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

# Start bytes of common image formats. Data that starts like this but cannot be opened is reported
# as a corrupt image rather than as "not an image".
_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
)

# Errors that Pillow's decoders raise for truncated or malformed data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}

# The pixel count in Pillow's DecompressionBombError and DecompressionBombWarning messages.
_BOMB_PIXELS = re.compile(r"Image size \((\d+) pixels\)")


def _looks_like_image(data: bytes) -> bool:
    head = bytes(data[:16])
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes into a loaded Pillow image, checking the pixel count first.

    The width and height come from the header (``Image.open`` reads no pixel data), so an image
    over ``max_pixels`` is rejected before any decoding. Then the first frame is decoded and its
    EXIF orientation applied.

    Raises ``EmptyImageError`` for empty data, ``UnsupportedImageError`` for data in no format that
    Pillow reads, ``CorruptImageError`` for truncated or damaged data and ``ImageTooLargeError``
    for more than ``max_pixels`` pixels, or for Pillow's own decompression-bomb limit
    (``Image.MAX_IMAGE_PIXELS``, which caps ``max_pixels``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    if len(data) == 0:
        raise EmptyImageError("the image is empty (0 bytes)")

    # NOTE: catch_warnings swaps the process-wide warning filters, which is not thread-safe before
    # Python 3.14. A thread that races with this block may keep the extra filter, which only turns
    # a DecompressionBombWarning into an exception, so it is rejected there too.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open_checked(data, max_pixels)
            image.load()
            return ImageOps.exif_transpose(image)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _bomb_error_to_too_large(error, max_pixels) from None
        except MemoryError:
            raise ImageTooLargeError("the image is too large to decode in memory") from None
        except _DECODE_ERRORS as error:
            raise CorruptImageError(
                f"the image is truncated or corrupt and could not be decoded: {error}"
            ) from None


def _bomb_error_to_too_large(error: Exception, max_pixels: int) -> ImageTooLargeError:
    """Restate Pillow's decompression-bomb error with the pixel count and the limit in force.

    ``Image.open`` runs Pillow's check on the header size before ``_open_checked`` can check
    it, so a header over ``Image.MAX_IMAGE_PIXELS`` arrives here, not at the ``max_pixels`` check.
    """
    limit = max_pixels
    if Image.MAX_IMAGE_PIXELS is not None:
        limit = min(max_pixels, Image.MAX_IMAGE_PIXELS)

    # NOTE: the pixel count is read from the text of Pillow's message (Pillow 9 to 13 write
    # "Image size (N pixels) exceeds ..."). Without that text, the message leaves the count out.
    match = _BOMB_PIXELS.search(str(error))
    if match is None:
        return ImageTooLargeError(
            f"the image is too large: it has more than the maximum of {limit} pixels"
        )
    return ImageTooLargeError(
        f"the image is too large: {match.group(1)} pixels, more than the maximum of {limit} pixels"
    )


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open ``data`` lazily with Pillow and check its header size against ``max_pixels``."""
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if _looks_like_image(data):
            raise CorruptImageError(
                "the data starts like an image but its header is damaged"
            ) from None
        raise UnsupportedImageError(
            "the data is not an image in any format Pillow reads (for example PNG, JPEG, GIF, "
            "BMP, TIFF or WebP)"
        ) from None

    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageTooLargeError(
            f"the image is too large: {width}x{height} = {width * height} pixels, more than the "
            f"maximum of {max_pixels} pixels"
        )
    if width == 0 or height == 0:
        image.close()
        raise CorruptImageError(f"the image has an empty size {width}x{height}")
    return image


def _composite_on_black(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Composite uint8 ``color`` (H, W, C) with uint8 ``alpha`` (H, W) on black, in [0, 1]."""
    return uint8_to_unit(color) * uint8_to_unit(alpha)[..., np.newaxis]


def _lab_to_rgb(image: Image.Image) -> Image.Image:
    from PIL import ImageCms

    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
    return ImageCms.applyTransform(image, transform)


def _scale_int32(values: np.ndarray) -> np.ndarray:
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high <= 65535:
        return (values.astype(np.float64) / 65535.0).astype(np.float32)
    if high == low:
        return np.zeros(values.shape, dtype=np.float32)
    return ((values.astype(np.float64) - low) / (high - low)).astype(np.float32)


def _unit_array(image: Image.Image) -> np.ndarray:
    """Convert an image of any mode to float32 (H, W, 1) or (H, W, 3) in [0, 1]."""
    mode = image.mode

    if mode == "1":
        return np.asarray(image, dtype=np.float32)[..., np.newaxis]
    if mode == "L":
        return uint8_to_unit(np.asarray(image))[..., np.newaxis]
    if mode == "LA":
        pixels = np.asarray(image)
        return _composite_on_black(pixels[..., :1], pixels[..., 1])
    if mode == "La":
        return uint8_to_unit(np.asarray(image)[..., :1])
    if mode in _SIXTEEN_BIT_MODES:
        pixels = np.asarray(image).astype(np.float64)
        return (pixels / 65535.0).astype(np.float32)[..., np.newaxis]
    if mode == "I":
        return _scale_int32(np.asarray(image))[..., np.newaxis]
    if mode == "F":
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(pixels, 0.0, 1.0)[..., np.newaxis]
    if mode == "RGB":
        return uint8_to_unit(np.asarray(image))
    if mode == "RGBA":
        pixels = np.asarray(image)
        return _composite_on_black(pixels[..., :3], pixels[..., 3])
    if mode == "RGBa":
        return uint8_to_unit(np.asarray(image)[..., :3])
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info or image.palette.mode.endswith("A")
        return _unit_array(image.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("CMYK", "YCbCr", "HSV", "RGBX"):
        return uint8_to_unit(np.asarray(image.convert("RGB")))
    if mode == "LAB":
        return uint8_to_unit(np.asarray(_lab_to_rgb(image)))

    # Modes that newer Pillow versions may add: try Pillow's own conversion to RGBA.
    try:
        converted = image.convert("RGBA")
    except ValueError:
        raise UnsupportedImageError(f"image mode {mode!r} is not supported") from None
    return _unit_array(converted)


def convert_channels(x: np.ndarray, n_C: int) -> np.ndarray:
    """Convert float ``x`` of shape (n_H, n_W, c) with c in {1, 3} to ``n_C`` in {1, 3} channels.

    Gray becomes RGB by repeating the channel; RGB becomes gray by BT.601 luma. Returns float32.
    """
    if n_C not in (1, 3):
        raise ValueError(f"n_C must be 1 (grayscale) or 3 (RGB), got {n_C!r}")
    channels = x.shape[-1]
    if channels == n_C:
        return x.astype(np.float32, copy=False)
    if channels == 1:
        return np.repeat(x, 3, axis=-1).astype(np.float32, copy=False)
    if channels == 3:
        luma = x.astype(np.float64) @ LUMA_WEIGHTS
        return luma.astype(np.float32)[..., np.newaxis]
    raise ValueError(f"cannot convert an image of {channels} channels to {n_C} channels")


def image_to_array(image: Image.Image, n_C: int) -> np.ndarray:
    """Convert a Pillow image of any mode to float32 of shape (n_H, n_W, n_C) in [0, 1].

    ``n_C`` is 1 for grayscale or 3 for RGB. See the module docstring for how each mode is scaled.
    """
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL.Image.Image, got {type(image).__name__}")
    if n_C not in (1, 3):
        raise ValueError(f"n_C must be 1 (grayscale) or 3 (RGB), got {n_C!r}")
    return convert_channels(_unit_array(image), n_C)


def resize_array(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float ``x`` of shape (H, W, n_C) to ``size`` = (n_H, n_W) with the bilinear filter.

    Returns float32 of shape (n_H, n_W, n_C); ``x`` is returned unchanged when it has that size.
    """
    n_H, n_W = size
    if x.shape[:2] == (n_H, n_W):
        return x
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(x[..., c], dtype=np.float32), mode="F").resize(
                (n_W, n_H), RESIZE_FILTER
            )
        )
        for c in range(x.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def _array_to_unit(array: np.ndarray) -> np.ndarray:
    """Turn a user array of shape (H, W), (H, W, C) or (1, H, W, C) into float32 (H, W, C)."""
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    elif array.ndim == 2:
        array = array[..., np.newaxis]
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(
            "an image array must have shape (n_H, n_W), (n_H, n_W, n_C) or (1, n_H, n_W, n_C), "
            f"got {array.shape}"
        )

    if array.dtype == np.uint8:
        return uint8_to_unit(array)
    if array.dtype == np.uint16:
        return (array.astype(np.float64) / 65535.0).astype(np.float32)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError(
                "a float image array must contain finite values in [0, 1], got NaN or inf"
            )
        if array.min() < 0 or array.max() > 1:
            raise ValueError(
                "a float image array must contain finite values in [0, 1], got values in "
                f"[{array.min()}, {array.max()}]"
            )
        return array.astype(np.float32)
    raise TypeError(
        f"an image array must be uint8, uint16, bool or float, got dtype {array.dtype.name}"
    )


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """Check an ``(n_H, n_W, n_C)`` shape of positive integers and return it as a tuple."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(
        isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0
        for size in shape
    ):
        raise ValueError(
            f"input_shape must be (n_H, n_W, n_C) of three positive integers, got {input_shape!r}"
        )
    return int(shape[0]), int(shape[1]), int(shape[2])


def preprocess(
    image_or_array: Image.Image | np.ndarray,
    input_shape: Sequence[int],
    normalization: Mapping[str, Sequence[float]] | None = None,
) -> np.ndarray:
    """Turn one picture into model input of shape (1, n_H, n_W, n_C), float32.

    ``image_or_array`` is a Pillow image of any mode, or an array of shape (H, W), (H, W, C) or
    (1, H, W, C) that is uint8, uint16, bool or float in [0, 1]. The picture is scaled to [0, 1],
    converted to ``n_C`` channels, resized to (n_H, n_W) when its size differs, and normalized
    per channel with ``(x - mean) / std``.
    """
    n_H, n_W, n_C = check_input_shape(input_shape)

    if isinstance(image_or_array, Image.Image):
        x = image_to_array(image_or_array, n_C)
    elif isinstance(image_or_array, np.ndarray):
        x = _array_to_unit(image_or_array)
        if x.shape[-1] != n_C:
            x = convert_channels(x, n_C)
    else:
        raise TypeError(
            "image_or_array must be a PIL.Image.Image or a numpy array, "
            f"got {type(image_or_array).__name__}"
        )

    x = resize_array(x, (n_H, n_W))
    return normalize(x, normalization)[np.newaxis]


def quantize(x: np.ndarray) -> np.ndarray:
    """Round float values in [0, 1] to uint8 (the inverse of dividing by 255)."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
