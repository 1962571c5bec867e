"""Windowing of long documents and token-budget batching (pure functions)."""
import pytest

from sparklong.cores.batching import Window, owner_windows, pack_batches, split_windows


@pytest.mark.parametrize("pieces, size", [(1, 10), (10, 10), (11, 10), (100, 10), (4097, 4094), (25, 3), (7, 1)])
def test_windows_cover_every_piece_and_keep_their_size(pieces, size):
    windows = split_windows(pieces, size)
    covered = set()
    for w in windows:
        assert 0 <= w.start < w.stop <= pieces and w.stop - w.start == min(size, pieces)
        covered.update(range(w.start, w.stop))
    assert covered == set(range(pieces))
    owners = owner_windows(windows, pieces)
    for p, k in enumerate(owners):
        assert windows[k].start <= p < windows[k].stop


def test_owner_is_the_most_central_window():
    windows = [Window(0, 10), Window(5, 15), Window(10, 20)]
    owners = list(owner_windows(windows, 20))
    assert owners[:8] == [0] * 8  # 0..7: window 0 is best or tied-earlier
    assert owners[9:13] == [1, 1, 1, 1]
    assert owners[-3:] == [2, 2, 2]


def test_batches_respect_rows_and_token_budget_and_keep_everything():
    lengths = [5, 400, 30, 4096, 12, 12, 4000, 7]
    batches = pack_batches(lengths, max_rows=3, max_tokens=1000)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))  # nothing lost or duplicated
    for b in batches:
        assert len(b) <= 3
        longest = max(lengths[i] for i in b)
        assert len(b) == 1 or len(b) * longest <= 1000  # an over-budget item goes alone
    assert [3] in batches and [6] in batches


def test_short_items_are_not_padded_to_long_ones():
    # question-answering windows of an 8,192-token context: two full windows and a short tail each
    lengths = [4096, 4096, 320, 4096, 4096, 320]
    batches = pack_batches(lengths, max_rows=4, max_tokens=16384)
    assert sorted(map(sorted, batches)) == [[0, 1, 3, 4], [2, 5]]
    for b in batches:
        real = sum(lengths[i] for i in b)
        assert real >= 0.75 * len(b) * max(lengths[i] for i in b)
