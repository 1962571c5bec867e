"""export_onnx and the onnxruntime engine for ModernBERT and the BERT family: through the worker cache
(get_model(..., engine="onnx"): the graph exported into the model folder, the config read by its
architecture), equal to the torch engine at batch sizes and lengths the trace never saw (it runs at
[2, 23]), with padding; ModernBERT's sliding layers banded in the graph, past its trained length."""
import pytest
import torch

from sparklong.models import load
from sparklong.models.architectures import read_config
from sparklong.models.onnx_export import INPUT_NAMES
from sparklong.udfs.model_cache import get_model
from test_bert_parity import FAMILIES, _oracle
from test_modernbert_parity import _save
from tiny_models import random_batch

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

TOL = 1e-4
# Layer 0 full attention, layer 1 sliding (window 16: blocks of 8 rows); trained length 64, which RoPE
# and the graph serve past.
MODERNBERT = dict(num_hidden_layers=2, global_attn_every_n_layers=2, max_position_embeddings=64, num_labels=3)
# (family, task, lengths): ModernBERT's far past its window (19 blocks at 150) and its trained length;
# BERT's and RoBERTa's within their table (64).
CASES = [
    ("modernbert", "embeddings", (150, 9)),
    ("modernbert", "token_classification", (150, 9)),
    ("bert", "embeddings", (41, 9)),
    ("bert", "sequence_classification", (41, 9)),
    ("roberta", "embeddings", (41, 9)),
    ("roberta", "question_answering", (41, 9)),
]


def _folder(tmp_path, family: str, task: str) -> str:
    folder = str(tmp_path / f"{family}_{task}")
    if family == "modernbert":
        cls = {"embeddings": "ModernBertModel", "token_classification": "ModernBertForTokenClassification"}[task]
        _save(folder, cls, **MODERNBERT)
    else:
        _oracle(family, task).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("family, task, lengths", CASES)
def test_onnxruntime_equals_the_torch_engine_on_unseen_shapes(tmp_path, family, task, lengths):
    folder = _folder(tmp_path, family, task)
    onnx_model = get_model(folder, task, engine="onnx", device="cpu").module
    graph = onnx.load(onnx_model.path).graph
    assert tuple(i.name for i in graph.input) == INPUT_NAMES  # global_attention_mask kept, unused
    if family == "modernbert":  # the sliding layer banded (MultiHeadAttention over query blocks), the full one dense
        ops = [n.op_type for n in graph.node]
        assert ops.count("MultiHeadAttention") == 1 and ops.count("Softmax") == 1
    torch_model = load(folder, task)
    pad = 0 if family == "modernbert" else FAMILIES[family][1]["pad_token_id"]
    for batch, length in ((3, lengths[0]), (1, lengths[1])):
        ids, mask = random_batch(batch, length, vocab=100, pad_id=pad, seed=length)  # rows 1, 2 padded
        ours, ref = onnx_model(ids, mask), torch_model(ids, mask)
        ours, ref = (x if isinstance(x, tuple) else (x,) for x in (ours, ref))  # QA: (start, end)
        for a, b in zip(ours, ref, strict=True):
            assert a.shape == b.shape and a.dtype == torch.float32
            diff = (a - b).abs() if task == "sequence_classification" else (a - b).abs()[mask.bool()]
            print(f"{family} {task} [{batch}, {length}]: max abs diff {diff.max().item():.1e}")
            assert diff.max().item() <= TOL


# family -> (the FFN's second products, kept float32; the linears quantized, per layer)
INT8_GRAPHS = {"modernbert": ("/model/layers.{i}/mlp/Wo/MatMul", 3),  # Wqkv, Wo, Wi
               "bert": ("/model/encoder/layer.{i}/output/dense/MatMul", 5)}  # query, key, value, dense, intermediate


@pytest.mark.parametrize("family", sorted(INT8_GRAPHS))
def test_int8_graphs_keep_the_ffn_output_float_and_stay_close_to_float32(tmp_path, family):
    folder = _folder(tmp_path, family, "embeddings")
    int8 = get_model(folder, "embeddings", engine="onnx", device="cpu", quantize="int8").module
    graph = onnx.load(int8.path).graph
    kept, quantized = INT8_GRAPHS[family]
    layers = read_config(folder).num_hidden_layers
    assert {kept.format(i=i) for i in range(layers)} <= {n.name for n in graph.node if n.op_type == "MatMul"}
    assert sum(n.op_type == "MatMulInteger" for n in graph.node) == quantized * layers
    ids, mask = random_batch(2, 150 if family == "modernbert" else 41, vocab=100, seed=5)
    a, b = int8(ids, mask)[mask.bool()], load(folder)(ids, mask)[mask.bool()]  # [tokens, E] each
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min().item() >= 0.99
    assert not torch.equal(a, b)  # really quantized
