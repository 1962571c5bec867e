"""A malformed file in a model folder (config.json, a weight index, tokenizer.json, vocab.json) is a clear
error naming the file, never a raw JSONDecodeError / KeyError; a malformed ONNX manifest means "export
again"; sharded pytorch_model.bin checkpoints load as the unsharded one."""
import json
import os
import shutil

import pytest
import torch

from sparklong import LongformerEmbeddings
from sparklong.jobs.job_error import JobError
from sparklong.jobs.model_ref import resolve_folder
from sparklong.models import CheckpointError, ConfigError, convert_to_long, load
from sparklong.models import onnx_files
from sparklong.models.checkpoint import tensor_names
from sparklong.models.onnx_export import exporter_id
from sparklong.models.piece_tokenizer import PieceTokenizer
from tiny_models import to_pytorch_bin

NOT_JSON = b"{not json"
UNREADABLE = [  # what no JSON-object reader may let through raw
    pytest.param(NOT_JSON, id="not_json"),
    pytest.param(b'{"a": "\xff\xfe"}', id="bad_utf8"),
    pytest.param(b"[" * 100_000, id="too_deep"),  # the parser's recursion limit, not a JSONDecodeError
    pytest.param(b"[1, 2]", id="array"),
]
NOT_READABLE = "is not valid JSON|must hold a JSON object"


@pytest.fixture()
def folder(tiny_folder, tmp_path):
    copy = str(tmp_path / "model")
    shutil.copytree(tiny_folder, copy)
    return copy


def write(path, data):
    """Write bytes, or an object as JSON; returns the path."""
    with open(path, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def edit_config(folder, drop=(), **changes):
    config = json.load(open(os.path.join(folder, "config.json")))
    config.update(changes)
    for key in drop:
        del config[key]
    return write(os.path.join(folder, "config.json"), config)


# -- config.json ----------------------------------------------------------------------------------
@pytest.mark.parametrize("data", UNREADABLE)
def test_an_unreadable_config_names_the_file(folder, data):
    path = write(os.path.join(folder, "config.json"), data)
    with pytest.raises(ConfigError, match=NOT_READABLE) as err:
        LongformerEmbeddings.loadSavedModel(folder)
    assert path in str(err.value)


@pytest.mark.parametrize("drop, changes, message", [
    (["hidden_size"], {}, "'hidden_size' is missing"),
    ([], {"num_hidden_layers": "2"}, "num_hidden_layers must be a positive integer"),
    ([], {"id2label": [1, 2]}, "id2label must be an object"),
])
def test_a_missing_or_wrong_typed_config_key_names_the_file_and_the_key(folder, drop, changes, message):
    path = edit_config(folder, drop, **changes)
    with pytest.raises(ConfigError, match=message) as err:
        load(folder)
    assert str(err.value).startswith(f"{path}: ")


def test_a_job_reading_a_malformed_config_names_the_file(folder):
    path = write(os.path.join(folder, "config.json"), NOT_JSON)
    with pytest.raises(JobError, match="is not valid JSON") as err:
        resolve_folder(folder)
    assert path in str(err.value)


@pytest.mark.parametrize("changes, message", [
    ({"hidden_size": "32"}, "hidden_size must be a positive integer"),
    ({"num_attention_heads": [2]}, "num_attention_heads must be a positive integer"),
    ({"type_vocab_size": None}, "type_vocab_size must be a positive integer"),
])
def test_convert_to_long_names_a_wrong_typed_source_key(folder, tmp_path, changes, message):
    path = edit_config(folder, model_type="roberta", **changes)
    with pytest.raises(ValueError, match=message) as err:
        convert_to_long(folder, str(tmp_path / "long"))
    assert path in str(err.value)


# -- weight index files ---------------------------------------------------------------------------
def shard_bin(folder):
    """Replace the folder's weights with a sharded pytorch_model.bin and its index."""
    from transformers import LongformerModel

    model = LongformerModel.from_pretrained(folder)
    os.remove(os.path.join(folder, "model.safetensors"))
    model.save_pretrained(folder, max_shard_size="40KB")
    to_pytorch_bin(folder)
    assert len([f for f in os.listdir(folder) if f.startswith("pytorch_model-")]) > 1


def test_a_sharded_pytorch_model_bin_loads_as_the_unsharded_weights(tiny_folder, folder):
    shard_bin(folder)
    ids = torch.tensor([[0, 5, 9, 200, 2]])
    torch.testing.assert_close(load(folder)(ids), load(tiny_folder)(ids), rtol=0, atol=1e-6)
    assert LongformerEmbeddings.loadSavedModel(folder).getModelFolder() == folder


@pytest.mark.parametrize("index", ["model.safetensors.index.json", "pytorch_model.bin.index.json"])
@pytest.mark.parametrize("data", UNREADABLE + [
    pytest.param({"metadata": {}}, id="no_map"),
    pytest.param({"weight_map": ["model-00001.safetensors"]}, id="map_array"),
    pytest.param({"weight_map": {"embeddings.word_embeddings.weight": 1}}, id="shard_number"),
    pytest.param({"weight_map": {}}, id="empty_map"),
])
def test_a_malformed_weight_index_names_the_file(folder, index, data):
    os.remove(os.path.join(folder, "model.safetensors"))
    path = write(os.path.join(folder, index), data)
    for read in (LongformerEmbeddings.loadSavedModel, load, tensor_names):
        with pytest.raises(CheckpointError) as err:
            read(folder)
        assert path in str(err.value), read


# -- tokenizer files ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tokenizer.json", "vocab.json", "tokenizer_config.json"])
@pytest.mark.parametrize("data", UNREADABLE)
def test_an_unreadable_tokenizer_file_names_it(folder, name, data):
    path = write(os.path.join(folder, name), data)
    with pytest.raises(ValueError, match=NOT_READABLE) as err:
        PieceTokenizer.from_folder(folder)
    assert path in str(err.value)


@pytest.mark.parametrize("name, data, message", [
    ("tokenizer.json", {"model": "BPE"}, "is not a tokenizer the tokenizers library can read"),
    ("tokenizer.json", {"model": {"type": "BPE", "vocab": [1]}}, "is not a tokenizer the tokenizers library"),
    ("vocab.json", {"hello": "one"}, "must map each token to a non-negative integer id"),
])
def test_a_tokenizer_file_of_the_wrong_shape_names_it(folder, name, data, message):
    path = write(os.path.join(folder, name), data)
    with pytest.raises(ValueError, match=message) as err:
        PieceTokenizer.from_folder(folder)
    assert path in str(err.value)


# -- ONNX manifest --------------------------------------------------------------------------------
@pytest.mark.parametrize("manifest", UNREADABLE + [
    pytest.param(b"null", id="null"),
    pytest.param({"format": onnx_files.MANIFEST_FORMAT}, id="no_exporter"),
    pytest.param({"format": onnx_files.MANIFEST_FORMAT, "exporter": "this one"}, id="no_files"),
])
def test_a_malformed_onnx_manifest_means_export_again(folder, monkeypatch, manifest):
    graph = onnx_files.onnx_path(folder, "embeddings")
    os.makedirs(os.path.dirname(graph))
    write(graph, b"an old graph")
    if isinstance(manifest, dict) and manifest.get("exporter") == "this one":
        manifest = {**manifest, "exporter": exporter_id()}
    write(onnx_files.manifest_path(graph), manifest)
    exported = []

    def export(folder, path, **settings):
        exported.append(path)
        write(path, b"a new graph")

    monkeypatch.setattr(onnx_files, "export_onnx", export)
    assert onnx_files.ensure_onnx(folder, "embeddings") == graph and exported == [graph]
    assert onnx_files.read_graph_manifest(graph)["bytes"] == len(b"a new graph")
    assert onnx_files.ensure_onnx(folder, "embeddings") == graph and exported == [graph]  # now current
