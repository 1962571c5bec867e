"""Reading a job's input: parquet, JSON lines, or a folder of .txt files (id = file name), with the
columns checked before any model runs. Problems raise JobError with one line that says what to fix."""
from __future__ import annotations

import os
import re

import pandas as pd

from ..storage.hadoop_folder import Storage, qualify
from ..storage.output_folder import open_folder
from .job_error import JobError

FORMATS = ("auto", "parquet", "json", "text")
_EXTENSIONS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".ndjson": "json", ".txt": "text"}
TXT_GLOB = "*.[tT][xX][tT]"
# Spark's file sources skip names starting with these (its _SUCCESS and .crc files), even a path that names
# such a file; a .txt file so named is still a document the user put in the folder, so the job reads it itself
SPARK_SKIPS = ("_", ".")
# JSON lines: the schema comes from the first lines, so inferring it does not read the whole input again
JSON_SCHEMA_LINES = 10_000


def decode_text(raw: bytes | None) -> str | None:
    """UTF-8, a leading BOM dropped, each invalid byte sequence replaced by U+FFFD (Python's errors="replace":
    the text Spark's make_valid_utf8 gives). No legacy fallback: one bad byte costs one character, where
    decoding the whole file as Windows-1252 or ISO-8859-1 would garble every non-ASCII character in it."""
    if raw is None:
        return None
    return bytes(raw).decode("utf-8-sig", errors="replace")


def _decode_column():
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def decode(content: pd.Series) -> pd.Series:
        return pd.Series([decode_text(None if raw is None else raw) for raw in content], dtype=object)

    return decode


def detect_format(spark, path: str, fmt: str = "auto") -> str:
    """parquet, json or text, from --format or the path: a file's extension, or a folder's files."""
    if fmt != "auto":
        return fmt
    storage = Storage(spark, path)
    if not storage.exists():
        raise JobError(f"input {path} does not exist")
    if not storage.is_dir():
        kind = _EXTENSIONS.get(os.path.splitext(path)[1].lower())
        if kind is None or kind == "text":
            raise JobError(f"cannot tell the format of {path} from its name: use --format parquet or json "
                           "(a folder of .txt files is read with one document per file)")
        return kind
    names = storage.list()
    kinds = {_EXTENSIONS.get(os.path.splitext(n)[1].lower()) for n in names if not n.startswith(SPARK_SKIPS)}
    kinds.discard(None)
    if not kinds and any(_is_text_file(n) for n in names):
        kinds = {"text"}  # only .txt files named _* or .*: still documents (_read_text_folder reads them)
    for kind in ("parquet", "json", "text"):
        if kinds == {kind}:
            return kind
    if not kinds:
        raise JobError(f"input folder {path} holds no .parquet, .json/.jsonl or .txt files")
    raise JobError(f"input folder {path} mixes {', '.join(sorted(kinds))} files: use --format to pick one")


def read_input(spark, path: str, fmt: str, columns: list[tuple[str, str]]):
    """The input as a DataFrame of `columns` ((name, CLI flag naming it) pairs: the id first, then the
    string columns), checked before any model runs. A text folder gives id = file name and the file's
    decoded content as the one string column."""
    fmt = detect_format(spark, path, fmt)
    (id_col, _), texts = columns[0], [name for name, _ in columns[1:]]
    source = qualify(path)
    if fmt == "text":
        if len(texts) != 1:
            raise JobError(f"a folder of .txt files gives one text per file; this job needs columns "
                           f"{', '.join(texts)}: use parquet or JSON lines")
        return _read_text_folder(spark, source, id_col, texts[0])
    try:
        if fmt == "parquet":
            frame = spark.read.parquet(source)
        else:
            frame = spark.read.option("mode", "FAILFAST").schema(_json_schema(spark, source)).json(source)
    except Exception as exc:  # AnalysisException: unreadable or empty
        raise JobError(f"cannot read {path} as {fmt}: {first_line(exc)}") from exc
    check_columns(frame, path, columns)
    return frame.select(id_col, *texts)


def _json_schema(spark, source: str):
    """The schema Spark infers from the first JSON_SCHEMA_LINES lines (a later line of another type
    fails the read, FAILFAST, with the line's reason)."""
    lines = spark.read.text(source).limit(JSON_SCHEMA_LINES).rdd.map(lambda row: row[0])
    return spark.read.option("mode", "FAILFAST").json(lines).schema


def _is_text_file(name: str) -> bool:
    return name.lower().endswith(".txt")


def _read_text_folder(spark, source: str, id_col: str, text_col: str):
    """One row per .txt file, whatever its name or size: (file name, decoded content). Spark's binaryFile
    source reads the files it lists; those it skips (empty files, names starting with _ or .) are listed on
    the driver, names only, and read by the executors: no file is lost, and no content passes the driver."""
    from pyspark.sql import functions as F

    files = spark.read.format("binaryFile").option("pathGlobFilter", TXT_GLOB).load(source)
    texts = files.select(F.regexp_extract("path", r"([^/]+)$", 1).alias(id_col),
                         _decode_column()("content").alias(text_col))
    skipped = sorted((name, size) for name, size in Storage(spark, source).file_sizes().items()
                     if _is_text_file(name) and (size == 0 or name.startswith(SPARK_SKIPS)))
    if skipped:
        named = spark.createDataFrame(skipped, "name string, size long")
        texts = texts.unionByName(named.select(F.col("name").alias(id_col),
                                               _read_files_column(source)("name", "size").alias(text_col)))
    return texts


def _read_files_column(source: str):
    """A column function: (file name, size) in the folder `source` -> the file's decoded content, read by
    the executor through pyarrow.fs (an empty file is not opened)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("string")
    def read(names: pd.Series, sizes: pd.Series) -> pd.Series:
        fs, base = open_folder(source)

        def content(name: str, size: int) -> bytes:
            if size == 0:
                return b""
            with fs.open_input_stream(f"{base}/{name}") as fh:
                return fh.read()

        return pd.Series([decode_text(content(n, s)) for n, s in zip(names, sizes)], dtype=object)

    return read


def check_columns(frame, path: str, columns: list[tuple[str, str]]) -> None:
    """Every column present; the id atomic; the others strings."""
    from pyspark.sql.types import ArrayType, MapType, StringType, StructType

    fields = {f.name: f.dataType for f in frame.schema.fields}
    have = ", ".join(fields) or "none"
    for name, flag in columns:
        if name not in fields:
            raise JobError(f"input {path} has no column '{name}' (columns: {have}); name yours with {flag}")
    id_col = columns[0][0]
    if isinstance(fields[id_col], (ArrayType, MapType, StructType)):
        raise JobError(f"id column '{id_col}' has type {fields[id_col].simpleString()}; expected a string or number")
    for name, _ in columns[1:]:
        if not isinstance(fields[name], StringType):
            raise JobError(f"column '{name}' has type {fields[name].simpleString()}; expected string")


TRACEBACK = "Traceback (most recent call last):"
# the line that ends a Python traceback: the exception's class, plain or dotted, and its message
PYTHON_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(: |$)")
MAX_REASON = 500


def first_line(exc: BaseException) -> str:
    """A one-line reason from an exception, Spark's long ones included, at most MAX_REASON characters: the
    innermost Python exception line when a worker failed (`pyarrow.lib.ArrowInvalid: ...` as well as
    `ValueError: ...`), else the last `...Error: reason` or `...Exception: reason` line (py4j's Java
    exception), else the first line."""
    lines = str(exc).splitlines()
    python = python_exception_lines(lines)
    if python:
        return python[-1][:MAX_REASON]
    lines = [line.strip().removeprefix(": ") for line in lines if line.strip()]
    for line in reversed(lines):  # py4j writes the Java exception as ": org.apache...Exception: reason"
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head and "Py4J" not in head:
            return line[:MAX_REASON]
    return (lines[0] if lines else type(exc).__name__)[:MAX_REASON]


def python_exception_lines(lines: list[str]) -> list[str]:
    """The exception line of each Python traceback in `lines`, in order: the first unindented line after
    `Traceback (most recent call last):` (its frames are indented), when it has an exception's form."""
    found, in_traceback = [], False
    for line in lines:
        if line.rstrip().endswith(TRACEBACK):
            in_traceback = True
        elif in_traceback and line.strip() and not line[0].isspace():
            in_traceback = False
            if PYTHON_EXCEPTION_LINE.match(line):
                found.append(line.strip())
    return found
