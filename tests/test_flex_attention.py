"""load(..., attention="flex"): the FlexAttention band path equals HF (the oracle) and the SDPA path, fp32.

On the CPU flex_attention runs eager (every L x L score materialized), exact but slow: tiny lengths only.
"""
import pytest
import torch

from sparklong.models import load
from sparklong.models.encoder import AttentionContext
from tiny_models import GLOBALS, assert_close_on_tokens, global_mask, random_batch, save_longformer

# eager flex_attention warns once that it is unfused: expected here
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
flex_module = pytest.importorskip(
    "torch.nn.attention.flex_attention", reason="this torch has no torch.nn.attention.flex_attention"
)


@pytest.fixture(scope="module", autouse=True)
def flex_runs_on_cpu():
    """Skip when flex_attention exists but cannot run here (e.g. no TorchDynamo for this Python)."""
    q = torch.zeros(1, 1, 4, 8)
    try:
        flex_module.flex_attention(q, q, q)
    except (RuntimeError, NotImplementedError) as exc:
        pytest.skip(f"flex_attention does not run on this CPU: {exc}")


@pytest.fixture(scope="module")
def embeddings_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lf_flex")
    hf = save_longformer(str(folder), "embeddings")
    return str(folder), hf


def hf_hidden(hf, ids, mask, gmask):
    with torch.no_grad():
        return hf(input_ids=ids, attention_mask=mask, global_attention_mask=gmask).last_hidden_state


# window 8 (one-sided 4): 1 token, not a multiple of the window, many windows and two flex blocks long
@pytest.mark.parametrize("length", [1, 13, 203])
@pytest.mark.parametrize("globals_at", list(GLOBALS))
def test_flex_equals_hf_and_sdpa(embeddings_folder, length, globals_at):
    folder, hf = embeddings_folder
    ids, mask = random_batch(3, length)  # rows 2 and 3 padded
    where = GLOBALS[globals_at]
    gmask = None if where is None else global_mask(3, length, where)
    flex = load(folder, attention="flex")(ids, mask, gmask)
    assert_close_on_tokens(flex, hf_hidden(hf, ids, mask, gmask), mask)
    assert_close_on_tokens(flex, load(folder, attention="sdpa")(ids, mask, gmask), mask)


@pytest.mark.parametrize("windows", [[4, 8, 16], [16, 4, 8]])
def test_flex_per_layer_windows(tmp_path, windows):
    hf = save_longformer(str(tmp_path), "embeddings", num_hidden_layers=3, attention_window=windows)
    ids, mask = random_batch(2, 37)
    gmask = global_mask(2, 37, lambda n, r: [r * 10])
    flex = load(str(tmp_path), attention="flex")(ids, mask, gmask)
    assert_close_on_tokens(flex, hf_hidden(hf, ids, mask, gmask), mask)


def test_flex_no_nan_in_padded_rows(embeddings_folder):
    # row 1 is one token then padding: its padding queries see no key in their window
    folder, _ = embeddings_folder
    ids, mask = random_batch(2, 40)
    ids[1, 1:] = 1
    mask[1, 1:] = 0
    out = load(folder, attention="flex")(ids, mask, global_mask(2, 40, lambda n, r: [0]))
    assert torch.isfinite(out).all()


def test_unknown_attention_is_a_clear_error(embeddings_folder):
    with pytest.raises(ValueError, match="attention"):
        load(embeddings_folder[0], attention="triton")


def test_auto_is_sdpa_for_now(embeddings_folder):
    assert load(embeddings_folder[0]).encoder.attention == "auto"
    ctx = AttentionContext.build(torch.ones(1, 9), torch.zeros(1, 9), [8], torch.float32, "auto", export=False)
    assert ctx.kernel == "sdpa"


def test_export_takes_the_sdpa_path():
    # ONNX has no FlexAttention op: a module made for export records the SDPA band path even for "flex"
    args = (torch.ones(1, 9), torch.zeros(1, 9), [8], torch.float32, "flex")
    assert AttentionContext.build(*args, export=False).kernel == "flex"
    assert AttentionContext.build(*args, export=True).kernel == "sdpa"
