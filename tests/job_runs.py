"""Shared by the jobs/ tests in local mode (test_jobs.py) and on the standalone cluster (test_cluster.py):
the small corpus, the command line, reading and comparing outputs, and a run killed mid-job."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq

from tiny_models import corpus_texts, save_model_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBED_SCRIPT = os.path.join(ROOT, "jobs", "embed_corpus.py")
WINDOW = "128"  # --max-sentence-length: the longer documents need several windows


def write_corpus(root, count: int = 24) -> dict:
    """`count` documents of growing length (ids doc00..; 3-5 are None, empty and blank) as
    root/docs.parquet and root/docs.jsonl, and a tiny model in root/model."""
    import pandas as pd

    model = str(root / "model")
    save_model_folder(model)
    texts = corpus_texts()
    docs = [{"id": f"doc{i:02d}", "text": texts[i % len(texts)][i * 311 % 3000:][: 200 + 60 * i]} for i in range(count)]
    docs[3]["text"], docs[4]["text"], docs[5]["text"] = None, "", " \n\t "
    pd.DataFrame(docs).to_parquet(root / "docs.parquet")
    with open(root / "docs.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(d) + "\n" for d in docs)
    return {"root": root, "model": model, "docs": docs}


def embed_args(corpus: dict, output, shard_rows: int) -> list[str]:
    """embed_corpus.py arguments for the corpus's parquet file."""
    return ["--input", str(corpus["root"] / "docs.parquet"), "--output", str(output), "--model", corpus["model"],
            "--shard-rows", str(shard_rows), "--max-sentence-length", WINDOW]


def read(folder) -> dict:
    """{id: row} of an output folder; fails when an id is there twice."""
    return by_id(pq.read_table(str(folder)).to_pylist())


def read_delta(table, version: int | None = None) -> dict:
    """{id: row} of a Delta table output (the latest version, or `version`) read by the deltalake package;
    fails when an id is there twice."""
    from deltalake import DeltaTable

    return by_id(DeltaTable(str(table), version=version).to_pyarrow_table().to_pylist())


def by_id(rows: list[dict]) -> dict:
    keyed = {r["id"]: r for r in rows}
    assert len(keyed) == len(rows), f"{len(rows) - len(keyed)} ids came back twice"
    return keyed


def assert_same_vectors(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key]["n_tokens"] == b[key]["n_tokens"]
        if a[key]["embedding"] is None:
            assert b[key]["embedding"] is None
        else:
            assert np.abs(np.asarray(a[key]["embedding"]) - np.asarray(b[key]["embedding"])).max() <= 1e-5


def kill_when(command: list[str], output, env: dict, log_path, ready, timeout_s: float = 240):
    """Run `command` in its own process group and SIGKILL the group (driver JVM included) as soon as
    `ready(output)` is true (checked every 20 ms); returns what `ready` returned last."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        seen = ready(output)
        while not seen and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            seen = ready(output)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return seen


def committed_parts(output) -> list[str]:
    return glob.glob(str(output / "part-*.parquet"))
