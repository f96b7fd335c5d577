"""A real server: models added by another process, and health while inference runs."""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np

from app.core.config import Settings
from app.services.models import ModelStore
from cnn_core.network import Network
from cnn_core.serialization import Model
from tests.api.conftest import LiveServer, encode_png

# Worst /api/health latency accepted while inspect requests keep every inference thread busy.
# The loop only parses requests and hands work to the threads, so it responds in milliseconds;
# the margin covers a loaded 2-core test machine.
HEALTH_LIMIT_S = 0.2

# Convs wide enough to keep each inspect request busy for tens of milliseconds.
BUSY_SPEC = [
    {"type": "conv", "filters": 32, "f": 3, "pad": 1},
    {"type": "relu"},
    {"type": "conv", "filters": 64, "f": 3, "pad": 1},
    {"type": "relu"},
    {"type": "maxpool", "f": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 10},
    {"type": "softmax"},
]


def test_model_added_by_other_process(live_server: LiveServer, small_model: Model) -> None:
    store = ModelStore(Settings(data_dir=live_server.data_dir))
    model_id = store.add(small_model, name="added later", dataset="fashion-mnist")

    response = httpx.get(live_server.url(f"/api/models/{model_id}"))

    assert response.status_code == 200
    assert response.json()["name"] == "added later"


def test_health_fast_during_inference(live_server: LiveServer) -> None:
    network = Network(BUSY_SPEC, input_shape=(28, 28, 1), seed=0)
    model = Model(network, [str(i) for i in range(10)])
    model_id = ModelStore(Settings(data_dir=live_server.data_dir)).add(
        model, name="busy", dataset="fashion-mnist"
    )
    image = encode_png(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8))
    url = live_server.url(f"/api/models/{model_id}/inspect")
    # Time only requests on a loaded model.
    assert httpx.post(url, files={"file": ("x.png", image)}, timeout=60).status_code == 200
    statuses: list[int] = []
    stop = threading.Event()

    def keep_inspecting() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                statuses.append(http.post(url, files={"file": ("x.png", image)}).status_code)

    workers = [threading.Thread(target=keep_inspecting) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.2)
        latencies = []
        with httpx.Client(timeout=10) as http:
            for _ in range(10):
                started = time.perf_counter()
                assert http.get(live_server.url("/api/health")).status_code == 200
                latencies.append(time.perf_counter() - started)
                time.sleep(0.05)
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    assert len(statuses) >= 4
    assert set(statuses) == {200}
    assert max(latencies) < HEALTH_LIMIT_S, latencies
