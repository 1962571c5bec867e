"""udfs/model_cache.py's ModelCache without Spark: a model loads once per cache, the least recently
used of more than max_models goes first, and `loads` counts every load per model fingerprint."""
import types

from sparklong.models.fingerprint import fingerprint
from sparklong.udfs import model_cache


def test_a_model_loads_once_and_the_least_recently_used_is_evicted_first(monkeypatch, tiny_folder):
    loaded = []

    def fake_load(folder, task, device, dtype, quantize="none"):
        loaded.append(task)
        return types.SimpleNamespace(config=None)

    monkeypatch.setattr(model_cache, "load", fake_load)
    cache = model_cache.ModelCache(max_models=2)
    embeddings = cache.model(tiny_folder, "embeddings", device="cpu")
    qa = cache.model(tiny_folder, "question_answering", device="cpu")
    assert cache.model(tiny_folder, "embeddings", device="cpu") is embeddings  # now the most recently used
    cache.model(tiny_folder, "token_classification", device="cpu")  # a third: question answering goes
    assert cache.model(tiny_folder, "embeddings", device="cpu") is embeddings
    assert cache.model(tiny_folder, "question_answering", device="cpu") is not qa  # loaded again
    assert loaded == ["embeddings", "question_answering", "token_classification", "question_answering"]
    assert cache.loads == {fingerprint(tiny_folder): 4}
    cache.clear()
    assert cache.model(tiny_folder, "embeddings", device="cpu") is not embeddings
    assert cache.loads == {fingerprint(tiny_folder): 5}
