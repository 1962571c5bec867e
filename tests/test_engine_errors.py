"""Bad configs, folders and arguments give a clear error naming the problem."""
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from sparklong import LongformerEmbeddings
from sparklong.models import CheckpointError, ConfigError, load
from tiny_models import save_longformer


@pytest.fixture()
def folder(tmp_path):
    save_longformer(str(tmp_path), "embeddings")
    return str(tmp_path)


def edit_config(folder, **changes):
    path = os.path.join(folder, "config.json")
    with open(path) as fh:
        cfg = json.load(fh)
    cfg.update(changes)
    with open(path, "w") as fh:
        json.dump(cfg, fh)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"num_attention_heads": 5}, "not divisible by num_attention_heads"),
        ({"attention_window": 7}, "positive even integer"),
        ({"attention_window": [8, 0]}, "layer 1 must be a positive even"),
        ({"attention_window": [8, 8, 8]}, "3 windows for 2 layers"),
        ({"hidden_act": "mystery"}, "hidden_act 'mystery' is not supported"),
        ({"pad_token_id": 5000}, "outside the vocabulary"),
        ({"hidden_size": "32"}, "hidden_size must be a positive integer"),
    ],
)
def test_bad_config_values(folder, changes, message):
    edit_config(folder, **changes)
    with pytest.raises(ConfigError, match=message):
        load(folder)


def remove(name):
    return lambda folder: os.remove(os.path.join(folder, name))


def write(name, text):
    def change(folder):
        with open(os.path.join(folder, name), "w") as fh:
            fh.write(text)
    return change


@pytest.mark.parametrize("break_folder, error, message", [
    (remove("config.json"), ConfigError, "no config.json"),
    (write("config.json", "{not json"), ConfigError, "not valid JSON"),
    (remove("model.safetensors"), CheckpointError, "has no weights"),
], ids=["missing_config", "config_not_json", "missing_weights"])
def test_broken_folder(folder, break_folder, error, message):
    break_folder(folder)
    with pytest.raises(error, match=message):
        load(folder)


def test_truncated_safetensors(folder):
    path = os.path.join(folder, "model.safetensors")
    with open(path, "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(CheckpointError, match="cannot read"):
        load(folder)


def test_weights_of_another_architecture(folder):
    from safetensors.torch import save_file

    save_file({"bert.embeddings.word_embeddings.weight": torch.zeros(3, 3)}, os.path.join(folder, "model.safetensors"))
    with pytest.raises(CheckpointError, match="lacks 'embeddings.position_embeddings.weight'"):
        load(folder)


def test_weights_not_matching_config(folder):
    edit_config(folder, intermediate_size=48)
    with pytest.raises(CheckpointError, match="ffn_in.weight"):
        load(folder)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("legacy", [True, False], ids=["raw_pickle", "torch_zip"])
def test_malicious_pickle_is_refused(folder, tmp_path, monkeypatch, legacy):
    monkeypatch.chdir(tmp_path)
    os.remove(os.path.join(folder, "model.safetensors"))
    payload = {"embeddings.word_embeddings.weight": _RunsCode()}
    path = os.path.join(folder, "pytorch_model.bin")
    if legacy:
        with open(path, "wb") as fh:
            pickle.dump(payload, fh)
    else:
        torch.save(payload, path)
    # the file really runs code: an unsafe unpickler does (in a throwaway process, same folder)
    unsafe = "import sys, torch; torch.load(sys.argv[1], weights_only=False)"
    subprocess.run([sys.executable, "-c", unsafe, path], cwd=tmp_path, capture_output=True, timeout=120)
    assert os.path.exists(tmp_path / "pwned")
    os.remove(tmp_path / "pwned")
    with pytest.raises(CheckpointError, match="refusing to load"):
        load(folder)
    with pytest.raises(CheckpointError, match="refusing to load"):  # on the driver, before any Spark job
        LongformerEmbeddings.loadSavedModel(folder)
    assert not os.path.exists(tmp_path / "pwned")


def test_task_without_its_head(folder):
    with pytest.raises(CheckpointError, match="no 'qa_outputs' weights"):
        load(folder, task="question_answering")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "translation"}, "task must be one of"),
        ({"dtype": "int4"}, "dtype must be one of"),
        ({"device": "tpu"}, "device must be"),
    ],
)
def test_bad_arguments(folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load(folder, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu(folder):
    with pytest.raises(ValueError, match="no CUDA device"):
        load(folder, device="cuda")


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(str(tmp_path / "nope"))


def test_input_longer_than_positions(folder):
    model = load(folder)
    with pytest.raises(ValueError, match="at most 512"):
        model(torch.full((1, 513), 5))
