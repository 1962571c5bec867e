"""Run a function over a stream with a bounded number of items in flight, results in order.

A GPU task runs its core on two row slices at a time: while one slice's batches compute on the GPU,
the other thread tokenizes, packs and annotates (tokenizers and torch release the GIL), and the
main thread reads the next Arrow batch. On a CPU one at a time: there a second slice would only take
cores from the model.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], depth: int) -> Iterator[R]:
    """fn(item) for each item, in order, with up to `depth` calls running at once in threads (depth 1:
    in this thread, one at a time). An error is raised at its item; items after it are not started."""
    if depth <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix="sparklong-slice") as pool:
        running: deque = deque()
        try:
            for item in items:
                running.append(pool.submit(fn, item))
                if len(running) >= depth:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:  # the consumer stopped or a call failed: start nothing more
                future.cancel()
