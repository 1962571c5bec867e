"""The runner behind jobs/embed_corpus.py and jobs/answer_questions.py: one distributed pass per run,
shards written and committed by the executors, exactly once whatever fails, incremental on request.

Output folder layout:

    _sparklong_job.json            manifest: job, input, columns, rows, shards, model and version, settings,
                                   each shard's precision
    _sparklong_lock.json           while a run writes: which run, where (writer_lock.py), its heartbeat
    part-00003-of-00010.parquet    one file per shard, committed by the task that wrote it
    _index/                        each shard file's row index (row_index.py), named in its footer
    _staging/<run>/                this run's attempt files and commit records; orphans removed by the next run
    _damaged/<run>/                committed files a run found damaged, moved aside (never deleted by a run)
    _SUCCESS                       written once every shard is up to date with the input

A run: take the lock; check the committed files (shard_check.py: read whole, damaged ones set aside);
read the input once (keyed, hashed, persisted on the executors), check its ids,
read the committed files' row indexes, and count per shard the ids that are new, changed, the same or
removed; then one Spark job computes the shards that need writing, each in its own task, which
streams its rows to an attempt file and renames it over the shard's file (shard_files.py). The driver
sees aggregates and one small record per shard; it prints a line per commit as the tasks write them.
Readers (Spark, pandas, pyarrow) skip names starting with `_`, so the folder reads as one table of
committed rows, also while a run is writing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
import uuid
import warnings
from dataclasses import dataclass
from typing import Callable

from ..storage.hadoop_folder import local_path, qualify
from ..storage.output_folder import OutputFolder
from .engine_flags import add_engine_arguments, engine_flags, model_stage_profile
from .inputs import FORMATS, detect_format, first_line, read_input
from .delta_table import holds_delta_log
from .job_error import JobError
from .manifest import FORMAT, MANIFEST, check_id_type, check_manifest, read_job_manifest, write_manifest
from .model_ref import ModelRef, default_max_sentence_length, is_saved_pipeline, load_pipeline, resolve_folder
from .one_line import error_line, jvm_stderr_discarded
from .plan import check_ids, committed_rows, keyed_input, row_states, shard_work, with_shard, work_rows
from .progress import Progress
from .row_index import INDEX
from .run_monitor import RunMonitor
from .shard_check import DAMAGED, CheckedShards, check_damage_is_plausible, check_shards, \
    remove_unreferenced_indexes, set_aside
from .shard_precision import PRECISIONS, check_one_precision, merged_precisions
from .shard_files import COMMIT_SCHEMA, DROP, HASH, KEY, SHARD, STAGING, ShardWriter, commits_folder, \
    is_shard_file, run_scratch, shard_committer, shard_of
from .writer_lock import WriterLock, is_lock_file

SUCCESS = "_SUCCESS"
OUTPUT_FORMATS = ("parquet", "delta")
TASKS_PER_CORE = 4  # shards are dealt to this many tasks per core: a few waves, and tasks of similar size
DEBUG_ENV = "SPARKLONG_DEBUG"


@dataclass(frozen=True)
class ModelTransform:
    """A job's Spark transform, built (and checked) before any Spark job."""

    # (frame of id + canonical columns + carry columns, carry) -> frame of id + carry + outputs
    run: Callable
    engines: list[dict]  # its model stages' engine settings (engine_flags.apply_engine_flags)


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
    # (args, model) -> its ModelTransform; builds (and checks) its stages up front
    transform: Callable[[argparse.Namespace, ModelRef], ModelTransform]
    # args -> pyarrow schema of the output columns after `id`
    output_schema: Callable[[argparse.Namespace], object]
    tokens_column: str | None = None
    # (args, model folder's ModelRef or None for a saved pipeline): fills the arguments left unset whose
    # default depends on the model, before anything is recorded
    model_defaults: Callable[[argparse.Namespace, ModelRef | None], None] | None = None


def parser(spec: JobSpec) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=spec.name, description=spec.description)
    p.add_argument("--input", required=True, help="parquet, JSON lines, or a folder of .txt files (id = file name)")
    p.add_argument("--output", required=True, help="output folder (local, NFS, file:, or a URI pyarrow.fs opens)")
    p.add_argument("--model", required=True,
                   help="pretrained name, Hugging Face model folder (Longformer, ModernBERT, BERT / RoBERTa / "
                        "XLM-RoBERTa), or saved PipelineModel")
    p.add_argument("--format", default="auto", choices=FORMATS, help="input format (default: from the path)")
    p.add_argument("--id-col", default="id", help="id column, unique (default: id)")
    for name, flag, default in spec.columns:
        p.add_argument(flag, default=default, dest=f"{name}_col", help=f"{name} column (default: {default})")
    p.add_argument("--master", default=None, help="Spark master (default local[*]; ignored under spark-submit)")
    p.add_argument("--shard-rows", type=_positive, default=500,
                   help="documents per shard, about, on the first run (default 500)")
    p.add_argument("--incremental", action="store_true",
                   help="bring an existing output up to date with the input as it is now: new and changed ids "
                        "computed, removed ids dropped, the rest kept")
    p.add_argument("--overwrite", action="store_true", help="delete this job's output folder and start again")
    p.add_argument("--output-format", default="parquet", choices=OUTPUT_FORMATS,
                   help="parquet (default): shard files and a manifest; delta: a Delta Lake table, one version per "
                        "run (needs the deltalake package: sparklong[delta])")
    p.add_argument("--verbose", action="store_true",
                   help=f"print the full traceback of an error, and Spark's own log and stack traces (or {DEBUG_ENV}=1)")
    p.add_argument("--max-sentence-length", type=_positive, default=None,
                   help="tokens per model window (default: the length the model was trained on, 4096 for "
                        "Longformer, 8192 for ModernBERT)")
    add_engine_arguments(p)
    spec.add_arguments(p)
    return p


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main(spec: JobSpec, argv: list[str] | None = None, spark=None) -> int:
    """Run the job; 0 on success (or nothing to do), 1 with one line on stderr on failure (and the
    traceback with --verbose or SPARKLONG_DEBUG=1)."""
    args = parser(spec).parse_args(argv)

    def work(get_spark) -> None:
        check_exists(args.input, "input")  # before a JVM starts
        model = None if is_saved_pipeline(args.model) else resolve_folder(args.model)
        fill_model_defaults(spec, args, model)
        spark = get_spark()
        _run(spec, args, spark, model or load_pipeline(args.model))

    return guarded(spec.name, args, spark, work)


def fill_model_defaults(spec: JobSpec, args, model: ModelRef | None) -> None:
    """The arguments left unset whose default depends on the model: --max-sentence-length (every job) and
    the job's own (spec.model_defaults), before anything is recorded."""
    if args.max_sentence_length is None:
        args.max_sentence_length = default_max_sentence_length(model)
    if spec.model_defaults is not None:
        spec.model_defaults(args, model)


def guarded(name: str, args, spark, work: Callable[[Callable[[], object]], None]) -> int:
    """`work(get_spark)` as a job: 0 when it returns, 1 with one line on stderr when it raises (and the
    traceback with --verbose or SPARKLONG_DEBUG=1). `get_spark()` gives `spark`, or starts the job's own
    session on first call (so checks made before it need no JVM), quiet unless verbose, and stops it at
    the end."""
    own: list = []
    verbose = args.verbose or os.environ.get(DEBUG_ENV) == "1"

    def get_spark():
        if spark is not None:
            return spark
        if not own:
            own.append(session(args.master, name, quiet=not verbose))
        return own[0]

    try:
        work(get_spark)
        return 0
    except Exception as exc:  # JobError as written; Spark and worker failures: their innermost reason
        reason = error_line(exc, getattr(args, "output", None), spark or (own[0] if own else None))
        print(f"{name}: error: {reason}", file=sys.stderr, flush=True)
        if verbose:
            traceback.print_exc()
    finally:
        for own_session in own:
            own_session.stop()
    return 1


def check_exists(path: str, what: str) -> None:
    """JobError when a local path does not exist (other URIs are checked when read)."""
    local = local_path(path)
    if local is not None and not os.path.exists(local):
        raise JobError(f"{what} {path} does not exist")


def session(master: str | None, app_name: str, quiet: bool = False):
    """The job's own session (only when main was given none): under spark-submit, its session (master
    and resources come from there); else sparklong.start(). Quiet: Spark logs nothing and, when the JVM
    starts here, its stderr is discarded (its start-up lines, executor stack traces), so a failed job's
    stderr is its one error line; otherwise Spark logs errors."""
    # pyspark warns about pandas 3 in every process (it works, see docs/design.md): keep progress readable
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: the JVM is already up
        from pyspark.sql import SparkSession

        spark = SparkSession.builder.appName(app_name).getOrCreate()
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    else:
        import sparklong

        with jvm_stderr_discarded(quiet):
            spark = sparklong.start(master or "local[*]", app_name=app_name)
    spark.sparkContext.setLogLevel("OFF" if quiet else "ERROR")
    return spark


def _run(spec: JobSpec, args, spark, model: ModelRef) -> None:
    frame, fmt = _input_frame(spec, args, spark)
    if args.output_format == "delta":
        from .delta_run import DeltaRun as run_class
    else:
        run_class = JobRun
    run = run_class(spec, args, spark, model, OutputFolder(qualify(args.output)), _run_id(), fmt,
                    frame.schema["id"].dataType.simpleString())
    transform = spec.transform(args, model)  # stages built (and checked) before any Spark job
    with run.lock:
        run.clear()
        run.write(frame, transform)


def _run_id() -> str:
    """Unique and sortable: start time + random."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def _input_frame(spec: JobSpec, args, spark):
    """(frame of id + canonical columns, input format); checked before any model runs."""
    from pyspark.sql import functions as F

    columns = [(args.id_col, "--id-col")] + [(getattr(args, f"{n}_col"), flag) for n, flag, _ in spec.columns]
    fmt = detect_format(spark, args.input, args.format)
    frame = read_input(spark, args.input, fmt, columns)
    return frame.select(F.col(args.id_col).alias("id"),
                        *[F.col(getattr(args, f"{n}_col")).alias(n) for n, _, _ in spec.columns]), fmt


def _is_ours(name: str) -> bool:
    """A name this job writes at the top of its output folder (the lock's files and _staging apart)."""
    return name in (MANIFEST, INDEX, SUCCESS) or is_shard_file(name)


def _clear(folder: OutputFolder, overwrite: bool, run: str) -> None:
    """Under the lock: refuse a folder this job did not write; with --overwrite delete what it wrote (the
    lock's files are the lock's own; damaged files set aside stay for the operator); remove what other runs
    left in _staging (never this run's scratch)."""
    names = [n for n in folder.list() if not is_lock_file(n) and n not in (STAGING, DAMAGED)]
    if names and MANIFEST not in names:
        _check_without_manifest(folder, names, overwrite)
    if overwrite:
        for name in names:
            if _is_ours(name):
                folder.delete(name)
    for name in folder.list(STAGING):
        if name != run:
            folder.delete(f"{STAGING}/{name}")


def _check_without_manifest(folder: OutputFolder, names: list[str], overwrite: bool) -> None:
    """A folder without a manifest: JobError unless every name is a shard file or _SUCCESS and --overwrite
    starts again (a folder this job did not write is never deleted)."""
    if holds_delta_log(folder):
        raise JobError(f"output {folder.root} is a Delta table: pass --output-format delta")
    if not all(_is_ours(n) for n in names):
        raise JobError(f"output {folder.root} exists and was not written by this job: pick another --output")
    if not overwrite:
        raise JobError(f"output {folder.root} holds this job's files but its manifest {MANIFEST} is missing: "
                       "--overwrite starts again")


@dataclass
class JobRun:
    """One run of a job on one output folder, from the lock to the summary."""

    spec: JobSpec
    args: argparse.Namespace
    spark: object
    model: ModelRef
    folder: OutputFolder
    run: str  # this run's id: names its lock, its _staging/<run>/ scratch and its attempt files
    fmt: str  # the input's format
    id_type: str  # the input's id column's Spark type (bigint, string, ...)

    def __post_init__(self):
        self.scratch = f"{run_scratch(self.run)}/tmp"
        self.lock = WriterLock(self.folder, self.run)
        self.planned: dict | None = None  # the manifest once the run has planned

    def manifest(self) -> dict:
        args, spec = self.args, self.spec
        return {
            "job": spec.name, "format_version": FORMAT, "input": qualify(args.input), "format": self.fmt,
            "columns": {"id": args.id_col, **{n: getattr(args, f"{n}_col") for n, _, _ in spec.columns}},
            "id_type": self.id_type,
            "model": self.model.name, "model_version": self.model.version, "settings": {**spec.settings(args), **engine_flags(args)},
        }

    def clear(self) -> None:
        """Under the lock, before planning (_clear)."""
        _clear(self.folder, self.args.overwrite, self.run)

    def read_first(self) -> dict | None:
        """What the output holds: its manifest, None when it has none."""
        return read_job_manifest(self.folder)

    def committed_files(self, shards: int) -> list[str]:
        """The committed shard files, by name in the folder."""
        return [name for name in self.folder.list() if shard_of(name, shards) is not None]

    def save_manifest(self, manifest: dict) -> None:
        """The manifest, written before any shard and again when the shards' precisions changed (after _SUCCESS is
        removed)."""
        self.unmark_done()  # first: _SUCCESS never stands beside a manifest its shards do not match
        write_manifest(self.folder, manifest, self.scratch)

    def writer(self) -> tuple[type, dict]:
        """The shard writer the tasks use and its extra arguments."""
        return ShardWriter, {}

    def publish(self, records: list[dict], schema) -> None:
        """After every dirty shard's commit record came back (`schema`: the files'): the tasks committed
        them already, and the manifest records each shard's precision (commit_shards); an output now holding
        two fails the run, before _SUCCESS (shard_precision.py)."""
        check_one_precision(self.folder.root, self.planned[PRECISIONS])

    def write(self, frame, transform) -> None:
        """Plan against the committed files, then compute what differs from the input."""
        first, manifest = self.read_first(), self.manifest()
        if first is not None:
            check_manifest(self.folder.root, first, manifest, self.args.incremental)  # before reading the input
            check_one_precision(self.folder.root, first.get(PRECISIONS))
        shards = int(first["shards"]) if first else None
        checked = self.check_committed(shards) if shards else None
        if first is not None:  # before anything in the folder changes
            check_id_type(self.folder.root, first, self.id_type, checked.id_types if checked else {})
        if checked is not None:
            self.tidy_committed(checked)
        committed = committed_rows(self.spark, self.folder, checked.good) if checked else None
        persisted = row_states(keyed_input(frame, [n for n, _, _ in self.spec.columns]), committed)
        try:
            rows, shards = self.record_plan(persisted, first, manifest, shards)
            states = with_shard(persisted, shards)
            work = shard_work(states)
            if any(w.dirty for w in work):
                self.compute(states, transform, work, shards, rows)
            else:
                self.nothing_to_do(shards, rows)
        finally:
            persisted.unpersist()

    def record_plan(self, persisted, first: dict | None, manifest: dict, shards: int | None) -> tuple[int, int]:
        """(rows, shards) after the input's one read (its ids checked); the manifest is written before any
        shard, so a rerun finishes what this run starts."""
        rows = check_ids(persisted, self.args.id_col)
        shards = shards or max(1, -(-rows // self.args.shard_rows))
        kept = {PRECISIONS: first[PRECISIONS]} if first and PRECISIONS in first else {}  # the output's own
        manifest = {**manifest, "rows": rows, "shards": shards, **kept}
        if first is not None:
            check_manifest(self.folder.root, first, {"rows": rows}, self.args.incremental)
        self.planned = manifest
        if first != manifest:
            self.save_manifest(manifest)
        return rows, shards

    def check_committed(self, shards: int) -> CheckedShards:
        """The committed files checked by the executors (nothing changed yet); JobError when so many look
        damaged that the storage is the likelier fault."""
        checked = check_shards(self.spark, self.folder, self.committed_files(shards))
        check_damage_is_plausible(self.folder.root, checked)
        return checked

    def tidy_committed(self, checked: CheckedShards) -> None:
        """Damaged files moved aside (their ids are then computed like new ones); index files no trusted
        committed file names removed."""
        if checked.damaged:
            self.unmark_done()  # the folder no longer holds every row its manifest describes
        for name, reason in sorted(checked.damaged.items()):
            moved = set_aside(self.folder, name, checked.damaged_indexes.get(name), self.run)
            print(f"{self.spec.name}: {self.folder.uri(name)} is damaged ({reason}): moved to {moved}; its "
                  "shard's ids are computed again", flush=True)
        self.lock.check()
        remove_unreferenced_indexes(self.folder, checked.indexes)

    def unmark_done(self) -> None:
        """_SUCCESS removed, before the folder changes in a way its manifest does not describe."""
        self.lock.check()
        self.folder.delete(SUCCESS)

    def nothing_to_do(self, shards: int, rows: int) -> None:
        self.mark_done()
        print(f"{self.spec.name}: nothing to do: all {shards} shards of {self.folder.root} are committed "
              f"({rows:,} documents); --overwrite starts again", flush=True)

    def compute(self, states, transform, work: list, shards: int, rows: int) -> None:
        """The one Spark job: every dirty shard written and committed by a task; progress meanwhile."""
        dirty = [w.shard for w in work if w.dirty]
        self.unmark_done()
        progress = self.start_progress(work, shards, rows)
        self.commit_shards(states, transform, dirty, shards, progress)
        self.mark_done()
        progress.summary(sum(w.same for w in work), shards - len(dirty))

    def start_progress(self, work: list, shards: int, rows: int) -> Progress:
        """This run's progress, its first line the plan."""
        writing = sum(1 for w in work if w.dirty)
        to_compute = sum(w.new + w.changed for w in work)
        progress = Progress(self.spec.name, shards, writing, to_compute, self.spec.tokens_column is not None)
        progress.say(f"{rows:,} documents from {self.args.input} ({self.fmt}) in {shards} shards "
                     f"({shards - writing} up to date, {writing} to write): {to_compute:,} documents to "
                     f"compute, {sum(w.same for w in work):,} kept, {sum(w.removed for w in work):,} to remove; "
                     f"model {self.model.name} ({self.model.version}); output {self.folder.root}")
        return progress

    def commit_shards(self, states, transform, dirty: list[int], shards: int, progress: Progress) -> None:
        """Run the job, each task committing its shards, the monitor reporting them meanwhile; JobError
        unless every dirty shard was committed."""
        from pyspark.sql.pandas.types import from_arrow_schema

        tasks = min(len(dirty), TASKS_PER_CORE * self.spark.sparkContext.defaultParallelism)
        frame = work_rows(self.spark, states, dirty, tasks)
        outputs = transform.run(frame, [KEY, HASH, SHARD, DROP])
        writer_class, writer_args = self.writer()
        schema = self.file_schema(frame)
        committer = shard_committer(self.folder, self.run, shards, schema, self.spec.tokens_column,
                                    transform.engines, writer_class, **writer_args)
        commits = outputs.mapInArrow(committer, from_arrow_schema(COMMIT_SCHEMA),
                                     profile=model_stage_profile(self.spark, self.args.task_gpus))
        try:
            with RunMonitor(self.folder, commits_folder(self.run), progress) as monitor:
                records = [r.asDict() for r in commits.collect()]
        finally:
            self.lock.check()  # first: a job the executors' fence stopped says which run took the output over
        for record in records:  # those the monitor has not counted yet
            progress.shard_done(record)
        missing = progress.uncommitted(dirty)
        if missing:
            raise JobError(f"{len(missing)} shards were not committed (first: {missing[0]}); run again to finish them")
        if monitor.error is not None:
            raise JobError(f"the run's monitor failed: {first_line(monitor.error)}")
        precisions = merged_precisions(self.planned.get(PRECISIONS), records)
        if precisions != self.planned.get(PRECISIONS):  # the manifest written at planning lacks them
            self.planned = {**self.planned, PRECISIONS: precisions}
            self.save_manifest(self.planned)
        self.publish(records, schema)

    def mark_done(self) -> None:
        """_SUCCESS (left as it is when there: a rerun after success changes nothing); _staging removed."""
        self.lock.check()
        if not self.folder.exists(SUCCESS):
            self.folder.write_bytes(SUCCESS, b"", self.scratch)
        self.folder.delete(STAGING)

    def file_schema(self, frame):
        """The shard files' schema: id (the input's type) + the job's outputs, the job and model in its metadata."""
        import pyarrow as pa
        from pyspark.sql.pandas.types import to_arrow_type

        import sparklong

        fields = [pa.field("id", to_arrow_type(frame.schema["id"].dataType)), *self.spec.output_schema(self.args)]
        return pa.schema(fields, metadata={"sparklong.job": self.spec.name, "sparklong.model": self.model.name,
                                           "sparklong.model_version": self.model.version,
                                           "sparklong.version": sparklong.__version__})
