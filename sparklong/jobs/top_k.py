"""Cosine top-k for search.py, without Spark: blocks of index rows scored against all queries with numpy,
candidates kept per query, and the merge that keeps the best k in the job's order (score descending, then
id, then chunk). Tables of candidates have columns q (the query's position), score, id, chunk, begin, end.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BLOCK_SCORES = 1 << 22  # rows x queries scored at once: 32 MiB of float64
BLOCK_ROWS = (256, 8192)  # the rows of one block, at least and at most
ORDER = [("q", "ascending"), ("score", "descending"), ("id", "ascending"), ("chunk", "ascending")]
LOCATION = ("id", "chunk", "begin", "end")  # what a candidate carries from its index row


def candidate_schema(id_type: pa.DataType) -> pa.Schema:
    return pa.schema([("q", pa.int32()), ("score", pa.float32()), ("id", id_type), ("chunk", pa.int32()),
                      ("begin", pa.int32()), ("end", pa.int32())])


def block_rows(queries: int) -> int:
    return int(np.clip(BLOCK_SCORES // max(queries, 1), *BLOCK_ROWS))


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (cosine = dot product), in float64; a zero row stays zero and scores 0."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # [N, 1]
    return vectors / np.maximum(norms, np.finfo(np.float64).tiny)


def matrix(column: pa.Array, dim: int) -> np.ndarray:
    """[N, dim] of a list<float> column without nulls; ValueError naming a row of another length."""
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)  # [N]
    if len(lengths) and (lengths != dim).any():
        raise ValueError(f"the index holds a vector of {int(lengths[lengths != dim][0])} dimensions; "
                         f"the query vectors have {dim}: search with the model the index was embedded with")
    return np.asarray(pc.list_flatten(column), dtype=np.float32).reshape(len(lengths), dim)


def codes(values: pa.Array) -> np.ndarray:
    """[N] int: equal values, equal codes."""
    return pc.dictionary_encode(values).indices.to_numpy(zero_copy_only=False).astype(np.int64)


def thresholds(scores: np.ndarray, k: int, groups: np.ndarray | None) -> np.ndarray:
    """[Q] the k-th best score per query (-inf when there are at most k): of the rows, or with `groups`
    ([N] codes of the rows' ids) of each group's best row, so that every chunk of a top-k document passes."""
    if groups is not None:
        order = np.argsort(groups, kind="stable")  # [N]
        starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0])  # [G]
        scores = np.maximum.reduceat(scores[order], starts, axis=0)  # [G, Q]: each document's best chunk
    if len(scores) <= k:
        return np.full(scores.shape[1], -np.inf, dtype=scores.dtype)
    return np.partition(scores, len(scores) - k, axis=0)[len(scores) - k]  # [Q]


def block_candidates(rows: pa.Table, queries: np.ndarray, k: int, per_document: bool) -> pa.Table:
    """The rows (id, chunk, begin, end, embedding; no null embedding) that may be in some query's top k,
    one candidate per (row, query) at or above that query's threshold (ties at it included)."""
    vectors = unit_rows(matrix(rows.column("embedding").combine_chunks(), queries.shape[1]))  # [N, E]
    # [N, Q]: float64 products rounded to the float32 scores that are ranked and written, so equal vectors
    # score equal wherever they lie in a block, and ties go to the id
    scores = (vectors @ queries.T).astype(np.float32)
    keep = scores >= thresholds(scores, k, codes(rows.column("id").combine_chunks()) if per_document else None)
    row, q = np.nonzero(keep)  # [C], [C]
    found = rows.select(list(LOCATION)).take(pa.array(row))
    return pa.table([pa.array(q, pa.int32()), pa.array(scores[row, q], pa.float32()), *found.columns],
                    schema=candidate_schema(rows.schema.field("id").type))


def top_k(candidates: pa.Table, k: int, per_document: bool) -> pa.Table:
    """The best k candidates per query in the job's order, with their rank (1..k); per document: each id's
    best chunk only."""
    table = candidates.sort_by(ORDER).combine_chunks()
    q = table.column("q").to_numpy().astype(np.int64)  # [C], sorted
    keep = np.ones(len(q), dtype=bool)
    if per_document and len(q):
        ids = codes(table.column("id").chunk(0))  # [C]
        first = np.unique(q * (int(ids.max()) + 1) + ids, return_index=True)[1]  # first (best) row of each (q, id)
        keep[:] = False
        keep[first] = True
    table, q = table.filter(pa.array(keep)), q[keep]
    position = np.arange(len(q))  # [C]
    start = np.maximum.accumulate(np.where(np.r_[True, q[1:] != q[:-1]], position, 0)) if len(q) else position
    rank = position - start + 1  # [C]: 1.. within each query
    return table.filter(pa.array(rank <= k)).append_column("rank", pa.array(rank[rank <= k], pa.int32()))


def scanner(queries, k: int, per_document: bool, id_type: pa.DataType, scanned=None):
    """mapInArrow function over a partition of index rows: yields its top-k candidates per query.
    `queries`: a broadcast of the [Q, E] unit query vectors; `scanned`: an accumulator of rows read."""
    schema = candidate_schema(id_type)

    def scan(batches):
        vectors = queries.value  # [Q, E]
        best = schema.empty_table()
        for rows in blocks(batches, block_rows(len(vectors))):
            rows = rows.filter(pc.is_valid(rows.column("embedding")))
            if scanned is not None:
                scanned.add(rows.num_rows)
            if rows.num_rows:
                found = block_candidates(rows, vectors, k, per_document)
                best = top_k(pa.concat_tables([best, found]), k, per_document).drop_columns("rank")
        yield from best.to_batches()

    return scan


def blocks(batches, rows: int):
    """Arrow batches (Spark's are small) regrouped into tables of about `rows` rows."""
    pending, count = [], 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)
