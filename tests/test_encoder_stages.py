"""The ModernBERT and BERT-family stages (Spark NLP's names) on tiny folders: word vectors past the trained
length equal transformers' model on windows computed by hand, for both; QA slides past it; every ModernBERT
stage gives the same annotations on a DataFrame, in a LightPipeline and after a save and load; a folder loaded
into another family's stage, or global attention asked of ModernBERT, is a clear error naming the fix."""
import json
import os

import numpy as np
import pytest
import torch
from pyspark.ml import PipelineModel

from sparklong import (BertEmbeddings, BertForQuestionAnswering, DocumentAssembler, LightPipeline,
                       LongformerEmbeddings, LongformerSentenceEmbeddings, ModernBertEmbeddings, ModernBertForQuestionAnswering, ModernBertForSequenceClassification,
                       ModernBertForTokenClassification, ModernBertSentenceEmbeddings, MultiDocumentAssembler,
                       Tokenizer)
from sparklong.models.config import ConfigError
from tiny_models import (BERT_TINY, MODERNBERT_TINY, corpus_texts, save_bert_folder, save_model_folder,
                         save_modernbert_folder)

WINDOW = MODERNBERT_TINY["max_position_embeddings"]  # the trained length: windows of 64 tokens
assert BERT_TINY["max_position_embeddings"] == WINDOW
FAMILIES = {"modernbert": (save_modernbert_folder, ModernBertEmbeddings, ModernBertForQuestionAnswering, 8192),
            "bert": (save_bert_folder, BertEmbeddings, BertForQuestionAnswering, 512)}
TEXTS = ["Fellow-Citizens of the Senate and of the House of Representatives.", None, "  ",
         corpus_texts()[0][:1500]]  # the last one: ~10 windows


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_folders(request, tmp_path_factory):
    """An embeddings and a QA folder of each family; (the family's row of FAMILIES, folders, HF models)."""
    save, *_ = row = FAMILIES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    hf = {task: save(str(root / task), task) for task in ("embeddings", "question_answering")}
    return row, {task: str(root / task) for task in hf}, hf


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("modernbert_stages")
    made = {}
    for task in ("embeddings", "question_answering", "sequence_classification", "token_classification"):
        made[task] = str(root / task)
        labels = 2 if task == "question_answering" else 3  # start and end; or three classes
        made[f"hf_{task}"] = save_modernbert_folder(made[task], task, num_labels=labels)
    return made


def _front():
    return [DocumentAssembler().setInputCol("text").setOutputCol("document"),
            Tokenizer().setInputCols(["document"]).setOutputCol("token").fit(None)]


def test_word_vectors_past_the_trained_length_come_from_the_most_central_window(family_folders):
    """Each token's vector = transformers' state of its first piece in the window (of 64 tokens, half
    overlapping) whose centre is nearest that piece, computed here by hand from the tokenizer's pieces."""
    (_, embeddings, _, trained), folders, hf = family_folders
    stage = embeddings.loadSavedModel(folders["embeddings"])
    assert stage.getMaxSentenceLength() == trained and stage.window_length() == WINDOW and stage.getDimension() == 32
    windows = _assert_vectors_of_most_central_windows(stage, folders["embeddings"], TEXTS[-1], WINDOW,
                                                      lambda ids: hf["embeddings"](ids).last_hidden_state[0])
    assert windows >= 8


# The issue's own sizes: a 20,000-token document through ModernBERT's 8,192 trained positions, a 2,000-token one
# through a 512-position BERT (tiny widths, real lengths).
TRAINED_LENGTH_AND_DOCUMENT = {"modernbert": (8192, 20_000), "bert": (512, 2_000)}


@pytest.mark.parametrize("family", sorted(TRAINED_LENGTH_AND_DOCUMENT))
def test_documents_of_the_real_lengths_through_windows_of_the_real_trained_length(family, tmp_path):
    from sparklong.models import load

    positions, pieces = TRAINED_LENGTH_AND_DOCUMENT[family]
    save, embeddings, *_ = FAMILIES[family]
    folder = str(tmp_path / family)
    save(folder, "embeddings", max_position_embeddings=positions)
    text = _text_of_pieces(folder, pieces)
    stage = embeddings.loadSavedModel(folder)
    assert stage.window_length() == positions
    # Our engine serves as the oracle of each window cut by hand (its parity with transformers on one window is
    # tests/test_modernbert_parity.py's and test_bert_parity.py's): transformers' ModernBERT computes each
    # 8,192-token window's sliding layers as full L x L attention, ten times slower.
    model = load(folder)
    windows = _assert_vectors_of_most_central_windows(stage, folder, text, positions, lambda ids: model(ids)[0])
    assert windows == -(-(pieces - positions + 2) // ((positions - 2) // 2)) + 1  # every stride, then the tail


def _text_of_pieces(folder: str, pieces: int) -> str:
    """The bundled addresses, joined and cut where the folder's tokenizer has read exactly `pieces` pieces."""
    from transformers import AutoTokenizer

    text = "".join(corpus_texts())
    spans = AutoTokenizer.from_pretrained(folder)(text, add_special_tokens=False,
                                                  return_offsets_mapping=True)["offset_mapping"]
    assert len(spans) > pieces, "the bundled addresses are too short"
    return text[:spans[pieces - 1][1]]


def _assert_vectors_of_most_central_windows(stage, folder: str, text: str, window: int, states_of) -> int:
    """LightPipeline's vector of each token (stage after DocumentAssembler and Tokenizer) = states_of(one
    window's ids [1, window]) -> [window, H] at the token's first piece, in the window (half overlapping ones
    of `window` tokens, [CLS] and [SEP] included) whose centre is nearest that piece; the windows are cut here
    by hand from the tokenizer's pieces. Returns how many windows there were."""
    from bisect import bisect_right

    from transformers import AutoTokenizer

    annotations = LightPipeline(PipelineModel(_front() + [stage])).fullAnnotate(text)[0]
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, spans = enc["input_ids"], enc["offset_mapping"]
    content, stride = window - 2, (window - 2) // 2
    starts = list(range(0, len(ids) - content, stride)) + [len(ids) - content]
    with torch.no_grad():
        states = [states_of(torch.tensor([[tok.cls_token_id, *ids[s:s + content], tok.sep_token_id]]))
                  for s in starts]  # each [window, H]
    tokens = annotations["token"]
    assert len(annotations["embeddings"]) == len(tokens) > 200
    piece_ends = [b for _, b in spans]  # increasing
    for token, vector in zip(tokens, annotations["embeddings"]):
        piece = bisect_right(piece_ends, token.begin)  # the first piece ending past the token's first character
        assert spans[piece][0] <= token.end
        owner = min(range(len(starts)), key=lambda k: (abs(piece - (2 * starts[k] + content - 1) / 2), k))
        expected = states[owner][piece - starts[owner] + 1].numpy()
        np.testing.assert_allclose(vector.embeddings, expected, atol=1e-4)
        assert vector.result == token.result
    return len(starts)


def test_every_stage_equal_on_a_dataframe_in_a_lightpipeline_and_after_save(spark, folders, tmp_path):
    stages = _front() + [  # word embeddings: the per-token path of the token classifier, checked above
        ModernBertSentenceEmbeddings.loadSavedModel(folders["embeddings"]).setInputCols(["document"])
        .setOutputCol("vector"),
        ModernBertSentenceEmbeddings.loadSavedModel(folders["embeddings"]).setInputCols(["document"])
        .setOutputCol("chunks").setGranularity("chunks").setChunkPieces(40),
        ModernBertForSequenceClassification.loadSavedModel(folders["sequence_classification"])
        .setInputCols(["document"]),
        ModernBertForTokenClassification.loadSavedModel(folders["token_classification"]),
    ]
    model = PipelineModel(stages)
    frame = spark.createDataFrame([(str(i), t) for i, t in enumerate(TEXTS)], "id string, text string")
    columns = ["vector", "chunks", "class", "ner"]
    rows = {r["id"]: r for r in model.transform(frame.repartition(2)).select("id", *columns).collect()}
    light = LightPipeline(model).fullAnnotate(TEXTS)
    path = str(tmp_path / "pipeline")
    model.write().save(path)
    loaded = LightPipeline(PipelineModel.load(path)).fullAnnotate(TEXTS)
    for i, text in enumerate(TEXTS):
        for column in columns:
            spark_side = [(a["begin"], a["end"], a["result"], a["embeddings"]) for a in rows[str(i)][column]]
            for other in (light[i][column], loaded[i][column]):
                assert len(other) == len(spark_side)
                for a, (begin, end, result, vector) in zip(other, spark_side):
                    assert (a.begin, a.end, a.result) == (begin, end, result)
                    np.testing.assert_allclose(a.embeddings, vector, atol=1e-5)
    assert len(light[3]["chunks"]) > 3 and len(light[3]["ner"]) == len(light[3]["token"])
    assert {a.result for a in light[0]["class"]} <= {"LABEL_0", "LABEL_1", "LABEL_2"}
    assert light[1]["vector"] == light[2]["vector"] == []  # null and blank rows: kept, empty


def test_question_answering_over_a_context_past_the_trained_length(family_folders):
    (_, _, answering, trained), folders, _ = family_folders
    qa = answering.loadSavedModel(folders["question_answering"]).setDocStride(16)
    qa.setMaxSentenceLength(trained)  # the family's length (the jobs' default) is valid, cut to the model's 64
    pipeline = PipelineModel([MultiDocumentAssembler().setInputCols(["question", "context"])
                             .setOutputCols(["document_question", "document_context"]), qa])
    context = TEXTS[-1]
    light = LightPipeline(pipeline)
    answer = light.fullAnnotate("Who was addressed?", context)[0]["answer"][0]
    assert int(answer.metadata["windows"]) > 1  # the context did not fit one window of 64
    assert answer.result == context[answer.begin:answer.end + 1] != ""
    for question in ("Who was addressed?", "What was said?", "When?", "Where were they?"):
        for answer in light.fullAnnotate(question, context)[0]["answer"]:  # no answer begins with a space
            assert answer.result == answer.result.lstrip() == context[answer.begin:answer.end + 1]


def test_a_folder_in_another_family_s_stage_names_the_stage_that_runs_it(folders, tmp_path):
    longformer = str(tmp_path / "longformer")
    save_model_folder(longformer)
    with pytest.raises(ConfigError, match=r"use ModernBertEmbeddings\.loadSavedModel\(folder, spark\)"):
        LongformerEmbeddings.loadSavedModel(folders["embeddings"])
    with pytest.raises(ConfigError, match=r"use ModernBertSentenceEmbeddings\.loadSavedModel"):
        LongformerSentenceEmbeddings.loadSavedModel(folders["embeddings"])
    with pytest.raises(ConfigError, match=r"use LongformerForQuestionAnswering\.loadSavedModel"):
        ModernBertForQuestionAnswering.loadSavedModel(longformer)


def test_global_attention_is_refused_for_modernbert(folders):
    stage = ModernBertEmbeddings.loadSavedModel(folders["embeddings"])
    with pytest.raises(ValueError, match="globalAttention 'cls': a modernbert model has no global attention"):
        stage.setGlobalAttention("cls")
    unloaded = ModernBertEmbeddings(globalAttention="sentences")  # no model yet: checked when it runs
    unloaded._set(modelFolder=folders["embeddings"])
    with pytest.raises(ValueError, match="globalAttention 'sentences'"):
        unloaded.core()


def test_pooling_follows_the_checkpoint_s_sentence_transformers_module(folders, tmp_path):
    folder = tmp_path / "st_model"
    folder.mkdir()
    for name in os.listdir(folders["embeddings"]):
        os.symlink(os.path.join(folders["embeddings"], name), folder / name)
    assert ModernBertSentenceEmbeddings.loadSavedModel(str(folder)).getPoolingStrategy() == "MEAN"
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "pooler", "type": "sentence_transformers.models.Pooling"}]))
    (folder / "pooler").mkdir()
    (folder / "pooler" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    stage = ModernBertSentenceEmbeddings.loadSavedModel(str(folder))
    assert stage.getPoolingStrategy() == "CLS"
    assert stage.setPoolingStrategy("mean").getPoolingStrategy() == "MEAN"  # the user's choice wins


def test_a_prompt_is_read_before_the_document_and_belongs_to_no_chunk(folders):
    """As sentence-transformers' prompts: the vector is transformers' MEAN over `[CLS] prompt text [SEP]`;
    chunks (late chunking) keep the document's own pieces and offsets."""
    from transformers import AutoTokenizer

    text, prompt = TEXTS[0], "search_document: "
    stage = ModernBertSentenceEmbeddings.loadSavedModel(folders["embeddings"]).setInputCols(["document"]) \
        .setOutputCol("v").setPrompt(prompt)
    light = LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text").setOutputCol("document"), stage]))
    vector = light.fullAnnotate(text)[0]["v"][0]
    ids = AutoTokenizer.from_pretrained(folders["embeddings"])(prompt + text, return_tensors="pt")["input_ids"]
    assert ids.shape[1] <= WINDOW  # one window: transformers reads the same input
    with torch.no_grad():
        expected = folders["hf_embeddings"](input_ids=ids).last_hidden_state[0].mean(0).numpy()  # [H]
    np.testing.assert_allclose(vector.embeddings, expected, atol=1e-5)
    assert int(vector.metadata["pieces"]) == ids.shape[1]

    chunked = [stage.setGranularity("chunks").setChunkPieces(6), stage.copy().setPrompt("")]
    with_prompt, without = (LightPipeline(PipelineModel([DocumentAssembler().setInputCol("text")
                                                         .setOutputCol("document"), s])).fullAnnotate(text)[0]["v"]
                            for s in chunked)
    assert [(c.begin, c.end, c.result, c.metadata["pieces"]) for c in with_prompt] == \
        [(c.begin, c.end, c.result, c.metadata["pieces"]) for c in without]
    assert with_prompt[0].begin == 0 and not np.allclose(with_prompt[0].embeddings, without[0].embeddings)
