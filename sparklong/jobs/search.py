"""search: queries -> the top k rows of an embed_corpus output (the index) by cosine similarity,
(query_id, rank, id, chunk, begin, end, score), one row per query and rank.

The queries are embedded on the cluster through embed_corpus's own pipeline with the index's settings
(pooling, max_sentence_length, lowercase, engine flags); their vectors (few) are collected, normalized
and broadcast. The executors scan the index's committed files once (top_k.scanner: blocks of rows
normalized and scored against every query with numpy, each partition's best k per query kept), and a
groupBy on the query merges the partitions' candidates into the global top k. The index never passes
through the driver.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter

from ..storage.hadoop_folder import Storage, qualify
from .embed_corpus import SPEC as EMBED
from .engine_flags import FLAGS, add_engine_arguments, model_stage_profile
from .inputs import FORMATS, first_line, read_input
from .job_error import JobError
from .index_files import IndexFiles, open_index, read_index
from .manifest import MANIFEST
from .model_ref import ModelRef, is_saved_pipeline, load_pipeline, resolve_folder
from .row_index import CORRUPT_BYTES
from .runner import SUCCESS, _positive, check_exists, fill_model_defaults, guarded, parser as job_parser
from .top_k import candidate_schema, scanner, top_k, unit_rows
from .writer_lock import LOCK

NAME = "search"
QUERY_SETTINGS = ("pooling", "max_sentence_length", "lowercase")  # of the index's manifest, for the queries
LOCATION = ("chunk", "begin", "end")  # null for an index of whole documents


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=NAME, description="Search an embed_corpus output with queries: the top k "
                                                       "documents (or chunks) per query by cosine similarity.")
    p.add_argument("--index", required=True, help="an embed_corpus output: a parquet folder or a Delta table")
    p.add_argument("--version", type=int, default=None,
                   help="the Delta table's version to search (default: the latest)")
    p.add_argument("--queries", required=True, help="parquet or JSON lines of (query_id, query)")
    p.add_argument("--top-k", type=_positive, default=10, help="results per query (default 10)")
    p.add_argument("--model", default=None, help="the model that embeds the queries (default: the one the index's "
                                                 "manifest names, as a pretrained name)")
    p.add_argument("--allow-other-model", action="store_true",
                   help="search with a model whose version differs from the index's")
    p.add_argument("--output", default=None, help="parquet folder for the results (default: JSON lines on stdout, "
                                                  "progress on stderr)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output folder")
    p.add_argument("--per-document", action="store_true",
                   help="chunk index: score each document by its best chunk (kept in chunk, begin, end)")
    p.add_argument("--format", default="auto", choices=FORMATS, help="queries' format (default: from the path)")
    p.add_argument("--query-id-col", default="query_id", help="query id column, unique (default: query_id)")
    p.add_argument("--query-col", default="query", help="query text column (default: query)")
    p.add_argument("--query-prompt", default=None,
                   help="text the model reads before each query (default: the checkpoint's sentence-transformers "
                        "query prompt, e.g. 'search_query: ' for modernbert-embed-base, else none)")
    p.add_argument("--master", default=None, help="Spark master (default local[*]; ignored under spark-submit)")
    p.add_argument("--verbose", action="store_true",
                   help="print the full traceback of an error, and Spark's own log and stack traces")
    add_engine_arguments(p)
    return p


def main(argv: list[str] | None = None, spark=None) -> int:
    """0 on success, 1 with one line on stderr on failure."""
    args = parser().parse_args(argv)

    def work(get_spark) -> None:
        check_exists(args.index, "index")  # before a JVM starts
        check_exists(args.queries, "queries")
        files = open_index(args.index, args.version)
        manifest = index_manifest(args.index, files)
        model_arg = args.model or manifest["model"]
        model = None if is_saved_pipeline(model_arg) else default_model(model_arg, args.model, manifest)
        spark = get_spark()
        model = model or load_pipeline(model_arg)
        check_version(model, manifest, args.allow_other_model)
        Search(args, spark, files, model).run()

    return guarded(NAME, args, spark, work)


def index_manifest(index: str, files: IndexFiles) -> dict:
    manifest = files.manifest
    if manifest is None:
        held = "no sparklong commit" if files.delta_version is not None else f"no {MANIFEST}"
        raise JobError(f"index {index} has {held}: expected an embed_corpus output folder")
    if manifest.get("job") != EMBED.name:
        raise JobError(f"index {index} was written by {manifest.get('job')}, not {EMBED.name}")
    return manifest


def default_model(name: str, given: str | None, manifest: dict) -> ModelRef:
    """--model as given, or the manifest's model as a pretrained name (a folder's name is not a path)."""
    try:
        return resolve_folder(name)
    except JobError as exc:
        if given is not None:
            raise
        raise JobError(f"the index was embedded with model {name!r} ({manifest.get('model_version')}), which is "
                       f"not a pretrained name here ({exc}): pass --model with that model's folder or saved "
                       "pipeline") from exc


def check_version(model: ModelRef, manifest: dict, allowed: bool) -> None:
    if model.version != manifest.get("model_version") and not allowed:
        raise JobError(f"model {model.name} ({model.version}) is not the model the index was embedded with "
                       f"({manifest.get('model')}, {manifest.get('model_version')}): its vectors are not "
                       "comparable; pass that model, or --allow-other-model")


def query_embedder(args, manifest: dict, model: ModelRef):
    """embed_corpus's transform (frame of id, text -> id, embedding, ...) with the index's settings; the
    engine flags given here win over the manifest's."""
    settings = manifest.get("settings", {})
    embed = job_parser(EMBED).parse_args(["--input", args.queries, "--output", args.index, "--model", model.name])
    for key in QUERY_SETTINGS + tuple(FLAGS):
        value = getattr(args, key, None)
        value = settings.get(key) if value is None else value
        if value is not None:
            setattr(embed, key, value)
    if model.pipeline is None:  # queries get the query prompt, never the index's document prompt
        embed.prompt = args.query_prompt if args.query_prompt is not None else model.query_prompt
    fill_model_defaults(EMBED, embed, model)  # whatever the manifest left unset (an older index)
    return EMBED.transform(embed, model).run


class Search:
    """One run: the queries embedded, the index scanned, the results written."""

    def __init__(self, args, spark, files: IndexFiles, model: ModelRef):
        self.args, self.spark, self.files, self.manifest, self.model = args, spark, files, files.manifest, model
        self.out = sys.stdout if args.output else sys.stderr  # stdout carries the results without --output
        self.started = time.monotonic()

    def say(self, line: str) -> None:
        print(f"{NAME}: {line}", file=self.out, flush=True)

    def run(self) -> None:
        args = self.args
        if args.output:
            self.check_output()
        embed = query_embedder(args, self.manifest, self.model)  # stages built (and checked) before any job
        index = self.index_frame()
        ids, vectors, query_type = self.query_vectors(embed)  # [Q], [Q, E]
        try:
            self.check_dimension(index, vectors.shape[1])
            results, scanned = self.results(index, ids, vectors, query_type)
            count = self.write_results(results)
        except Exception as exc:
            damaged = unreadable_index_file(exc)
            if damaged is None:
                raise
            raise damaged from exc
        self.say(f"done: {count:,} results for {len(ids):,} queries from {scanned.value:,} vectors; "
                 f"{time.monotonic() - self.started:.1f} s" + (f"; output {qualify(args.output)}" if args.output else ""))

    def write_results(self, results) -> int:
        """To --output (one parquet file) or as JSON lines on stdout; the number of rows."""
        args = self.args
        if args.output:
            results.repartition(1).sortWithinPartitions("query_id", "rank").write \
                .mode("overwrite" if args.overwrite else "errorifexists").parquet(qualify(args.output))
            return self.spark.read.parquet(qualify(args.output)).count()
        rows = results.orderBy("query_id", "rank").collect()  # queries x k rows
        for row in rows:
            print(json.dumps(row.asDict(), default=str), flush=True)
        return len(rows)

    def check_output(self) -> None:
        output, storage = qualify(self.args.output), Storage(self.spark, self.args.output)
        if output.rstrip("/") == qualify(self.args.index).rstrip("/") or storage.exists(MANIFEST):
            raise JobError(f"output {self.args.output} is a job's output folder: pick another --output")
        if storage.exists() and not self.args.overwrite:
            raise JobError(f"output {self.args.output} exists: pick another --output or pass --overwrite")

    def index_frame(self):
        """id, embedding, chunk, begin, end of the index's committed files (chunk, begin, end null for
        documents)."""
        from pyspark.sql import functions as F

        files, index = self.files, self.args.index
        parts = files.names
        if not parts:
            raise JobError(f"index {index} has no committed files yet: run embed_corpus to the end first")
        if files.delta_version is None and not files.folder.exists(SUCCESS):  # a Delta version is complete
            writing = "a run is writing it" if files.folder.exists(LOCK) else "its last run did not finish"
            self.say(f"warning: index {index} has no {SUCCESS}: {writing}, so it may hold rows its input no longer "
                     f"has or lack new ones; searching the {len(parts)} committed files as they are")
        # every page's checksum verified as it is read: a changed page fails the read, naming its file
        frame = read_index(self.spark, files)
        have = set(frame.columns)
        if not {"id", "embedding"} <= have:
            raise JobError(f"index {index} has no id and embedding columns (columns: {', '.join(frame.columns)})")
        if self.args.per_document and "chunk" not in have:
            raise JobError(f"--per-document needs a chunk index (embed_corpus --granularity chunks); {index} "
                           "holds one vector per document")
        location = [(F.col(c) if c in have else F.lit(None)).cast("int").alias(c) for c in LOCATION]
        frame = frame.select("id", "embedding", *location)
        kind = "chunks" if "chunk" in have else "documents"
        self.say(f"index {files.describe()}{index}: {len(parts)} files of {kind}, {frame.rdd.getNumPartitions()} partitions; model "
                 f"{self.model.name} ({self.model.version}); top {self.args.top_k} per "
                 + ("document" if self.args.per_document else "query"))
        return frame

    def query_vectors(self, embed):
        """([Q] query ids, [Q, E] unit vectors) of the queries with text, and the ids' Spark type; JobError
        for no, null or duplicate ids."""
        import numpy as np
        from pyspark.sql import functions as F

        args = self.args
        frame = read_input(self.spark, args.queries, args.format,
                           [(args.query_id_col, "--query-id-col"), (args.query_col, "--query-col")])
        frame = frame.select(F.col(args.query_id_col).alias("id"), F.col(args.query_col).alias("text"))
        check_query_ids([r["id"] for r in frame.select("id").collect()], args.queries, args.query_id_col)
        vectors = embed(frame, []).select("id", "embedding")
        profile = model_stage_profile(self.spark, args.task_gpus)
        if profile is not None:
            vectors = vectors.mapInArrow(lambda batches: batches, vectors.schema, profile=profile)
        started = time.monotonic()
        rows = vectors.collect()  # one vector per query
        found = [r for r in rows if r["embedding"] is not None]
        blank = [r["id"] for r in rows if r["embedding"] is None]
        if not found:
            raise JobError(f"queries {args.queries}: every query is null or blank")
        if blank:
            self.say(f"{len(blank):,} queries are null or blank (for example {blank[0]!r}): no results for them")
        self.say(f"{len(found):,} queries from {args.queries} embedded in {time.monotonic() - started:.1f} s")
        vectors = unit_rows(np.asarray([r["embedding"] for r in found], dtype=np.float32))  # [Q, E]
        return [r["id"] for r in found], vectors, frame.schema["id"].dataType

    def check_dimension(self, index, dim: int) -> None:
        from pyspark.sql import functions as F

        first = index.where(F.col("embedding").isNotNull()).select(F.size("embedding").alias("n")).first()
        if first is None:
            raise JobError(f"index {self.args.index} holds no vectors (every document was null or blank)")
        if first["n"] != dim:
            raise JobError(f"the index's vectors have {first['n']} dimensions and the query vectors {dim}: "
                           f"search with the model the index was embedded with ({self.manifest.get('model')})")

    def results(self, index, ids: list, vectors, query_type):
        """(DataFrame of the results, accumulator of the index rows scanned): one scan, then a merge per query."""
        from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_type

        context, k, per_document = self.spark.sparkContext, self.args.top_k, self.args.per_document
        id_type = to_arrow_type(index.schema["id"].dataType)
        scanned = context.accumulator(0)
        scan = scanner(context.broadcast(vectors), k, per_document, id_type, scanned)
        candidates = index.mapInArrow(scan, from_arrow_schema(candidate_schema(id_type)))
        schema = result_schema(to_arrow_type(query_type), id_type)
        merge = merger(context.broadcast(ids), k, per_document, schema)
        return candidates.groupBy("q").applyInArrow(merge, from_arrow_schema(schema)), scanned


def unreadable_index_file(exc: Exception) -> JobError | None:
    """A JobError naming the index file Spark failed to read (a damaged file: a page that fails its checksum,
    a cut file), with the innermost cause; None for other failures."""
    match = re.search(r"while reading file (\S+?)\.?\s", str(exc))
    if match is None or not any(text in str(exc).lower() for text in CORRUPT_BYTES):
        return None  # a file that is missing, or cannot be reached, is not said to be damaged
    causes = [line.strip().removeprefix("Caused by: ") for line in str(exc).splitlines()
              if line.strip().startswith("Caused by: ")]
    reason = causes[-1] if causes else first_line(exc)
    return JobError(f"index file {match.group(1)} cannot be read, it is damaged ({reason[:300]}): rerun the "
                    "embed_corpus job that writes the index: it moves damaged files aside and computes them again")


def check_query_ids(ids: list, path: str, column: str) -> None:
    if not ids:
        raise JobError(f"queries {path} hold no rows")
    nulls = sum(i is None for i in ids)
    if nulls:
        raise JobError(f"{nulls:,} queries have a null {column}: every query needs an id")
    twice = [i for i, n in Counter(ids).items() if n > 1]
    if twice:
        raise JobError(f"{len(twice):,} query ids occur more than once in {path}'s {column} column (for "
                       f"example {twice[0]!r}): --query-id-col must name a unique column")


def result_schema(query_type, id_type):
    import pyarrow as pa

    return pa.schema([("query_id", query_type), ("rank", pa.int32()), ("id", id_type), ("chunk", pa.int32()),
                      ("begin", pa.int32()), ("end", pa.int32()), ("score", pa.float32())])


def merger(ids, k: int, per_document: bool, schema):
    """applyInArrow function over one query's candidates from every partition: its global top k."""
    import pyarrow as pa

    def merge(candidates):
        best = top_k(candidates, k, per_document)
        query = [ids.value[q] for q in best.column("q").to_pylist()]
        columns = {"query_id": pa.array(query, schema.field("query_id").type), **{
            name: best.column(name) for name in schema.names if name != "query_id"}}
        return pa.table(columns, schema=schema)

    return merge

