"""Test-only fault injection: a Python worker that dies mid-task on each task's first attempt.

A driver turns it on for the jobs it starts next with
    spark.sparkContext.setLocalProperty(KILL_WORKER_PROPERTY, marker_folder)
(and off with None). Each task of such a job, on its first attempt, writes a marker file
`<stage>-<partition>-<pid>` into marker_folder and ends its Python worker with os._exit right after
its first output batch, as a crashed worker would; Spark then retries the task. When the property
is unset (always, outside tests) the hook costs one TaskContext lookup per batch.
"""
from __future__ import annotations

import os

KILL_WORKER_PROPERTY = "sparklong.test.killWorkerOnFirstAttempt"
KILLED_EXIT_CODE = 86


def kill_worker_if_asked() -> None:
    from pyspark import TaskContext

    context = TaskContext.get()
    if context is None or context.attemptNumber() > 0:
        return
    folder = context.getLocalProperty(KILL_WORKER_PROPERTY)
    if not folder:
        return
    marker = os.path.join(folder, f"{context.stageId()}-{context.partitionId()}-{os.getpid()}")
    with open(marker, "w", encoding="utf-8"):
        pass
    os._exit(KILLED_EXIT_CODE)
