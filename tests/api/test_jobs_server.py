"""Training jobs against a real server process: responsiveness, crashes and restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from app.services.jobs import RESTARTED_ERROR
from tests.api.conftest import LiveServer, start_live_server, stop_live_server
from tests.api.test_jobs import LONG_JOB, TINY_JOB

pytestmark = pytest.mark.slow

# The latency that /api/health must stay under while a job trains.
HEALTH_LIMIT_S = 0.2


def wait_for_job(server: LiveServer, job_id: str, done, timeout: float = 120.0) -> dict:
    """Poll the job on `server` until `done(job)` is true; return the job."""
    deadline = time.monotonic() + timeout
    while True:
        job = httpx.get(server.url(f"/api/jobs/{job_id}"), timeout=5).json()
        if done(job):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']!r} after {timeout} s"
        time.sleep(0.1)


def read_live_events(server: LiveServer, job_id: str) -> list[tuple[str, dict]]:
    """Read the job's event stream from `server` to its end as `(event name, data)` pairs."""
    events = []
    name = None
    url = server.url(f"/api/jobs/{job_id}/events")
    with httpx.stream("GET", url, timeout=120) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def child_pids(pid: int) -> list[int]:
    """Return the ids of the live processes whose parent is `pid` (read from /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while the loop ran
        # The command name in brackets may contain spaces, so split after its closing bracket.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry.name))
    return children


def is_alive(pid: int) -> bool:
    """Tell whether process `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_health_stays_fast_while_training(tmp_path: Path) -> None:
    server = start_live_server(tmp_path / "data")
    try:
        job = httpx.post(server.url("/api/jobs"), json=LONG_JOB, timeout=30).json()
        wait_for_job(server, job["id"], lambda job: job["progress"] > 0)

        # One client for every request, so its setup cost (an SSL context, tens of ms of CPU)
        # is not counted as server latency.
        latencies = []
        with httpx.Client(timeout=5) as client:
            for _ in range(40):
                started = time.perf_counter()
                response = client.get(server.url("/api/health"))
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 200
                time.sleep(0.05)
        still_running = httpx.get(server.url(f"/api/jobs/{job['id']}"), timeout=5).json()
        cancelled = httpx.delete(server.url(f"/api/jobs/{job['id']}"), timeout=30)
    finally:
        stop_live_server(server)

    assert still_running["status"] == "running", "the job ended before the measurement did"
    # NOTE: the test machine may be shared with other busy processes, and the scheduler then
    # delays single requests of any server. So 2 of the 40 requests may miss the limit, but
    # none may take a second.
    slow = [latency for latency in latencies if latency >= HEALTH_LIMIT_S]
    assert len(slow) <= 2, sorted(latencies)[-5:]
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    assert cancelled.status_code == 200


def test_restart_after_crash_fails_running_job(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_live_server(data_dir)
    try:
        created = httpx.post(server.url("/api/jobs"), json={**TINY_JOB, "epochs": 1}, timeout=30)
        events = read_live_events(server, created.json()["id"])
        finished = events[-1][1]
        running = httpx.post(server.url("/api/jobs"), json=LONG_JOB, timeout=30).json()
        wait_for_job(server, running["id"], lambda job: job["progress"] > 0)
        workers = child_pids(server.process.pid)
        assert len(workers) >= 1

        # A crash: no shutdown code runs, so the job stays "running" in the database.
        server.process.kill()
        server.process.wait(timeout=10)
    finally:
        stop_live_server(server)

    # The orphaned worker notices that its server is gone and stops by itself.
    deadline = time.monotonic() + 10
    while any(is_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(is_alive(pid) for pid in workers)

    restarted = start_live_server(data_dir)
    try:
        jobs = {job["id"]: job for job in httpx.get(restarted.url("/api/jobs"), timeout=5).json()}
        model = httpx.get(restarted.url(f"/api/models/{finished['model_id']}"), timeout=5)
    finally:
        stop_live_server(restarted)

    assert events[0][0] == "status"
    assert [data["epoch"] for name, data in events if name == "epoch"] == [1]
    assert finished["status"] == "succeeded"
    assert jobs[finished["id"]]["status"] == "succeeded"
    assert jobs[finished["id"]]["model_id"] == finished["model_id"]
    assert jobs[running["id"]]["status"] == "failed"
    assert jobs[running["id"]]["error"] == RESTARTED_ERROR
    assert jobs[running["id"]]["progress"] > 0
    assert model.status_code == 200
    assert "restarted before it finished" in restarted.log()
