"""LongformerForSequenceClassification and LongformerForTokenClassification: scores equal
transformers' heads on the same text, Spark NLP's label rules, and the Spark path equal to LightPipeline."""
import numpy as np
import pytest
import torch
from pyspark.ml import Pipeline

from sparklong import (
    DocumentAssembler,
    LightPipeline,
    LongformerForSequenceClassification,
    LongformerForTokenClassification,
    Tokenizer,
)
from sparklong.annotation import DOCUMENT, Annotation
from sparklong.cores.batching import Batching, split_windows
from sparklong.cores.embedding_settings import EmbeddingSettings
from sparklong.cores.sequence_classification import ClassificationSettings, classify_rows
from sparklong.cores.token_classification import tag_rows
from sparklong.cores.tokenizer_rules import tokenize
from sparklong.models import CheckpointError
from sparklong.models.piece_tokenizer import PieceTokenizer
from sparklong.udfs.model_cache import get_model
from tiny_models import corpus_texts, save_model_folder

SENTIMENTS = {0: "negative", 1: "positive", 2: "mixed"}
ENTITIES = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
TEXTS = ["Fellow-Citizens of the Senate and of the House of Representatives.",
         "naïve café, 東京 and 🙂 — done.", corpus_texts()[1][:600]]  # the last: ~400 pieces


def save_classifier(path, task, labels):
    model = save_model_folder(path, task, id2label=labels, label2id={v: k for k, v in labels.items()})
    with torch.no_grad():  # a freshly initialised head gives near-uniform scores; spread them
        model.classifier.out_proj.weight.mul_(20) if task == "sequence_classification" else \
            model.classifier.weight.mul_(20)
    model.save_pretrained(path)
    return model


@pytest.fixture(scope="module")
def sequence_folder(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny_sequence"))
    return path, save_classifier(path, "sequence_classification", SENTIMENTS)


@pytest.fixture(scope="module")
def token_folder(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("tiny_token"))
    return path, save_classifier(path, "token_classification", ENTITIES)


def documents(*texts, start=0):
    """DOCUMENT annotations for consecutive sentences of one row."""
    out, begin = [], start
    for i, text in enumerate(texts):
        out.append(Annotation(DOCUMENT, begin, begin + len(text) - 1, text, {"sentence": str(i)}))
        begin += len(text) + 1
    return out


def transformers_logits(hf, folder, text):
    ids = PieceTokenizer.from_folder(folder).encode_batch([text])[0].ids
    with torch.no_grad():
        return hf(torch.tensor([ids])).logits[0].numpy(), ids


def classify(folder, rows, **settings):
    model = get_model(folder, "sequence_classification", "torch", "cpu")
    return classify_rows(model, PieceTokenizer.from_folder(folder), rows, ClassificationSettings(**settings))


def test_sequence_scores_equal_transformers_softmax(sequence_folder):
    folder, hf = sequence_folder
    results = classify(folder, [(documents(t),) for t in TEXTS])
    for text, [category] in zip(TEXTS, results):
        logits, _ = transformers_logits(hf, folder, text)  # <s> global, as transformers sets it
        want = np.exp(logits) / np.exp(logits).sum()
        got = np.array([float(category.metadata[SENTIMENTS[i]]) for i in range(3)])
        np.testing.assert_allclose(got, want, atol=1e-5)
        assert category.result == SENTIMENTS[int(np.argmax(want))] and want.max() - np.sort(want)[-2] > 1e-3
        assert (category.annotatorType, category.begin, category.end) == ("category", 0, len(text) - 1)


def test_sigmoid_returns_every_label_above_the_threshold(sequence_folder):
    folder, hf = sequence_folder
    logits, _ = transformers_logits(hf, folder, TEXTS[0])
    scores = 1 / (1 + np.exp(-logits))
    low, middle, top = np.sort(scores)
    for threshold in ((middle + top) / 2, (low + middle) / 2):  # one label above it, then two
        [got] = classify(folder, [(documents(TEXTS[0]),)], activation="sigmoid", threshold=float(threshold))
        assert [a.result for a in got] == [SENTIMENTS[i] for i in range(3) if scores[i] > threshold]
        for a in got:
            np.testing.assert_allclose([float(a.metadata[SENTIMENTS[i]]) for i in range(3)], scores, atol=1e-5)
    [none] = classify(folder, [(documents(TEXTS[0]),)], activation="sigmoid", threshold=1.0)
    assert none == []


def test_coalesce_sentences_averages_a_rows_scores(sequence_folder):
    folder, _ = sequence_folder
    row = (documents(TEXTS[0], TEXTS[1], start=3),)
    [per_sentence] = classify(folder, [row])
    [[coalesced]] = classify(folder, [row], coalesce_sentences=True)
    assert [a.metadata["sentence"] for a in per_sentence] == ["0", "1"]
    mean = np.mean([[float(a.metadata[label]) for label in SENTIMENTS.values()] for a in per_sentence], axis=0)
    np.testing.assert_allclose([float(coalesced.metadata[label]) for label in SENTIMENTS.values()], mean, atol=1e-6)
    assert (coalesced.begin, coalesced.end, coalesced.metadata["sentence"]) == (3, per_sentence[1].end, "0")
    assert coalesced.result == list(SENTIMENTS.values())[int(np.argmax(mean))]


def test_a_long_document_averages_its_windows(sequence_folder):
    folder, hf = sequence_folder
    text = TEXTS[2]
    [[category]] = classify(folder, [(documents(text),)], batching=Batching(max_sentence_length=64))
    _, ids = transformers_logits(hf, folder, text)
    pieces = ids[1:-1]
    windows = split_windows(len(pieces), 62)
    probs = []
    for w in windows:
        with torch.no_grad():
            logits = hf(torch.tensor([[ids[0], *pieces[w.start : w.stop], ids[-1]]])).logits[0].numpy()
        probs.append(np.exp(logits) / np.exp(logits).sum())
    assert category.metadata["windows"] == str(len(windows)) and len(windows) >= 3
    np.testing.assert_allclose([float(category.metadata[SENTIMENTS[i]]) for i in range(3)], np.mean(probs, axis=0),
                               atol=1e-5)


def test_token_labels_come_from_the_first_piece_of_each_token(token_folder):
    folder, hf = token_folder
    model = get_model(folder, "token_classification", "torch", "cpu")
    rows = [(documents(t), tokenize(documents(t))) for t in TEXTS[:2]]
    results = tag_rows(model, PieceTokenizer.from_folder(folder), rows, EmbeddingSettings())
    encoder = PieceTokenizer.from_folder(folder)
    labels_seen = set()
    for text, (_, tokens), tagged in zip(TEXTS, rows, results):
        logits, _ = transformers_logits(hf, folder, text)  # [L, C]
        offsets = encoder.encode_batch([text])[0].offsets
        assert [(a.begin, a.end, a.metadata["word"]) for a in tagged] == [(t.begin, t.end, t.result) for t in tokens]
        for ann in tagged:
            first = next(i for i, (s, e) in enumerate(offsets) if e > s and s <= ann.end and e > ann.begin)
            want = np.exp(logits[first]) / np.exp(logits[first]).sum()
            np.testing.assert_allclose([float(ann.metadata[ENTITIES[i]]) for i in range(5)], want, atol=1e-5)
            assert ann.result == ENTITIES[int(np.argmax(want))] and ann.annotatorType == "named_entity"
            labels_seen.add(ann.result)
    assert len(labels_seen) > 1


def test_spark_rows_kept_and_equal_lightpipeline(spark, sequence_folder, token_folder):
    texts = [TEXTS[0], None, "", "  ", TEXTS[1], TEXTS[2]]
    df = spark.createDataFrame([(str(i), t) for i, t in enumerate(texts)], "id string, text string").coalesce(1)
    stages = [
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        Tokenizer().setInputCols(["document"]).setOutputCol("token"),
        LongformerForSequenceClassification.loadSavedModel(sequence_folder[0]).setMaxSentenceLength(128)
        .setInputCols(["document", "token"]).setOutputCol("class"),
        LongformerForTokenClassification.loadSavedModel(token_folder[0]).setMaxSentenceLength(128)
        .setInputCols(["document", "token"]).setOutputCol("ner"),
        LongformerForSequenceClassification.loadSavedModel(sequence_folder[0]).setMaxSentenceLength(128)
        .setInputCols(["document"]).setOutputCol("class_from_document"),  # the TOKEN column is optional
    ]
    model = Pipeline(stages=stages).fit(df)
    out = {r["id"]: r for r in model.transform(df).select("id", "class", "ner", "token", "class_from_document")
           .collect()}
    assert sorted(out) == [str(i) for i in range(len(texts))]
    light = LightPipeline(model)
    for i, text in enumerate(texts):
        [expected] = light.fullAnnotate(text)
        for column in ("class", "ner"):
            got = [(a.begin, a.end, a.result) for a in out[str(i)][column]]
            assert got == [(a.begin, a.end, a.result) for a in expected[column]]
        blank = not (text and text.strip())
        assert (len(out[str(i)]["class"]) == 0) == blank
        assert [a.result for a in out[str(i)]["class_from_document"]] == [a.result for a in out[str(i)]["class"]]
        assert len(out[str(i)]["ner"]) == len(out[str(i)]["token"])
    assert out["5"]["class"][0].metadata["windows"] != "1"


def test_classes_params_and_errors(sequence_folder, token_folder):
    sequence = LongformerForSequenceClassification.loadSavedModel(sequence_folder[0])
    assert sequence.getClasses() == list(SENTIMENTS.values())
    assert LongformerForTokenClassification.loadSavedModel(token_folder[0]).getClasses() == list(ENTITIES.values())
    assert (sequence.getActivation(), sequence.getThreshold(), sequence.getCoalesceSentences(),
            sequence.getMaxSentenceLength(), sequence.getCaseSensitive()) == ("softmax", 0.5, False, 4096, True)
    with pytest.raises(ValueError, match="activation must be one of 'softmax', 'sigmoid'"):
        sequence.setActivation("relu")
    with pytest.raises(ValueError, match="threshold must be between 0.0 and 1.0"):
        sequence.setThreshold(1.5)
    with pytest.raises(CheckpointError, match="needed for task 'token_classification'"):
        LongformerForTokenClassification.loadSavedModel(sequence_folder[0])
