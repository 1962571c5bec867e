"""Where a task's model runs and in what precision, tested on the CPU: Spark's GPU address -> cuda:N,
the worker cache keyed by that device, precision reaching the loaded model, outputs float32 whatever
the compute precision, the GPU token budget and the prefetch thread."""
import types

import numpy as np
import pytest
import torch

from sparklong import LongformerSentenceEmbeddings
from sparklong.annotation import DOCUMENT, Annotation
from sparklong.cores import forward
from sparklong.cores.batching import Batching
from sparklong.cores.document_embeddings import embed_documents
from sparklong.cores.embedding_settings import EmbeddingSettings
from sparklong.cores.overlap import ordered_map
from sparklong.engine_options import PRECISIONS
from sparklong.models.devices import DTYPES, choose_device, cuda_index, resolve_precision
from sparklong.udfs import model_cache


def test_every_precision_but_auto_has_a_torch_dtype():
    """The choices (engine_options.py, no torch) and the dtypes they map to (models/devices.py) agree."""
    assert PRECISIONS == ("auto", *DTYPES)


def test_spark_gpu_address_becomes_the_cuda_index():
    assert choose_device("auto", ("1",), cuda_count=2) == "cuda:1"
    assert choose_device("cuda", ("0", "1"), cuda_count=2) == "cuda:0"  # the first of several
    assert choose_device("auto", (), cuda_count=2, current=1) == "cuda:1"  # outside a task: the current GPU
    assert choose_device("auto", ("1",), cuda_count=0) == "cpu"  # no CUDA here: the CPU, whatever Spark says
    assert choose_device("cpu", ("1",), cuda_count=2) == "cpu"
    assert choose_device("cuda:1", ("0",), cuda_count=2) == "cuda:1"  # named by the caller
    # container isolation: torch numbers the visible GPUs from 0
    assert choose_device("auto", ("3",), cuda_count=2, visible="2,3") == "cuda:1"
    assert cuda_index("5", visible="GPU-a1,GPU-b2", count=8) == 5


def test_bad_placements_are_clear_errors():
    with pytest.raises(ValueError, match="torch sees no CUDA device"):
        choose_device("cuda", (), cuda_count=0)
    with pytest.raises(ValueError, match="sees 2 CUDA device"):
        choose_device("auto", ("2",), cuda_count=2)
    with pytest.raises(ValueError, match="not a CUDA index"):
        cuda_index("GPU-1f2e", visible=None, count=2)
    with pytest.raises(ValueError, match="device must be"):
        choose_device("tpu", (), cuda_count=0)


def test_precision_auto_follows_the_device():
    assert resolve_precision("auto", torch.device("cpu")) == "float32"
    assert resolve_precision("auto", torch.device("cuda:1"), bf16=True) == "bfloat16"
    assert resolve_precision("auto", torch.device("cuda:0"), bf16=False) == "float16"  # pre-Ampere
    assert resolve_precision("bfloat16", torch.device("cpu")) == "bfloat16"  # as asked
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int4", torch.device("cpu"))


def test_stage_precision_param():
    stage = LongformerSentenceEmbeddings(precision="bfloat16")
    assert stage.getPrecision() == "bfloat16" and LongformerSentenceEmbeddings().getPrecision() == "auto"
    assert stage.engine_settings() == {"engine": "torch", "device": "auto", "precision": "bfloat16",
                                       "quantize": "none"}
    with pytest.raises(ValueError, match="precision must be one of"):
        stage.setPrecision("fp8")


@pytest.fixture
def fake_gpus(monkeypatch):
    """torch sees two CUDA devices; loads are recorded, not run; the task's GPUs are set by the test; the
    models go to a cache of the test's own."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    loads = []

    def fake_load(folder, task, device, dtype, quantize="none"):
        loads.append((device, dtype))
        return types.SimpleNamespace(config=None)

    monkeypatch.setattr(model_cache, "load", fake_load)
    assigned = {"gpus": ()}
    monkeypatch.setattr(model_cache, "task_gpus", lambda: assigned["gpus"])
    return loads, assigned, model_cache.ModelCache()


def test_worker_cache_loads_the_model_on_the_tasks_gpu(fake_gpus, tiny_folder):
    loads, assigned, cache = fake_gpus
    assigned["gpus"] = ("1",)
    first = cache.model(tiny_folder, "embeddings", precision="bfloat16")
    assert first.device == torch.device("cuda:1") and "Spark task GPU 1" in first.placement
    assigned["gpus"] = ("0",)  # the same worker reused for a task on the other GPU
    second = cache.model(tiny_folder, "embeddings", precision="bfloat16")
    assert second.device == torch.device("cuda:0")
    assigned["gpus"] = ("1",)
    assert cache.model(tiny_folder, "embeddings", precision="bfloat16") is first  # cached per device
    assert loads == [("cuda:1", "bfloat16"), ("cuda:0", "bfloat16")]


def test_onnx_session_gets_the_tasks_gpu(monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    from sparklong.models.onnx_runtime import CPU_EP, CUDA_EP, place

    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA_EP, CPU_EP])
    placement = place("auto", "auto", "none", ("1",))
    assert placement.device == "cuda:1" and placement.dtype == "float16"
    assert placement.providers() == [(CUDA_EP, {"device_id": 1}), CPU_EP]
    assert place("cuda", "float32", "none").providers()[0] == (CUDA_EP, {"device_id": 0})
    assert place("cpu", "auto", "none", ("1",)).providers() == [CPU_EP]


def test_bfloat16_on_cpu_reaches_the_model_and_vectors_leave_as_float32(tiny_folder):
    text = "We the people of the United States, in order to form a more perfect union. " * 30
    rows = [([Annotation(DOCUMENT, 0, len(text) - 1, text, {"sentence": "0"}, [])],)]
    settings = EmbeddingSettings(Batching(max_sentence_length=128))  # several windows
    vectors = {}
    for precision in ("float32", "bfloat16"):
        model = model_cache.get_model(tiny_folder, "embeddings", device="cpu", precision=precision)
        assert next(model.module.parameters()).dtype == getattr(torch, precision)
        [[annotation]] = embed_documents(model, model_cache.get_tokenizer(tiny_folder, False), rows, settings)
        vectors[precision] = np.asarray(annotation.embeddings)
    assert vectors["bfloat16"].dtype == np.float32
    a, b = vectors["float32"], vectors["bfloat16"]
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) >= 0.99


def test_gpu_token_budget_comes_from_its_memory(monkeypatch, tiny_folder):
    cpu_model = model_cache.get_model(tiny_folder, "embeddings", device="cpu")
    assert forward.token_budget(cpu_model, None) == forward.CPU_BATCH_TOKENS
    assert forward.token_budget(cpu_model, 999) == 999  # set by the user: as set
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: types.SimpleNamespace(total_memory=80 << 30))
    gpu_model = types.SimpleNamespace(device=torch.device("cuda:0"), module=cpu_model.module,
                                      config=types.SimpleNamespace(hidden_size=768))
    expected = int(0.25 * (80 << 30) // (forward.BYTES_PER_TOKEN_PER_HIDDEN * 768 * 4))
    assert forward.token_budget(gpu_model, None) == expected > forward.CPU_BATCH_TOKENS
    assert forward.token_budget(gpu_model, 4096) == 4096


def test_slices_in_flight_keep_order_overlap_and_stop_at_an_error():
    import threading
    import time

    running, most, lock = [0], [0], threading.Lock()

    def slow_square(x):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return x * x

    assert list(ordered_map(slow_square, range(20), depth=2)) == [x * x for x in range(20)]
    assert most[0] == 2  # two at once, never more
    threads = []
    assert list(ordered_map(lambda x: threads.append(threading.current_thread()) or x, range(3), depth=1)) == [0, 1, 2]
    assert set(threads) == {threading.current_thread()}  # depth 1 (CPU): no thread at all
    started = []

    def fails_at_three(x):
        started.append(x)
        if x == 3:
            raise OSError("slice 3 broke")
        return x

    got = []
    with pytest.raises(OSError, match="slice 3 broke"):
        for value in ordered_map(fails_at_three, range(100), depth=2):
            got.append(value)
    assert got == [0, 1, 2] and max(started) <= 4  # nothing far past the failure was started
