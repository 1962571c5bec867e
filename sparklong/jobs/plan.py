"""Planning a run on Spark: the input keyed and hashed once (persisted, so the source is read once), the
committed rows read from the shard files' row indexes, and every id's state: new, changed, same or
removed. The driver collects only aggregates: a few numbers, then one small record per shard.

A row belongs to shard pmod(xxhash64(string(id)), shards), in every run. Its content hash is SHA-256 of
its input columns as JSON (null and "" differ), so an incremental run recomputes exactly the ids whose
input changed.
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark import StorageLevel

from ..storage.output_folder import OutputFolder
from .job_error import JobError
from .shard_files import DROP, HASH, KEY, SHARD, row_index_reader

COMMITTED_HASH = "_sparklong_committed_hash"
SLOT = "_sparklong_slot"


@dataclass(frozen=True)
class ShardWork:
    shard: int
    new: int
    changed: int
    same: int
    removed: int

    @property
    def dirty(self) -> bool:
        return bool(self.new or self.changed or self.removed)


def keyed_input(frame, columns: list[str]):
    """id + input columns + key (the id as a string) + content hash."""
    from pyspark.sql import functions as F

    content = F.to_json(F.struct(*[F.col(c) for c in columns]))
    return frame.withColumn(KEY, F.col("id").cast("string")) \
        .withColumn(HASH, F.substring(F.sha2(content, 256), 1, 32))


def committed_rows(spark, folder: OutputFolder, files: list[str]):
    """(key, committed hash) of every row in these committed shard files, read by the executors; None
    when there is no file."""
    if not files:
        return None
    names = spark.createDataFrame([(f,) for f in files], "file string")
    names = names.repartition(min(len(files), spark.sparkContext.defaultParallelism * 4))
    rows = names.mapInArrow(row_index_reader(folder), f"{KEY} string, {HASH} string")
    return rows.dropDuplicates([KEY]).withColumnRenamed(HASH, COMMITTED_HASH)  # chunk rows share their id's hash


def row_states(keyed, committed):
    """Every input id and every committed id, once each side, with both hashes: persisted (DISK_ONLY),
    so the input is read by the first action on it and never again in this run."""
    from pyspark.sql import functions as F

    if committed is None:
        states = keyed.withColumn(COMMITTED_HASH, F.lit(None).cast("string"))
    else:
        states = keyed.join(committed, KEY, "full_outer")
    return states.persist(StorageLevel.DISK_ONLY)


def check_ids(states, id_col: str) -> int:
    """Number of input rows; JobError, before any model runs, for null or duplicate ids."""
    from pyspark.sql import functions as F

    per_key = states.where(F.col(HASH).isNotNull()).groupBy(KEY).count()
    summary = per_key.agg(
        F.coalesce(F.sum("count"), F.lit(0)).alias("rows"),
        F.coalesce(F.sum(F.when(F.col(KEY).isNull(), F.col("count"))), F.lit(0)).alias("nulls"),
        F.count(F.when(F.col("count") > 1, True)).alias("duplicated"),
        F.min(F.when(F.col("count") > 1, F.col(KEY))).alias("example"),
    ).first()
    if summary["nulls"]:
        raise JobError(f"{summary['nulls']:,} input rows have a null {id_col}: every row needs an id")
    if summary["duplicated"]:
        raise JobError(f"{summary['duplicated']:,} ids occur more than once in the input's {id_col} column (for "
                       f"example {summary['example']!r}): --id-col must name a unique column")
    return int(summary["rows"])


def with_shard(states, shards: int):
    from pyspark.sql import functions as F

    return states.withColumn(SHARD, F.pmod(F.xxhash64(F.col(KEY)), F.lit(shards)).cast("int"))


def shard_work(states) -> list[ShardWork]:
    """Per shard: how many ids are new, changed, the same, removed (one small record per shard)."""
    from pyspark.sql import functions as F

    new, old = F.col(HASH), F.col(COMMITTED_HASH)
    counts = states.groupBy(SHARD).agg(
        F.count(F.when(new.isNotNull() & old.isNull(), True)).alias("new"),
        F.count(F.when(new.isNotNull() & old.isNotNull() & (new != old), True)).alias("changed"),
        F.count(F.when(new == old, True)).alias("same"),
        F.count(F.when(new.isNull(), True)).alias("removed"),
    ).collect()
    return sorted((ShardWork(int(r[SHARD]), r["new"], r["changed"], r["same"], r["removed"]) for r in counts),
                  key=lambda w: w.shard)


def work_rows(spark, states, dirty: list[int], tasks: int):
    """The rows this run writes: ids to compute, and a marker (input columns null, DROP set) for each
    removed id; only shards in `dirty`, dealt to `tasks` partitions (repartitionById: every row of a
    shard in one task) and sorted by shard in each, so a task writes and commits its shards one by one."""
    from pyspark.sql import functions as F

    slots = spark.createDataFrame([(s, i % tasks) for i, s in enumerate(dirty)], f"{SHARD} int, {SLOT} int")
    changed = F.col(HASH).isNull() | F.col(COMMITTED_HASH).isNull() | (F.col(HASH) != F.col(COMMITTED_HASH))
    rows = states.where(changed).join(F.broadcast(slots), SHARD).withColumn(DROP, F.col(HASH).isNull())
    return rows.repartitionById(tasks, SLOT).sortWithinPartitions(SHARD).drop(SLOT, COMMITTED_HASH)
