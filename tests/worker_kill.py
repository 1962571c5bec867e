"""Test fault: each task's first attempt loses a Python worker mid-task, as a crashed worker would.

`dies_after_first_batch(column, return_type, markers)` is `column` passed on unchanged by a
scalar-iterator Arrow UDF. In each task's first attempt, that UDF's Python worker writes a marker file
`<stage>-<partition>-<pid>` into the `markers` folder right after its first output batch and ends with
os._exit; Spark fails the task and retries it (a local[N,F] master, or spark.task.maxFailures), and
the retry passes every batch on. Given a column computed from a model's output (a job's n_tokens, a
pipeline's embeddings), the worker dies once the model has run on the task's first rows: mid-shard.

The drivers (job_fault_driver.py, cluster_driver.py) add this column to what they run; sparklong has
no fault code of its own. Workers cannot import the tests folder, so this module is pickled by value.
"""
from __future__ import annotations

import os
import sys
from typing import Iterator, TypeVar

import pyarrow as pa
from pyspark import cloudpickle

cloudpickle.register_pickle_by_value(sys.modules[__name__])

KILLED_EXIT_CODE = 86

T = TypeVar("T")


def dies_after_first_batch(column, return_type, markers: str):
    """`column` (of Spark type `return_type`) through a UDF whose worker dies in each task's first attempt."""
    from pyspark.sql.functions import arrow_udf

    @arrow_udf(return_type)
    def passed_on(batches: Iterator[pa.Array]) -> Iterator[pa.Array]:
        yield from kill_after_first(batches, markers)

    return passed_on(column)


def kill_after_first(outputs: Iterator[T], markers: str) -> Iterator[T]:
    """A task's outputs, unchanged on a retry or outside a task; on a first attempt the first output,
    then a marker file in `markers` and os._exit. Call it inside the task, once."""
    marker = _marker(markers)
    return outputs if marker is None else _first_then_exit(outputs, marker)


def _marker(markers: str) -> str | None:
    """The marker file this task writes before its worker dies, or None: a retry, or no task."""
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None or context.attemptNumber() > 0:
        return None
    return os.path.join(markers, f"{context.stageId()}-{context.partitionId()}-{os.getpid()}")


def _first_then_exit(outputs: Iterator[T], marker: str) -> Iterator[T]:
    for out in outputs:
        yield out
        with open(marker, "w", encoding="utf-8"):
            pass
        os._exit(KILLED_EXIT_CODE)
