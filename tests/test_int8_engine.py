"""The torch engine's int8 linears (quantize='int8'): exact integer arithmetic, per-token scales,
close to float32 on a whole model, and clear errors where int8 cannot run."""
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from sparklong.models import load
from sparklong.models.activations import ACTIVATIONS
from sparklong.models.cpu_linears import OneDnnLinear
from sparklong.models.int8_linear import CHUNK_ROWS, Int8Linear
from tiny_models import global_mask, random_batch, save_longformer


@pytest.fixture(scope="module")
def embeddings_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lf_int8")
    save_longformer(str(folder), "embeddings")
    return str(folder)


def int8_grid_linear(rows: int, k: int, n: int):
    """A linear and an input whose values int8 represents exactly: each weight row is integers in
    [-127, 127] times its scale (one entry 127), each input row likewise."""
    gen = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(k, n)
    w = torch.randint(-127, 128, (n, k), generator=gen).float()
    w[:, 0] = 127
    linear.weight.data = w * torch.rand(n, 1, generator=gen)
    x = torch.randint(-127, 128, (rows, k), generator=gen).float()
    x[:, 1] = -127
    return linear, x * torch.rand(rows, 1, generator=gen) * 3


def test_exactly_representable_values_give_the_float_product():
    linear, x = int8_grid_linear(5, 64, 24)
    torch.testing.assert_close(Int8Linear(linear)(x), F.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-4)


def test_each_token_has_its_own_scale_across_chunks():
    """A row's output depends on that row only, also when the rows run in several chunks."""
    linear, x = int8_grid_linear(CHUNK_ROWS + 37, 32, 16)
    x[3] *= 1000  # one huge token must not cost the others their resolution
    q = Int8Linear(linear)
    batched = q(x.view(1, -1, 32))  # [1, M, N]
    alone = torch.cat([q(x[i : i + 1]) for i in range(x.shape[0])])  # [M, N]
    torch.testing.assert_close(batched[0], alone, rtol=0, atol=0)
    torch.testing.assert_close(batched[0], F.linear(x, linear.weight, linear.bias), rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_in_place_activations_equal_their_functions(name):
    x = torch.randn(7, 33) * 4
    act = ACTIVATIONS[name]
    out = x.clone()
    assert act.inplace(out) is out
    torch.testing.assert_close(out, act.fn(x), rtol=0, atol=0)
    assert pickle.loads(pickle.dumps(act.inplace)) is act.inplace  # modules holding it pickle


def test_the_ffn_activation_runs_inside_the_first_linear(embeddings_folder):
    linear, x = int8_grid_linear(CHUNK_ROWS + 5, 32, 48)
    fused = Int8Linear(linear, ACTIVATIONS["gelu"].inplace)
    torch.testing.assert_close(fused(x), F.gelu(Int8Linear(linear)(x)), rtol=0, atol=0)  # each chunk's rows
    layer = load(embeddings_folder, quantize="int8").encoder.layers[0]
    act = ACTIVATIONS[layer.act_name]
    assert layer.ffn_in.activation is act.inplace and layer.ffn_out.activation is None
    h = torch.randn(2, 5, layer.ffn_in.in_features)
    with torch.inference_mode():
        separate = layer.ffn_out(act.fn(_without_activation(layer.ffn_in)(h)))
        torch.testing.assert_close(layer.feed_forward(h), separate, rtol=0, atol=0)  # applied once, not twice


def _without_activation(linear: Int8Linear) -> Int8Linear:
    plain = copy.copy(linear)
    plain.activation = None
    return plain


@pytest.mark.parametrize("head_size", [8, 32])  # 32: global queries through unprojected keys
def test_int8_model_is_close_to_float32_and_not_equal(embeddings_folder, head_size, tmp_path):
    if head_size != 8:
        embeddings_folder = str(tmp_path)
        save_longformer(embeddings_folder, hidden_size=2 * head_size, num_attention_heads=2)
    full, int8 = load(embeddings_folder), load(embeddings_folder, quantize="int8")
    layer = int8.encoder.layers[0]
    for name in ("qkv", "q_global", "kv_global", "attn_out", "ffn_in", "ffn_out"):
        assert isinstance(getattr(layer, name), Int8Linear), name
    assert int8.encoder.embeddings.word.weight.dtype == torch.float32
    ids, mask = random_batch(3, 70)
    for gmask in (None, global_mask(3, 70, lambda length, row: [0, 9 + row])):
        with torch.inference_mode():
            a, b = full(ids, mask, gmask), int8(ids, mask, gmask)  # [B, L, E]
        cosine = F.cosine_similarity(a, b, dim=-1)[mask.bool()]
        assert cosine.min() >= 0.99 and not torch.equal(a, b)


def test_task_heads_stay_float32(tmp_path):
    save_longformer(str(tmp_path), "question_answering")
    module = load(str(tmp_path), task="question_answering", quantize="int8")
    heads = [m for name, m in module.named_modules() if not name.startswith("encoder") and name]
    assert heads and not any(isinstance(m, Int8Linear) for m in heads)
    assert any(isinstance(m, OneDnnLinear | torch.nn.Linear) for m in heads)


def test_int8_where_it_cannot_run_is_an_error(embeddings_folder):
    with pytest.raises(ValueError, match="quantize='int8' runs on the CPU in float32"):
        load(embeddings_folder, quantize="int8", dtype="bfloat16")
    with pytest.raises(ValueError, match="quantize must be one of 'none', 'int8'"):
        load(embeddings_folder, quantize="int4")
