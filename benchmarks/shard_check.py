"""What every run's check of the committed files costs (jobs/shard_check.py: each file read whole, page
checksums verified, row index read), next to what planning read of them before (the row indexes only).

A synthetic output of N documents with 768 float32 values each (longformer-base's width) in shards of
500 rows, written through the job's own ShardWriter (no model runs); then, in one local[2] session,
alternating --repeats times: (a) the row indexes read and counted (plan.committed_rows), (b) the check
(shard_check.check_shards). Prints one JSON object: medians, raw times, the ratio b / a, and the check's
seconds and MB per 1,000 documents.

    .venv/bin/python benchmarks/shard_check.py [--documents 32000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sparklong.storage.output_folder import OutputFolder  # noqa: E402
from sparklong.jobs.plan import committed_rows  # noqa: E402
from sparklong.jobs.shard_check import check_shards  # noqa: E402
from sparklong.jobs.shard_files import DROP, HASH, KEY, ShardWriter, shard_file  # noqa: E402
from sparklong.jobs.writer_lock import WriterLock  # noqa: E402

WIDTH = 768
SHARD_ROWS = 500
SCHEMA = pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32())), ("n_tokens", pa.int32())])


def write_output(root: str, documents: int) -> list[str]:
    """The committed shard files of a synthetic output; their names."""
    folder, shards = OutputFolder(root), -(-documents // SHARD_ROWS)
    rng = np.random.default_rng(0)
    with WriterLock(folder, "bench"):
        for shard in range(shards):
            keys = [f"doc{i:09d}" for i in range(shard * SHARD_ROWS, min(documents, (shard + 1) * SHARD_ROWS))]
            vectors = rng.standard_normal((len(keys), WIDTH), dtype=np.float32)  # [rows, WIDTH]
            embedding = pa.ListArray.from_arrays(pa.array(np.arange(len(keys) + 1) * WIDTH, pa.int32()),
                                                 pa.array(vectors.ravel()))
            writer = ShardWriter(folder, "bench", shard, shards, SCHEMA, "n_tokens", 0, time.monotonic())
            writer.add(pa.record_batch({"id": pa.array(keys), "embedding": embedding,
                                        "n_tokens": pa.array([512] * len(keys), pa.int32()), KEY: pa.array(keys),
                                        HASH: pa.array([k[::-1] for k in keys]),
                                        DROP: pa.array([False] * len(keys))}))
            writer.commit()
    return [shard_file(s, shards) for s in range(shards)]


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def cpu_info(field: str) -> str:
    """A field of /proc/cpuinfo's first processor ("" where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next(line for line in fh if line.startswith(field)).split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import sparklong

    spark = sparklong.start("local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    with tempfile.TemporaryDirectory() as root:
        files = write_output(root, args.documents)
        folder = OutputFolder(root)
        size = sum(os.path.getsize(os.path.join(root, f)) for f in files)
        index_read, check = [], []
        timed(lambda: check_shards(spark, folder, files))  # warm: Python workers started, files in the page cache
        for _ in range(args.repeats):
            index_read.append(timed(lambda: committed_rows(spark, folder, files).count()))
            check.append(timed(lambda: check_shards(spark, folder, files)))
    spark.stop()
    thousands = args.documents / 1000
    print(json.dumps({
        "cpu": cpu_info("model name") or platform.machine(), "cores": os.cpu_count(),
        "cpu_flags": sorted(set(cpu_info("flags").split()) & {"avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"}),
        "documents": args.documents, "shards": len(files), "output_mb": round(size / 1e6, 1),
        "row_index_read_s": {"median": statistics.median(index_read), "raw": index_read},
        "check_s": {"median": statistics.median(check), "raw": check},
        "check_over_row_index_read": statistics.median(check) / statistics.median(index_read),
        "check_s_per_1000_documents": statistics.median(check) / thousands,
        "check_mb_per_s": size / 1e6 / statistics.median(check),
    }, indent=1))


if __name__ == "__main__":
    main()
