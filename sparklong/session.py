"""`sparklong.start()`: a local SparkSession configured for sparklong's Arrow UDFs."""
from __future__ import annotations

import os
import sys


def start(
    master: str = "local[*]",
    app_name: str = "sparklong",
    memory: str = "4g",
    ui: bool = False,
    extra_conf: dict[str, str] | None = None,
):
    """Arrow on, Python worker reuse on (models stay cached per worker), UI and progress bar off
    unless asked. Sets PYSPARK_PYTHON to this interpreter before the JVM starts: otherwise workers
    run whatever `python3` is on PATH, and the UDFs fail on the modules it lacks (pyarrow, torch, sparklong)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no guessing at network interfaces
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
        .config("spark.python.worker.reuse", "true")
        .config("spark.ui.enabled", "true" if ui else "false")
        .config("spark.ui.showConsoleProgress", "true" if ui else "false")
        .config("spark.sql.shuffle.partitions", "8")
    )
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
