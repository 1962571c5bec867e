"""Every code block in README.md and docs/ runs, or says why not.

A python block runs against tiny models: each file's blocks in order in one namespace (later blocks
use what earlier ones made), with `pretrained()` names resolved to tiny folders, the example paths
moved under a temporary folder, and `spark`, `df` (id, text, question, context), `long_context`,
`input_ids` and model folders (`folder`, `qa_folder`, `sentiment_folder`, `ner_folder`) given.
A block that cannot run here (a shell command for a real machine, a cluster, a GPU, a real model,
Airflow) carries the line `<!-- not run: REASON -->` right above its fence.
"""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))]
MARK = re.compile(r"<!-- not run: (.+?) -->")


def code_blocks(path: str) -> list[tuple[int, str, str, str | None]]:
    """(line, language, code, not-run reason or None) of each fenced block in a markdown file."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, language = i, lines[i][3:].strip()
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            mark = MARK.fullmatch(lines[start - 1].strip()) if start else None
            blocks.append((start + 1, language, "\n".join(lines[start + 1: end]), mark and mark.group(1)))
            i = end
        i += 1
    return blocks


def test_every_block_runs_or_says_why_not():
    unmarked = [f"{path}:{line} ({language or 'no language'})" for path in DOCS
                for line, language, _, reason in code_blocks(path) if reason is None and language != "python"]
    assert not unmarked, f"blocks that are not python need '<!-- not run: REASON -->' above them: {unmarked}"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from test_qa_decoding import save_qa_folder
    from tiny_models import save_bert_folder, save_model_folder, save_modernbert_folder

    root = tmp_path_factory.mktemp("doc_models")
    made = {name: str(root / name) for name in ("folder", "qa_folder", "sentiment_folder", "ner_folder",
                                                 "modernbert_folder", "bert_folder")}
    save_model_folder(made["folder"])
    save_modernbert_folder(made["modernbert_folder"])
    save_bert_folder(made["bert_folder"])
    save_qa_folder(made["qa_folder"])
    save_model_folder(made["sentiment_folder"], task="sequence_classification")
    save_model_folder(made["ner_folder"], task="token_classification")
    return made


def tiny_folder(name: str, folders: dict) -> str:
    """The tiny folder standing in for a pretrained name: of its architecture, and of its task for QA."""
    if "modernbert" in name:
        return folders["modernbert_folder"]
    if name in ("all_minilm_l6_v2", "bge_m3"):
        return folders["bert_folder"]
    return folders["qa_folder"] if "qa" in name else folders["folder"]


@pytest.mark.parametrize("path", [p for p in DOCS if any(b[1] == "python" and b[3] is None for b in code_blocks(p))])
def test_python_blocks_run_against_tiny_models(path, spark, folders, tmp_path, monkeypatch):
    import torch

    from sparklong.models import pretrained
    from tiny_models import corpus_texts

    monkeypatch.setattr(pretrained, "resolve", lambda name, lang="en", remote_loc=None: tiny_folder(name, folders))
    monkeypatch.chdir(tmp_path)  # files an example writes by a relative name land here
    (tmp_path / "data" / "incoming").mkdir(parents=True)
    context = corpus_texts()[0][:3000]
    (tmp_path / "data" / "incoming" / "a.json").write_text('{"id": "0", "text": "We the people."}\n')
    namespace = {
        "spark": spark, "long_context": context, "input_ids": torch.randint(3, 200, (2, 40)), **folders,
        "df": spark.createDataFrame([("0", context[:600], "Who took the oath?", context),
                                     ("1", None, None, None)], "id string, text string, question string, context string"),
    }
    # the paths examples write to or read from, moved here
    paths = {"/path/or/hdfs/uri": str(tmp_path / "saved_pipeline"), "/data/": f"{tmp_path}/data/",
             "path/to/hf-longformer-folder": folders["folder"]}
    try:
        for line, language, code, reason in code_blocks(path):
            if language != "python" or reason is not None:
                continue
            for example, here in paths.items():
                code = code.replace(example, here)
            try:
                exec(compile(code, f"{path}:{line}", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"the code block at {path}:{line} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        for query in spark.streams.active:  # a streaming example keeps running until stopped
            query.stop()
