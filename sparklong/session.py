"""`sparklong.start()`: a local SparkSession configured for sparklong's Arrow UDFs."""
from __future__ import annotations

import os
import sys

# Rows of long documents per Arrow batch. Each row carries one annotation per token into a model
# stage and, out of LongformerEmbeddings, one vector per token: at Spark's default of 10,000 rows, a
# batch of 4,096-token documents would hold ~120 GB of 768-float vectors. The model UDF cuts its output
# batches to this size itself (udfs/model_udf.py), whatever the session says; start() also sets it as
# maxRecordsPerBatch, so that input batches (about 60 bytes of Arrow per token annotation) stay small.
# A stage never changes a session setting: in a session of the user's own, inputs follow its value.
ARROW_BATCH_ROWS = 64


def start(
    master: str = "local[*]",
    app_name: str = "sparklong",
    memory: str = "4g",
    ui: bool = False,
    extra_conf: dict[str, str] | None = None,
):
    """Arrow on with batches of ARROW_BATCH_ROWS rows, Python worker reuse on (models stay cached per
    worker), workers forked with torch already imported (udfs/preload_daemon.py), UI and progress bar off
    unless asked. Sets PYSPARK_PYTHON to this interpreter before the
    JVM starts: otherwise workers run whatever `python3` is on PATH, and the UDFs fail on the modules it
    lacks (pyarrow, torch, sparklong)."""
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
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
        .config("spark.python.worker.reuse", "true")
        .config("spark.python.daemon.module", "sparklong.udfs.preload_daemon")
        .config("spark.ui.enabled", "true" if ui else "false")
        .config("spark.ui.showConsoleProgress", "true" if ui else "false")
        .config("spark.sql.shuffle.partitions", "8")
    )
    for key, value in (extra_conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
