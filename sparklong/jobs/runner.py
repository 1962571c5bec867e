"""The sharded, crash-safe, idempotent runner behind jobs/embed_corpus.py and jobs/answer_questions.py.

Output folder layout:

    _sparklong_job.json            manifest of the first run: input, columns, rows, shards, model, settings
    part-00003-of-00010.parquet    one file per committed shard (rows sorted by id)
    _staging/                      uploads in flight; emptied at the start of every run
    _SUCCESS                       written once every shard is committed

A row belongs to shard pmod(xxhash64(string(id)), shards): the same shard in every run. A shard is
computed by one Spark job, collected to the driver (one shard's results: documents x dimension
floats), written as one parquet file, uploaded under _staging/ and renamed to its final name: a
single atomic rename is the commit, so a shard's file is there whole or not at all, whatever moment
the run is killed, and a rerun computes only the shards whose file is missing. Readers (Spark,
pandas, pyarrow) skip names starting with `_`, so the folder reads as one table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from typing import Callable

from .inputs import FORMATS, JobError, detect_format, first_line, read_input
from .model_ref import ModelRef, is_saved_pipeline, load_pipeline, resolve_folder
from .progress import Progress
from .storage import Storage, local_path, qualify

MANIFEST = "_sparklong_job.json"
STAGING = "_staging"
SUCCESS = "_SUCCESS"
SHARD_COL = "_sparklong_shard"


@dataclass(frozen=True)
class JobSpec:
    """What makes one job: its input columns, its extra arguments and its Spark transform."""

    name: str
    description: str
    # string input columns besides the id: (canonical name, CLI flag, default column name)
    columns: tuple[tuple[str, str, str], ...]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    # arguments that change the results, recorded in the manifest and checked on a rerun
    settings: Callable[[argparse.Namespace], dict]
    # (args, model) -> (frame of id + canonical columns -> frame of id + outputs); builds stages up front
    transform: Callable[[argparse.Namespace, ModelRef], Callable]
    # pyarrow schema of the output columns after `id`
    output_schema: Callable[[], object]
    tokens_column: str | None = None


def parser(spec: JobSpec) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=spec.name, description=spec.description)
    p.add_argument("--input", required=True, help="parquet, JSON lines, or a folder of .txt files (id = file name)")
    p.add_argument("--output", required=True, help="output folder (any Hadoop-compatible path)")
    p.add_argument("--model", required=True, help="pretrained name, Hugging Face Longformer folder, or saved PipelineModel")
    p.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: from the path)")
    p.add_argument("--id-col", default="id", help="id column (default: id)")
    for name, flag, default in spec.columns:
        p.add_argument(flag, default=default, dest=f"{name}_col", help=f"{name} column (default: {default})")
    p.add_argument("--master", default=None, help="Spark master (default local[*]; ignored under spark-submit)")
    p.add_argument("--shard-rows", type=_positive, default=500, help="documents per shard, about (default 500)")
    p.add_argument("--overwrite", action="store_true", help="delete the output folder and start again")
    spec.add_arguments(p)
    return p


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main(spec: JobSpec, argv: list[str] | None = None, spark=None) -> int:
    """Run the job; 0 on success (or nothing to do), 1 with one line on stderr on failure."""
    args = parser(spec).parse_args(argv)
    own_session = spark is None
    try:
        local = local_path(args.input)
        if local is not None and not os.path.exists(local):
            raise JobError(f"input {args.input} does not exist")  # before a JVM starts
        model = None if is_saved_pipeline(args.model) else resolve_folder(args.model)
        if spark is None:
            spark = session(args.master, spec.name)
        if model is None:
            model = load_pipeline(args.model)
        _run(spec, args, spark, model)
        return 0
    except JobError as exc:
        print(f"{spec.name}: error: {exc}", file=sys.stderr, flush=True)
    except Exception as exc:  # Spark and worker failures: their innermost reason, on one line
        print(f"{spec.name}: error: {first_line(exc)}", file=sys.stderr, flush=True)
    finally:
        if own_session and spark is not None:
            spark.stop()
    return 1


def session(master: str | None, app_name: str):
    """Under spark-submit, its session (master and resources come from there); else sparklong.start()."""
    # pyspark warns about pandas 3 in every process (it works, see docs/design.md): keep progress readable
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: the JVM is already up
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(app_name).getOrCreate()
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    else:
        import sparklong

        spark = sparklong.start(master or "local[*]", app_name=app_name)
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _run(spec: JobSpec, args, spark, model: ModelRef) -> None:
    from pyspark.sql import functions as F

    out = Storage(spark, args.output)
    if args.overwrite and out.exists():
        out.delete()
    columns = [(args.id_col, "--id-col")] + [(getattr(args, f"{n}_col"), flag) for n, flag, _ in spec.columns]
    fmt = detect_format(spark, args.input, args.format)
    frame = read_input(spark, args.input, fmt, columns)
    frame = frame.select(F.col(args.id_col).alias("id"),
                         *[F.col(getattr(args, f"{n}_col")).alias(n) for n, _, _ in spec.columns])
    transform = spec.transform(args, model)  # stages built (and checked) before any Spark job

    rows = frame.count()
    shards = max(1, -(-rows // args.shard_rows))
    manifest = {
        "job": spec.name, "input": qualify(args.input), "format": fmt, "rows": rows, "shards": shards,
        "columns": {"id": args.id_col, **{n: getattr(args, f"{n}_col") for n, _, _ in spec.columns}},
        "model": model.name, "model_version": model.version, "settings": spec.settings(args),
    }
    shards = _check_manifest(out, manifest)
    names = [shard_file(k, shards) for k in range(shards)]
    present = set(out.list())
    pending = [k for k in range(shards) if names[k] not in present]
    if not pending:
        if SUCCESS not in present:
            out.write_text(SUCCESS, "", STAGING)
        print(f"{spec.name}: nothing to do: all {shards} shards of {out.root} are committed ({rows:,} documents); "
              "--overwrite starts again", flush=True)
        return
    out.delete(STAGING)  # uploads a killed run left behind
    out.mkdirs(STAGING)

    keyed = frame.withColumn(SHARD_COL, F.pmod(F.xxhash64(F.col("id").cast("string")), F.lit(shards)))
    counts = {r[0]: r[1] for r in keyed.groupBy(SHARD_COL).count().collect()}
    progress = Progress(spec.name, shards, sum(counts.get(k, 0) for k in pending), spec.tokens_column is not None)
    skipped = shards - len(pending)
    resumed = f"; {skipped} already committed, {len(pending)} to do" if skipped else ""
    progress.say(f"{rows:,} documents from {args.input} ({fmt}) in {shards} shards{resumed}; "
                 f"model {model.name} ({model.version}); output {out.root}")
    parallelism = spark.sparkContext.defaultParallelism
    for k in pending:
        started = time.monotonic()
        part = keyed.where(F.col(SHARD_COL) == k).drop(SHARD_COL).repartition(parallelism, "id")
        table = _finish(transform(part).toArrow(), spec, model, k, shards)
        _commit(out, table, names[k])
        tokens = int(table.column(spec.tokens_column).to_numpy().sum()) if spec.tokens_column else 0
        progress.shard_done(k, shards - len(pending) + progress.done_shards + 1, table.num_rows, tokens,
                            time.monotonic() - started)
    out.write_text(SUCCESS, "", STAGING)
    out.delete(STAGING)
    progress.summary(skipped)


def shard_file(index: int, shards: int) -> str:
    return f"part-{index:05d}-of-{shards:05d}.parquet"


def _check_manifest(out: Storage, manifest: dict) -> int:
    """Write the manifest on a first run; on a rerun check it describes the same work. The shard count."""
    names = out.list()
    if MANIFEST not in names:
        if [n for n in names if n != STAGING]:
            raise JobError(f"output {out.root} exists and was not written by this job: pick another --output "
                           "or pass --overwrite")
        out.mkdirs()
        out.write_text(MANIFEST, json.dumps(manifest, indent=2), STAGING)
        return manifest["shards"]
    try:
        first = json.loads(out.read_text(MANIFEST))
    except ValueError as exc:
        raise JobError(f"{out.path(MANIFEST)} is not valid JSON ({exc}); pass --overwrite to start again") from exc
    changed = [key for key in manifest if first.get(key) != manifest[key]]
    if changed:
        was = ", ".join(f"{key}={first.get(key)!r} then, {manifest[key]!r} now" for key in changed)
        raise JobError(f"output {out.root} was started with other inputs ({was}): pass --overwrite to start again")
    return int(first["shards"])


def _finish(table, spec: JobSpec, model: ModelRef, shard: int, shards: int):
    """The shard's rows in the output schema, sorted by id, with the job and model in the file metadata."""
    import pyarrow as pa

    import sparklong

    schema = spec.output_schema()
    columns = [table.column("id")] + [table.column(f.name).cast(f.type) for f in schema]
    fields = [pa.field("id", table.schema.field("id").type)] + list(schema)
    metadata = {
        "sparklong.job": spec.name, "sparklong.model": model.name, "sparklong.model_version": model.version,
        "sparklong.version": sparklong.__version__, "sparklong.shard": f"{shard}/{shards}",
    }
    result = pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=metadata))
    return result.sort_by([("id", "ascending")])


def _commit(out: Storage, table, name: str) -> None:
    """Write locally, upload under _staging/, rename into place: the rename is the commit."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory(prefix="sparklong-shard-") as tmp:
        local = os.path.join(tmp, name)
        pq.write_table(table, local)
        staged = f"{STAGING}/{uuid.uuid4().hex}-{name}"
        out.upload(local, staged)
    if not out.rename(staged, name):
        raise JobError(f"could not commit {out.path(name)}: is another run writing to {out.root}?")
