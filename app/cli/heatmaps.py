"""Feature maps as PNG heatmaps: a viridis-style colormap and a grid with one tile per channel."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

# A dark purple -> blue -> teal -> green -> yellow ramp in the style of viridis, which stays
# readable in grayscale and for common colour-vision deficiencies. Values between the anchors
# are interpolated linearly in RGB; the anchors are evenly spaced on [0, 1].
_ANCHORS = np.array(
    [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ],
    dtype=np.float64,
)
_BACKGROUND = (32, 32, 32)
_TILE_TARGET_PIXELS = 64  # small maps are enlarged by an integer factor up to about this size
_GAP_PIXELS = 2


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] of any shape ``S`` to RGB colours, a ``uint8`` array ``S + (3,)``.

    Values outside [0, 1] are clipped; NaN gets the background colour (used for padding cells).
    """
    values = np.asarray(values, dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(_ANCHORS))
    clipped = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)

    rgb = np.stack(
        [np.interp(clipped, positions, _ANCHORS[:, channel]) for channel in range(3)], axis=-1
    )
    rgb[np.isnan(values)] = _BACKGROUND
    return np.rint(rgb).astype(np.uint8)


def normalize_channels(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale each channel of ``maps`` ``(n_H, n_W, n_C)`` to [0, 1] by its own min and max.

    Returns the scaled maps ``(n_H, n_W, n_C)`` and the per-channel ``minimum`` and ``maximum``,
    each ``(n_C,)``. A constant channel maps to 0 everywhere.
    """
    maps = np.asarray(maps, dtype=np.float64)
    minimum = maps.min(axis=(0, 1))
    maximum = maps.max(axis=(0, 1))
    span = maximum - minimum

    safe_span = np.where(span > 0, span, 1.0)
    scaled = (maps - minimum) / safe_span
    return scaled, minimum, maximum


def feature_grid(maps: np.ndarray) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """Render maps ``(n_H, n_W, n_C)`` as one RGB image with one heatmap tile per channel.

    Tiles go left to right, top to bottom in channel order, in a near-square grid. Returns the
    image and the per-channel minimum and maximum ``(n_C,)`` that the colours stand for.
    """
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (n_H, n_W, n_C), got shape {maps.shape}")
    n_H, n_W, n_C = maps.shape
    scaled, minimum, maximum = normalize_channels(maps)

    scale = max(1, _TILE_TARGET_PIXELS // max(n_H, n_W))
    tile_H, tile_W = n_H * scale, n_W * scale
    columns = math.ceil(math.sqrt(n_C))
    rows = math.ceil(n_C / columns)
    canvas = np.empty(
        (
            rows * tile_H + (rows + 1) * _GAP_PIXELS,
            columns * tile_W + (columns + 1) * _GAP_PIXELS,
            3,
        ),
        dtype=np.uint8,
    )
    canvas[...] = _BACKGROUND

    # Nearest-neighbour enlargement keeps each activation a sharp square of one colour.
    tiles = colormap(scaled).repeat(scale, axis=0).repeat(scale, axis=1)
    for channel in range(n_C):
        row, column = divmod(channel, columns)
        top = _GAP_PIXELS + row * (tile_H + _GAP_PIXELS)
        left = _GAP_PIXELS + column * (tile_W + _GAP_PIXELS)
        canvas[top : top + tile_H, left : left + tile_W] = tiles[:, :, channel]

    return Image.fromarray(canvas), minimum, maximum


def vector_grid(vector: np.ndarray) -> tuple[Image.Image, float, float]:
    """Render a vector ``(n_features,)`` as one heatmap of square cells in row-major order.

    The cells fill a near-square grid, and unused cells of the last row get the background
    colour. Returns the image and the minimum and maximum that the colours stand for.
    """
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    n_features = vector.size
    columns = math.ceil(math.sqrt(n_features))
    rows = math.ceil(n_features / columns)

    padded = np.full(rows * columns, np.nan)
    padded[:n_features] = vector
    cells = padded.reshape(rows, columns)
    minimum = float(vector.min())
    maximum = float(vector.max())
    span = maximum - minimum if maximum > minimum else 1.0

    scale = max(1, (4 * _TILE_TARGET_PIXELS) // max(rows, columns))
    rgb = colormap((cells - minimum) / span).repeat(scale, axis=0).repeat(scale, axis=1)
    return Image.fromarray(rgb), minimum, maximum
