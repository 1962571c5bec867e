"""The precision each shard was computed in (shard_precision.py): what a task records is what its model cache
loads; a job's output records it per shard (commit records, file footers, the manifest or the Delta commit), and
a run that would leave one output holding two precisions (precision 'auto' on executors whose GPUs differ) fails
with one line, nothing published in a Delta table, and a parquet output's later runs refused until --overwrite.
This machine has no GPU: the other precision is what a bf16 GPU executor would have recorded, written into the
output's record by the test."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sparklong.jobs.delta_table import DeltaOutput
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.job_error import JobError
from sparklong.jobs.manifest import MANIFEST
from sparklong.jobs.runner import main
from sparklong.jobs.shard_precision import FOOTER_KEY, PRECISIONS, check_one_precision, merged_precisions
from sparklong.udfs.model_cache import ModelCache, planned_precision
from job_runs import embed_args

SHARDS = {"0": "float32", "1": "float32", "2": "float32"}  # job_corpus: 12 documents, 4 per shard


def record(shard: int, computed: int, precision: str, file: str = "part") -> dict:
    return {"shard": shard, "computed": computed, "precision": precision, "file": file}


def test_each_shard_keeps_the_precision_of_the_run_that_computed_it():
    recorded = {"0": "bfloat16", "1": "bfloat16", "2": "bfloat16"}
    now = merged_precisions(recorded, [record(0, 3, "float32"), record(1, 0, "float32"), record(2, 0, "", file="")])
    assert now == {"0": "float32", "1": "bfloat16"}  # 1 only lost rows: its vectors are last run's; 2 is gone
    check_one_precision("out", {"0": "float16", "1": "float16"})
    with pytest.raises(JobError) as error:
        check_one_precision("out", now)
    message = str(error.value)
    assert "2 precisions" in message and "bfloat16 in shards 1" in message and "float32 in shards 0" in message
    assert "--precision" in message and "--overwrite" in message and "\n" not in message


@pytest.mark.parametrize("settings, dtype", [({}, "float32"), ({"precision": "bfloat16"}, "bfloat16"),
                                             ({"quantize": "int8"}, "float32")])
def test_the_planned_precision_is_what_the_model_cache_loads(tiny_folder, settings, dtype):
    assert planned_precision(**settings) == dtype
    loaded = ModelCache().model(tiny_folder, "embeddings", **settings)
    assert str(next(loaded.module.parameters()).dtype) == f"torch.{dtype}"


def test_a_parquet_output_records_its_shards_precision_and_never_holds_two(spark, job_corpus, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(job_corpus["reference"], out)  # conftest.job_corpus: this machine's run, on its CPU
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest[PRECISIONS] == SHARDS
    for shard in range(3):
        footer = pq.read_metadata(out / f"part-{shard:05d}-of-00003.parquet").metadata
        assert footer[FOOTER_KEY] == b"float32"

    manifest[PRECISIONS] = dict.fromkeys(SHARDS, "bfloat16")  # as a run on bf16 GPUs with precision 'auto' records
    (out / MANIFEST).write_text(json.dumps(manifest))
    docs = [{**d, "text": "A changed text."} if d["id"] == "doc00" else d for d in job_corpus["docs"]]
    pd.DataFrame(docs).to_parquet(tmp_path / "docs2.parquet")
    args = embed_args(job_corpus, out, shard_rows=4) + ["--incremental"]
    args[args.index("--input") + 1] = str(tmp_path / "docs2.parquet")

    assert main(EMBED, args, spark) == 1  # tonight's run on this CPU computes float32 into a bf16 output
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 precisions" in err and "bfloat16 in shards" in err and "float32 in shards" in err
    assert not (out / "_SUCCESS").exists()
    assert sorted(set(json.loads((out / MANIFEST).read_text())[PRECISIONS].values())) == ["bfloat16", "float32"]
    assert main(EMBED, args, spark) == 1  # and every later run says so, before any work
    assert "2 precisions" in capsys.readouterr().err and not (out / "_SUCCESS").exists()


def test_a_delta_table_gets_no_version_of_a_second_precision(spark, job_corpus, tmp_path, capsys):
    table = tmp_path / "table"
    args = embed_args(job_corpus, table, shard_rows=4) + ["--output-format", "delta"]
    assert main(EMBED, args, spark) == 0
    output = DeltaOutput(str(table))
    manifest = output.manifest()
    assert manifest[PRECISIONS] == SHARDS
    # a version that says its shards ran in bf16 (as a run on bf16 GPUs with precision 'auto' records), no file changed
    output.commit("embed_corpus", "gpu-run", output.table.schema().to_arrow(),
                  {**manifest, PRECISIONS: dict.fromkeys(SHARDS, "bfloat16")}, [], {})
    files = sorted(p.name for p in table.glob("part-*.parquet"))

    docs = [{**d, "text": "A changed text."} if d["id"] == "doc00" else d for d in job_corpus["docs"]]
    pd.DataFrame(docs).to_parquet(tmp_path / "docs2.parquet")
    args[args.index("--input") + 1] = str(tmp_path / "docs2.parquet")
    assert main(EMBED, args + ["--incremental"], spark) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "2 precisions" in err
    assert DeltaOutput(str(table)).version == 1  # nothing committed
    assert sorted(p.name for p in table.glob("part-*.parquet")) == files  # the run's own file deleted
