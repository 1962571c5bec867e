"""Read an iterator ahead in a thread, so a GPU task decodes its next input while its model computes."""
from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T], depth: int) -> Iterator[T]:
    """The items of `items` in order, with up to `depth` of them made ahead by a daemon thread (depth 0:
    no thread, the iterator itself). An error in the thread is raised here, at the item it stopped at;
    when the consumer stops early the thread stops at its next item."""
    if depth <= 0:
        yield from items
        return
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            ready.put((_END, exc))

    thread = threading.Thread(target=produce, name="sparklong-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
