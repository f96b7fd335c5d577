"""Every page in a real Chromium: no console errors, no sideways scrolling on a phone, models."""

from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.browser

# Each page with an element that appears once its data has loaded.
PAGES = [
    ("playground", "/", "#model-select:not([disabled])"),
    ("train", "/train", "#layers-body tr"),
    ("models", "/models", "#models-body tr"),
]


@pytest.mark.parametrize(("name", "path", "ready"), PAGES)
def test_page_has_no_console_errors(desktop, name, path, ready):
    page = desktop.page
    page.goto(path)
    page.wait_for_selector(ready)
    page.wait_for_load_state("networkidle")

    assert page.locator("a[href='/docs']").count() == 1
    screenshot(page, f"{name}-page-desktop")
    assert desktop.errors == []


@pytest.mark.parametrize(("name", "path", "ready"), PAGES)
def test_phone_width_no_overflow(phone, live_server, name, path, ready):
    page = phone.page
    page.goto(path)
    page.wait_for_selector(ready)
    if name == "playground":
        page.click("#random-sample")
        page.wait_for_selector(".layer-column[data-type='softmax']")

    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= page.viewport_size["width"]
    screenshot(page, f"{name}-page-phone")
    assert phone.errors == []


def test_controls_have_labels(desktop):
    page = desktop.page
    for path, ready in [("/", "#model-select:not([disabled])"), ("/train", "#layers-body tr")]:
        page.goto(path)
        page.wait_for_selector(ready)
        unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select')]
            .filter((control) => !control.labels?.length && !control.getAttribute('aria-label'))
            .map((control) => control.id || control.outerHTML)""")
        assert unlabeled == [], path


def test_models_list_download_delete(desktop, live_server):
    # A copy of the test model, so deleting it leaves the one the other tests use.
    from app.core.config import Settings
    from app.services.models import ModelStore

    store = ModelStore(Settings(data_dir=live_server.data_dir))
    copy_id = store.add(store.load(live_server.model_id), name="Copy to delete",
                        dataset="fashion-mnist", preset="tiny")
    page = desktop.page
    page.goto("/models")
    row = page.locator(f"#models-body tr[data-model-id='{copy_id}']")
    row.wait_for()

    assert "Copy to delete" in row.text_content()
    download = row.get_by_role("link", name="Download the weights of Copy to delete")
    href = download.get_attribute("href")
    with live_server.client() as client:
        assert client.get(href).status_code == 200

    # Keep it first, then confirm.
    row.get_by_role("button", name="Delete Copy to delete").click()
    page.get_by_role("button", name="Keep it").click()
    assert row.count() == 1
    row.get_by_role("button", name="Delete Copy to delete").click()
    page.click("#delete-confirm")
    page.wait_for_selector(f"#models-body tr[data-model-id='{copy_id}']", state="detached")

    with live_server.client() as client:
        assert client.get(f"/api/models/{copy_id}").status_code == 404
    assert desktop.errors == []



def test_models_test_evaluation(desktop, live_server):
    with live_server.client() as client:
        evaluation = client.get(f"/api/models/{live_server.model_id}/evaluation").json()
    confusion = evaluation["confusion"]
    n_classes = len(evaluation["classes"])
    page = desktop.page
    page.goto("/models")
    row = page.locator(f"#models-body tr[data-model-id='{live_server.model_id}']")
    row.wait_for()

    row.locator("button", has_text="Test evaluation").click()
    page.wait_for_selector("#confusion-table")

    assert f"accuracy {100 * evaluation['accuracy']:.2f}%" in page.text_content("#confusion")
    assert page.locator("#confusion-table tbody tr").count() == n_classes
    first_row = [int(cell) for cell in page.locator(
        "#confusion-table tbody tr:first-child td").all_text_contents()]
    assert first_row == confusion[0]
    # Every column fits the panel at 1280 px, with no sideways scroll.
    overflow = page.eval_on_selector("#confusion", "box => box.scrollWidth - box.clientWidth")
    assert overflow <= 0

    mistake = page.locator("#confusion-table button").first
    true_class = int(mistake.get_attribute("data-true-class"))
    predicted_class = int(mistake.get_attribute("data-predicted-class"))
    mistake.click()
    page.wait_for_selector("#examples img")
    expected = min(confusion[true_class][predicted_class], 24)
    assert page.locator("#examples img").count() == expected
    screenshot(page, "models-evaluation")
    assert desktop.errors == []
