"""jobs/embed_corpus.py at growing corpus sizes: is the cost per document flat, and is the shard count
without effect? The runner's own costs (planning, shuffles, commits, progress) dominate here: a tiny
random Longformer (hidden 32, 2 layers, as the tests make) embeds short documents (corpus sentences,
~40-120 words) on local[2].

One Spark session runs every case in this process, so JVM start is outside every figure:
- N = 1,000 / 4,000 / 16,000 / 64,000 documents, 500 rows per shard, a fresh output each: seconds per
  1,000 documents, and the peak RSS during the run of the driver (this Python process, which the old
  runner filled with every shard's vectors; inputs are written by a child process) and of the JVM
  (driver and local executors in one process);
- 50 vs 500 rows per shard at N = 4,000: their time ratio;
- an incremental run after adding 1% of the documents to the largest N vs that N's full run (the
  first one is the scale series' own run).
Each case runs --repeats times (alternating where two are compared); medians with every raw time.
Prints one JSON object; --plot PATH draws seconds per 1,000 documents and peak RSS against N.

    .venv/bin/python benchmarks/job_scale.py [--sizes 1000,4000,16000,64000] [--repeats 2] [--plot out.png]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))  # tiny_models: the tests' random checkpoint


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def documents(count: int, start: int = 0) -> list[dict]:
    """`count` short documents cut from the bundled corpus (ids doc000000.. from `start`)."""
    from tiny_models import corpus_texts

    words = " ".join(corpus_texts()).split()
    docs = []
    for i in range(start, start + count):
        length = 40 + (i * 37) % 80
        at = (i * 7919) % (len(words) - length)
        docs.append({"id": f"doc{i:06d}", "text": " ".join(words[at: at + length])})
    return docs


def vm_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def jvm_pid(spark) -> int:
    return int(spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid())


class PeakRss:
    """The largest VmRSS of a process seen while inside the block (sampled every 20 ms)."""

    def __init__(self, pid: int):
        self.pid, self.peak_kb = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, vm_kb(self.pid, "VmRSS"))
            if self._stop.wait(0.02):
                return

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_job(spark, model: str, inputs: str, output: str, shard_rows: int, extra: tuple[str, ...] = ()) -> dict:
    from sparklong.jobs.embed_corpus import SPEC
    from sparklong.jobs.runner import main

    argv = ["--input", inputs, "--output", output, "--model", model, "--shard-rows", str(shard_rows),
            "--max-sentence-length", "512", "--batch-size", "16", *extra]
    start = time.perf_counter()
    with PeakRss(os.getpid()) as driver, PeakRss(jvm_pid(spark)) as jvm, contextlib.redirect_stdout(sys.stderr):
        if main(SPEC, argv, spark) != 0:  # the job's progress lines go to stderr: stdout is the JSON
            raise SystemExit(f"the job failed: {argv}")
    return {"seconds": time.perf_counter() - start, "driver_peak_mb": driver.peak_kb / 1024,
            "jvm_peak_mb": jvm.peak_kb / 1024}


def write_input(folder: str, count: int, start: int = 0, more: int = 0) -> str:
    """docs.parquet of documents(count, start) (+ documents(more) after them), written by a child process
    so this one's memory holds no corpus."""
    path = os.path.join(folder, "docs.parquet")
    os.makedirs(folder, exist_ok=True)
    subprocess.run([sys.executable, __file__, "--write-input", path, str(count), str(start), str(more)], check=True)
    return path


def _write_input_here(path: str, count: int, start: int, more: int) -> None:
    import pandas as pd

    pd.DataFrame(documents(count, start) + documents(more, start + count)).to_parquet(path)


def median_of(runs: list[dict], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    if sys.argv[1:2] == ["--write-input"]:
        return _write_input_here(sys.argv[2], *map(int, sys.argv[3:6]))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,4000,16000,64000")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--plot", default=None, help="write a PNG of seconds per 1,000 documents and peak RSS vs N")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    import sparklong
    from tiny_models import save_model_folder

    work = tempfile.mkdtemp(prefix="job-scale-")
    spark = sparklong.start("local[2]", app_name="job_scale")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        model = os.path.join(work, "model")
        save_model_folder(model)
        log("warm-up")
        run_job(spark, model, write_input(os.path.join(work, "warm"), 200), os.path.join(work, "w"), 100)

        scale = []
        for n in sizes:
            inputs = write_input(os.path.join(work, f"in{n}"), n)
            runs = []
            for r in range(args.repeats):
                output = os.path.join(work, "last" if n == sizes[-1] else "out")
                shutil.rmtree(output, ignore_errors=True)
                runs.append(run_job(spark, model, inputs, output, 500))
                log(f"N={n} repeat {r}: {runs[-1]}")
            scale.append({"documents": n, "runs": runs, "seconds_median": median_of(runs),
                          "seconds_per_1000_docs": 1000 * median_of(runs) / n,
                          "driver_peak_mb": max(r["driver_peak_mb"] for r in runs),
                          "jvm_peak_mb": max(r["jvm_peak_mb"] for r in runs)})

        inputs = write_input(os.path.join(work, "in4000"), 4000)
        shard_runs = {50: [], 500: []}
        for r in range(args.repeats):
            for rows in (50, 500):
                shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
                shard_runs[rows].append(run_job(spark, model, inputs, os.path.join(work, "out"), rows))
                log(f"shard rows {rows} repeat {r}: {shard_runs[rows][-1]}")

        n = sizes[-1]  # its last full run's output is the one an incremental run brings up to date
        grown = write_input(os.path.join(work, f"in{n}grown"), n, more=n // 100)
        full, incremental = [], []
        for r in range(args.repeats):
            if r:
                shutil.rmtree(os.path.join(work, "last"), ignore_errors=True)
                full.append(run_job(spark, model, os.path.join(work, f"in{n}", "docs.parquet"),
                                    os.path.join(work, "last"), 500))
            else:
                full.append(scale[-1]["runs"][-1])
            incremental.append(run_job(spark, model, grown, os.path.join(work, "last"), 500, ("--incremental",)))
            log(f"incremental repeat {r}: full {full[-1]['seconds']:.1f} s, +1% {incremental[-1]['seconds']:.1f} s")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)

    per_1000 = [s["seconds_per_1000_docs"] for s in scale]
    result = {
        "benchmark": "job_scale", "cpu": platform.processor() or platform.machine(), "cpu_model": _cpu_model(),
        "cores": os.cpu_count(), "master": "local[2]", "repeats": args.repeats,
        "scale": scale,
        "seconds_per_1000_docs_max_over_min": max(per_1000) / min(per_1000),
        "driver_peak_mb_last_over_first": scale[-1]["driver_peak_mb"] / scale[0]["driver_peak_mb"],
        "shard_rows_4000_docs": {"50": shard_runs[50], "500": shard_runs[500],
                                 "time_ratio_50_over_500": median_of(shard_runs[50]) / median_of(shard_runs[500])},
        "incremental": {"documents": n, "added": n // 100, "full": full, "incremental": incremental,
                        "time_ratio_incremental_over_full": median_of(incremental) / median_of(full)},
    }
    print(json.dumps(result, indent=1))
    if args.plot:
        _plot(result, args.plot)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        return ""


def _plot(result: dict, path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        log(f"--plot {path}: matplotlib is not installed (pip install matplotlib); no PNG written")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [s["documents"] for s in result["scale"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(sizes, [s["seconds_per_1000_docs"] for s in result["scale"]], marker="o")
    a.set(xscale="log", xlabel="documents", ylabel="seconds per 1,000 documents", ylim=(0, None))
    b.plot(sizes, [s["driver_peak_mb"] for s in result["scale"]], marker="o", label="Python driver")
    b.plot(sizes, [s["jvm_peak_mb"] for s in result["scale"]], marker="o", label="JVM (driver + local executors)")
    b.set(xscale="log", xlabel="documents", ylabel="MB", ylim=(0, None))
    b.legend()
    fig.suptitle(f"embed_corpus on {result['master']}, {result['cpu_model']}")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
