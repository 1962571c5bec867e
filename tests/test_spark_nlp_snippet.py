"""The Spark NLP model-card snippet (shared/seeds/000_...txt) runs with only the import changed."""
import os
import socket

import pytest

from tiny_models import save_model_folder

SNIPPET = '''
from sparklong import *          # was: from sparknlp.base import *; from sparknlp.annotator import *
from pyspark.ml import Pipeline

documentAssembler = DocumentAssembler() \\
    .setInputCol("text") \\
    .setOutputCol("document")
tokenizer = Tokenizer() \\
    .setInputCols(["document"]) \\
    .setOutputCol("token")
embeddings = LongformerEmbeddings\\
.pretrained("longformer_base_4096")\\
.setInputCols(["document", "token"])\\
.setOutputCol("embeddings")\\
.setCaseSensitive(True)\\
.setMaxSentenceLength(4096)
pipeline = Pipeline().setStages([documentAssembler, tokenizer, embeddings])
data = spark.createDataFrame([["I love Spark NLP. Longformer reads long documents."], [None]]).toDF("text")
result = pipeline.fit(data).transform(data)
'''


def test_model_card_snippet_runs_from_the_cache(spark, tmp_path, monkeypatch):
    save_model_folder(str(tmp_path / "longformer_base_4096_en"))
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path))
    scope = {"spark": spark}
    exec(SNIPPET, scope)
    rows = scope["result"].select("text", "token", "embeddings").collect()
    assert len(rows) == 2
    full = next(r for r in rows if r.text)
    assert [a.result for a in full.embeddings] == [a.result for a in full.token]
    assert full.embeddings[1].result == "love" and len(full.embeddings[1].embeddings) == 32
    assert next(r for r in rows if r.text is None).embeddings == []


def test_pretrained_offline_and_not_cached_says_both_fixes(tmp_path, monkeypatch):
    from sparklong import LongformerEmbeddings

    with socket.socket() as free:  # a loopback port nobody listens on: the hub is unreachable
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("SPARKLONG_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(RuntimeError) as err:
        LongformerEmbeddings.pretrained("longformer_base_4096")
    message = str(err.value)
    assert os.path.join(str(tmp_path), "longformer_base_4096_en") in message
    assert "allenai/longformer-base-4096" in message and "loadSavedModel" in message
    assert os.listdir(tmp_path) == []  # nothing half-written left in the cache
