"""export_onnx + onnxruntime: equal to transformers at lengths, batch sizes and global-token counts the
trace never saw; int8 close to fp32; the graph cache in the model folder; bad .onnx files."""
import json
import logging
import os
import shutil
import sys

import pytest
import torch

from sparklong.models import LongformerConfig, encoder, export_onnx
from sparklong.models.onnx_export import FFN_SLICES, SlicedFeedForward, sample_inputs, slice_feed_forwards
from sparklong.models.onnx_files import ensure_onnx, onnx_path
from sparklong.models.onnx_runtime import OnnxModelError, OnnxModule, place
from sparklong.udfs.model_cache import get_model
from tiny_models import random_batch, save_longformer

pytest.importorskip("onnxruntime")

WINDOWS = [8, 16]  # per-layer windows; blocks of 4 and 8 rows


@pytest.fixture(scope="module")
def embeddings_model(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("onnx_embed"))
    hf = save_longformer(folder, "embeddings", attention_window=WINDOWS)
    graph = export_onnx(folder, os.path.join(folder, "exported", "embeddings.onnx"))
    return folder, hf, OnnxModule(graph, LongformerConfig.from_folder(folder), "embeddings")


def global_mask(ids: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """`count` global tokens per row at random positions (fewer in short rows)."""
    mask = torch.zeros_like(ids)
    gen = torch.Generator().manual_seed(seed)
    for row in range(ids.shape[0]):
        mask[row, torch.randperm(ids.shape[1], generator=gen)[:count]] = 1
    return mask


def max_diff(ours, ref, mask):
    return (ours - ref).abs()[mask.bool()].max().item()


def test_trace_shape_is_not_among_the_tested_ones(embeddings_model):
    ids, _, glob = sample_inputs(embeddings_model[2].config)
    assert tuple(ids.shape) == (2, 23) and glob.sum(1).tolist() == [4, 0]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("length", [1, 16, 37, 130])
@pytest.mark.parametrize("globals_", [0, 1, 5])
def test_onnxruntime_equals_transformers_on_unseen_shapes(embeddings_model, batch, length, globals_):
    _, hf, onnx = embeddings_model
    ids, mask = random_batch(batch, length, seed=length)
    glob = global_mask(ids, globals_, seed=length + globals_)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=glob).last_hidden_state
    ours = onnx(ids, mask, glob)
    assert ours.shape == ref.shape and ours.dtype == torch.float32
    assert max_diff(ours, ref, mask) <= 1e-4


@pytest.mark.parametrize("run_tokens", [4096, 45])  # 45: every row in a session run of its own
@pytest.mark.parametrize("task", ["question_answering", "sequence_classification", "token_classification"])
def test_task_heads_and_default_global_attention_equal_transformers(tmp_path, task, run_tokens, monkeypatch):
    monkeypatch.setattr(encoder, "CPU_RUN_TOKENS", run_tokens)
    folder = str(tmp_path)
    labels = {} if task == "question_answering" else {"num_labels": 3}
    hf = save_longformer(folder, task, attention_window=WINDOWS, **labels)
    graph = export_onnx(folder, str(tmp_path / "g.onnx"), task=task)
    onnx = OnnxModule(graph, LongformerConfig.from_folder(folder), task)
    ids, mask = random_batch(2, 45, seed=7)
    # QA: <s> question </s></s> context </s>; the question is global by default, as in HF
    ids[:, [6, 7]] = hf.config.sep_token_id
    ids[torch.arange(2), mask.sum(1) - 1] = hf.config.sep_token_id
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask)  # HF's own default global attention per task
    ours = onnx(ids, mask)  # no global mask: the task's default, as the torch module applies it
    if task == "question_answering":
        assert max_diff(ours[0], ref.start_logits, mask) <= 1e-4 and max_diff(ours[1], ref.end_logits, mask) <= 1e-4
    elif task == "sequence_classification":
        assert ours.shape == (2, 3) and (ours - ref.logits).abs().max().item() <= 1e-4
    else:
        assert max_diff(ours, ref.logits, mask) <= 1e-4


@pytest.mark.parametrize("variant", [{"quantize": "int8"}, {"dtype": "float16"}])
def test_int8_and_float16_graphs_close_to_fp32(embeddings_model, tmp_path, variant):
    # float16 is the CUDA provider's graph; onnxruntime's CPU kernels run it too, so it is checked here
    folder, _, fp32 = embeddings_model
    reduced = OnnxModule(export_onnx(folder, str(tmp_path / "reduced.onnx"), **variant), fp32.config, "embeddings")
    ids, mask = random_batch(2, 200, seed=3)
    glob = global_mask(ids, 2, seed=3)
    a, b = reduced(ids, mask, glob)[mask.bool()].float(), fp32(ids, mask, glob)[mask.bool()]
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min().item() >= 0.99
    assert not torch.equal(a, b)  # really reduced


def test_graph_cached_in_the_model_folder_and_reexported_only_when_weights_change(tmp_path):
    folder = str(tmp_path / "model")
    save_longformer(folder, "embeddings", attention_window=WINDOWS)
    umask = os.umask(0o022)
    try:
        graph = ensure_onnx(folder, "embeddings")
    finally:
        os.umask(umask)
    assert graph == onnx_path(folder, "embeddings") == os.path.join(folder, "onnx", "embeddings.onnx")
    # whoever may read the graph may read its manifest (executors running as another user)
    assert os.stat(graph + ".json").st_mode & 0o777 == os.stat(graph).st_mode & 0o777 == 0o644
    assert not [name for name in os.listdir(os.path.dirname(graph)) if name.startswith(".manifest-")]
    stamp = os.stat(graph).st_mtime_ns
    assert ensure_onnx(folder, "embeddings") == graph and os.stat(graph).st_mtime_ns == stamp
    copy = str(tmp_path / "copy")  # a copy (new mtimes, same bytes), as a saved pipeline makes: no export
    shutil.copytree(folder, copy, copy_function=shutil.copy)
    copied = ensure_onnx(copy, "embeddings")
    assert os.stat(copied).st_mtime_ns == os.stat(os.path.join(copy, "onnx", "embeddings.onnx")).st_mtime_ns
    assert open(copied, "rb").read() == open(graph, "rb").read()
    save_longformer(folder, "embeddings", seed=1, attention_window=WINDOWS)  # new weights, same sizes
    assert ensure_onnx(folder, "embeddings") == graph and os.stat(graph).st_mtime_ns != stamp
    stamp = os.stat(graph).st_mtime_ns
    manifest = json.load(open(graph + ".json"))
    json.dump({**manifest, "exporter": "sparklong-graph-0"}, open(graph + ".json", "w"))  # an older exporter's
    assert ensure_onnx(folder, "embeddings") == graph and os.stat(graph).st_mtime_ns != stamp


def test_corrupt_or_truncated_onnx_gives_a_clear_error(embeddings_model, tmp_path):
    folder, _, good = embeddings_model
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf" * 100)
    with pytest.raises(OnnxModelError, match="corrupt or truncated"):
        OnnxModule(str(junk), good.config, "embeddings")
    half = tmp_path / "half.onnx"
    half.write_bytes(open(good.path, "rb").read()[: os.path.getsize(good.path) // 2])
    with pytest.raises(OnnxModelError, match="corrupt or truncated"):
        OnnxModule(str(half), good.config, "embeddings")
    with pytest.raises(OnnxModelError, match="does not exist"):
        OnnxModule(str(tmp_path / "missing.onnx"), good.config, "embeddings")
    with pytest.raises(OnnxModelError, match="task 'question_answering' needs"):
        OnnxModule(good.path, good.config, "question_answering")


def test_truncated_cached_graph_is_reported_with_the_fix(tmp_path):
    folder = str(tmp_path)
    save_longformer(folder, "embeddings", attention_window=WINDOWS)
    graph = ensure_onnx(folder, "embeddings")
    with open(graph, "r+b") as fh:
        fh.truncate(os.path.getsize(graph) - 100)
    with pytest.raises(OnnxModelError, match="truncated or altered.*Delete it"):
        get_model(folder, "embeddings", engine="onnx", device="cpu")


def test_model_cache_serves_onnx_like_torch(embeddings_model):
    folder = embeddings_model[0]
    onnx = get_model(folder, "embeddings", engine="onnx", device="cpu")
    torch_model = get_model(folder, "embeddings", engine="torch", device="cpu")
    assert get_model(folder, "embeddings", engine="onnx", device="cpu") is onnx  # cached
    assert onnx.device == torch.device("cpu") and onnx.config == torch_model.config
    assert onnx.module.threads == len(os.sched_getaffinity(0))  # outside a Spark task: this process's cores
    ids, mask = random_batch(2, 50)
    assert (onnx.module(ids, mask) - torch_model.module(ids, mask)).abs()[mask.bool()].max().item() <= 1e-4


def test_missing_onnxruntime_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'sparklong\[onnx\]'"):
        place("auto", "float32", "none")


def test_bad_arguments_are_named(embeddings_model, tmp_path):
    folder, _, onnx = embeddings_model
    with pytest.raises(ValueError, match="quantize='int8' runs on the CPU"):
        get_model(folder, "embeddings", engine="torch", quantize="int8", device="cuda")
    for engine in ("torch", "onnx"):
        with pytest.raises(ValueError, match="runs on the CPU in float32"):
            get_model(folder, "embeddings", engine=engine, quantize="int8", precision="bfloat16")
    with pytest.raises(ValueError, match="quantize must be one of 'none', 'int8'"):
        export_onnx(folder, str(tmp_path / "x.onnx"), quantize="int4")
    with pytest.raises(ValueError, match="task must be one of"):
        export_onnx(folder, str(tmp_path / "x.onnx"), task="translation")
    with pytest.raises(ValueError, match="positions allow at most 512"):
        onnx(torch.ones(1, 600, dtype=torch.long))
    if "CUDAExecutionProvider" not in __import__("onnxruntime").get_available_providers():
        with pytest.raises(ValueError, match="no CUDAExecutionProvider"):
            place("cuda", "float16", "none")
        assert place("auto", "float16", "none").dtype == "float32"  # CPU: float32, said in the log


def test_unprojected_global_attention_equals_the_projected_one():
    # the traced graph's global attention (cost per global token) against the eager one (projects all rows)
    from sparklong.models import banded_attention as band

    torch.manual_seed(0)
    batch, length, heads, dim = 2, 40, 4, 8
    x = torch.randn(batch, length, heads * dim)
    kv = torch.nn.Linear(heads * dim, 2 * heads * dim)
    valid = torch.ones(batch, length, dtype=torch.bool)
    valid[1, 25:] = False
    for count in (0, 3):
        q = torch.randn(batch, count, heads, dim)
        k, v = kv(x).view(batch, length, 2, heads, dim).unbind(2)
        with torch.no_grad():
            want = band.global_attention(q, k, v, valid)
            got = band.global_attention_unprojected(q, x, kv.weight, kv.bias, valid)
        assert got.shape == (batch, count, heads, dim)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_int8_recipe_smooths_ffn_inputs_and_keeps_ffn_out_float(embeddings_model, tmp_path):
    import onnx

    from sparklong.models.onnx_export import SmoothedLinear

    torch.manual_seed(0)
    linear, norm = torch.nn.Linear(32, 64), torch.nn.LayerNorm(32)
    torch.nn.init.normal_(norm.weight, std=3.0)  # outlier channels, as trained LayerNorms have
    x = norm(torch.randn(5, 32))
    with torch.no_grad():
        torch.testing.assert_close(SmoothedLinear(linear, norm)(x), linear(x), rtol=1e-5, atol=1e-5)
    graph = onnx.load(export_onnx(embeddings_model[0], str(tmp_path / "i8.onnx"), quantize="int8")).graph
    float_matmuls = {n.name for n in graph.node if n.op_type == "MatMul"}
    assert {f"/encoder/layers.{i}/ffn_slices/ffn_out.{s}/MatMul" for i in range(2) for s in range(FFN_SLICES)} <= float_matmuls
    # qkv, q_global, attn_out and the ffn_in slices, whose one input is quantized once
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == 2 * (3 + FFN_SLICES)
    assert sum(n.op_type == "DynamicQuantizeLinear" and "/ffn_slices/" in n.name for n in graph.node) == 2


@pytest.mark.parametrize("width", [64, 66, 3])
def test_sliced_feed_forward_equals_the_whole_one(width):
    torch.manual_seed(width)
    ffn_in, ffn_out = torch.nn.Linear(8, width), torch.nn.Linear(width, 8)
    sliced = SlicedFeedForward(ffn_in, ffn_out, torch.nn.functional.gelu, FFN_SLICES)
    h = torch.randn(5, 8)
    with torch.no_grad():
        torch.testing.assert_close(sliced(h), ffn_out(torch.nn.functional.gelu(ffn_in(h))), rtol=1e-5, atol=1e-6)
    assert len(sliced.ffn_in) == len(sliced.ffn_out) == min(width, FFN_SLICES)


def test_only_plain_feed_forwards_are_sliced(embeddings_model):
    from sparklong.models import load

    fused = load(embeddings_model[0], fast_cpu=True)  # oneDNN linears with GELU inside: nothing to slice
    if type(fused.encoder.layers[0].ffn_in) is torch.nn.Linear:
        pytest.skip("this CPU runs plain linears")
    with pytest.raises(TypeError, match="nn.Linear"):
        slice_feed_forwards(fused, FFN_SLICES)


def test_float32_graphs_run_the_feed_forward_in_slices_and_float16_ones_whole(embeddings_model, tmp_path):
    import onnx

    def ffn_matmuls(path):
        return sorted(n.name.split("/")[-2] for n in onnx.load(path).graph.node
                      if n.op_type == "MatMul" and "layers.0/" in n.name and "/ffn" in n.name)

    assert ffn_matmuls(embeddings_model[2].path) == sorted(
        f"{name}.{s}" for name in ("ffn_in", "ffn_out") for s in range(FFN_SLICES))
    assert ffn_matmuls(export_onnx(embeddings_model[0], str(tmp_path / "f16.onnx"), dtype="float16")) == [
        "ffn_in", "ffn_out"]


def test_band_blocks_run_in_onnxruntimes_fused_attention(embeddings_model):
    import onnx

    graph = onnx.load(embeddings_model[2].path).graph
    fused = [n for n in graph.node if n.op_type == "MultiHeadAttention"]
    assert {n.domain for n in fused} == {"com.microsoft"}
    assert len(fused) == len(WINDOWS)  # one per layer: the band's query blocks
    assert sum(n.op_type == "Softmax" for n in graph.node) == len(WINDOWS)  # only the global queries' softmax


def test_placement_is_said_in_the_log(embeddings_model, caplog):
    from sparklong.udfs import model_cache

    with caplog.at_level(logging.INFO, logger="sparklong"):  # a cache of its own: a miss, so a load
        model_cache.ModelCache().model(embeddings_model[0], "embeddings", engine="onnx", device="cpu",
                                       precision="float16")
    [record] = [r for r in caplog.records if "onnxruntime" in r.getMessage()]
    assert record.levelno == logging.WARNING  # less than asked: float32 on the CPU for float16
    assert "CPUExecutionProvider" in record.getMessage() and "float16 asked, float32 used" in record.getMessage()


def test_sessions_stop_spinning_when_a_run_returns(embeddings_model):
    # spinning intra-op threads after a run took a core from the worker's next step (tokenizing, Arrow)
    options = embeddings_model[2].session.get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    assert options.inter_op_num_threads == 1
