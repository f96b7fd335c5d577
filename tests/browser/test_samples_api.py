"""The sample and evaluation endpoints that the pages use, called over HTTP on the live server."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser


def test_random_sample_is_test_image(live_server, fashion_test_images):
    images, labels, classes = fashion_test_images
    with live_server.client() as client:
        sample = client.get("/api/datasets/fashion-mnist/samples/random").json()

    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(sample["image"]))))
    assert sample["split"] == "test"
    assert np.array_equal(decoded, images[sample["index"], :, :, 0])
    assert sample["class_index"] == int(labels[sample["index"]])
    assert sample["label"] == classes[sample["class_index"]]


def test_unknown_dataset_sample_404(live_server):
    with live_server.client() as client:
        response = client.get("/api/datasets/no-such-data/samples/random")

    assert response.status_code == 404
    assert "no-such-data" in response.json()["detail"]


def test_evaluation_counts_whole_test_split(live_server, fashion_test_images):
    _, labels, classes = fashion_test_images
    with live_server.client() as client:
        evaluation = client.get(f"/api/models/{live_server.model_id}/evaluation").json()

    confusion = np.array(evaluation["confusion"])
    assert evaluation["classes"] == classes
    assert evaluation["n_evaluated"] == len(labels)
    assert confusion.shape == (len(classes), len(classes))
    assert np.array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=len(classes)))
    assert evaluation["accuracy"] == pytest.approx(np.trace(confusion) / len(labels))


def test_examples_match_confusion_cell(live_server):
    with live_server.client() as client:
        evaluation = client.get(f"/api/models/{live_server.model_id}/evaluation").json()
        confusion = np.array(evaluation["confusion"])
        off_diagonal = confusion - np.diag(np.diag(confusion))
        true_class, predicted_class = np.unravel_index(np.argmax(off_diagonal), confusion.shape)
        query = {"true_class": int(true_class), "predicted_class": int(predicted_class),
                 "limit": 5}
        result = client.get(f"/api/models/{live_server.model_id}/evaluation/examples",
                            params=query).json()

    assert result["total"] == confusion[true_class, predicted_class]
    assert len(result["examples"]) == min(5, result["total"])
    indices = [example["index"] for example in result["examples"]]
    assert indices == sorted(indices)
    for example in result["examples"]:
        assert example["label"] == evaluation["classes"][true_class]
        assert example["predicted_label"] == evaluation["classes"][predicted_class]


def test_examples_reject_unknown_class(live_server):
    with live_server.client() as client:
        response = client.get(f"/api/models/{live_server.model_id}/evaluation/examples",
                              params={"true_class": 0, "predicted_class": 99})

    assert response.status_code == 422
    assert response.json()["detail"] == (
        "predicted_class: 99 is not a class of this model; use 0 to 9."
    )


def test_evaluation_of_unknown_model_404(live_server):
    with live_server.client() as client:
        response = client.get(f"/api/models/{'0' * 32}/evaluation")

    assert response.status_code == 404
