"""Loading keeps one memory map of the weights: the q/k/v tensors fused into new copies come from a
second map that is released after loading, so their pages are not resident twice."""
import gc
import sys

import pytest

from sparklong.models import load
from sparklong.models.checkpoint import read_state_dict
from tiny_models import save_model_folder

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("mmap") / "tiny_longformer")
    save_model_folder(folder)
    return folder


def maps_of(path: str) -> list[range]:
    """The address ranges where this process maps `path`."""
    with open("/proc/self/maps") as maps:
        lines = [line.split() for line in maps if line.rstrip().endswith(path)]
    return [range(*(int(a, 16) for a in line[0].split("-"))) for line in lines]


def map_index(tensor, ranges: list[range]) -> int:
    return next(i for i, r in enumerate(ranges) if tensor.data_ptr() in r)


def test_fused_tensors_come_from_their_own_map(model_folder):
    state = read_state_dict(model_folder)
    ranges = maps_of(f"{model_folder}/model.safetensors")
    kept = map_index(state["embeddings.word_embeddings.weight"], ranges)
    assert map_index(state["encoder.layer.0.attention.self.query_global.weight"], ranges) == kept
    for name in ("query", "key", "value", "key_global", "value_global"):
        assert map_index(state[f"encoder.layer.1.attention.self.{name}.bias"], ranges) != kept, name


def test_one_map_of_the_weights_stays_after_loading(model_folder):
    model = load(model_folder)
    gc.collect()
    assert len(maps_of(f"{model_folder}/model.safetensors")) == 1
    del model
