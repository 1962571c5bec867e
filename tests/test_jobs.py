"""jobs/embed_corpus.py on a small corpus: the three input formats, reruns that change nothing, one
clear line for bad input, and answer_questions. Every run calls the runner in this process on the
shared Spark session; kills and retries are in test_job_faults.py."""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from pyspark.ml import PipelineModel

from sparklong import DocumentAssembler, LightPipeline, LongformerSentenceEmbeddings, Tokenizer
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.inputs import JSON_SCHEMA_LINES, decode_text, detect_format, first_line
from sparklong.jobs.runner import guarded, main
from job_runs import EMBED_SCRIPT, WINDOW, assert_same_vectors, embed_args, read, write_corpus
from tiny_models import CORPUS_DIR as CORPUS_TXT, corpus_texts, save_model_folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("jobs"))


def run(capsys, *argv, spark, spec=EMBED):
    code = main(spec, list(argv), spark)
    out, err = capsys.readouterr()
    return code, out, err


def light_vector(model: str, text: str) -> np.ndarray:
    stage = LongformerSentenceEmbeddings.loadSavedModel(model).setMaxSentenceLength(int(WINDOW))
    pipeline = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"), stage]))
    return np.asarray(pipeline.fullAnnotate(text)[0]["sentence_embeddings"][0].embeddings)


@pytest.fixture(scope="module")
def reference(spark, corpus):
    """The parquet input embedded once in this process; (output folder, stdout)."""
    output = corpus["root"] / "reference"
    code = main(EMBED, embed_args(corpus, output, shard_rows=8), spark)
    assert code == 0
    return output


def test_parquet_job_output_progress_and_metadata(corpus, reference, capfd):
    rows = read(reference)
    assert sorted(rows) == sorted(d["id"] for d in corpus["docs"])  # every id exactly once
    for doc in corpus["docs"]:
        row = rows[doc["id"]]
        if doc["text"] is None or not doc["text"].strip():
            assert row["embedding"] is None and row["n_tokens"] == 0
        else:
            assert len(row["embedding"]) == 32 and row["n_tokens"] > 2
    longest = corpus["docs"][-1]
    assert rows[longest["id"]]["n_tokens"] > int(WINDOW)  # windowed
    for doc in (corpus["docs"][0], longest):
        assert np.abs(np.asarray(rows[doc["id"]]["embedding"]) - light_vector(corpus["model"], doc["text"])).max() \
            <= 1e-5
    parts = sorted(glob.glob(str(reference / "part-*.parquet")))
    manifest = json.loads((reference / "_sparklong_job.json").read_text())
    assert len(parts) == manifest["shards"] == 3 and os.path.exists(reference / "_SUCCESS")
    meta = pq.read_metadata(parts[0]).metadata
    assert meta[b"sparklong.model"] == b"model" and meta[b"sparklong.model_version"].startswith(b"sha256:")
    assert meta[b"sparklong.job"] == b"embed_corpus"


def test_progress_lines_and_rerun_changes_nothing(spark, corpus, tmp_path, capsys):
    args = ["--input", str(corpus["root"] / "docs.jsonl"), "--output", str(tmp_path / "out"),
            "--model", corpus["model"], "--shard-rows", "6", "--max-sentence-length", WINDOW]
    code, out, _ = run(capsys, *args, spark=spark)
    assert code == 0
    shards = json.loads((tmp_path / "out" / "_sparklong_job.json").read_text())["shards"]
    lines = [line for line in out.splitlines() if " committed in " in line]
    assert len(lines) == shards == 4
    assert all("tokens/s" in line and "ETA" in line and "documents" in line for line in lines)
    assert "done: 24 documents" in out.splitlines()[-1] and "tokens/s" in out.splitlines()[-1]

    stamps = {p: os.stat(p).st_mtime_ns for p in glob.glob(str(tmp_path / "out" / "*"))}
    code, out, _ = run(capsys, *args, spark=spark)
    assert code == 0 and "nothing to do" in out
    assert {p: os.stat(p).st_mtime_ns for p in glob.glob(str(tmp_path / "out" / "*"))} == stamps

    code, _, err = run(capsys, *args, "--pooling", "average", spark=spark)  # other settings, same output
    assert code == 1 and len(err.strip().splitlines()) == 1 and "--overwrite" in err
    code, _, _ = run(capsys, *args, "--pooling", "average", "--overwrite", spark=spark)
    assert code == 0
    rows, doc = read(tmp_path / "out"), corpus["docs"][0]
    words = Tokenizer().fit(None).annotate_local(doc["text"])  # Spark NLP's pooling over word tokens
    assert rows[doc["id"]]["n_tokens"] == len(words) and len(rows[doc["id"]]["embedding"]) == 32


def test_jsonl_with_a_saved_pipeline_equals_parquet(spark, corpus, reference, tmp_path, capsys):
    saved = str(tmp_path / "pipeline")
    stage = LongformerSentenceEmbeddings.loadSavedModel(corpus["model"]).setMaxSentenceLength(int(WINDOW))
    PipelineModel([DocumentAssembler().setInputCol("body").setOutputCol("document"), stage]).write().save(saved)
    code, _, err = run(capsys, "--input", "file:" + str(corpus["root"] / "docs.jsonl"),
                       "--output", "file:" + str(tmp_path / "out"), "--model", saved, spark=spark)  # URIs both
    assert code == 0, err
    assert_same_vectors(read(tmp_path / "out"), read(reference))


def test_txt_folder_reads_every_txt_file_as_utf8(spark, corpus, tmp_path, capsys):
    """Every .txt file is a document: names Spark's file source skips (_*, .*) and empty files too; UTF-8
    with each invalid byte one U+FFFD, a BOM dropped."""
    folder = tmp_path / "texts"
    folder.mkdir()
    texts = {  # file name -> (bytes, the text the job must embed)
        "utf8.txt": ("naïve café — Fellow-Citizens".encode("utf-8"), "naïve café — Fellow-Citizens"),
        "bom.txt": ("\ufeffWith a byte order mark".encode("utf-8"), "With a byte order mark"),
        "invalid name.txt": (b"caf\xe9 na\xc3\xafve", "caf\ufffd naïve"),  # one bad byte: one U+FFFD
        "_underscore.txt": (b"notes kept with an underscore", "notes kept with an underscore"),
        ".hidden.txt": (b"a hidden file of the folder", "a hidden file of the folder"),
        "_empty.txt": (b"", ""),
        "empty.txt": (b"", ""),
    }
    for name, (raw, _) in texts.items():
        (folder / name).write_bytes(raw)
    (folder / "notes.md").write_text("not a .txt file")
    code, _, err = run(capsys, "--input", str(folder), "--output", str(tmp_path / "out"), "--model", corpus["model"],
                       "--max-sentence-length", WINDOW, spark=spark)
    assert code == 0, err
    rows = read(tmp_path / "out")
    assert sorted(rows) == sorted(texts)
    for name, (_, text) in texts.items():
        if not text:
            assert rows[name]["embedding"] is None and rows[name]["n_tokens"] == 0
        else:
            assert np.abs(np.asarray(rows[name]["embedding"]) - light_vector(corpus["model"], text)).max() <= 1e-5

    only_hidden = tmp_path / "only_hidden"
    only_hidden.mkdir()
    (only_hidden / "_draft.txt").write_text("x")
    assert detect_format(spark, str(only_hidden)) == "text"


def test_decode_text():
    assert decode_text("\ufeffé".encode("utf-8")) == "é"
    assert decode_text(b"caf\xe9 \x81") == "caf\ufffd \ufffd"  # not UTF-8: no Windows-1252/ISO-8859-1 guess
    assert decode_text("\u201cq\u201d".encode("cp1252")) == "\ufffdq\ufffd"
    assert decode_text(b"\xe2\x82 ok") == "\ufffd ok"  # a cut 3-byte sequence: one U+FFFD
    assert decode_text(b"") == "" and decode_text(None) is None


def test_spark_failures_reduce_to_their_python_reason():
    message = ("An error occurred while calling o812.collectToPython.\n: org.apache.spark.SparkException: Job "
               "aborted due to stage failure: Task 0 in stage 3.0 failed 1 times\nTraceback (most recent call last):"
               "\n  File \"worker.py\", line 1, in main\nValueError: maxSentenceLength must be between 1 and 4096"
               "\n\tat org.apache.spark.api.python.BasePythonRunner.handlePythonException(PythonRunner.scala:612)")
    assert first_line(RuntimeError(message)) == "ValueError: maxSentenceLength must be between 1 and 4096"
    assert first_line(RuntimeError("plain reason\nmore")) == "plain reason"


def worker_failure(spark, fail):
    """The exception a Spark job raises when its Python UDF `fail()` raises on the executor."""
    from pyspark.errors import PythonException
    from pyspark.sql import functions as F

    with pytest.raises(PythonException) as failure:
        spark.range(1).select(F.udf(lambda _: fail(), "int")("id")).collect()
    return failure.value


def test_a_worker_exception_of_any_class_gives_its_reason_line(spark, tmp_path):
    """A truncated shard file: pyarrow.lib.ArrowInvalid (a class name without Error or Exception) is the
    reason, not Spark's "An exception was thrown from the Python worker:"."""
    shard = str(tmp_path / "part-00000-of-00001.parquet")
    pq.write_table(pa.table({"id": ["doc00"]}), shard)
    with open(shard, "r+b") as fh:
        fh.truncate(os.path.getsize(shard) - 8)  # the footer's length and magic bytes gone
    failure = worker_failure(spark, lambda: pq.read_table(shard))
    assert len(str(failure).splitlines()) > 5
    reason = first_line(failure)
    assert reason.startswith("pyarrow.lib.ArrowInvalid: ") and "Parquet magic bytes not found" in reason, reason


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device whose writes fail with ENOSPC)")
def test_a_full_disk_names_where_the_job_writes(spark, tmp_path, capsys):
    """pyarrow's disk-full error in an executor names no file; the job's one line names its output folder."""
    def fill_disk():
        with pafs.LocalFileSystem().open_output_stream("/dev/full") as fh:
            fh.write(b"x" * (1 << 20))

    failure = worker_failure(spark, fill_disk)

    def work(get_spark):
        raise failure

    args = argparse.Namespace(verbose=False, master=None, output=str(tmp_path / "out"))
    assert guarded("embed_corpus", args, spark, work) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("embed_corpus: error: OSError: [Errno 28] ")
    assert f"output {tmp_path / 'out'}" in err and "No space left on device" in err


def test_a_job_failing_in_the_executors_prints_one_line_on_stderr(corpus, tmp_path):
    """The command line in its own JVM: a JSON line whose id has another type than the schema's lines fails
    the read in the executors (FAILFAST); stderr holds the error line only (no Spark log lines, no Java
    stack trace), stdout the progress."""
    lines = [json.dumps({"id": i, "text": "a"}) for i in range(JSON_SCHEMA_LINES)] + ['{"id": "x", "text": "b"}']
    (tmp_path / "docs.jsonl").write_text("\n".join(lines) + "\n")
    command = [sys.executable, EMBED_SCRIPT, "--input", str(tmp_path / "docs.jsonl"), "--output",
               str(tmp_path / "out"), "--model", corpus["model"], "--master", "local[1]"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr[-3000:]
    assert done.stderr.startswith("embed_corpus: error: ") and "docs.jsonl" in done.stderr


@pytest.mark.parametrize("case", ["no_input", "no_column", "no_model", "gpt2_model", "foreign_output", "bad_format"])
def test_bad_input_gives_one_line(spark, corpus, tmp_path, capsys, case):
    args = {"--input": str(corpus["root"] / "docs.jsonl"), "--output": str(tmp_path / "out"), "--model": corpus["model"]}
    expected = {
        "no_input": "does not exist",
        "no_column": "has no column 'body' (columns: id, text); name yours with --text-col",
        "no_model": "model folder",
        "gpt2_model": "model_type 'gpt2' is not supported",
        "foreign_output": "was not written by this job",
        "bad_format": "cannot tell the format",
    }[case]
    extra = []
    if case == "no_input":
        args["--input"] = str(tmp_path / "missing.parquet")
    elif case == "no_column":
        extra = ["--text-col", "body"]
    elif case == "no_model":
        args["--model"] = str(tmp_path / "no_such_model")
    elif case == "gpt2_model":
        os.makedirs(tmp_path / "gpt2")
        (tmp_path / "gpt2" / "config.json").write_text('{"model_type": "gpt2"}')
        args["--model"] = str(tmp_path / "gpt2")
    elif case == "foreign_output":
        os.makedirs(tmp_path / "out")
        (tmp_path / "out" / "precious.csv").write_text("a,b\n")
    else:
        (tmp_path / "docs.csv").write_text("id,text\n")
        args["--input"] = str(tmp_path / "docs.csv")
    code, out, err = run(capsys, *[x for kv in args.items() for x in kv], *extra, spark=spark)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embed_corpus: error: ") and expected in lines[0], err
    if case == "foreign_output":
        assert os.listdir(tmp_path / "out") == ["precious.csv"]


def _qa_annotator():
    import sparklong

    try:
        return sparklong.LongformerForQuestionAnswering
    except AttributeError:
        return None


@pytest.mark.skipif(_qa_annotator() is None, reason="sparklong.LongformerForQuestionAnswering is not importable yet")
def test_answer_questions_job(spark, corpus, tmp_path, capsys):
    import pandas as pd

    from sparklong.jobs.answer_questions import SPEC as QA

    model = str(tmp_path / "qa_model")
    save_model_folder(model, task="question_answering")
    context = corpus_texts()[0][:1500]
    rows = [{"id": i, "question": q, "context": c} for i, (q, c) in enumerate([
        ("Who is addressed?", context), ("What filled him with anxieties?", context[200:]),
        (None, context), ("Why?", None), ("  ", context), ("When?", context[:300]),
    ])]
    pd.DataFrame(rows).to_parquet(tmp_path / "qa.parquet")
    args = ["--input", str(tmp_path / "qa.parquet"), "--output", str(tmp_path / "out"), "--model", model,
            "--shard-rows", "2"]
    code, out, err = run(capsys, *args, spark=spark, spec=QA)
    assert code == 0, err
    result = read(tmp_path / "out")
    assert sorted(result) == [r["id"] for r in rows]  # every id exactly once
    for row in rows:
        got = result[row["id"]]
        if row["question"] is None or not row["question"].strip() or row["context"] is None:
            assert got["answer"] is None and got["score"] is None
        else:
            assert got["answer"] == row["context"][got["begin"]:got["end"] + 1]
            assert isinstance(got["score"], float)
    code, out, _ = run(capsys, *args, spark=spark, spec=QA)
    assert code == 0 and "nothing to do" in out

    rows[1]["question"] = "What did he hope for?"  # the hash covers the question too
    rows[5]["context"] = context[300:600]
    pd.DataFrame(rows).to_parquet(tmp_path / "qa.parquet")
    code, out, err = run(capsys, *args, "--incremental", spark=spark, spec=QA)
    assert code == 0 and "done: 2 documents computed, 4 kept, 0 removed" in out, out + err
    again = read(tmp_path / "out")
    assert again[5]["answer"] == rows[5]["context"][again[5]["begin"]:again[5]["end"] + 1]
    assert all(again[i] == result[i] for i in (0, 2, 3, 4))

    code, _, err = run(capsys, "--input", str(CORPUS_TXT), "--output", str(tmp_path / "txt"), "--model", model,
                       spark=spark, spec=QA)
    assert code == 1 and "this job needs columns question, context" in err and len(err.strip().splitlines()) == 1


def test_verbose_prints_the_traceback_and_a_given_session_keeps_its_settings(spark, corpus, reference, tmp_path,
                                                                              capsys, monkeypatch):
    """The one-line error stays; --verbose or SPARKLONG_DEBUG=1 adds the traceback. Given a session, the
    runner leaves the caller's warning filters and log level as they were."""
    import warnings

    log4j = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager
    filters, level = list(warnings.filters), str(log4j.getRootLogger().getLevel())
    bad = ["--input", str(tmp_path / "missing.parquet"), "--output", str(tmp_path / "out"), "--model", corpus["model"]]
    code, _, err = run(capsys, *bad, spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code, _, err = run(capsys, *bad, "--verbose", spark=spark)
    lines = err.strip().splitlines()
    assert code == 1 and lines[0].startswith("embed_corpus: error: input ") and lines[1].startswith("Traceback")
    assert "JobError: input" in lines[-1]
    monkeypatch.setenv("SPARKLONG_DEBUG", "1")
    code, _, err = run(capsys, *bad, spark=spark)
    assert code == 1 and "Traceback (most recent call last)" in err
    monkeypatch.delenv("SPARKLONG_DEBUG")
    code, out, _ = run(capsys, *embed_args(corpus, reference, shard_rows=8), spark=spark)
    assert code == 0 and "nothing to do" in out
    assert list(warnings.filters) == filters and str(log4j.getRootLogger().getLevel()) == level


def assert_close_not_equal(got: dict, full: dict) -> None:
    """The same rows as the float32 run, each vector cosine >= 0.99 to its float32 one and not equal."""
    assert sorted(got) == sorted(full)
    for key, row in got.items():
        if row["embedding"] is not None:
            a, b = np.asarray(row["embedding"]), np.asarray(full[key]["embedding"])
            assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) >= 0.99 and not np.array_equal(a, b), key


def test_engine_flags_reach_the_stages_and_the_manifest(spark, corpus, reference, tmp_path, capsys):
    args = ["--input", str(corpus["root"] / "docs.parquet"), "--output", str(tmp_path / "out"),
            "--model", corpus["model"], "--max-sentence-length", WINDOW]
    code, _, err = run(capsys, *args, "--precision", "bfloat16", "--device", "cpu", spark=spark)
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "_sparklong_job.json").read_text())
    assert manifest["settings"]["precision"] == "bfloat16" and manifest["settings"]["device"] == "cpu"
    full = read(reference)
    assert_close_not_equal(read(tmp_path / "out"), full)  # computed in bfloat16, not float32
    code, _, err = run(capsys, *args, "--device", "cpu", spark=spark)  # other numerics, same output
    assert code == 1 and "--overwrite" in err
    code, _, err = run(capsys, *args, "--quantize", "int8", "--device", "cuda", "--overwrite", spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "runs on the CPU" in err
    code, _, err = run(capsys, *args, "--quantize", "int8", "--precision", "bfloat16", "--overwrite", spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "in float32" in err  # on the driver, not a task
    code, _, err = run(capsys, *args, "--quantize", "int8", "--overwrite", spark=spark)  # the torch engine's int8
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "_sparklong_job.json").read_text())
    assert manifest["settings"]["quantize"] == "int8"
    assert_close_not_equal(read(tmp_path / "out"), full)


def test_task_gpus_reaches_the_model_stage(spark, corpus, tmp_path, capsys):
    """--task-gpus asks for a stage-level profile, which local mode cannot schedule: one line saying so
    (tests/test_cluster.py runs the profile on a standalone cluster)."""
    args = ["--input", str(corpus["root"] / "docs.parquet"), "--output", str(tmp_path / "out"),
            "--model", corpus["model"], "--max-sentence-length", WINDOW]
    code, _, err = run(capsys, *args, "--task-gpus", "1", spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "local mode gives tasks none" in err, err
    code, _, err = run(capsys, *args, "--task-gpus", "0", spark=spark)
    assert code == 1 and "--task-gpus must be more than 0" in err
