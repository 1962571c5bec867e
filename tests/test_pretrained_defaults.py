"""`pretrained()` with no name, for every model annotator: its default is a name the registry maps to a
hub repo (fetched here from a fake hub serving a tiny model of the annotator's task), or it has no
default and says how to name a model. Offline: the hub is a loopback server."""
import pytest

import sparklong
from fake_hub import FakeHub
from sparklong.annotators.encoder_stage import EncoderStage
from sparklong.annotators.stage_families import BERT, LONGFORMER, MODERNBERT
from sparklong.models.pretrained import HUB_REPOS
from tiny_models import save_bert_folder, save_model_folder, save_modernbert_folder

TINY_FOLDERS = {LONGFORMER: save_model_folder, MODERNBERT: save_modernbert_folder, BERT: save_bert_folder}  # a folder of each family

MODEL_ANNOTATORS = [
    cls for cls in (getattr(sparklong, name) for name in sparklong.__all__)
    if isinstance(cls, type) and issubclass(cls, EncoderStage)
]


def test_every_model_annotator_is_covered():
    names = {cls.__name__ for cls in MODEL_ANNOTATORS}
    assert {"LongformerEmbeddings", "LongformerForQuestionAnswering", "LongformerForSequenceClassification",
            "LongformerForTokenClassification", "ModernBertEmbeddings", "ModernBertSentenceEmbeddings",
            "ModernBertForQuestionAnswering", "ModernBertForSequenceClassification",
            "ModernBertForTokenClassification", "BertEmbeddings", "BertSentenceEmbeddings", "BertForQuestionAnswering",
            "BertForSequenceClassification", "BertForTokenClassification"} <= names


@pytest.mark.parametrize("annotator", MODEL_ANNOTATORS, ids=lambda cls: cls.__name__)
def test_pretrained_without_a_name(annotator, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path / "cache"))
    default = annotator.default_pretrained
    if default is None:
        with pytest.raises(ValueError, match="has no default pretrained model") as err:
            annotator.pretrained()
        assert "remote_loc=" in str(err.value) and "loadSavedModel" in str(err.value)
        return
    assert default in HUB_REPOS, f"{annotator.__name__}'s default '{default}' is not in the registry"
    folder = str(tmp_path / "hub_files")
    TINY_FOLDERS[annotator.family](folder, annotator.task)
    with FakeHub(folder, HUB_REPOS[default]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        stage = annotator.pretrained()  # loadSavedModel checks the task's head is there
    assert stage.getModelFolder() == str(tmp_path / "cache" / f"{default}_en")
    assert hub.requests[0] == f"/api/models/{HUB_REPOS[default]}/revision/main?blobs=true"


def test_a_sentence_transformers_repo_arrives_with_its_pooling(tmp_path, monkeypatch):
    """modules.json and the Pooling module's config come with the weights, so the document-vectors stage
    pools as the checkpoint says (gte-modernbert-base: CLS)."""
    import json

    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "hub_files"
    save_modernbert_folder(str(folder))
    (folder / "modules.json").write_text(json.dumps(
        [{"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    name = sparklong.ModernBertSentenceEmbeddings.default_pretrained
    with FakeHub(str(folder), HUB_REPOS[name]) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        stage = sparklong.ModernBertSentenceEmbeddings.pretrained()
    assert stage.getPoolingStrategy() == "CLS"
    assert (tmp_path / "cache" / f"{name}_en" / "1_Pooling" / "config.json").is_file()
