"""embed_corpus --granularity chunks and search over a tiny ModernBERT and a tiny BERT folder: the job builds
the folder's family of stages, its chunk rows equal that stage's annotations, and search's results equal a
brute-force search with query vectors from the same family's stage. The ModernBERT folder has
sentence-transformers prompts (as modernbert-embed-base): documents are read after the document prompt,
queries after the query prompt."""
from __future__ import annotations

import argparse
import json

import pytest

from sparklong import BertSentenceEmbeddings, ModernBertSentenceEmbeddings
from sparklong.jobs import search
from sparklong.jobs.embed_corpus import SPEC as EMBED
from sparklong.jobs.model_ref import ModelRef
from sparklong.jobs.runner import main
from job_runs import write_corpus
from test_chunk_job import assert_rows_equal_stage, chunk_args, read_chunks
from test_search_job import QUERIES, assert_same_results, brute_force, query_vectors
from tiny_models import save_bert_folder, save_modernbert_folder

FAMILIES = {"modernbert": (save_modernbert_folder, ModernBertSentenceEmbeddings),
            "bert": (save_bert_folder, BertSentenceEmbeddings)}
PROMPTS = {"modernbert": {"query": "search_query: ", "document": "search_document: "}, "bert": {}}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_chunk_job_and_search(spark, tmp_path, capsys, family):
    save, stage_cls = FAMILIES[family]
    corpus = write_corpus(tmp_path, count=8)
    corpus["model"] = model = str(tmp_path / family)
    save(model)
    prompts = PROMPTS[family]
    (tmp_path / family / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))
    index = tmp_path / "chunks"
    assert main(EMBED, chunk_args(corpus, index), spark) == 0
    assert json.loads((index / "_sparklong_job.json").read_text())["settings"].get("prompt") == prompts.get("document")
    assert_rows_equal_stage(read_chunks(index), model, corpus["docs"], stage_cls, prompts.get("document", ""))

    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"query_id": q, "query": t}) + "\n" for q, t in QUERIES))
    code = search.main([str(a) for a in ("--index", index, "--queries", queries, "--top-k", 4, "--model", model,
                                         "--output", tmp_path / "hits")], spark)
    assert code == 0, capsys.readouterr().err
    expected = brute_force(index, query_vectors(model, stage_cls, prompts.get("query", "")), 4)
    assert_same_results(tmp_path / "hits", expected)


@pytest.mark.parametrize("own, granularity, given, expected", [
    ("CLS", "document", None, "cls"), ("MEAN", "document", None, "mean"), (None, "document", None, "mean"),
    ("pooling_mode_max_tokens", "document", None, "mean"), ("CLS", "chunks", None, "mean"),
    ("CLS", "document", "sum", "sum")])
def test_pooling_defaults_to_the_checkpoint_s_own(own, granularity, given, expected):
    args = argparse.Namespace(pooling=given, granularity=granularity, prompt=None)
    EMBED.model_defaults(args, ModelRef("m", "sha256:0", folder="/m", model_type="modernbert", pooling=own))
    assert args.pooling == expected
