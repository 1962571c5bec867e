"""How many times each Python worker of a session has loaded a model, read from the workers' model
caches (`udfs/model_cache.WORKER_CACHE.loads`) by a probe job of many small tasks.

Spark hands its idle Python workers to tasks first in, first out, so PROBE_TASKS consecutive tasks each
take the longest-idle worker and pass through every one, as long as there are fewer (a local[2] stage
of a Python UDF, an Arrow UDF and mapInArrow leaves 6; 8 one-row tasks saw all 6, 4 saw the 4 oldest).
Workers that exited before the probe (crashed, or idle past Spark's timeout) are not seen.
Workers cannot import the tests folder, so this module is pickled by value.
"""
from __future__ import annotations

import os
import sys
from collections import Counter

import pyarrow as pa
from pyspark import cloudpickle

from sparklong.models.fingerprint import fingerprint

cloudpickle.register_pickle_by_value(sys.modules[__name__])

PROBE_TASKS = 16


def loads_per_worker(spark, folder: str) -> Counter:
    """{worker pid: times it loaded the model in `folder`}, for the workers that loaded it."""
    from pyspark.sql.functions import arrow_udf

    model = fingerprint(folder)

    @arrow_udf("string")
    def worker_loads(ids: pa.Array) -> pa.Array:
        from sparklong.udfs.model_cache import WORKER_CACHE

        return pa.array([f"{os.getpid()} {WORKER_CACHE.loads[model]}"] * len(ids))

    probe = spark.range(PROBE_TASKS, numPartitions=PROBE_TASKS).select(worker_loads("id").alias("loads"))
    seen = dict(row["loads"].split(" ") for row in probe.collect())
    return Counter({pid: int(loads) for pid, loads in seen.items() if int(loads) > 0})
