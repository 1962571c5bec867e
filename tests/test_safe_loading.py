"""Safe loading: pretrained downloads verified against the hub's hashes and installed atomically (a
fake hub over loopback), no code from a model folder ever run, saved pipelines that cannot reach
outside their folder, config values checked (code-running pickles: test_engine_errors.py)."""
import glob
import json
import os
import shutil
import sys
import threading

import numpy as np
import pytest
import torch
from pyspark.ml import Pipeline, PipelineModel

from fake_hub import FakeHub
from sparklong import LightPipeline, LongformerEmbeddings
from sparklong.models import ConfigError, load
from sparklong.models import pretrained
from tiny_models import save_model_folder

REPO = "allenai/longformer-base-4096"
NAME = "longformer_base_4096"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("safe") / "tiny_longformer")
    save_model_folder(folder)
    return folder


def copy_of(model_folder, tmp_path, name="model"):
    target = str(tmp_path / name)
    shutil.copytree(model_folder, target)
    return target


# -- pretrained downloads -------------------------------------------------------------------------
@pytest.fixture()
def hub(model_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path / "cache"))
    with FakeHub(model_folder, REPO) as running:
        monkeypatch.setenv("HF_ENDPOINT", running.url)
        yield running


def cache_entries(tmp_path):
    root = tmp_path / "cache"
    return sorted(os.listdir(root)) if root.exists() else []


def test_download_is_verified_installed_whole_and_used_from_the_cache(hub, model_folder, tmp_path):
    stage = LongformerEmbeddings.pretrained(NAME)
    folder = stage.getModelFolder()
    assert folder == str(tmp_path / "cache" / f"{NAME}_en") and cache_entries(tmp_path) == [f"{NAME}_en"]
    assert sorted(os.listdir(folder)) == sorted(os.listdir(model_folder))  # README.md is not a model file
    for name in os.listdir(folder):
        assert open(os.path.join(folder, name), "rb").read() == hub.read(name), name
    assert hub.requests[0] == f"/api/models/{REPO}/revision/main?blobs=true"
    assert all(f"/resolve/{'0123456789abcdef' * 2}" in r for r in hub.requests[1:])  # pinned to the commit
    seen = len(hub.requests)
    assert LongformerEmbeddings.pretrained(NAME).getModelFolder() == folder and len(hub.requests) == seen
    assert load(folder).config.hidden_size == 32  # the downloaded weights load


@pytest.mark.parametrize("fault, file, message", [
    ("tampered", "model.safetensors", "model.safetensors: sha256 .* does not match the hub's"),
    ("tampered", "config.json", "config.json: git blob sha1 .* does not match the hub's"),
    ("shorter", "vocab.json", "vocab.json: received .* bytes, the hub lists"),
    ("cut_off", "model.safetensors", "model.safetensors: (received .* bytes|transfer cut off)"),
])
def test_a_file_not_as_the_hub_lists_it_fails_and_leaves_nothing(hub, tmp_path, fault, file, message):
    data = hub.read(file)
    if fault == "tampered":
        hub.tampered[file] = data[:-8] + b"tampered"
    elif fault == "shorter":
        hub.tampered[file] = data[:-1]
    else:
        hub.cut_off.add(file)
    with pytest.raises(RuntimeError, match=message) as err:
        pretrained.resolve(NAME)
    assert "loadSavedModel" in str(err.value)
    assert cache_entries(tmp_path) == []  # no half-written model, no staging folder


def test_sharded_weights_arrive_whole_and_shard_names_cannot_escape(model_folder, tmp_path, monkeypatch):
    from transformers import LongformerModel

    sharded = str(tmp_path / "sharded")
    shutil.copytree(model_folder, sharded)
    os.remove(os.path.join(sharded, "model.safetensors"))
    LongformerModel.from_pretrained(model_folder).save_pretrained(sharded, max_shard_size="40KB")
    assert len([f for f in os.listdir(sharded) if f.startswith("model-")]) > 1
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path / "cache"))
    with FakeHub(sharded, REPO) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        folder = pretrained.resolve(NAME)
        ids = torch.tensor([[0, 5, 9, 200, 2]])
        torch.testing.assert_close(load(folder)(ids), load(model_folder)(ids), rtol=0, atol=1e-6)
        shutil.rmtree(folder)
        index = os.path.join(sharded, "model.safetensors.index.json")
        escaped = json.load(open(index))
        escaped["weight_map"] = {k: "../../evil.safetensors" for k in escaped["weight_map"]}
        json.dump(escaped, open(index, "w"))
        with pytest.raises(RuntimeError, match="is not a plain file name"):
            pretrained.resolve(NAME)
    assert cache_entries(tmp_path) == []


def test_concurrent_downloads_install_one_folder(hub, tmp_path):
    results, errors = [], []

    def fetch():
        try:
            results.append(pretrained.resolve(NAME))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and cache_entries(tmp_path) == [f"{NAME}_en"]
    assert os.path.isfile(os.path.join(results[0], "model.safetensors"))


def test_a_listing_without_hashes_is_refused(hub, tmp_path):
    listing = hub.listing()
    for sibling in listing["siblings"]:
        sibling.pop("blobId", None)
        sibling.pop("lfs", None)
    hub.listing_override = listing
    with pytest.raises(RuntimeError, match="no size and hash for config.json"):
        pretrained.resolve(NAME)
    assert cache_entries(tmp_path) == []


# -- no code from a model folder ------------------------------------------------------------------
REMOTE_CODE = ["modeling_longformer.py", "configuration_longformer.py", "tokenization_longformer_fast.py",
               "__init__.py", "custom.py"]


def test_no_code_from_a_model_folder_is_ever_run(model_folder, tmp_path):
    folder = copy_of(model_folder, tmp_path)
    marker = str(tmp_path / "ran")
    for name in REMOTE_CODE:
        with open(os.path.join(folder, name), "w") as fh:
            fh.write(f"open({marker!r}, 'a').write({name!r})\n")
    config_path = os.path.join(folder, "config.json")
    config = json.load(open(config_path))
    config.update(auto_map={"AutoConfig": "configuration_longformer.Config", "AutoModel": "modeling_longformer.Model"},
                  trust_remote_code=True)
    json.dump(config, open(config_path, "w"))
    json.dump({"tokenizer_class": "CustomTokenizer", "auto_map": {"AutoTokenizer": [None, "custom.Tok"]}},
              open(os.path.join(folder, "tokenizer_config.json"), "w"))
    stage = LongformerEmbeddings.loadSavedModel(folder).setInputCols("document", "token")
    from sparklong import DocumentAssembler, Tokenizer

    light = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text"),
                                         Tokenizer().setInputCols("document").setOutputCol("token").fit(None),
                                         stage]))
    assert len(light.fullAnnotate("Nothing here runs.")[0]["embeddings"]) == 4
    load(folder, task="embeddings")
    assert not os.path.exists(marker)
    assert not any(getattr(m, "__file__", None) and str(m.__file__).startswith(folder) for m in list(sys.modules.values()))


# -- saved pipelines stay inside their folder -----------------------------------------------------
@pytest.fixture()
def saved(spark, model_folder, tmp_path):
    """A saved one-stage pipeline, and the path of its stage folder."""
    df = spark.createDataFrame([("x",)], "text string")
    stage = LongformerEmbeddings.loadSavedModel(copy_of(model_folder, tmp_path, "source"))
    path = str(tmp_path / "pipeline")
    Pipeline(stages=[stage]).fit(df).write().save(path)
    [stage_dir] = os.listdir(os.path.join(path, "stages"))
    return path, os.path.join(path, "stages", stage_dir)


def test_a_symlink_out_of_the_saved_model_is_refused(saved, model_folder):
    path, stage_dir = saved
    weights = os.path.join(stage_dir, "model", "model.safetensors")
    os.remove(weights)
    os.symlink(os.path.join(model_folder, "model.safetensors"), weights)
    with pytest.raises(ValueError, match="points outside the saved model folder"):
        PipelineModel.load(path)


def test_a_model_folder_linked_from_elsewhere_is_refused(saved, model_folder):
    path, stage_dir = saved
    shutil.rmtree(os.path.join(stage_dir, "model"))
    os.symlink(model_folder, os.path.join(stage_dir, "model"))
    with pytest.raises(ValueError, match="is not a folder inside the saved stage"):
        PipelineModel.load(path)


def test_tampered_metadata_cannot_redirect_the_model_or_the_uid(saved, tmp_path):
    path, stage_dir = saved
    [metadata_file] = glob.glob(os.path.join(stage_dir, "metadata", "part-00000*"))
    metadata = json.loads(open(metadata_file).read())

    def rewrite():
        open(metadata_file, "w").write(json.dumps(metadata))
        for crc in glob.glob(os.path.join(stage_dir, "metadata", ".part-*.crc")):
            os.remove(crc)  # Hadoop's checksum of the old content

    metadata["paramMap"]["modelFolder"] = str(tmp_path / "source")  # somewhere else on this machine
    rewrite()
    [stage] = PipelineModel.load(path).stages
    assert not stage.getModelFolder().startswith(str(tmp_path / "source"))  # a copy of the saved folder
    metadata["uid"] = "../../escaped"
    rewrite()
    with pytest.raises(ValueError, match="is not a plain identifier"):
        PipelineModel.load(path)


def test_a_model_folder_of_symlinks_is_saved_as_real_files(spark, model_folder, tmp_path):
    """Hugging Face's cache keeps snapshots as symlinks to blobs; the saved pipeline copies the files."""
    blobs, snapshot = tmp_path / "blobs", tmp_path / "snapshot"
    blobs.mkdir()
    snapshot.mkdir()
    for name in os.listdir(model_folder):
        shutil.copy(os.path.join(model_folder, name), blobs / name)
        os.symlink(blobs / name, snapshot / name)
    df = spark.createDataFrame([("x",)], "text string")
    path = str(tmp_path / "pipeline")
    Pipeline(stages=[LongformerEmbeddings.loadSavedModel(str(snapshot))]).fit(df).write().save(path)
    shutil.rmtree(blobs)  # the saved pipeline must not need them
    [stage] = PipelineModel.load(path).stages
    saved = stage.getModelFolder()
    assert all(not os.path.islink(os.path.join(saved, f)) for f in os.listdir(saved))
    ids = torch.tensor([[0, 7, 2]])
    np.testing.assert_array_equal(load(saved)(ids).numpy(), load(model_folder)(ids).numpy())


# -- config values --------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"layer_norm_eps": "1e-12"}, "layer_norm_eps must be a positive number"),
    ({"layer_norm_eps": -1.0}, "layer_norm_eps must be a positive number"),
    ({"id2label": {"first": "A"}}, "id2label keys must be integers"),
    ({"id2label": ["A", "B"]}, "id2label must be an object"),
    ({"id2label": {}, "num_labels": "2"}, "num_labels must be a positive integer"),
    ({"attention_window": "512"}, "attention_window must be an even integer or a list"),
    ({"attention_window": None}, "attention_window must be an even integer or a list"),
    ({"max_position_embeddings": 0}, "max_position_embeddings must be a positive integer"),
    ({"vocab_size": 1.5}, "vocab_size must be a positive integer"),
])
def test_bad_config_values_fail_loadSavedModel_with_the_field_named(model_folder, tmp_path, changes, message):
    folder = copy_of(model_folder, tmp_path)
    config_path = os.path.join(folder, "config.json")
    config = json.load(open(config_path))
    config.update(changes)
    json.dump(config, open(config_path, "w"))
    with pytest.raises(ConfigError, match=message):
        LongformerEmbeddings.loadSavedModel(folder)
