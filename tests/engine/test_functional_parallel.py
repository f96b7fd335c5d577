"""Tests that splitting element-wise work over threads gives the single-thread results."""

import os

import numpy as np
import pytest

from cnn_core.functional import (
    _parallel,
    conv_backward,
    conv_forward,
    get_num_threads,
    pool_backward,
    pool_forward,
    pool_winner_mask,
    set_num_threads,
)
from tests.engine.references import (
    conv_backward_loops,
    conv_forward_loops,
    pool_backward_loops,
    pool_forward_loops,
    pool_winner_mask_loops,
)


@pytest.fixture
def three_threads(monkeypatch):
    """Split even tiny arrays over three threads, then restore the defaults."""
    monkeypatch.setattr(_parallel, "MIN_ELEMENTS_PER_THREAD", 1)
    set_num_threads(3)
    yield
    set_num_threads(None)


@pytest.mark.parametrize("m", [1, 2, 5])
def test_threaded_conv_matches_loops(three_threads, m):
    rng = np.random.default_rng(0)
    A_prev = rng.standard_normal((m, 6, 5, 3))
    W = rng.standard_normal((3, 3, 3, 4))
    b = rng.standard_normal((1, 1, 1, 4))
    Z, cache = conv_forward(A_prev, W, b, stride=2, pad=1)
    dZ = rng.standard_normal(Z.shape)
    dA_prev, dW, db = conv_backward(dZ, cache)

    np.testing.assert_allclose(Z, conv_forward_loops(A_prev, W, b, 2, 1), rtol=1e-12)
    expected = conv_backward_loops(dZ, A_prev, W, 2, 1)
    for got, want in zip((dA_prev, dW, db), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("m", [1, 2, 5])
def test_threaded_pool_matches_loops(three_threads, m, mode):
    rng = np.random.default_rng(1)
    A_prev = np.maximum(rng.integers(-2, 3, size=(m, 7, 6, 2)), 0).astype(float)
    A, cache = pool_forward(A_prev, f=3, stride=1, mode=mode)
    dA = rng.standard_normal(A.shape)

    np.testing.assert_allclose(A, pool_forward_loops(A_prev, 3, 1, mode), rtol=1e-12)
    np.testing.assert_allclose(
        pool_backward(dA, cache), pool_backward_loops(dA, A_prev, 3, 1, mode), rtol=1e-12
    )
    if mode == "max":
        np.testing.assert_array_equal(pool_winner_mask(cache), pool_winner_mask_loops(A_prev, 3, 1))


def test_threaded_work_propagates_errors(three_threads):
    def fail_on_last_range(examples):
        if examples.stop == 6:
            raise RuntimeError("failed on the last range")

    with pytest.raises(RuntimeError, match="failed on the last range"):
        _parallel.for_each_batch_range(fail_on_last_range, 6, 600)


def test_batch_ranges_cover_every_example(three_threads):
    seen = []
    _parallel.for_each_batch_range(lambda examples: seen.append(examples), 7, 700)
    covered = sorted(i for examples in seen for i in range(7)[examples])
    assert covered == list(range(7))
    assert len(seen) == 3


def test_set_num_threads_validates_and_resets():
    with pytest.raises(ValueError, match="n_threads must be an integer >= 1, got 0"):
        set_num_threads(0)
    set_num_threads(2)
    assert get_num_threads() == 2
    set_num_threads(None)
    assert get_num_threads() == _parallel.default_num_threads()


def test_default_threads_follow_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _parallel.default_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert _parallel.default_num_threads() == len(os.sched_getaffinity(0))


def _pool_in_child(queue):
    A_prev = np.arange(4 * 5 * 5 * 2, dtype=float).reshape(4, 5, 5, 2)
    A, _ = pool_forward(A_prev, f=2, stride=1)
    queue.put(float(A.sum()))


def test_forked_child_gets_new_thread_pool(three_threads):
    # A forked child inherits the pool object but not its threads, and must still run the work.
    multiprocessing = pytest.importorskip("multiprocessing")
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("fork start method not available")
    A_prev = np.arange(4 * 5 * 5 * 2, dtype=float).reshape(4, 5, 5, 2)
    expected = float(pool_forward(A_prev, f=2, stride=1)[0].sum())

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_pool_in_child, args=(queue,))
    child.start()
    child.join(timeout=20)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected
