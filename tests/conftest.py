import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tiny_models


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def spark():
    """One local[2] session for the whole run (Spark takes ~20 s to start)."""
    import sparklong

    session = sparklong.start("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """A tiny HF-layout Longformer folder (embeddings), made once per run: copy it before changing it."""
    from tiny_models import save_model_folder

    folder = str(tmp_path_factory.mktemp("tiny") / "tiny_longformer")
    save_model_folder(folder)
    return folder


@pytest.fixture(scope="session")
def job_corpus(spark, tmp_path_factory):
    """12 documents (job_runs.write_corpus: 3 of them null, empty and blank) with a tiny model, and
    "reference": their embed_corpus output in parquet from one uninterrupted run (shard rows 4: 3 shards),
    shared by the fault, delta and object store tests."""
    from job_runs import embed_args, write_corpus
    from sparklong.jobs.embed_corpus import SPEC as EMBED
    from sparklong.jobs.runner import main

    root = tmp_path_factory.mktemp("job_corpus")
    corpus = write_corpus(root, count=12)
    reference = root / "reference"
    assert main(EMBED, embed_args(corpus, reference, shard_rows=4), spark) == 0
    return {**corpus, "reference": reference}


@pytest.fixture(scope="session")
def local_fault_runs(job_corpus, tmp_path_factory):
    """Both formats' local fault drivers, run side by side once (local_fault_runs.py)."""
    from local_fault_runs import run_fault_drivers

    return run_fault_drivers(job_corpus, tmp_path_factory.mktemp("local_faults"))
