"""Driver program the cluster tests run in a subprocess (its own SparkSession against the cluster's
master, apart from the test run's shared local session):

    python tests/cluster_driver.py --master spark://127.0.0.1:PORT --model FOLDER --out DIR [CASE ...]

Each case runs the embeddings pipeline on the same rows and writes DIR/<case>.json: every output
row with the executor that computed it, or {"error": traceback}. Cases:
  embeddings       the plain run
  worker_crash     each task's first attempt loses a Python worker mid-task, after the model (worker_kill.py)
  executor_kill    the first attempt of partition 0 SIGKILLs its own executor JVM mid-task
  gpus             after the cases above (alone: --master unused), in a session of its own: Spark's GPU
                   scheduling on a standalone
                   master and worker (local-cluster mode, one 2-core executor) whose worker advertises
                   two fake GPUs through a discovery script; tasks of a plain stage and of a stage with
                   the jobs' model-stage profile record the GPU addresses they were given, the device
                   sparklong would place its model on (with two CUDA devices) and where the worker's
                   model cache placed it (no CUDA here: the CPU)
The pipeline and the rows are importable, so a test builds the same thing in local mode.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback

from pyspark import cloudpickle

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tiny_models
if __name__ != "__main__":  # imported by a test: workers cannot import this module, ship its functions
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

PARTITIONS = 4
MAX_SENTENCE_LENGTH = 128  # the long rows need several windows


def texts() -> list[str | None]:
    """Corpus passages of varied length, a long one, and the blank rows that must come back empty."""
    from tiny_models import corpus_texts

    corpus = corpus_texts()
    passages = [corpus[i % len(corpus)][200 * i: 200 * i + 120 + 40 * i] for i in range(20)]
    return passages + [corpus[0][:6000], None, "", "  \t "]


def frame(spark, rows: list[str | None], partitions: int = PARTITIONS):
    """(id, text) rows in a fixed partitioning, identical in local and cluster mode."""
    data = spark.sparkContext.parallelize([(str(i), t) for i, t in enumerate(rows)], partitions)
    return spark.createDataFrame(data, "id string, text string")


def pipeline_model(folder: str):
    from pyspark.ml import PipelineModel

    from sparklong import DocumentAssembler, EmbeddingsFinisher, LongformerEmbeddings, SentenceEmbeddings, Tokenizer

    return PipelineModel([
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols("document").setOutputCol("token").fit(None),
        LongformerEmbeddings.loadSavedModel(folder).setInputCols("document", "token").setOutputCol("embeddings")
        .setMaxSentenceLength(MAX_SENTENCE_LENGTH).setBatchSize(4),
        SentenceEmbeddings().setInputCols("document", "embeddings").setOutputCol("sentence_embeddings"),
        EmbeddingsFinisher().setInputCols("sentence_embeddings").setOutputCols("vector"),
    ])


def executor_jvm_pid() -> int:
    """The JVM above this Python worker (worker -> daemon -> executor JVM); 0 when there is none."""
    pid = os.getpid()
    while pid > 1:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            stat = fh.read()
        if stat[stat.index("(") + 1: stat.rindex(")")] == "java":
            return pid
        pid = int(stat[stat.rindex(")") + 2:].split()[1])
    return 0


def executor_tag(kill_marker_dir: str | None = None):
    """A column naming the executor that ran the row's task: '<executor id>@<JVM pid>' (the executor id
    is the name of its work dir). With kill_marker_dir, partition 0's first attempt kills that JVM."""
    from pyspark import TaskContext
    from pyspark.sql import functions as F

    @F.udf("string")
    def executor(_):
        jvm = executor_jvm_pid()
        context = TaskContext.get()
        if kill_marker_dir and context.partitionId() == 0 and context.attemptNumber() == 0:
            open(os.path.join(kill_marker_dir, f"killed-{jvm}"), "w").close()
            os.kill(jvm, signal.SIGKILL)
            os._exit(1)  # this worker's JVM is gone; do not linger
        return f"{os.path.basename(os.getcwd())}@{jvm}"

    return executor(F.col("id"))


def run(spark, folder: str, kill_marker_dir: str | None = None, worker_kill_markers: str | None = None) -> dict:
    """Embed texts() and return {id: row as JSON-able dict}; with worker_kill_markers, each task's first
    attempt loses the Python worker its embeddings pass through (worker_kill.py)."""
    out = pipeline_model(folder).transform(frame(spark, texts()).withColumn("executor", executor_tag(kill_marker_dir)))
    if worker_kill_markers:
        from pyspark.sql import functions as F

        from sparklong.annotation import annotation_array_type
        from worker_kill import dies_after_first_batch

        embeddings = dies_after_first_batch(F.col("embeddings"), annotation_array_type(), worker_kill_markers)
        out = out.withColumn("embeddings", embeddings)
    rows = {}
    for r in out.select("id", "executor", "embeddings", "vector").collect():
        rows.setdefault(r["id"], []).append({
            "executor": r["executor"],
            "tokens": [[a.begin, a.end, a.result] for a in r["embeddings"]],
            "word_vectors": [list(a.embeddings) for a in r["embeddings"]],
            "vector": [list(v) for v in r["vector"]],
        })
    return rows


def run_case(spark, case: str, folder: str, out_dir: str) -> dict:
    markers = os.path.join(out_dir, f"{case}_markers")
    os.makedirs(markers, exist_ok=True)
    if case == "embeddings":
        rows = run(spark, folder)
    elif case == "worker_crash":
        rows = run(spark, folder, worker_kill_markers=markers)
    elif case == "executor_kill":
        rows = run(spark, folder, kill_marker_dir=markers)
    else:
        raise ValueError(f"unknown case {case!r}")
    return {"rows": rows, "markers": sorted(os.listdir(markers))}


FAKE_GPUS = ("0", "1")


def gpu_session(out_dir: str):
    """A session whose one executor holds two (fake) GPUs and two cores: the spark-submit settings of
    docs/gpu.md without spark.task.resource.gpu.amount (GPUs go to the model stage only, through a
    stage-level profile), on a standalone master and worker that Spark starts in this JVM."""
    import sparklong

    script = os.path.join(out_dir, "fake_gpus.sh")
    with open(script, "w", encoding="utf-8") as fh:
        fh.write("#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": %s}'\n" % json.dumps(list(FAKE_GPUS)))
    os.chmod(script, 0o755)
    return sparklong.start("local-cluster[1,2,1024]", memory="1g", extra_conf={
        "spark.executor.memory": "1g",
        "spark.executor.cores": "2",
        "spark.worker.resource.gpu.amount": str(len(FAKE_GPUS)),
        "spark.worker.resource.gpu.discoveryScript": script,
        "spark.executor.resource.gpu.amount": str(len(FAKE_GPUS)),
        "spark.executor.resource.gpu.discoveryScript": script,
    })


def gpu_tasks(spark, folder: str, profile=None, partitions: int = 4) -> list[dict]:
    """Per task of a mapInArrow stage (with `profile`, as the jobs' model stage): its partition, GPU
    addresses, the device choose_device picks for them (two CUDA devices assumed: no CUDA is needed),
    where the worker's model cache placed the model (the CPU here), and when it ran (tasks sleep so
    that two overlap)."""
    def probe(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        from sparklong.models.devices import choose_device
        from sparklong.udfs.model_cache import get_model
        from sparklong.udfs.task_resources import task_gpus

        for _ in batches:
            pass
        start = time.time()
        gpus = task_gpus()
        loaded = get_model(folder, "embeddings", device="auto")  # what every model stage's UDF calls
        time.sleep(0.5)
        task = {"partition": TaskContext.get().partitionId(), "gpus": list(gpus),
                "device": choose_device("auto", gpus, cuda_count=2), "loaded_on": str(loaded.device),
                "placement": loaded.placement, "start": start, "end": time.time()}
        yield pa.record_batch([pa.array([json.dumps(task)])], names=["task"])

    frame = spark.range(partitions, numPartitions=partitions).mapInArrow(probe, "task string", profile=profile)
    return [json.loads(r["task"]) for r in frame.collect()]


def gpu_case(out_dir: str, folder: str) -> dict:
    """A plain stage's tasks hold no GPU; under the jobs' model-stage profile each task has its own."""
    from sparklong.jobs.engine_flags import model_stage_profile

    session = gpu_session(out_dir)
    session.sparkContext.setLogLevel("ERROR")
    try:
        return {"plain": gpu_tasks(session, folder, partitions=2),
                "tasks": gpu_tasks(session, folder, model_stage_profile(session, 1))}
    finally:
        session.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("cases", nargs="+")
    args = parser.parse_args()
    import sparklong

    cluster_cases = [case for case in args.cases if case != "gpus"]
    if cluster_cases:
        spark = sparklong.start(args.master, memory="1g", extra_conf={
            "spark.executor.memory": "1g",
            "spark.scheduler.minRegisteredResourcesRatio": "1.0",  # wait for both executors
            "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
            "spark.task.maxFailures": "4",
        })
        spark.sparkContext.setLogLevel("ERROR")
        for case in cluster_cases:
            record(case, lambda: run_case(spark, case, args.model, args.out), args.out)
        spark.stop()
    if "gpus" in args.cases:
        record("gpus", lambda: gpu_case(args.out, args.model), args.out)


def record(case: str, compute, out_dir: str) -> None:
    """Write compute()'s result (or the error's traceback) and its time to out_dir/<case>.json."""
    started = time.monotonic()
    try:
        result = compute()
    except Exception:  # noqa: BLE001 - reported to the test, which fails with it
        result = {"error": traceback.format_exc()}
    result["seconds"] = round(time.monotonic() - started, 1)
    with open(os.path.join(out_dir, f"{case}.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main()
