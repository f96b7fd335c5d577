"""The training page in a real Chromium: shape checks, a short job followed live, its results."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from .conftest import screenshot

pytestmark = pytest.mark.browser

FINAL = "['succeeded', 'failed', 'diverged', 'cancelled'].includes(" \
        "document.getElementById('job-status').dataset.status)"


def _open(desktop):
    page = desktop.page
    page.goto("/train")
    page.wait_for_selector("#layers-body tr")
    page.wait_for_function("document.getElementById('dataset-select').value === 'fashion-mnist'")
    return page


def test_shapes_checked_before_start(desktop):
    page = _open(desktop)
    assert "Every layer fits" in page.text_content("#spec-status")
    assert page.text_content("#layers-body tr[data-index='0'] .shape-cell") == "(28, 28, 16)"

    # A 31×31 window does not fit the 28×28 input, which is 30×30 with pad 1.
    page.fill("#layers-body tr[data-index='0'] input[aria-label='Layer 0 f']", "31")

    assert "larger than the padded input" in page.text_content("#layers-body tr[data-index='0']")
    assert page.is_disabled("#start-job")
    assert page.input_value("#preset-select") == ""
    assert desktop.unexpected_errors() == []


@pytest.mark.slow
def test_short_job_streams_and_finishes(desktop, live_server):
    page = _open(desktop)
    page.select_option("#preset-select", "tiny")
    page.fill("#epochs", "1")
    page.fill("#train-limit", "400")
    page.fill("#batch-size", "32")
    assert page.get_attribute("#loss-chart", "data-points") == "0"

    page.click("#start-job")
    page.wait_for_function(FINAL, timeout=180_000)

    status = page.get_attribute("#job-status", "data-status")
    assert status == "succeeded", page.text_content("#job-status")
    # One epoch gives one training and one validation point on the loss chart.
    assert page.get_attribute("#loss-chart", "data-points") == "2"
    assert page.eval_on_selector("#job-progress", "element => element.value") == 1
    assert page.is_hidden("#cancel-job")
    page.wait_for_selector("#confusion-table")
    assert "Test accuracy" in page.text_content("#test-accuracy")
    model_href = page.get_attribute("#open-model", "href")
    with live_server.client() as client:
        job = client.get("/api/jobs").json()[0]
    assert model_href == f"/?model={job['model_id']}"

    # The finished bar spans the row beside the time text, the result sits clear of the chart,
    # and all ten columns of the confusion matrix fit the panel at 1280 px.
    progress = page.locator("#job-progress").bounding_box()
    row = page.locator(".progress-row").bounding_box()
    assert progress["width"] >= 0.6 * row["width"]
    chart_bottom = page.locator("#accuracy-chart").bounding_box()
    result_top = page.locator("#result-heading").bounding_box()["y"]
    assert result_top - (chart_bottom["y"] + chart_bottom["height"]) >= 16
    overflow = page.eval_on_selector("#confusion", "box => box.scrollWidth - box.clientWidth")
    assert overflow <= 0
    full_names = page.eval_on_selector_all("#confusion-table th.col-label",
                                           "cells => cells.map((cell) => cell.title)")
    with live_server.client() as client:
        classes = client.get(f"/api/models/{job['model_id']}/evaluation").json()["classes"]
    assert full_names == classes

    page.locator("#confusion-table button").first.click()
    page.wait_for_selector("#examples img")
    assert page.locator("#examples img").count() >= 1
    screenshot(page, "train-finished")
    assert desktop.unexpected_errors() == []


def test_chart_one_epoch_inside_plot(desktop):
    page = _open(desktop)

    # Draw one point at epoch 1 of 1 and find where its colour lands, below the legend row.
    columns = page.evaluate("""async () => {
        const { LineChart, SERIES_STYLES } = await import('/static/js/chart.js');
        const canvas = document.createElement('canvas');
        canvas.style.width = '400px';
        canvas.style.height = '200px';
        document.body.append(canvas);
        const chart = new LineChart(canvas, { xLabel: 'epoch', yLabel: 'loss' });
        chart.setData([{ name: 'training', style: 'train', points: [[1, 0.5]] }], 1);
        const ratio = window.devicePixelRatio || 1;
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        const target = SERIES_STYLES.train.color.match(/[0-9a-f]{2}/gi)
            .map((hex) => parseInt(hex, 16));
        const found = [];
        for (let row = Math.round(30 * ratio); row < canvas.height; row += 1) {
            for (let column = 0; column < canvas.width; column += 1) {
                const offset = 4 * (row * canvas.width + column);
                const same = target.every(
                    (value, k) => Math.abs(pixels.data[offset + k] - value) < 40);
                if (same && pixels.data[offset + 3] > 200) found.push(column / ratio);
            }
        }
        return found;
    }""")

    assert columns, "the point was not drawn"
    centre = (min(columns) + max(columns)) / 2
    # The plot runs from x = 52 to x = 400 - 12; the single point sits in its middle.
    assert abs(centre - (52 + 388) / 2) < 4
    assert desktop.unexpected_errors() == []


def test_eta_from_measured_rate(desktop):
    page = _open(desktop)

    # A job that reports nothing for 5 s (loading data), then gains 10% per second.
    estimates = page.evaluate("""async () => {
        const { ProgressRate } = await import('/static/js/eta.js');
        const rate = new ProgressRate();
        const seen = [rate.update(0, 0), rate.update(0, 5000), rate.update(0.1, 5500),
                      rate.update(0.15, 6000)];
        for (let step = 1; step <= 17; step += 1) {
            seen.push(rate.update(Math.min(1, 0.15 + 0.05 * step), 6000 + 500 * step));
        }
        return seen;
    }""")

    # No estimate before progress has been measured over 1 s.
    assert estimates[:4] == [None, None, None, None]
    # From 0.1 at 5.5 s to 0.2 at 6.5 s: 0.1 per second, so the 0.8 left takes 8 s.
    assert estimates[4] == pytest.approx(8.0)
    assert estimates[8] == pytest.approx((1 - 0.4) / 0.1)
    assert estimates[-1] == pytest.approx(0, abs=1e-9)
    assert desktop.unexpected_errors() == []


def test_phone_layer_table_scroll_hint(phone):
    page = _open(phone)

    box = page.eval_on_selector("#layers-scroll", "box => [box.scrollWidth, box.clientWidth]")
    assert box[0] > box[1]
    assert page.is_visible("#layers-scroll-hint")
    assert phone.unexpected_errors() == []


def test_desktop_layer_table_no_scroll_hint(desktop):
    page = _open(desktop)

    assert page.is_hidden("#layers-scroll-hint")
    assert desktop.unexpected_errors() == []


def test_rejected_dataset_upload_shows_detail(desktop, live_server, tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with live_server.client() as client:
        files = {"file": (archive.name, archive.read_bytes(), "application/zip")}
        response = client.post("/api/datasets", files=files)
    assert 400 <= response.status_code < 500
    page = _open(desktop)

    page.click("#dataset-upload-box summary")
    page.set_input_files("#dataset-file", str(archive))
    page.click("#dataset-upload")
    page.wait_for_selector("#dataset-error:not([hidden])")

    assert page.text_content("#dataset-error") == response.json()["detail"]
    status = f"status of {response.status_code}"
    assert desktop.unexpected_errors(allowed=(status,)) == []


def test_server_rejection_is_shown(desktop, live_server):
    page = _open(desktop)
    filters = page.locator("#layers-body tr[data-index='0'] input[aria-label='Layer 0 filters']")

    # The shapes fit, so only the server's limit on filters per conv layer rejects the job.
    filters.fill("100000")
    assert "Every layer fits" in page.text_content("#spec-status")
    page.click("#start-job")
    page.wait_for_selector("#job-error:not([hidden])")

    message = page.text_content("#job-error")
    assert "filters" in message
    assert "limit" in message
    assert desktop.unexpected_errors(allowed=("status of 422",)) == []


def _class_folder_zip(path, classes, per_class):
    """Write a zip of class folders with `per_class` random 28×28 grey PNGs each."""
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as archive:
        for label in classes:
            for number in range(per_class):
                pixels = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)
                buffer = io.BytesIO()
                Image.fromarray(pixels).save(buffer, format="PNG")
                archive.writestr(f"{label}/{number}.png", buffer.getvalue())


def test_uploaded_dataset_becomes_choice(desktop, tmp_path):
    archive = tmp_path / "shapes.zip"
    _class_folder_zip(archive, ["circles", "squares"], per_class=6)
    page = _open(desktop)

    page.click("#dataset-upload-box summary")
    page.set_input_files("#dataset-file", str(archive))
    page.fill("#dataset-name", "Circles and squares")
    page.click("#dataset-upload")
    page.wait_for_function("document.getElementById('dataset-select').value !== 'fashion-mnist'")

    assert page.locator("#dataset-select option:checked").text_content() == "Circles and squares"
    assert page.text_content("#dataset-info").startswith("2 classes")
    # The preset's classifier follows the dataset: two logits, and the spec still fits.
    classifier_units = page.locator("#layers-body input[aria-label='Layer 9 units']")
    assert classifier_units.input_value() == "2"
    assert "Every layer fits" in page.text_content("#spec-status")
    assert desktop.unexpected_errors() == []


@pytest.mark.slow
def test_running_job_cancelled(desktop):
    page = _open(desktop)
    # Enough work that the job is still running when the cancel request arrives.
    page.fill("#epochs", "5")
    page.fill("#train-limit", "20000")

    page.click("#start-job")
    page.wait_for_function(
        "document.getElementById('job-status').dataset.status === 'running'", timeout=60_000)
    page.click("#cancel-job")
    page.wait_for_function(FINAL, timeout=60_000)

    assert page.get_attribute("#job-status", "data-status") == "cancelled"
    assert page.is_hidden("#cancel-job")
    assert page.is_hidden("#job-result")
    assert page.is_enabled("#start-job")
    assert desktop.unexpected_errors() == []
