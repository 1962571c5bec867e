"""The kernel's two ways of reading key windows (strided view in eager CPU, gathered copy on GPU and in exports)
agree exactly, for any length, batch with padding and window."""
import pytest
import torch

from sparklong.models import banded_attention as band

HEADS, DIM = 2, 8


def random_inputs(length: int, seed: int):
    """q, k, v [3, L, H, D] as views of one fused projection (strided, as the encoder makes them), and
    the key mask [3, L] of a batch whose second row is padded after its middle."""
    torch.manual_seed(seed)
    q, k, v = torch.randn(3, length, 3, HEADS, DIM).unbind(2)  # each [B, L, H, D]
    valid = torch.ones(3, length, dtype=torch.bool)
    valid[1, max(2, length // 2):] = False
    return q, k, v, valid


@pytest.mark.parametrize("length", [1, 7, 64, 130, 300, 700])
@pytest.mark.parametrize("window", [8, 32, 512])
def test_strided_windows_equal_gathered_windows(length, window):
    q, k, v, valid = random_inputs(length, seed=length + window)
    plan = band.plan_band(valid, torch.zeros_like(valid), None, window, torch.float32)

    strided = band.local_attention(q, k, v, plan, strided=True)
    gathered = band.local_attention(q, k, v, plan, segment=64)

    assert strided.shape == (3, length, HEADS, DIM)
    torch.testing.assert_close(strided[valid], gathered[valid], rtol=0, atol=1e-6)


@pytest.mark.parametrize("length", [7, 130, 700])
@pytest.mark.parametrize("window", [8, 512])
def test_strided_windows_with_global_keys_equal_gathered_windows(length, window):
    # global keys are attended apart from the strided windows and merged by log-sum-exp
    q, k, v, valid = random_inputs(length, seed=length + window)
    is_global = torch.zeros_like(valid)
    is_global[0, [0, length // 2, length - 1]] = True  # start, middle, end
    is_global[1, 1] = True  # row 2 has none: its slots are all spare
    layout = band.global_layout(is_global)
    plan = band.plan_band(valid, is_global, layout, window, torch.float32)

    strided = band.local_attention(q, k, v, plan, strided=True)
    gathered = band.local_attention(q, k, v, plan, segment=64)

    local_queries = valid & ~is_global  # global queries are replaced by global attention afterwards
    assert torch.isfinite(strided).all()
    torch.testing.assert_close(strided[local_queries], gathered[local_queries], rtol=0, atol=1e-6)


def test_local_windows_carry_global_slots_only_when_a_row_has_global_tokens():
    # a traced graph keeps one spare global slot, but no window gets a key it must mask (640, not 641)
    none = band.global_layout(torch.zeros(2, 300, dtype=torch.bool))
    assert none.index.shape == (2, 1) and none.window_slots.numel() == 0
    plan = band.plan_band(torch.ones(2, 300, dtype=torch.bool), torch.zeros(2, 300, dtype=torch.bool), none, 64,
                          torch.float32)
    assert plan.key_rows.shape == (2, plan.num_blocks, 3 * plan.block) and plan.global_slots == 0
    one = torch.zeros(2, 300, dtype=torch.bool)
    one[1, 5] = True
    layout = band.global_layout(one)
    assert layout.window_slots.tolist() == list(range(8))  # rounded up to 8: aligned key rows
    assert band.plan_band(torch.ones_like(one), one, layout, 64, torch.float32).global_slots == 8


def test_eager_cpu_forward_takes_the_exact_global_count_and_exports_round_it_up():
    # every slot costs as much as a real global token in the strided path; gathered rows stay aligned
    from sparklong.models.encoder import AttentionContext

    ones, is_global = torch.ones(2, 300), torch.zeros(2, 300)
    is_global[0, [3, 9]] = 1
    slots = {export: AttentionContext.build(ones, is_global, [64], torch.float32, "auto", export).layout.index.shape[1]
             for export in (False, True)}
    assert slots == {False: 2, True: 8}
    assert band.global_layout(is_global.bool(), align=1).window_slots.tolist() == [0, 1]


def test_eager_cpu_forward_takes_smaller_query_blocks_and_exports_keep_theirs():
    # blocks of 64 score 576 keys a query at w = 256 instead of 640; an exported graph keeps 128
    from sparklong.models.encoder import AttentionContext

    ones = torch.ones(1, 2000)
    blocks = {export: AttentionContext.build(ones, torch.zeros(1, 2000), [512], torch.float32, "auto", export).plans[512].block
              for export in (False, True)}
    assert blocks == {False: band.CPU_MAX_BLOCK, True: band.MAX_BLOCK} and band.CPU_MAX_BLOCK < band.MAX_BLOCK
    # short inputs attend in one call up to the same length whatever the block size: 640 at w = 256
    for length, dense in ((640, True), (641, False)):
        valid = torch.ones(1, length, dtype=torch.bool)
        plan = band.plan_band(valid, ~valid, None, 512, torch.float32, dense=True, max_block=band.CPU_MAX_BLOCK)
        assert (plan.dense is not None) == dense, length


@pytest.mark.parametrize("with_globals", [False, True])
def test_eager_cpu_blocks_equal_the_exports_blocks(with_globals):
    # blocks of 64 (3 neighbour blocks a side at w = 150, 4 at w = 256), strided, against gathered blocks of 128
    for window, length in ((300, 700), (512, 1500)):
        q, k, v, valid = random_inputs(length, seed=window)
        is_global = torch.zeros_like(valid)
        if with_globals:
            is_global[0, [0, length // 2]] = True
        layout = band.global_layout(is_global, align=1) if with_globals else None
        small, large = (band.plan_band(valid, is_global, layout, window, torch.float32, dense=True, max_block=b)
                        for b in (band.CPU_MAX_BLOCK, band.MAX_BLOCK))
        assert small.dense is None and (small.block, large.block) == (64, 128) and small.reach > large.reach
        strided = band.local_attention(q, k, v, small, strided=True)
        gathered = band.local_attention(q, k, v, large, segment=256)
        local_queries = valid & ~is_global
        torch.testing.assert_close(strided[local_queries], gathered[local_queries], rtol=0, atol=1e-6)
