"""Image decoding, every Pillow mode, preprocessing and its equality with the dataset path."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cnn_core.datasets import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    UnsupportedImageError,
    compute_normalization,
    decode_image,
    image_to_array,
    preprocess,
    to_model_input,
)

from .conftest import png_bytes

# ---------------------------------------------------------------- decode_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, followed by a few junk bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"\x78\x9c")
        + chunk(b"IEND", b"")
    )


def test_decode_png():
    image = decode_image(png_bytes(Image.new("L", (5, 3), 77)))

    assert image.size == (5, 3)
    assert image.mode == "L"
    assert image.getpixel((4, 2)) == 77


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", EmptyImageError),
        (b"hello, this is text", UnsupportedImageError),
        (b'{"json": true}', UnsupportedImageError),
        (bytes(range(256)) * 4, UnsupportedImageError),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, CorruptImageError),
    ],
)
def test_decode_rejects(data, error):
    with pytest.raises(error):
        decode_image(data)


def test_decode_errors_are_value_errors():
    for error in (EmptyImageError, UnsupportedImageError, CorruptImageError, ImageTooLargeError):
        assert issubclass(error, ImageError)
        assert issubclass(error, ValueError)


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_decode_truncated(format):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = png_bytes(image, format)

    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) // 2])


def test_decode_type_and_limit_arguments():
    with pytest.raises(TypeError, match="data must be bytes"):
        decode_image("image.png")
    with pytest.raises(ValueError, match="max_pixels must be a positive integer"):
        decode_image(b"x", max_pixels=0)


def test_pixel_limit_from_header():
    data = _png_header_only(5000, 4000)
    assert len(data) < 100

    with pytest.raises(ImageTooLargeError, match="5000x4000 = 20000000 pixels"):
        decode_image(data, max_pixels=1_000_000)


@pytest.mark.parametrize("size", [(50000, 50000), (10000, 10000)])
def test_pillow_bomb_limit(size):
    # Above Pillow's own MAX_IMAGE_PIXELS: an error past twice the limit, a warning below it.
    expected = (f"the image is too large: {size[0] * size[1]} pixels, more than the maximum of "
                f"{Image.MAX_IMAGE_PIXELS} pixels")

    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(_png_header_only(*size), max_pixels=10**10)

    assert str(caught.value) == expected


@pytest.mark.parametrize("size", [(100000, 100000), (20000, 10000), (10000, 10000), (8000, 6000)])
def test_pixel_limit_message(size):
    # Headers past Pillow's own limit get the same message as those under it.
    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(_png_header_only(*size), max_pixels=40_000_000)

    message = str(caught.value)
    assert message.startswith("the image is too large: ")
    assert f"{size[0] * size[1]} pixels" in message
    assert message.endswith("more than the maximum of 40000000 pixels")
    assert "decompression bomb" not in message


def test_pixel_limit_exact():
    data = png_bytes(Image.new("L", (10, 10)))

    assert decode_image(data, max_pixels=100).size == (10, 10)
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_pixels=99)


def test_exif_orientation():
    image = Image.new("RGB", (3, 2), (0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the stored picture must be turned 90 degrees clockwise.

    decoded = decode_image(png_bytes(image, exif=exif))

    assert decoded.size == (2, 3)
    assert decoded.getpixel((1, 0)) == (255, 0, 0)
    assert decoded.getexif().get(0x0112) in (None, 1)


def test_animated_gif_first_frame():
    frames = [Image.new("L", (4, 4), value) for value in (40, 120, 240)]
    data = png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(__import__("io").BytesIO(data)).n_frames == 3

    x = image_to_array(decode_image(data), 1)

    np.testing.assert_allclose(x, 40 / 255, rtol=0, atol=1e-7)


def test_gif_transparency_on_black():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 255, 255, 200, 100, 0] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)

    data = png_bytes(image, "GIF", transparency=0)
    x = image_to_array(decode_image(data), 3)

    np.testing.assert_array_equal(x[0, 0], [0, 0, 0])
    np.testing.assert_allclose(x[0, 1], np.array([200, 100, 0]) / 255, atol=1e-7)


def test_sixteen_bit_png_full_range():
    values = np.array([[0, 255, 256, 32768, 65535]], dtype=np.uint16)
    data = png_bytes(Image.fromarray(values))

    x = image_to_array(decode_image(data), 1)

    np.testing.assert_allclose(x[..., 0], values / 65535, rtol=0, atol=1e-7)
    assert x[0, 1, 0] < 0.01


# ---------------------------------------------------------------- image_to_array, every mode


def _palette_image(with_transparency: bool) -> Image.Image:
    image = Image.new("P", (2, 1))
    image.putpalette([10, 20, 30, 250, 128, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    if with_transparency:
        image.info["transparency"] = 1
    return image


def _palette_alpha_image() -> Image.Image:
    image = _palette_image(False).convert("PA")
    image.putalpha(Image.fromarray(np.array([[255, 51]], dtype=np.uint8)))
    return image


def _array_image(values, dtype) -> Image.Image:
    """Build an image from values; Pillow picks mode I;16, I or F from the dtype."""
    return Image.fromarray(np.array(values, dtype=dtype))


# (image, expected (H, W, 3) float values in [0, 1]); gray images give three equal channels.
MODE_CASES = {
    "1": (Image.fromarray(np.array([[True, False]])), [[1, 1, 1], [0, 0, 0]]),
    "L": (Image.new("L", (2, 1), 51), [[0.2] * 3] * 2),
    "LA": (Image.new("LA", (2, 1), (255, 51)), [[0.2] * 3] * 2),
    "La": (Image.new("La", (2, 1), (51, 128)), [[0.2] * 3] * 2),
    "P": (_palette_image(False), [[10 / 255, 20 / 255, 30 / 255], [250 / 255, 128 / 255, 0]]),
    "P transparent": (_palette_image(True), [[10 / 255, 20 / 255, 30 / 255], [0, 0, 0]]),
    "PA": (
        _palette_alpha_image(),
        [[10 / 255, 20 / 255, 30 / 255], [0.2 * 250 / 255, 0.2 * 128 / 255, 0]],
    ),
    "RGB": (Image.new("RGB", (2, 1), (255, 51, 0)), [[1, 0.2, 0]] * 2),
    "RGBA opaque": (Image.new("RGBA", (2, 1), (255, 51, 0, 255)), [[1, 0.2, 0]] * 2),
    "RGBA half": (Image.new("RGBA", (2, 1), (255, 255, 0, 51)), [[0.2, 0.2, 0]] * 2),
    "RGBA clear": (Image.new("RGBA", (2, 1), (255, 255, 255, 0)), [[0, 0, 0]] * 2),
    "RGBa": (Image.new("RGBa", (2, 1), (51, 0, 255, 255)), [[0.2, 0, 1]] * 2),
    "RGBX": (Image.new("RGBX", (2, 1), (51, 0, 255, 0)), [[0.2, 0, 1]] * 2),
    "CMYK": (Image.new("CMYK", (2, 1), (255, 0, 0, 0)), [[0, 1, 1]] * 2),
    "YCbCr": (Image.new("YCbCr", (2, 1), (255, 128, 128)), [[1, 1, 1]] * 2),
    "HSV": (Image.new("HSV", (2, 1), (0, 255, 255)), [[1, 0, 0]] * 2),
    "LAB": (Image.new("LAB", (2, 1), (255, 128, 128)), [[1, 1, 1]] * 2),
    "I;16": (_array_image([[65535, 13107]], np.uint16), [[1] * 3, [0.2] * 3]),
    "I;16B": (Image.new("I;16B", (2, 1), 13107), [[0.2] * 3] * 2),
    "I;16L": (Image.new("I;16L", (2, 1), 65535), [[1] * 3] * 2),
    "I 16-bit values": (_array_image([[0, 13107]], np.int32), [[0] * 3, [0.2] * 3]),
    "I min-max": (_array_image([[-100, 300]], np.int32), [[0] * 3, [1] * 3]),
    "I large": (_array_image([[70000, 170000]], np.int32), [[0] * 3, [1] * 3]),
    "F": (_array_image([[0.2, 0.75]], np.float32), [[0.2] * 3, [0.75] * 3]),
    "F clipped": (_array_image([[-3, 7]], np.float32), [[0] * 3, [1] * 3]),
    "F non-finite": (_array_image([[np.nan, np.inf]], np.float32), [[0] * 3, [1] * 3]),
}

# Conversions through Pillow or littlecms round to whole 8-bit steps.
LOOSE_MODES = {"YCbCr", "LAB", "RGBX", "CMYK"}


@pytest.mark.parametrize("case", sorted(MODE_CASES))
def test_mode_to_rgb(case):
    image, expected = MODE_CASES[case]
    assert image.mode == case.split()[0]

    x = image_to_array(image, 3)

    assert x.dtype == np.float32
    assert x.shape == (image.height, image.width, 3)
    atol = 3 / 255 if case in LOOSE_MODES else 1e-6
    np.testing.assert_allclose(x[0], np.array(expected, dtype=np.float64), rtol=0, atol=atol)


@pytest.mark.parametrize("case", sorted(MODE_CASES))
def test_mode_to_gray(case):
    image, expected = MODE_CASES[case]

    x = image_to_array(image, 1)

    assert x.shape == (image.height, image.width, 1)
    luma = np.array(expected, dtype=np.float64) @ [0.299, 0.587, 0.114]
    atol = 3 / 255 if case in LOOSE_MODES else 1e-6
    np.testing.assert_allclose(x[0, :, 0], luma, rtol=0, atol=atol)


def test_gray_rgb_keeps_exact_values():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = Image.fromarray(np.repeat(values[..., np.newaxis], 3, axis=-1))

    np.testing.assert_array_equal(
        image_to_array(rgb, 1), image_to_array(Image.fromarray(values), 1)
    )


def test_image_to_array_arguments():
    with pytest.raises(ValueError, match="n_C must be 1 .* or 3"):
        image_to_array(Image.new("L", (2, 2)), 2)
    with pytest.raises(TypeError, match="PIL.Image.Image"):
        image_to_array(np.zeros((2, 2)), 1)


# ---------------------------------------------------------------- preprocess


def test_preprocess_shape_and_normalization():
    image = Image.new("L", (28, 28), 51)

    x = preprocess(image, (28, 28, 1), {"mean": [0.1], "std": [0.5]})

    assert x.shape == (1, 28, 28, 1)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (0.2 - 0.1) / 0.5, atol=1e-6)


def test_preprocess_resizes():
    checker = (np.indices((8, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)

    x = preprocess(Image.fromarray(checker), (4, 4, 1))

    # Shrinking by 2 averages each black and white pair, so nothing is left at 0 or 1.
    assert x.shape == (1, 4, 4, 1)
    assert x.min() > 0.2
    assert x.max() < 0.8


def test_preprocess_upscale_constant():
    x = preprocess(Image.new("RGB", (3, 5), (255, 0, 51)), (10, 7, 3))

    assert x.shape == (1, 10, 7, 3)
    np.testing.assert_allclose(x[0].reshape(-1, 3), [[1, 0, 0.2]] * 70, atol=1e-6)


@pytest.mark.parametrize(
    "array",
    [
        np.full((5, 5), 51, np.uint8),
        np.full((5, 5, 1), 51, np.uint8),
        np.full((1, 5, 5, 1), 51, np.uint8),
        np.full((5, 5, 3), 51, np.uint8),
        np.full((5, 5), 0.2, np.float32),
        np.full((5, 5), 13107, np.uint16),
    ],
)
def test_preprocess_arrays(array):
    x = preprocess(array, (5, 5, 1))

    np.testing.assert_allclose(x, 0.2, atol=1e-6)


def test_preprocess_does_not_modify_input():
    array = np.full((4, 4, 1), 0.5, np.float32)

    preprocess(array, (4, 4, 1), {"mean": [0.5], "std": [2.0]})

    assert np.all(array == 0.5)


@pytest.mark.parametrize(
    "array, error, message",
    [
        (np.full((4, 4), 1.5), ValueError, r"finite values in \[0, 1\]"),
        (np.full((4, 4), np.nan), ValueError, "finite values"),
        (np.zeros((2, 4, 4, 1), np.uint8), ValueError, "an image array must have shape"),
        (np.zeros((4, 4), np.int64), TypeError, "dtype int64"),
        ("image.png", TypeError, "PIL.Image.Image or a numpy array"),
    ],
)
def test_preprocess_bad_input(array, error, message):
    with pytest.raises(error, match=message):
        preprocess(array, (4, 4, 1))


@pytest.mark.parametrize("shape", [(28, 28), (0, 28, 1), (28, 28, 1.0), "28x28", (28, 28, True)])
def test_preprocess_bad_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        preprocess(np.zeros((4, 4), np.uint8), shape)


@pytest.mark.parametrize(
    "normalization, message",
    [
        ({"mean": [0.5]}, "keys 'mean' and 'std'"),
        ({"mean": [0.5, 0.5], "std": [1.0]}, r"1 or 1 finite numbers|1 or 3"),
        ({"mean": [0.5], "std": [0.0]}, "must be positive"),
        ({"mean": ["a"], "std": [1.0]}, "list of numbers"),
        ([0.5, 1.0], "dict with the keys"),
    ],
)
def test_preprocess_bad_normalization(normalization, message):
    with pytest.raises(ValueError, match=message):
        preprocess(np.zeros((4, 4), np.uint8), (4, 4, 1), normalization)


# ---------------------------------------------------------------- dataset path equals upload path


def test_png_round_trip_matches_dataset(fashion_test_images):
    images, _ = fashion_test_images
    X = images[..., np.newaxis]
    normalization = compute_normalization(X)

    expected = to_model_input(X, normalization)
    for i in range(len(X)):
        uploaded = preprocess(
            decode_image(png_bytes(Image.fromarray(images[i]))), (28, 28, 1), normalization
        )
        # Bit-identical, not merely close: compare the raw float32 words.
        assert uploaded.tobytes() == expected[i : i + 1].tobytes(), f"image {i}"


def test_png_round_trip_rgb():
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, size=(4, 9, 7, 3), dtype=np.uint8)
    normalization = {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}

    expected = to_model_input(X, normalization)
    for i in range(len(X)):
        uploaded = preprocess(
            decode_image(png_bytes(Image.fromarray(X[i]))), (9, 7, 3), normalization
        )
        assert uploaded.tobytes() == expected[i : i + 1].tobytes()


def test_to_model_input_rejects_floats():
    with pytest.raises(TypeError, match="uint8 array of shape"):
        to_model_input(np.zeros((1, 2, 2, 1), np.float32), None)


def test_compute_normalization_matches_numpy():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, size=(50, 6, 5, 3), dtype=np.uint8)
    X[..., 2] = 17

    result = compute_normalization(X)

    values = X.astype(np.float64) / 255
    np.testing.assert_allclose(result["mean"], values.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(result["std"][:2], values.std(axis=(0, 1, 2))[:2], rtol=1e-12)
    assert result["std"][2] == 1.0
    assert all(isinstance(v, float) for v in result["mean"] + result["std"])
