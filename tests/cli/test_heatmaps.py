"""The heatmap colormap and grids that ``inspect`` writes."""

from __future__ import annotations

import numpy as np
import pytest

from app.cli.heatmaps import colormap, feature_grid, normalize_channels, vector_grid


def test_colormap_endpoints():
    colours = colormap(np.array([0.0, 1.0]))

    assert colours.dtype == np.uint8
    assert colours.shape == (2, 3)
    assert tuple(colours[0]) == (68, 1, 84)
    assert tuple(colours[1]) == (253, 231, 37)


def test_colormap_brightness_increases():
    colours = colormap(np.linspace(0.0, 1.0, 50)).astype(float)
    luminance = colours @ np.array([0.2126, 0.7152, 0.0722])

    assert np.all(np.diff(luminance) > 0)


def test_colormap_clips_out_of_range():
    np.testing.assert_array_equal(colormap(np.array([-3.0, 7.0])), colormap(np.array([0.0, 1.0])))


def test_normalize_channels_constant_map():
    maps = np.stack([np.full((3, 4), 5.0), np.arange(12.0).reshape(3, 4)], axis=-1)
    scaled, minimum, maximum = normalize_channels(maps)

    np.testing.assert_array_equal(scaled[..., 0], 0.0)
    assert scaled[..., 1].min() == 0.0
    assert scaled[..., 1].max() == 1.0
    np.testing.assert_array_equal(minimum, [5.0, 0.0])
    np.testing.assert_array_equal(maximum, [5.0, 11.0])


@pytest.mark.parametrize(
    ("n_H", "n_W", "n_C", "rows", "columns"),
    [(28, 28, 1, 1, 1), (14, 7, 5, 2, 3), (7, 7, 16, 4, 4)],
)
def test_feature_grid_layout(n_H, n_W, n_C, rows, columns):
    maps = np.random.default_rng(0).standard_normal((n_H, n_W, n_C))
    image, minimum, maximum = feature_grid(maps)

    scale = max(1, 64 // max(n_H, n_W))
    assert image.size == (
        columns * n_W * scale + (columns + 1) * 2,
        rows * n_H * scale + (rows + 1) * 2,
    )
    np.testing.assert_array_equal(minimum, maps.min(axis=(0, 1)))
    np.testing.assert_array_equal(maximum, maps.max(axis=(0, 1)))


def test_feature_grid_brightest_cell():
    maps = np.zeros((4, 4, 1))
    maps[1, 2, 0] = 1.0
    image, _, _ = feature_grid(maps)
    pixels = np.asarray(image)

    scale = 64 // 4
    top, left = 2 + 1 * scale, 2 + 2 * scale
    assert tuple(pixels[top, left]) == (253, 231, 37)
    assert tuple(pixels[2, 2]) == (68, 1, 84)


def test_feature_grid_rejects_vector():
    with pytest.raises(ValueError, match=r"maps must have shape \(n_H, n_W, n_C\)"):
        feature_grid(np.zeros(10))


def test_vector_grid_pads_last_row():
    image, minimum, maximum = vector_grid(np.arange(10.0))
    pixels = np.asarray(image)

    # 10 values fill a 4x3 grid of cells; the last two cells are background.
    assert (minimum, maximum) == (0.0, 9.0)
    cell = pixels.shape[1] // 4
    assert pixels.shape[:2] == (3 * cell, 4 * cell)
    assert tuple(pixels[-1, -1]) == (32, 32, 32)
    assert tuple(pixels[0, 0]) == (68, 1, 84)
