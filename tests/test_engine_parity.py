"""The engine equals Hugging Face's Longformer (the oracle) on every non-padding position, fp32."""
import pytest
import torch

from sparklong.models import banded_attention as band
from sparklong.models import encoder, row_chunks
from sparklong.models import load
from tiny_models import GLOBALS, TOL, assert_close_on_tokens, global_mask, random_batch, save_longformer


@pytest.fixture(scope="module")
def embeddings_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lf_embed")
    hf = save_longformer(str(folder), "embeddings")
    return str(folder), hf


# window 8 (one-sided 4): 1 token, below the window, not a multiple of it, many windows long
@pytest.mark.parametrize("length", [1, 5, 8, 13, 64, 203])
@pytest.mark.parametrize("globals_at", list(GLOBALS))
def test_hidden_states_equal_hf(embeddings_folder, length, globals_at):
    folder, hf = embeddings_folder
    ours = load(folder)
    ids, mask = random_batch(3, length)
    where = GLOBALS[globals_at]
    gmask = None if where is None else global_mask(3, length, where)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
    assert_close_on_tokens(ours(ids, mask, gmask), ref, mask)


@pytest.mark.parametrize("run_tokens", [130, 65, 1])  # 64-token rows: 2 a forward, 1, and 1 (one row at least)
def test_batch_in_forwards_of_few_tokens_equals_hf(embeddings_folder, run_tokens, monkeypatch):
    """On the CPU a batch runs in forwards of at most CPU_RUN_TOKENS tokens; rows with their own padding
    and global tokens keep their own outputs."""
    folder, hf = embeddings_folder
    monkeypatch.setattr(encoder, "CPU_RUN_TOKENS", run_tokens)
    ours = load(folder)
    forwards = []
    layers = encoder.Encoder._layers

    def counted(self, ids, *masks):
        forwards.append(len(ids))
        return layers(self, ids, *masks)

    monkeypatch.setattr(encoder.Encoder, "_layers", counted)
    ids, mask = random_batch(5, 64)
    gmask = global_mask(5, 64, GLOBALS["middle"])
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
    assert_close_on_tokens(ours(ids, mask, gmask), ref, mask)
    assert forwards == ([2, 2, 1] if run_tokens == 130 else [1] * 5)


def test_unpacked_linears_equal_packed(embeddings_folder):
    folder, _ = embeddings_folder
    ids, mask = random_batch(2, 50)
    fast, plain = load(folder), load(folder, fast_cpu=False)
    assert_close_on_tokens(fast(ids, mask), plain(ids, mask), mask)


def test_no_nan_in_padded_rows(embeddings_folder):
    folder, _ = embeddings_folder
    ids, mask = random_batch(2, 40)
    ids[1, 1:] = 1
    mask[1, 1:] = 0
    out = load(folder)(ids, mask, global_mask(2, 40, lambda n, r: [0]))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("windows", [[4, 8, 16], [16, 4, 8]])
def test_per_layer_windows(tmp_path, windows):
    hf = save_longformer(str(tmp_path), "embeddings", num_hidden_layers=3, attention_window=windows)
    ids, mask = random_batch(2, 37)
    gmask = global_mask(2, 37, lambda n, r: [r * 10])
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
    assert_close_on_tokens(load(str(tmp_path))(ids, mask, gmask), ref, mask)


def test_large_window_and_pytorch_bin(tmp_path):
    # window wider than the query block (CPU: blocks of 64, 3 neighbour blocks per side; exports: 128,
    # 2), past the one-call limit of 640 tokens, with and without global tokens; weights from a .bin file
    hf = save_longformer(str(tmp_path), "embeddings", safetensors=False, attention_window=[300, 300],
                         max_position_embeddings=704)
    ids, mask = random_batch(2, 700)
    module = load(str(tmp_path))
    for gmask in (None, global_mask(2, 700, lambda length, row: [0, 200 + row])):
        with torch.no_grad():
            ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
        assert_close_on_tokens(module(ids, mask, gmask), ref, mask)


def test_pad_token_inside_text_positions_match_hf(embeddings_folder):
    # HF derives positions from input_ids != pad, not from the attention mask; so must we.
    folder, hf = embeddings_folder
    ids, mask = random_batch(1, 20, ragged=False)
    ids[0, 7] = 1
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    assert_close_on_tokens(load(folder)(ids, mask), ref, mask)


def test_question_answering_logits_equal_hf(tmp_path):
    hf = save_longformer(str(tmp_path), "question_answering")
    ids, mask = random_batch(2, 90)
    ids[:, 0] = 0
    ids[0, 11], ids[0, 12] = 2, 2  # question of 10 tokens, then </s></s>
    ids[1, 4], ids[1, 5] = 2, 2
    ids[0, 89] = 2
    ours = load(str(tmp_path), task="question_answering")
    ids[1, mask[1].sum() - 1] = 2
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask)  # HF puts global attention on the question itself
    start, end = ours(ids, mask)
    assert_close_on_tokens(start, ref.start_logits, mask)
    assert_close_on_tokens(end, ref.end_logits, mask)


def test_question_answering_without_separator_is_a_clear_error(tmp_path):
    save_longformer(str(tmp_path), "question_answering")
    ids = torch.full((1, 10), 5)
    with pytest.raises(ValueError, match="</s>"):
        load(str(tmp_path), task="question_answering")(ids)


@pytest.mark.parametrize("task", ["sequence_classification", "token_classification"])
def test_classification_logits_equal_hf(tmp_path, task):
    labels = {0: "NEG", 1: "NEU", 2: "POS"}
    hf = save_longformer(str(tmp_path), task, id2label=labels, label2id={v: k for k, v in labels.items()})
    ids, mask = random_batch(3, 45)
    ids[:, 0] = 0
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).logits
    ours = load(str(tmp_path), task=task)
    assert ours.config.id2label == labels
    out = ours(ids, mask)
    if task == "sequence_classification":
        assert (out - ref).abs().max().item() <= TOL
    else:
        assert_close_on_tokens(out, ref, mask)


@pytest.mark.parametrize("globals_per_row", [1, 7, 31, 32, 40])
def test_global_queries_with_and_without_projected_keys_equal_hf(tmp_path, globals_per_row, monkeypatch):
    # head size 32: up to 31 global tokens (as many slots on the CPU) take the unprojected global
    # attention, 32 or more project every row to a global key and value; both equal HF, padding and
    # ragged rows included
    hf = save_longformer(str(tmp_path), hidden_size=64, num_attention_heads=2, intermediate_size=96)
    monkeypatch.setattr(row_chunks, "CPU_CHUNK_ROWS", 16)  # rows in chunks, through the reused buffers
    calls = []
    monkeypatch.setattr(band, "global_attention_unprojected",
                        lambda *a, f=band.global_attention_unprojected: calls.append(1) or f(*a))
    ids, mask = random_batch(3, 90)
    gmask = global_mask(3, 90, lambda n, r: range(r, r + 2 * globals_per_row, 2))
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
        out = load(str(tmp_path))(ids, mask, gmask)
    assert_close_on_tokens(out, ref, mask)
    assert len(calls) == (2 if globals_per_row < 32 else 0)  # one call per layer, or none


@pytest.mark.parametrize("segment", [8, 24, band.SEGMENT_QUERIES])
def test_segmented_band_and_ffn_equal_hf(embeddings_folder, segment, monkeypatch):
    # long inputs run in row segments to bound memory; any segment size gives the same result
    folder, hf = embeddings_folder
    monkeypatch.setattr(band, "SEGMENT_QUERIES", segment)  # the position-wise rows run in such chunks
    ours = load(folder)
    ids, mask = random_batch(2, 150)
    gmask = global_mask(2, 150, lambda n, r: [0, 77])
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
    assert_close_on_tokens(ours(ids, mask, gmask), ref, mask)


def band_case(length: int, padded_from: int, globals_at: list[int], seed: int):
    """q, k, v [2, L, 2, 8], the key mask (row 2 padded from padded_from), global flags and their layout."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, length, 2, 8, generator=gen) for _ in range(3))  # [B, L, H, D]
    key_valid = torch.ones(2, length, dtype=torch.bool)
    key_valid[1, padded_from:] = False
    is_global = torch.zeros_like(key_valid)
    is_global[:, globals_at] = True
    layout = band.global_layout(is_global) if globals_at else None
    return (q, k, v), key_valid, is_global, layout


@pytest.mark.parametrize("segment", [None, 4, 8, 24])
@pytest.mark.parametrize("globals_at", [[], [0, 77]])
def test_gathered_band_in_segments_equals_the_strided_band(segment, globals_at):
    """The gathered band path (GPU, exports) in segments of any size equals the strided CPU path."""
    qkv, key_valid, is_global, layout = band_case(150, 97, globals_at, seed=0)
    plan = band.plan_band(key_valid, is_global, layout, 8, torch.float32)
    strided = band.local_attention(*qkv, plan, strided=True)
    gathered = band.local_attention(*qkv, plan, segment=segment, strided=False)
    local = key_valid & ~is_global  # global rows are replaced by global attention, padding is ignored
    torch.testing.assert_close(gathered[local], strided[local], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("globals_at", [[], [0, 50]])
def test_whole_sequence_mask_of_short_inputs_equals_the_blocks(globals_at):
    """An input no longer than one block's window (L <= (2r + 1) c) runs as one SDPA call over [L, L]."""
    qkv, key_valid, is_global, layout = band_case(90, 61, globals_at, seed=1)
    window = 64  # w 32, c 32, r 1: windows of 96 keys
    blocks = band.plan_band(key_valid, is_global, layout, window, torch.float32)
    whole = band.plan_band(key_valid, is_global, layout, window, torch.float32, dense=True)
    assert blocks.dense is None and whole.dense is not None
    want = band.local_attention(*qkv, blocks, segment=None)
    got = band.local_attention(*qkv, whole, strided=True)
    local = key_valid & ~is_global
    torch.testing.assert_close(got[local], want[local], rtol=1e-5, atol=1e-5)
    assert band.plan_band(key_valid, is_global, layout, 16, torch.float32, dense=True).dense is None  # 90 > 3 * 8


def test_public_fallback_of_the_fused_cpu_kernel_equals_hf(embeddings_folder, monkeypatch):
    folder, hf = embeddings_folder
    assert band._fused_lse_works()  # this torch has the private kernel; the fallback must equal it
    monkeypatch.setattr(band, "_fused_lse_works", lambda: False)
    ids, mask = random_batch(2, 150)
    gmask = global_mask(2, 150, lambda n, r: [0, 77])
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
    assert_close_on_tokens(load(folder)(ids, mask, gmask), ref, mask)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("globals_at", ["none", "start_mid_end"])
def test_half_precision_on_cpu_close_to_hf(embeddings_folder, dtype, globals_at):
    """The strided CPU band path in half precision, with and without global keys merged in."""
    folder, hf = embeddings_folder
    ids, mask = random_batch(2, 203)
    where = GLOBALS[globals_at]
    gmask = None if where is None else global_mask(2, 203, where)
    ours = load(folder, dtype=dtype)(ids, mask, gmask)
    assert ours.dtype == getattr(torch, dtype)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state
    keep = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(ours.float()[keep], ref[keep], dim=-1)
    assert cosine.min().item() >= 0.99
