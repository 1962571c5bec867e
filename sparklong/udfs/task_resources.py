"""What Spark gave the running task: its cores (spark.task.cpus) and its GPUs (Spark's GPU scheduling).
Outside a task (LightPipeline, the driver): this process's cores and no assigned GPU."""
from __future__ import annotations

import os


def _context():
    from pyspark import TaskContext

    return TaskContext.get()


def task_cores() -> int:
    """Cores this Spark task may use (spark.task.cpus); outside a task, the cores this process may
    run on (os.sched_getaffinity)."""
    context = _context()
    if context is not None:
        return max(1, context.cpus())
    return len(os.sched_getaffinity(0))


def task_gpus() -> tuple[str, ...]:
    """The addresses of the GPUs Spark assigned this task (spark.task.resource.gpu.amount), in
    Spark's order; () outside a task or when the task was given none."""
    context = _context()
    if context is None:
        return ()
    gpu = context.resources().get("gpu")
    return tuple(gpu.addresses) if gpu is not None else ()
