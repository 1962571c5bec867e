"""One model identity (models/fingerprint.py): caches, the shipped archive and the manifests see a
folder's files as they are now, even after an older-dated copy, a conversion over the same folder,
or an ONNX export; a copy with the same bytes keeps its content identity."""
import json
import os
import shutil
import zipfile

import pytest
import torch

from sparklong.jobs.model_ref import model_version
from sparklong.models import convert_to_long
from sparklong.models.fingerprint import content_hash, fingerprint
from sparklong.models.piece_tokenizer import PieceTokenizer
from sparklong.udfs import model_cache
from sparklong.udfs.model_shipping import _zip_folder, shipped_name
from tiny_models import TINY, save_bpe_tokenizer, save_longformer, save_model_folder

WINDOWS = [8, 8]
TEXT = "Fellow-Citizens of the Senate and of the House of Representatives, among the vicissitudes."


def _write(path, data: bytes, mtime_ns: int) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def _date_all(folder, mtime_ns: int) -> None:
    for name in os.listdir(folder):
        os.utime(os.path.join(folder, name), ns=(mtime_ns, mtime_ns))


def test_a_file_replaced_with_the_same_size_and_mtime_changes_the_fingerprint_not_the_content(tmp_path):
    folder, copy = tmp_path / "model", tmp_path / "copy"
    folder.mkdir()
    stamp = 1_600_000_000 * 10**9
    _write(folder / "config.json", b"{}", stamp)
    _write(folder / "model.safetensors", b"old weights", stamp)
    key = fingerprint(str(folder))
    assert fingerprint(str(folder)) == key  # stable while nothing changes
    _write(tmp_path / "new", b"new weights", stamp)  # same size, same mtime: only the inode tells
    os.replace(tmp_path / "new", folder / "model.safetensors")
    assert fingerprint(str(folder)) != key
    hashed = content_hash(str(folder))
    shutil.copytree(folder, copy)  # copy2: same bytes and mtimes, new inodes
    assert fingerprint(str(copy)) != fingerprint(str(folder)) and content_hash(str(copy)) == hashed
    _write(copy / "model.safetensors", b"newer weights", stamp)
    assert content_hash(str(copy)) != hashed  # computed again for the new state, not cached by path


def test_exports_and_dotfiles_are_outside_the_models_fingerprint(tmp_path):
    folder = tmp_path / "model"
    (folder / "onnx").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    key, shipped = fingerprint(str(folder)), fingerprint(str(folder), exports=True)
    (folder / ".model.safetensors.crc").write_text("crc")  # Hadoop's checksum files, locks
    (folder / "onnx" / ".export.lock").write_text("")
    assert (fingerprint(str(folder)), fingerprint(str(folder), exports=True)) == (key, shipped)
    (folder / "onnx" / "embeddings.onnx").write_bytes(b"graph")
    assert fingerprint(str(folder)) == key and fingerprint(str(folder), exports=True) != shipped


def test_weights_replaced_by_an_older_dated_copy_are_not_served_from_the_cache(tmp_path):
    folder, other = str(tmp_path / "model"), str(tmp_path / "other")
    save_model_folder(folder, attention_window=WINDOWS)
    save_longformer(other, seed=1, attention_window=WINDOWS)  # other weights, same size
    stamp = 1_700_000_000 * 10**9
    _date_all(folder, stamp)
    _date_all(other, stamp - 10**12)  # older: the folder's newest mtime stays `stamp`
    cache = model_cache.ModelCache()
    first = cache.model(folder, "embeddings", "torch", "cpu")
    assert cache.model(folder, "embeddings", "torch", "cpu") is first  # cached
    shutil.copy2(os.path.join(other, "model.safetensors"), os.path.join(folder, "model.safetensors"))  # cp -p
    second = cache.model(folder, "embeddings", "torch", "cpu")
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    with torch.no_grad():
        assert not torch.allclose(first.module(ids), second.module(ids))


def _roberta_source(folder: str, vocab_size: int) -> None:
    """A tiny RoBERTa checkpoint with a byte-level BPE of about `vocab_size` pieces: convert_to_long's input."""
    from transformers import RobertaConfig, RobertaModel

    os.makedirs(folder)
    save_bpe_tokenizer(folder, vocab_size)
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as fh:
        pieces = len(json.load(fh))
    sizes = {k: TINY[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")}
    config = RobertaConfig(vocab_size=pieces, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                           bos_token_id=0, eos_token_id=2, **sizes)
    RobertaModel(config, add_pooling_layer=False).save_pretrained(folder)


def test_convert_to_long_over_the_same_folder_serves_the_new_tokenizer(tmp_path):
    first, second, dst = (str(tmp_path / name) for name in ("first", "second", "long"))
    _roberta_source(first, 300)
    _roberta_source(second, 260)
    convert_to_long(first, dst, max_positions=64, attention_window=8)
    stale = model_cache.get_tokenizer(dst, False).encode_batch([TEXT])[0].ids
    convert_to_long(second, dst, max_positions=64, attention_window=8, overwrite=True)
    fresh = PieceTokenizer.from_folder(dst).encode_batch([TEXT])[0].ids
    assert fresh != stale  # the two tokenizers differ on this text
    assert model_cache.get_tokenizer(dst, False).encode_batch([TEXT])[0].ids == fresh


def test_an_onnx_export_changes_the_shipped_name_and_a_copy_stays_current(tmp_path):
    pytest.importorskip("onnx")
    from sparklong.models.onnx_files import ensure_onnx

    folder, copy = str(tmp_path / "model"), str(tmp_path / "copy")
    save_model_folder(folder, attention_window=WINDOWS)
    torch_stage_name = shipped_name(folder)  # what a torch-engine stage shipped
    graph = ensure_onnx(folder, "embeddings")
    assert graph == os.path.join(folder, "onnx", "embeddings.onnx") and os.path.isfile(graph)
    assert shipped_name(folder) != torch_stage_name  # so the graph reaches the executors
    _zip_folder(folder, str(tmp_path / "shipped.zip"))
    with zipfile.ZipFile(tmp_path / "shipped.zip") as zf:
        assert {"onnx/embeddings.onnx", "onnx/embeddings.onnx.json", "model.safetensors"} <= set(zf.namelist())
        assert not [n for n in zf.namelist() if os.path.basename(n).startswith(".")]  # no lock file
    shutil.copytree(folder, copy, copy_function=shutil.copy)  # same bytes, new mtimes and inodes
    copied = os.path.join(copy, "onnx", "embeddings.onnx")
    exported = os.stat(copied).st_mtime_ns
    assert ensure_onnx(copy, "embeddings") == copied and os.stat(copied).st_mtime_ns == exported  # not re-exported
    assert json.load(open(copied + ".json"))["fingerprint"] == fingerprint(copy)  # remembered for next time
    assert model_version([copy]) == model_version([folder]) != model_version([folder, copy])
