"""The ModernBERT task heads equal transformers' ModernBertFor{QuestionAnswering, SequenceClassification,
TokenClassification} (the oracle) in fp32 on every non-padding position, loaded from what their
save_pretrained writes; label names as the Longformer heads give them."""
import json
import os

import pytest
import torch

from sparklong.models import load
from sparklong.models.checkpoint import CheckpointError
from test_modernbert_parity import TOL, _batch, _max_diff_on_tokens, _save

LENGTH = 37  # not a multiple of the window (16)
LABELS = 3
# Biases everywhere, so the head's dense bias and norm bias are loaded and compared too.
BIASES = dict(norm_bias=True, attention_bias=True, mlp_bias=True, classifier_bias=True)


def _task_folder(tmp_path_factory, model_class: str, **overrides):
    """A perturbed tiny transformers task model saved with save_pretrained -> (folder, the model)."""
    folder = str(tmp_path_factory.mktemp(model_class))
    return folder, _save(folder, model_class, **{**BIASES, **overrides})


@pytest.fixture(scope="module")
def qa_folder(tmp_path_factory):
    return _task_folder(tmp_path_factory, "ModernBertForQuestionAnswering", num_labels=2)


@pytest.fixture(scope="module")
def token_folder(tmp_path_factory):
    return _task_folder(tmp_path_factory, "ModernBertForTokenClassification", num_labels=LABELS)


@pytest.fixture(scope="module", params=["cls", "mean"])
def sequence_folder(request, tmp_path_factory):
    return _task_folder(tmp_path_factory, "ModernBertForSequenceClassification", num_labels=LABELS,
                        classifier_pooling=request.param, classifier_activation="gelu_pytorch_tanh")


def _ours_and_oracle(task_folder, task: str):
    """(our load()'s output, transformers' output, the attention mask) on a padded batch of 2 x LENGTH."""
    folder, oracle = task_folder
    ids, mask = _batch(LENGTH)
    with torch.no_grad():
        reference = oracle(input_ids=ids, attention_mask=mask)
    return load(folder, task=task)(ids, mask), reference, mask


def test_question_answering_equals_transformers(qa_folder):
    (start, end), ref, mask = _ours_and_oracle(qa_folder, "question_answering")
    assert start.shape == end.shape == (2, LENGTH)
    assert _max_diff_on_tokens(start, ref.start_logits, mask) <= TOL
    assert _max_diff_on_tokens(end, ref.end_logits, mask) <= TOL


def test_token_classification_equals_transformers(token_folder):
    logits, ref, mask = _ours_and_oracle(token_folder, "token_classification")
    assert logits.shape == (2, LENGTH, LABELS)
    assert _max_diff_on_tokens(logits, ref.logits, mask) <= TOL


def test_sequence_classification_equals_transformers(sequence_folder):
    logits, ref, _ = _ours_and_oracle(sequence_folder, "sequence_classification")
    assert logits.shape == (2, LABELS)
    assert (logits - ref.logits).abs().max().item() <= TOL


def test_labels_from_id2label_else_defaults(token_folder, tmp_path):
    folder, _ = token_folder
    assert [load(folder, task="token_classification").config.label(i) for i in range(LABELS)] == [
        "LABEL_0", "LABEL_1", "LABEL_2"]
    named = _copy_with_config(folder, tmp_path, id2label={"0": "O", "1": "B-PER", "2": "I-PER"})
    assert load(named, task="token_classification").config.id2label == {0: "O", 1: "B-PER", 2: "I-PER"}
    unnamed = _copy_with_config(folder, tmp_path / "unnamed", id2label=None, label2id=None, num_labels=None)
    assert load(unnamed, task="token_classification").config.num_labels == LABELS  # counted from the head


def test_encoder_only_checkpoint_has_no_head(tmp_path):
    _save(str(tmp_path))
    with pytest.raises(CheckpointError, match="'head' weights"):
        load(str(tmp_path), task="token_classification")


def _copy_with_config(folder: str, target, **changes) -> str:
    """A copy of the model folder (weights linked) with config.json's fields changed; None removes one."""
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    for key, value in changes.items():
        config.pop(key, None) if value is None else config.update({key: value})
    with open(os.path.join(target, "config.json"), "w") as f:
        json.dump(config, f)
    for name in os.listdir(folder):
        if name != "config.json":
            os.symlink(os.path.join(folder, name), os.path.join(target, name))
    return str(target)
