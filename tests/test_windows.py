"""cores/windows.py and annotation.by_document, without Spark or a model: plans are pure, token to
document matching is by offsets, and an empty result has the width of the output it stands for."""
from types import SimpleNamespace

import numpy as np
import torch

from sparklong.annotation import DOCUMENT, TOKEN, Annotation, by_document
from sparklong.cores.batching import Batching, owner_windows, split_windows
from sparklong.cores.windows import Unit, owned_pieces, plan_windows, run_windows, window_metadata


def unit(pieces: int, row: int = 0) -> Unit:
    spans = np.array([[i, i + 1] for i in range(pieces)], dtype=np.int64).reshape(-1, 2)  # one piece per char
    return Unit(row, 0, 0, "x" * pieces, np.arange(pieces, dtype=np.int64) + 10, spans)


def ann(begin: int, end: int, kind: str = TOKEN) -> Annotation:
    return Annotation(kind, begin, end, f"{begin}-{end}")


def test_plan_is_pure_and_covers_every_piece_with_its_owner():
    units = [unit(3), unit(100)]
    before = [(u.ids.copy(), u.spans.copy()) for u in units]
    first, again = plan_windows(units, 22), plan_windows(units, 22)
    assert [p.windows for p in first] == [p.windows for p in again]
    assert [(u.ids.tolist(), u.spans.tolist()) for u in units] == [(i.tolist(), s.tolist()) for i, s in before]
    assert not hasattr(units[1], "windows")  # the plan is returned, never stored on the unit
    short, long = first
    assert short.windows == (split_windows(3, 20)[0],) and short.run == (0,)
    assert long.windows == tuple(split_windows(100, 20)) and long.run == tuple(range(len(long.windows)))
    np.testing.assert_array_equal(long.owners, owner_windows(long.windows, 100))


def test_plan_runs_only_the_windows_owning_a_needed_piece():
    [plan] = plan_windows([unit(100)], 22, [np.array([0, 1])])
    assert plan.run == (0,) and len(plan.windows) > 1
    [none] = plan_windows([unit(100)], 22, [np.zeros(0, dtype=np.int64)])
    assert none.run == ()


def test_by_document_matches_by_begin_in_item_order():
    docs = [ann(0, 9, DOCUMENT), ann(10, 19, DOCUMENT), ann(30, 39, DOCUMENT), ann(5, 14, DOCUMENT)]
    tokens = [ann(12, 13), ann(0, 3), ann(10, 11), ann(9, 9), ann(20, 25), ann(4, 8)]  # unsorted
    got = by_document(docs, tokens)
    assert [[t.result for t in mine] for mine in got] == [
        ["0-3", "9-9", "4-8"],  # begin == doc.end included; input order kept
        ["12-13", "10-11"],  # adjacent document: starts right after
        [],  # a document with no tokens
        ["12-13", "10-11", "9-9"],  # overlapping document: its tokens are also the others'
    ]
    assert by_document([], tokens) == [] and by_document(docs, []) == [[], [], [], []]


def test_by_document_equals_the_scan_it_replaces():
    rng = np.random.default_rng(0)
    docs = [ann(int(b), int(b + rng.integers(0, 30)), DOCUMENT) for b in rng.integers(0, 200, 20)]
    tokens = [ann(int(b), int(b + 2)) for b in rng.integers(0, 230, 300)]
    scan = [[t for t in tokens if d.begin <= t.begin <= d.end] for d in docs]
    assert [[id(t) for t in m] for m in by_document(docs, tokens)] == [[id(t) for t in m] for m in scan]


def test_owned_pieces_reads_each_piece_from_its_owner_window():
    [plan] = plan_windows([unit(10)], 8)  # windows of 6 pieces: [0, 6), [3, 9), [4, 10)
    assert [(w.start, w.stop) for w in plan.windows] == [(0, 6), (3, 9), (4, 10)]
    outputs = [np.stack([np.full(3, 100 * k + at, np.float32) for at in range(8)]) for k in range(3)]  # [L, 3]
    got = owned_pieces(plan, outputs, 3)  # [10, 3]
    assert got[:, 0].tolist() == [1, 2, 3, 4, 5, 103, 104, 204, 205, 206]  # window * 100 + position (nearest centre)
    assert owned_pieces(plan, outputs, 3, np.array([6, 9])).tolist() == [[104] * 3, [206] * 3]  # some pieces
    assert window_metadata(plan)(9) == {"window": "2", "windows": "3"} and window_metadata(plan)(-1)["window"] == "-1"
    [one] = plan_windows([unit(4)], 8)
    assert window_metadata(one)(0) == {}


class NeverCalled:
    """A model that must not run: a plan with no windows to run passes no batch."""

    device = torch.device("cpu")
    config = SimpleNamespace(hidden_size=8, num_labels=3, max_tokens=64)

    def module(self, *args):
        raise AssertionError("no window should run")


def test_empty_result_has_the_width_of_the_output_it_stands_for():
    units = [unit(5)]
    plans = plan_windows(units, 64, [np.zeros(0, dtype=np.int64)])
    tokenizer = SimpleNamespace(bos_id=0, eos_id=2, pad_id=1)
    model = NeverCalled()
    [outputs] = run_windows(model, tokenizer, units, plans, Batching())
    assert outputs == []
    none = np.zeros(0, dtype=np.int64)
    assert owned_pieces(plans[0], outputs, model.config.num_labels, none).shape == (0, 3)  # logits
    assert owned_pieces(plans[0], outputs, model.config.hidden_size, none).shape == (0, 8)  # hidden states
