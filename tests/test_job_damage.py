"""The nightly job's output when something outside the job damaged it or the input changed under it: the
ids' type changed, a run killed between its manifest and its shards, a shard file cut short, a page of
vectors changed on disk (bit rot), a shard's row index of any size. Runs call the job in this process on
the shared session; one reference output is copied for each case."""
from __future__ import annotations

import json
import os
import shutil
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sparklong.jobs import runner, search
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.storage.output_folder import OutputFolder
from sparklong.jobs.row_index import INDEX, read_row_index
from sparklong.jobs.shard_check import DAMAGED, check_file
from sparklong.jobs.shard_files import DROP, HASH, KEY, ShardWriter, run_scratch
from sparklong.jobs.writer_lock import WriterLock
from job_runs import WINDOW, assert_same_vectors, read, write_corpus

SHARD = "part-00001-of-00003.parquet"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("damage"), count=12)


def run(capsys, corpus, docs, output, *extra, spark):
    code = runner.main(EMBED, ["--input", str(docs), "--output", str(output), "--model", corpus["model"],
                               "--shard-rows", "4", "--max-sentence-length", WINDOW, *extra], spark)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def reference(spark, corpus, tmp_path_factory):
    output = tmp_path_factory.mktemp("reference") / "out"
    assert runner.main(EMBED, ["--input", str(corpus["root"] / "docs.parquet"), "--output", str(output), "--model",
                               corpus["model"], "--shard-rows", "4", "--max-sentence-length", WINDOW], spark) == 0
    return output


def copy_of(reference, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(reference, output)
    return output


def file_state(folder) -> dict:
    """Every file under `folder` -> its bytes (what a refused run must leave as it was)."""
    return {os.path.relpath(os.path.join(d, f), folder): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(folder) for f in files}


def test_a_changed_id_type_is_refused_before_any_work(spark, corpus, tmp_path, capsys):
    docs = [{"id": i, "text": d["text"]} for i, d in enumerate(corpus["docs"][:8])]
    first = tmp_path / "int_ids.parquet"
    pd.DataFrame(docs).to_parquet(first)
    output = tmp_path / "out"
    assert run(capsys, corpus, first, output, spark=spark)[0] == 0
    assert json.loads((output / "_sparklong_job.json").read_text())["id_type"] == "bigint"
    as_strings = tmp_path / "string_ids.parquet"
    strings = [{**d, "id": str(d["id"])} for d in docs] + [{"id": "new", "text": "A new one."}]
    pd.DataFrame(strings).to_parquet(as_strings)
    before = file_state(output)
    code, _, err = run(capsys, corpus, as_strings, output, "--incremental", spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "holds ids of type bigint; the input's id column is string: cast the input's ids to bigint" in err
    assert file_state(output) == before

    # an output written before manifests recorded the type: the files' own type is the rule
    manifest = json.loads((output / "_sparklong_job.json").read_text())
    del manifest["id_type"]
    (output / "_sparklong_job.json").write_text(json.dumps(manifest))
    code, _, err = run(capsys, corpus, as_strings, output, "--incremental", spark=spark)
    assert code == 1 and "holds ids of type bigint; the input's id column is string" in err, err


def test_an_output_whose_files_hold_two_id_types_is_named(spark, corpus, reference, tmp_path, capsys):
    """What the defect left behind (some shards rewritten with string ids, the rest bigint): refused with
    the types and files named, not a Spark read error."""
    output = copy_of(reference, tmp_path)
    table = pq.read_table(output / SHARD)
    pq.write_table(table.set_column(0, "id", pa.array(range(table.num_rows), pa.int64())), output / SHARD)
    manifest = json.loads((output / "_sparklong_job.json").read_text())
    del manifest["id_type"]
    (output / "_sparklong_job.json").write_text(json.dumps(manifest))
    code, _, err = run(capsys, corpus, corpus["root"] / "docs.parquet", output, spark=spark)
    assert code == 1 and "holds ids of 2 types (bigint in 1 files (e.g. part-00001-of-00003.parquet); string" in err


def test_success_never_stands_beside_a_manifest_its_shards_do_not_match(spark, corpus, reference, tmp_path, capsys,
                                                                       monkeypatch):
    """An incremental run killed right after writing its new manifest: _SUCCESS is already gone, so readers
    are told the output is mid-run (search says so)."""
    output = copy_of(reference, tmp_path)
    grown = tmp_path / "grown.parquet"
    pd.DataFrame(corpus["docs"][2:] + [{"id": "late", "text": "Added later."}]).to_parquet(grown)
    write_manifest = runner.write_manifest

    def killed_after(folder, manifest, scratch):
        write_manifest(folder, manifest, scratch)
        raise SystemExit(137)

    monkeypatch.setattr(runner, "write_manifest", killed_after)
    with pytest.raises(SystemExit):
        run(capsys, corpus, grown, output, "--incremental", spark=spark)
    assert json.loads((output / "_sparklong_job.json").read_text())["input"] == str(grown)
    assert not (output / "_SUCCESS").exists()
    monkeypatch.undo()
    code, err = search_once(capsys, output, corpus, tmp_path, spark)
    assert code == 0 and f"warning: index {output} has no _SUCCESS: its last run did not finish" in err, err


def search_once(capsys, index, corpus, tmp_path, spark) -> tuple[int, str]:
    """jobs/search.py with one query over `index`: (exit code, stderr)."""
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"query_id": "q", "query": "the people"}) + "\n")
    code = search.main(["--index", str(index), "--queries", str(queries), "--model", corpus["model"]], spark)
    return code, capsys.readouterr().err


def _damage_the_vectors(path) -> None:
    """16 bytes changed in the middle of the embedding column's pages; the footer intact."""
    metadata = pq.ParquetFile(path).metadata
    group = metadata.row_group(0)
    column = next(group.column(i) for i in range(group.num_columns)
                  if group.column(i).path_in_schema.startswith("embedding."))
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(open(path, "rb").read())
    middle = start + column.total_compressed_size // 2
    data[middle: middle + 16] = bytes(b ^ 0x5A for b in data[middle: middle + 16])
    open(path, "wb").write(bytes(data))


def _cut_short(path) -> None:
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [_cut_short, _damage_the_vectors], ids=["truncated", "bit_rot"])
def test_a_damaged_shard_is_named_set_aside_and_computed_again(spark, corpus, reference, tmp_path, capsys, damage):
    output = copy_of(reference, tmp_path)
    original = (output / SHARD).read_bytes()
    damage(output / SHARD)
    damaged = (output / SHARD).read_bytes()
    code, out, err = run(capsys, corpus, corpus["root"] / "docs.parquet", output, spark=spark)
    assert code == 0, err
    line = [ln for ln in out.splitlines() if " is damaged (" in ln]
    assert len(line) == 1 and SHARD in line[0] and "its shard's ids are computed again" in line[0], out
    assert "(2 up to date, 1 to write)" in out
    assert_same_vectors(read(output), read(reference))
    aside = list((output / DAMAGED).glob(f"*/{SHARD}"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged != original  # kept, never deleted
    assert (output / "_SUCCESS").exists()
    assert len(os.listdir(output / INDEX)) == 3  # one index per committed shard
    if damage is _damage_the_vectors:  # the footer still names its index: it goes aside with the file
        assert len(list((output / DAMAGED).glob(f"*/{INDEX}/{SHARD}.*.parquet"))) == 1


def test_many_damaged_files_are_a_storage_fault_and_nothing_moves(spark, corpus, reference, tmp_path, capsys):
    output = copy_of(reference, tmp_path)
    for name in ("part-00000-of-00003.parquet", SHARD):
        _cut_short(output / name)
    before = file_state(output)
    code, _, err = run(capsys, corpus, corpus["root"] / "docs.parquet", output, spark=spark)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert "2 of the 3 committed files of" in err and "look damaged" in err and "nothing was moved" in err
    assert file_state(output) == before


def test_a_file_that_cannot_be_reached_is_not_damaged(tmp_path):
    with pytest.raises(OSError, match=f"cannot read {tmp_path}/{SHARD}"):
        check_file(OutputFolder(str(tmp_path)), SHARD)


def _as_written_before(output) -> None:
    """An output as the previous version wrote it: each file's row index inside its footer, no _index/,
    a manifest of format 2 without the ids' type."""
    folder = OutputFolder(str(output))
    for name in sorted(n for n in os.listdir(output) if n.startswith("part-")):
        keys, hashes = read_row_index(folder, name)
        table = pq.read_table(output / name)
        metadata = {k: v for k, v in table.schema.metadata.items() if k != b"sparklong.row_index"}
        metadata[b"sparklong.rows"] = json.dumps({"keys": keys.to_pylist(), "hashes": hashes.to_pylist()})
        pq.write_table(table.replace_schema_metadata(metadata), output / name)
    shutil.rmtree(output / INDEX)
    manifest = json.loads((output / "_sparklong_job.json").read_text())
    del manifest["id_type"]
    (output / "_sparklong_job.json").write_text(json.dumps({**manifest, "format_version": 2}))


def test_an_output_of_the_previous_version_is_brought_up_to_date(spark, corpus, reference, tmp_path, capsys):
    output = copy_of(reference, tmp_path)
    _as_written_before(output)
    docs = corpus["docs"]
    grown = tmp_path / "grown.parquet"
    pd.DataFrame(docs[1:6] + [{**docs[6], "text": docs[6]["text"] + " More."}] + docs[7:]).to_parquet(grown)
    code, out, err = run(capsys, corpus, grown, output, "--incremental", spark=spark)
    assert code == 0, err
    assert "done: 1 documents embedded, 10 kept, 1 removed" in out, out
    after, before = read(output), read(reference)
    assert sorted(after) == sorted(d["id"] for d in docs[1:])
    assert all(after[k]["embedding"] == before[k]["embedding"] for k in after if k != "doc06")
    manifest = json.loads((output / "_sparklong_job.json").read_text())
    assert manifest["format_version"] == 3 and manifest["id_type"] == "string"
    code, out, err = run(capsys, corpus, grown, output, "--incremental", spark=spark)
    assert code == 0 and "nothing to do" in out, err


def test_search_refuses_a_damaged_index_file_by_name(spark, corpus, reference, tmp_path, capsys):
    output = copy_of(reference, tmp_path)
    _damage_the_vectors(output / SHARD)
    code, err = search_once(capsys, output, corpus, tmp_path, spark)
    errors = [line for line in err.splitlines() if "error" in line]
    assert code == 1 and len(errors) == 1, errors
    err = errors[0]
    assert f"index file file://{output / SHARD} cannot be read, it is damaged" in err and "checksum" in err, err


def _batch(keys: list[str]) -> pa.RecordBatch:
    return pa.record_batch({"id": pa.array(keys), "embedding": pa.array([[0.5]] * len(keys), pa.list_(pa.float32())),
                            "n_tokens": pa.array([1] * len(keys), pa.int32()), KEY: pa.array(keys),
                            HASH: pa.array([k[::-1] for k in keys]), DROP: pa.array([False] * len(keys))})


SCHEMA = pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32())), ("n_tokens", pa.int32())])


def _shard_writer(folder: OutputFolder, attempt: int = 0) -> ShardWriter:
    return ShardWriter(folder, "run", 1, 3, SCHEMA, "n_tokens", attempt, time.monotonic())


def _write_shard(folder: OutputFolder, rows: int) -> int:
    """A committed shard of `rows` ids of 12 characters through ShardWriter; its footer's size in bytes."""
    with WriterLock(folder, "run"):  # a shard commits only while its run holds the lock
        writer = _shard_writer(folder)
        for start in range(0, rows, 100_000):
            writer.add(_batch([f"id-{i:09d}" for i in range(start, min(rows, start + 100_000))]))
        writer.commit()
    return pq.ParquetFile(folder.path(SHARD)).metadata.serialized_size


def _ids_and_index(folder: OutputFolder) -> tuple[list, list]:
    return pq.read_table(folder.path(SHARD))["id"].to_pylist(), read_row_index(folder, SHARD)[0].to_pylist()


@pytest.mark.parametrize("rows", [1_000, 300_000])
def test_the_row_index_lives_beside_the_shard_and_its_footer_stays_small(tmp_path, rows):
    """The row index inside the footer grew ~50 bytes an id (109 MB at 2.1 million ids: unreadable)."""
    folder = OutputFolder(str(tmp_path))
    assert _write_shard(folder, rows) < 4096
    keys, hashes = read_row_index(folder, SHARD)
    assert len(keys) == rows and keys[rows - 1].as_py() == f"id-{rows - 1:09d}" and hashes[0].as_py() == "000000000-di"
    assert check_file(folder, SHARD)["error"] == ""


def test_a_rewritten_shard_keeps_large_row_groups(tmp_path):
    """An incremental rewrite copies the kept rows in small batches: they are written as row groups of up
    to 65,536 rows, not one per batch (1,173 row groups and a 390 KB footer at 300,000 ids before)."""
    folder = OutputFolder(str(tmp_path))
    _write_shard(folder, 300_000)
    with WriterLock(folder, "run"):
        writer = _shard_writer(folder, attempt=1)
        writer.add(_batch(["id-000000007"]))  # one id recomputed, the rest kept
        writer.commit()
    metadata = pq.ParquetFile(folder.path(SHARD)).metadata
    assert metadata.num_row_groups <= 6 and metadata.serialized_size < 4096 and metadata.num_rows == 300_000
    ids, keys = _ids_and_index(folder)
    assert ids == keys and len(set(ids)) == 300_000


def test_a_speculative_commit_between_two_reads_cannot_pair_one_index_with_other_rows(tmp_path, monkeypatch):
    """Attempt B copies the committed file's kept rows while attempt A renames its file over it: B reads
    footer, index and rows of one file (before: the old index with the new rows, one id twice, one lost)."""
    from sparklong.jobs import shard_files

    folder = OutputFolder(str(tmp_path))
    with WriterLock(folder, "run"):
        first = _shard_writer(folder)
        first.add(_batch(["a", "b", "c", "d"]))
        first.commit()
        a, b = _shard_writer(folder, attempt=2), _shard_writer(folder, attempt=3)
        a.add(_batch(["b", "e"]))
        b.add(_batch(["b", "e"]))
        index_of = shard_files.index_of

        def a_commits_meanwhile(*args):
            monkeypatch.setattr(shard_files, "index_of", index_of)
            a.commit()
            return index_of(*args)

        monkeypatch.setattr(shard_files, "index_of", a_commits_meanwhile)  # after B opened the committed file
        b.commit()
    ids, keys = _ids_and_index(folder)
    assert ids == keys and sorted(ids) == ["a", "b", "c", "d", "e"]


def test_a_missing_or_changed_row_index_makes_its_shard_damaged(tmp_path):
    folder = OutputFolder(str(tmp_path))
    _write_shard(folder, 50)
    index = tmp_path / INDEX / os.listdir(tmp_path / INDEX)[0]
    index.write_bytes(index.read_bytes()[:-8] + b"00000000")
    assert "was changed after it was written" in check_file(folder, SHARD)["error"]
    index.unlink()
    assert "is missing" in check_file(folder, SHARD)["error"]


@pytest.mark.slow
def test_a_shard_of_two_million_ids_stays_readable(tmp_path):
    """The size at which the index inside the footer failed (thrift: "Exceeded size limit")."""
    folder = OutputFolder(str(tmp_path))
    assert _write_shard(folder, 2_200_000) < 65536  # grows with row groups (22 here), not with ids
    assert len(read_row_index(folder, SHARD)[0]) == 2_200_000
    assert pq.read_table(folder.path(SHARD)).num_rows == 2_200_000


def test_a_shard_written_with_its_index_in_the_footer_is_still_read(tmp_path):
    """Outputs of earlier versions keep the row index inside each file's footer (`sparklong.rows`)."""
    folder = OutputFolder(str(tmp_path))
    table = pa.table({"id": ["a", "b"], "embedding": pa.array([[1.0], [2.0]], pa.list_(pa.float32()))})
    index = json.dumps({"keys": ["a", "b"], "hashes": ["h1", "h2"]})
    pq.write_table(table.replace_schema_metadata({"sparklong.rows": index}), folder.path(SHARD))
    keys, hashes = read_row_index(folder, SHARD)
    assert keys.to_pylist() == ["a", "b"] and hashes.to_pylist() == ["h1", "h2"]
    assert check_file(folder, SHARD) == {"file": SHARD, "index": "", "id_type": "string", "error": ""}


class _FullDisk:
    """A pyarrow file system whose new files fail on write as a full disk does."""

    def __init__(self, fs):
        self._fs = fs

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def open_output_stream(self, path):
        class Full:
            closed = False

            def write(self, data):
                raise OSError(28, "No space left on device")

            def close(self):
                self.closed = True

        return Full()


def test_a_write_error_names_the_shard_file(tmp_path):
    folder = OutputFolder(str(tmp_path))
    schema = pa.schema([("id", pa.string()), ("embedding", pa.list_(pa.float32())), ("n_tokens", pa.int32())])
    with WriterLock(folder, "run"):
        folder.fs = _FullDisk(folder.fs)
        with pytest.raises(OSError, match="No space left on device") as err:  # parquet's magic bytes first
            ShardWriter(folder, "run", 1, 3, schema, "n_tokens", 4, time.monotonic())
    assert f"(writing {tmp_path}/_staging/run/attempts/{SHARD}.4)" in str(err.value)
