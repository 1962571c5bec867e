"""Test-only fault injection: a Python worker that dies mid-task on each task's first attempt.

A driver turns it on for the jobs it starts next with
    spark.sparkContext.setLocalProperty(KILL_WORKER_PROPERTY, marker_folder)
(and off with None). Each task of such a job, on its first attempt, writes a marker file
`<stage>-<partition>-<pid>` into marker_folder and ends its Python worker with os._exit right after
its first output batch, as a crashed worker would; Spark then retries the task. The property is read
once per task (kill_after_first); when it is unset (always, outside tests) the task's output iterator
is passed on as it is, so no batch runs any of this code.
"""
from __future__ import annotations

import os
from typing import Iterator, TypeVar

KILL_WORKER_PROPERTY = "sparklong.test.killWorkerOnFirstAttempt"
KILLED_EXIT_CODE = 86

T = TypeVar("T")


def kill_after_first(outputs: Iterator[T]) -> Iterator[T]:
    """A task's outputs, unchanged unless its driver asked for the fault: then the first output, a
    marker file and os._exit. Call it inside the task (in the UDF's iterator), once."""
    marker = _marker()
    return outputs if marker is None else _first_then_exit(outputs, marker)


def _marker() -> str | None:
    """The marker file this task writes before it dies, or None: no fault asked (or a retry)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None or context.attemptNumber() > 0:
        return None
    folder = context.getLocalProperty(KILL_WORKER_PROPERTY)
    if not folder:
        return None
    return os.path.join(folder, f"{context.stageId()}-{context.partitionId()}-{os.getpid()}")


def _first_then_exit(outputs: Iterator[T], marker: str) -> Iterator[T]:
    for out in outputs:
        yield out
        with open(marker, "w", encoding="utf-8"):
            pass
        os._exit(KILLED_EXIT_CODE)
