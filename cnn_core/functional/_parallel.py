"""Split element-wise array work over the batch axis and run the parts in worker threads.

NumPy's element-wise loops (copies, adds, comparisons) use one core, but they release the GIL on
large arrays, so the im2col, col2im and pooling steps can use several cores when each thread
handles its own range of examples. The matrix products are left to BLAS, which has threads of
its own, and never run inside these workers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ._validation import check_int

# Below this many array elements per thread, starting threads costs more than it saves.
MIN_ELEMENTS_PER_THREAD = 1 << 16

_lock = threading.Lock()
_num_threads: int | None = None
_executor: ThreadPoolExecutor | None = None
_executor_workers = 0


def default_num_threads() -> int:
    """Return the number of CPUs this process may run on, or OMP_NUM_THREADS when it is set."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) >= 1:
        return int(configured)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """Return the number of threads that element-wise work is split over."""
    return _num_threads if _num_threads is not None else default_num_threads()


def set_num_threads(n_threads: int | None) -> None:
    """Set the number of threads for element-wise work; ``None`` restores the default.

    This does not change the BLAS thread count, which threadpoolctl or the BLAS library's own
    environment variables control. Call it while no operation is running in another thread,
    because it shuts down the current worker threads.
    """
    global _num_threads, _executor
    if n_threads is not None:
        n_threads = check_int("n_threads", n_threads, minimum=1)
    with _lock:
        _num_threads = n_threads
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True)


def for_each_batch_range(work: Callable[[slice], None], m: int, n_elements: int) -> None:
    """Call ``work(batch_slice)`` on disjoint ranges of ``range(m)`` that together cover it.

    ``n_elements`` is the size of the largest array the work touches; small work runs in the
    calling thread in one call. ``work`` must only write to its own examples, so that the ranges
    can run at the same time. Exceptions raised by ``work`` propagate to the caller.
    """
    n_parts = min(get_num_threads(), m, n_elements // MIN_ELEMENTS_PER_THREAD)
    if n_parts <= 1:
        work(slice(0, m))
        return

    bounds = [m * part // n_parts for part in range(n_parts + 1)]
    ranges = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
    executor = _get_executor(n_parts - 1)
    futures = [executor.submit(work, batch_range) for batch_range in ranges[1:]]
    try:
        work(ranges[0])
    finally:
        for future in futures:
            future.result()


def _get_executor(n_workers: int) -> ThreadPoolExecutor:
    global _executor, _executor_workers
    with _lock:
        if _executor is None or _executor_workers < n_workers:
            if _executor is not None:
                _executor.shutdown(wait=False)
            _executor_workers = max(n_workers, get_num_threads() - 1)
            _executor = ThreadPoolExecutor(
                max_workers=_executor_workers, thread_name_prefix="cnn_core"
            )
        return _executor


def _forget_executor_after_fork() -> None:
    # A forked child inherits the executor object but not its threads, so it needs a new one.
    global _executor
    _executor = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor_after_fork)
