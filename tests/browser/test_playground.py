"""The playground page in a real Chromium: classify, look inside the layers, explain cells."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from .conftest import png_bytes, screenshot

pytestmark = pytest.mark.browser

# The first Fashion-MNIST test image, an ankle boot.
TEST_INDEX = 0


def _decode(tensor: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(tensor["data"]), dtype="<f4")
    return data.reshape(tensor["shape"])


@pytest.fixture
def test_png(tmp_path, fashion_test_images):
    images, _, _ = fashion_test_images
    path = tmp_path / f"fashion-test-{TEST_INDEX}.png"
    path.write_bytes(png_bytes(images[TEST_INDEX]))
    return path


@pytest.fixture
def inspection(live_server, test_png):
    """What the API's inspect endpoint returns for the test image."""
    with live_server.client() as client:
        response = client.post(f"/api/models/{live_server.model_id}/inspect",
                               files={"file": (test_png.name, test_png.read_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


def _upload(desktop, live_server, path):
    page = desktop.page
    page.goto(f"/?model={live_server.model_id}")
    page.wait_for_selector("#model-select:not([disabled])")
    page.set_input_files("#file-input", str(path))
    page.wait_for_selector("#predicted-class")
    page.wait_for_selector(".layer-column[data-type='softmax']")
    return page


def _layer(inspection, layer_type):
    return next(layer for layer in inspection["layers"] if layer["type"] == layer_type)


def test_upload_shows_api_label(desktop, live_server, test_png):
    with live_server.client() as client:
        response = client.post(f"/api/models/{live_server.model_id}/predict",
                               files={"file": (test_png.name, test_png.read_bytes(), "image/png")})
    expected = response.json()["predictions"][0]

    page = _upload(desktop, live_server, test_png)

    assert page.text_content("#predicted-class") == expected["label"]
    n_classes = len(response.json()["predictions"])
    assert page.locator("#prediction-bars li").count() == n_classes
    screenshot(page, "playground-desktop")
    assert desktop.unexpected_errors() == []


def test_heatmaps_for_every_layer(desktop, live_server, test_png, inspection):
    page = _upload(desktop, live_server, test_png)

    columns = page.locator(".layer-column")
    assert columns.count() == len(inspection["layers"]) + 1  # the input comes first
    for layer in inspection["layers"]:
        column = page.locator(f".layer-column[data-layer='layer-{layer['index']}']")
        shape = layer["output_shape"]
        expected_maps = shape[2] if len(shape) == 3 else 1
        assert column.locator("canvas").count() == expected_maps, layer["name"]
    assert desktop.unexpected_errors() == []


def test_conv_cell_sum_matches_api(desktop, live_server, test_png, inspection):
    conv = _layer(inspection, "conv")
    Z = _decode(conv["output"])  # (n_H, n_W, n_C)
    h, w, c = 0, 0, min(2, Z.shape[2] - 1)
    page = _upload(desktop, live_server, test_png)

    page.click(f".layer-column[data-layer='layer-{conv['index']}'] .thumb[data-channel='{c}']")
    canvas = page.locator("#selected-map")
    box = canvas.bounding_box()
    canvas.click(position={"x": (w + 0.5) * box["width"] / Z.shape[1],
                           "y": (h + 0.5) * box["height"] / Z.shape[0]})
    page.wait_for_selector("#explain-sum")

    shown_z = float(page.get_attribute("#explain-z", "data-value"))
    shown_sum = float(page.get_attribute("#explain-sum", "data-value"))
    assert shown_z == float(Z[h, w, c])
    assert shown_sum == pytest.approx(float(Z[h, w, c]), rel=1e-5, abs=1e-5)
    assert page.get_attribute("#explain-check", "data-agree") == "true"

    # The top-left f×f window overlaps the input in an (f - pad)×(f - pad) corner; the rest of
    # it is padding, in every input channel.
    f, pad = conv["f"], conv["pad"]
    n_C_prev = _decode(conv["padded_input"]).shape[2]
    padding_cells = page.locator("#explain-panel table.window td.pad").count()
    assert padding_cells == (f * f - max(0, f - pad) ** 2) * n_C_prev
    screenshot(page, "playground-conv-cell")
    assert desktop.unexpected_errors() == []


def test_pool_cell_shows_winner(desktop, live_server, test_png, inspection):
    pool = _layer(inspection, "maxpool")
    pooled = _decode(pool["output"])  # (n_H, n_W, n_C)
    c = 1
    page = _upload(desktop, live_server, test_png)

    # Keyboard only: choose the map, move the cursor to row 2, col 3 with arrow keys, press Enter.
    page.focus(f".layer-column[data-layer='layer-{pool['index']}'] .thumb[data-channel='{c}']")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "selected-map"
    for key in ["ArrowDown", "ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight"]:
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#explain-pool-result")

    winners = page.locator("#explain-panel td.winner")
    assert winners.count() == 1
    shown = float(page.get_attribute("#explain-pool-result", "data-value"))
    assert shown == float(pooled[2, 3, c])
    assert "equals the window's maximum" in page.text_content("#explain-pool-check")
    assert page.locator("#explain-mask").count() == 1
    screenshot(page, "playground-pool-cell")
    assert desktop.unexpected_errors() == []


def test_phone_explain_numbers_whole(phone, live_server, test_png, inspection):
    conv = _layer(inspection, "conv")
    Z = _decode(conv["output"])
    page = _upload(phone, live_server, test_png)
    page.click(f".layer-column[data-layer='layer-{conv['index']}'] .thumb[data-channel='0']")
    canvas = page.locator("#selected-map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    canvas.click(position={"x": 6.5 * box["width"] / Z.shape[1],
                           "y": 6.5 * box["height"] / Z.shape[0]})
    page.wait_for_selector("#explain-sum")

    # A word or number laid out on one line has one client rectangle per text node.
    split = page.evaluate("""() => [...document.querySelectorAll(
            '#explain-panel dd, #explain-panel td, #explain-panel .channel-sum')]
        .flatMap((element) => [...element.childNodes].filter((node) => node.nodeType === 3))
        .flatMap((node) => {
            const pieces = [];
            const pattern = /\\S+/g;
            let match;
            while ((match = pattern.exec(node.data)) !== null) {
                const range = document.createRange();
                range.setStart(node, match.index);
                range.setEnd(node, match.index + match[0].length);
                if (range.getClientRects().length > 1) pieces.push(match[0]);
            }
            return pieces;
        })""")
    assert split == []
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
    screenshot(page, "playground-conv-cell-phone")
    assert phone.unexpected_errors() == []


def test_padded_input_heatmap(desktop, live_server, test_png, inspection):
    conv = _layer(inspection, "conv")
    page = _upload(desktop, live_server, test_png)
    column = page.locator(f".layer-column[data-layer='layer-{conv['index']}']")

    column.get_by_role("button", name="Show padded input").click()
    padded = column.locator(".thumb[data-variant='padded']")
    assert padded.count() == _decode(conv["padded_input"]).shape[2]
    padded.first.click()
    assert "padded input" in page.text_content("#selected-caption")
    assert desktop.unexpected_errors() == []


def test_rejected_upload_shows_detail(desktop, live_server, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_bytes(b"these bytes are plain text, not a picture\n" * 4)
    with live_server.client() as client:
        response = client.post(f"/api/models/{live_server.model_id}/predict",
                               files={"file": (fake.name, fake.read_bytes(), "image/png")})
    assert response.status_code == 415
    page = desktop.page
    page.goto(f"/?model={live_server.model_id}")
    page.wait_for_selector("#model-select:not([disabled])")

    page.set_input_files("#file-input", str(fake))
    page.wait_for_selector("#input-error:not([hidden])")

    assert page.text_content("#input-error") == response.json()["detail"]
    # Chromium logs the failed request itself as a console error; nothing else may appear.
    assert desktop.unexpected_errors(allowed=("status of 415",)) == []


def test_rejected_upload_clears_result(desktop, live_server, test_png, inspection, tmp_path):
    conv = _layer(inspection, "conv")
    fake = tmp_path / "text.png"
    fake.write_bytes(b"plain text saved under a picture's name\n" * 4)
    page = _upload(desktop, live_server, test_png)
    page.click(f".layer-column[data-layer='layer-{conv['index']}'] .thumb[data-channel='0']")
    page.locator("#selected-map").click(position={"x": 5, "y": 5})
    page.wait_for_selector("#explain-sum")

    page.set_input_files("#file-input", str(fake))
    page.wait_for_selector("#input-error:not([hidden])")

    assert "rejected" in page.text_content("#prediction-label")
    assert page.locator("#predicted-class").count() == 0
    assert page.locator("#prediction-bars li").count() == 0
    assert page.locator(".layer-column").count() == 0
    assert page.locator("#explain-sum").count() == 0
    assert page.text_content("#legend-min") == "–"
    painted = page.evaluate("""() => ['input-preview', 'selected-map'].map((id) => {
        const canvas = document.getElementById(id);
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        return pixels.some((value) => value !== 0);
    })""")
    assert painted == [False, False]
    assert desktop.unexpected_errors(allowed=("status of 415",)) == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_model_menu_text_fits(request, live_server, viewport):
    tab = request.getfixturevalue(viewport)
    page = tab.page
    page.goto(f"/?model={live_server.model_id}")
    page.wait_for_selector("#model-select:not([disabled])")

    # Width of the chosen option's text in the menu's font, against the room left of the arrow.
    text_width, room = page.evaluate("""() => {
        const select = document.getElementById('model-select');
        const style = getComputedStyle(select);
        const context = document.createElement('canvas').getContext('2d');
        context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const text = select.options[select.selectedIndex].text;
        const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
        return [context.measureText(text).width, select.clientWidth - padding - 24];
    }""")

    assert text_width <= room
    assert "test accuracy" in page.text_content("#model-info")
    assert tab.unexpected_errors() == []


def test_random_sample_classified(desktop, live_server):
    page = desktop.page
    page.goto(f"/?model={live_server.model_id}")
    page.wait_for_selector("#model-select:not([disabled])")

    page.click("#random-sample")
    page.wait_for_selector("#predicted-class")

    assert page.get_attribute("#sample-info", "data-label")
    assert "true label" in page.text_content("#sample-info")
    assert desktop.unexpected_errors() == []


def test_hover_shows_cell_value(desktop, live_server, test_png, inspection):
    conv = _layer(inspection, "conv")
    Z = _decode(conv["output"])
    h, w, c = 5, 7, 0
    page = _upload(desktop, live_server, test_png)
    page.click(f".layer-column[data-layer='layer-{conv['index']}'] .thumb[data-channel='{c}']")

    canvas = page.locator("#selected-map")
    box = canvas.bounding_box()
    canvas.hover(position={"x": (w + 0.5) * box["width"] / Z.shape[1],
                           "y": (h + 0.5) * box["height"] / Z.shape[0]})

    assert float(page.get_attribute("#cell-readout", "data-value")) == float(Z[h, w, c])
    assert f"row {h}, col {w}, channel {c}" in page.text_content("#cell-readout")
    assert desktop.unexpected_errors() == []


def test_normalization_sets_legend_range(desktop, live_server, test_png, inspection):
    conv = _layer(inspection, "conv")
    Z = _decode(conv["output"])
    page = _upload(desktop, live_server, test_png)
    page.click(f".layer-column[data-layer='layer-{conv['index']}'] .thumb[data-channel='0']")
    ranges = {}

    for mode in ["map", "layer", "global"]:
        page.select_option("#norm-select", mode)
        ranges[mode] = (float(page.text_content("#legend-min")),
                        float(page.text_content("#legend-max")))

    assert ranges["map"] == pytest.approx((Z[:, :, 0].min(), Z[:, :, 0].max()), abs=1e-4)
    assert ranges["layer"] == pytest.approx((Z.min(), Z.max()), abs=1e-4)
    assert ranges["global"][0] <= ranges["layer"][0]
    assert ranges["global"][1] >= ranges["layer"][1]
    assert desktop.unexpected_errors() == []


def test_drawing_is_classified(desktop, live_server):
    page = desktop.page
    page.goto(f"/?model={live_server.model_id}")
    page.wait_for_selector("#model-select:not([disabled])")
    pad = page.locator("#draw-pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()

    # A vertical stroke down the middle, like a pair of trousers seen from afar.
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.85, steps=8)
    page.mouse.up()
    page.click("#draw-classify")
    page.wait_for_selector("#predicted-class")

    assert "your drawing" in page.text_content("#prediction-label")
    # The model input is bright in the middle column, where the stroke went, and dark at the edge.
    input_values = page.evaluate("""() => {
        const canvas = document.getElementById('input-preview');
        const context = canvas.getContext('2d');
        const middle = context.getImageData(canvas.width / 2, canvas.height / 2, 1, 1).data[0];
        const corner = context.getImageData(1, 1, 1, 1).data[0];
        return [middle, corner];
    }""")
    assert input_values[0] > input_values[1]
    assert desktop.unexpected_errors() == []


def test_dropped_file_is_classified(desktop, live_server, test_png):
    page = desktop.page
    page.goto(f"/?model={live_server.model_id}")
    page.wait_for_selector("#model-select:not([disabled])")
    encoded = base64.b64encode(test_png.read_bytes()).decode("ascii")

    page.evaluate("""([name, encoded]) => {
        const bytes = Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: 'image/png' }));
        const zone = document.getElementById('drop-zone');
        zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
    }""", [test_png.name, encoded])
    page.wait_for_selector("#predicted-class")

    assert test_png.name in page.text_content("#prediction-label")
    assert desktop.unexpected_errors() == []
