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
def load_log(tmp_path_factory):
    """File every Python worker appends its pid to when it loads a model (set before the JVM starts)."""
    return str(tmp_path_factory.mktemp("loads") / "loads.txt")


@pytest.fixture(scope="session")
def spark(load_log):
    """One local[2] session for the whole run (Spark takes ~20 s to start)."""
    from sparklong.udfs.model_cache import LOAD_LOG_ENV

    os.environ[LOAD_LOG_ENV] = load_log
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
