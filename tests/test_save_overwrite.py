"""Saving never destroys what it saves: an overwrite-save onto the path a pipeline or stage was loaded
from, onto a parent or a child of its model folder, or from two processes at once, leaves a complete
pipeline (the old or the new) that loads and gives the same output."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparklong import DocumentAssembler, LightPipeline, LongformerEmbeddings, Tokenizer
from sparklong.annotators import model_stage
from test_spark_embeddings import model_folder  # noqa: F401 (the tiny checkpoint fixture)

TEXTS = ["Longformer reads long documents.", "Saving twice keeps the weights."]
WEIGHTS = "model.safetensors"


@pytest.fixture(scope="module")
def fitted(spark, model_folder):
    """DocumentAssembler -> Tokenizer -> LongformerEmbeddings, fitted, and its output on TEXTS."""
    stages = [DocumentAssembler().setInputCol("text").setOutputCol("document"),
              Tokenizer().setInputCols("document").setOutputCol("token"),
              LongformerEmbeddings.loadSavedModel(model_folder).setInputCols("document", "token")]
    model = Pipeline(stages=stages).fit(spark.createDataFrame([(t,) for t in TEXTS], "text string"))
    return model, vectors(model)


def vectors(model):
    rows = LightPipeline(model).fullAnnotate(TEXTS)
    return [[list(map(float, a.embeddings)) for a in row["embeddings"]] for row in rows]


def as_uri(path, uri):
    return "file:" + path if uri else path


def saved_pipeline(fitted, path):
    fitted[0].write().save(path)
    return path


def saved_stage(fitted, path):
    fitted[0].stages[2].write().save(path)
    return path


def stage_dir(path):
    [found] = glob.glob(os.path.join(path, "stages", "*LongformerEmbeddings*"))
    return found


def assert_complete_pipeline(path, expected):
    """A fresh load of `path` has the weights inside it and gives the output of the pipeline saved."""
    assert os.path.isfile(os.path.join(stage_dir(path), "model", WEIGHTS))
    assert vectors(PipelineModel.load(path)) == expected


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_a_loaded_pipeline_saved_over_its_own_path(fitted, tmp_path, uri):
    path = as_uri(saved_pipeline(fitted, str(tmp_path / "pipeline")), uri)
    loaded = PipelineModel.load(path)
    loaded.write().overwrite().save(path)
    assert_complete_pipeline(str(tmp_path / "pipeline"), fitted[1])
    assert vectors(loaded) == fitted[1]  # the loaded pipeline still runs: its weights were not taken away
    loaded.write().overwrite().save(path)  # and saves again
    assert_complete_pipeline(str(tmp_path / "pipeline"), fitted[1])


@pytest.mark.parametrize("parent", ["stage folder", "stages folder", "pipeline's parent"])
@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_a_loaded_pipeline_saved_over_a_parent_of_its_model_folder(fitted, tmp_path, parent, uri):
    path = saved_pipeline(fitted, str(tmp_path / "outer" / "pipeline"))
    target = {"stage folder": stage_dir(path), "stages folder": os.path.join(path, "stages"),
              "pipeline's parent": str(tmp_path / "outer")}[parent]
    PipelineModel.load(as_uri(path, uri)).write().overwrite().save(as_uri(target, uri))
    assert_complete_pipeline(target, fitted[1])


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_a_loaded_pipeline_saved_into_its_own_model_folder(fitted, tmp_path, uri):
    path = saved_pipeline(fitted, str(tmp_path / "pipeline"))
    child = os.path.join(stage_dir(path), "model", "copy")
    PipelineModel.load(as_uri(path, uri)).write().overwrite().save(as_uri(child, uri))
    assert_complete_pipeline(child, fitted[1])
    assert_complete_pipeline(path, fitted[1])  # the old one is still whole


def with_stage(fitted, stage):
    """The fitted pipeline with its model stage replaced."""
    return PipelineModel(fitted[0].stages[:2] + [stage])


@pytest.mark.parametrize("uri", [False, True], ids=["path", "file-uri"])
def test_a_loaded_stage_saved_over_its_own_path(fitted, tmp_path, uri):
    path = saved_stage(fitted, str(tmp_path / "stage"))
    loaded = LongformerEmbeddings.load(as_uri(path, uri))
    loaded.write().overwrite().save(as_uri(path, uri))
    assert os.path.isfile(os.path.join(path, "model", WEIGHTS))
    assert vectors(with_stage(fitted, LongformerEmbeddings.load(path))) == fitted[1]
    assert vectors(with_stage(fitted, loaded)) == fitted[1]
    assert not [n for n in os.listdir(tmp_path) if n != "stage"]  # no staging or old copy left beside it


@pytest.mark.parametrize("target", ["its own folder", "its parent", "a child"])
def test_an_imported_stage_saved_over_or_into_its_model_folder(fitted, model_folder, tmp_path, target):
    source = shutil.copytree(model_folder, str(tmp_path / "outer" / "tiny"))
    stage = LongformerEmbeddings.loadSavedModel(source).setInputCols("document", "token")
    path = {"its own folder": source, "its parent": str(tmp_path / "outer"), "a child": source + "/saved"}[target]
    stage.write().overwrite().save(path)
    assert os.path.isfile(os.path.join(path, "model", WEIGHTS))
    assert vectors(with_stage(fitted, LongformerEmbeddings.load(path))) == fitted[1]
    assert vectors(with_stage(fitted, stage)) == fitted[1]  # the stage itself still has its weights


def test_a_failed_overwrite_leaves_the_old_stage_whole(fitted, tmp_path, monkeypatch):
    path = saved_stage(fitted, str(tmp_path / "stage"))

    def cut_short(storage, folder):
        raise OSError("copy cut short")

    monkeypatch.setattr(model_stage, "require_whole", cut_short)  # the new copy is written, then refused
    with pytest.raises(OSError, match="copy cut short"):
        LongformerEmbeddings.load(path).write().overwrite().save(path)
    assert vectors(with_stage(fitted, LongformerEmbeddings.load(path))) == fitted[1]
    assert os.listdir(tmp_path) == ["stage"]  # nor is the new copy left beside it


def test_a_stage_whose_model_folder_is_gone_says_so(fitted, tmp_path):
    stage = LongformerEmbeddings.load(saved_stage(fitted, str(tmp_path / "stage")))
    shutil.rmtree(stage.getModelFolder())
    with pytest.raises(FileNotFoundError, match="model folder .* is gone"):
        stage.write().overwrite().save(str(tmp_path / "stage"))
    assert os.path.isfile(os.path.join(tmp_path, "stage", "model", WEIGHTS))


def test_a_stage_saved_without_overwrite_onto_an_existing_path_is_refused(fitted, tmp_path):
    path = saved_stage(fitted, str(tmp_path / "stage"))
    with pytest.raises(OSError, match="already exists"):
        fitted[0].stages[2].write().save(path)
    assert vectors(with_stage(fitted, LongformerEmbeddings.load(path))) == fitted[1]


SAVE_WHEN_TOLD = textwrap.dedent("""
    import os, sys, time
    import sparklong
    from pyspark.ml import PipelineModel
    path, ready, go = sys.argv[1:]
    spark = sparklong.start("local[1]")
    model = PipelineModel.load(path)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    model.write().overwrite().save(path)
""")


def start_saving(target, ready, go, log):
    with open(log, "w") as out:  # the child keeps its own handle
        return subprocess.Popen([sys.executable, "-c", SAVE_WHEN_TOLD, target, ready, go],
                                stdout=out, stderr=subprocess.STDOUT)


def test_two_processes_saving_over_the_same_path_leave_one_complete_pipeline(fitted, tmp_path):
    """This process and a fresh one both load the pipeline, then both overwrite-save it at once (one
    names it by path, the other by file: URI)."""
    path = saved_pipeline(fitted, str(tmp_path / "pipeline"))
    go, ready, log = str(tmp_path / "go"), str(tmp_path / "ready"), str(tmp_path / "log")
    child = start_saving(as_uri(path, True), ready, go, log)
    mine = PipelineModel.load(path)
    try:
        while not os.path.exists(ready):
            assert child.poll() is None, open(log).read()[-3000:]
            time.sleep(0.1)
        open(go, "w").close()
        try:
            mine.write().overwrite().save(path)
            saved_here = True
        except Exception:  # noqa: BLE001 - the other save won the race: allowed, as long as one complete copy stays
            saved_here = False
        child.wait(timeout=300)
    finally:
        child.kill()
    assert saved_here or child.returncode == 0, open(log).read()[-3000:]
    assert_complete_pipeline(path, fitted[1])


def test_two_threads_saving_one_stage_over_its_own_path_leave_it_whole(fitted, tmp_path):
    path = saved_stage(fitted, str(tmp_path / "stage"))
    stage = LongformerEmbeddings.load(path)
    with ThreadPoolExecutor(2) as pool:
        saves = [pool.submit(stage.write().overwrite().save, path) for _ in range(2)]
    assert [save.exception() for save in saves] == [None, None]  # each swapped its own copy in; the last stays
    assert vectors(with_stage(fitted, LongformerEmbeddings.load(path))) == fitted[1]
    assert os.listdir(tmp_path) == ["stage"]


COPY_AND_WAIT = textwrap.dedent("""
    import sys
    from sparklong.annotators.private_model_copy import private_copy
    print(private_copy(sys.argv[1]), flush=True)
    sys.stdin.read()  # alive until this test closes its stdin
""")


def start_copying(folder, temp) -> tuple[subprocess.Popen, str]:
    """A process that makes a private copy of `folder` under `temp` and waits; (it, its copy's root)."""
    child = subprocess.Popen([sys.executable, "-c", COPY_AND_WAIT, folder], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": temp})
    return child, os.path.dirname(child.stdout.readline().strip())


def test_a_killed_process_s_model_copy_is_removed_by_the_next_copy(tmp_path, monkeypatch):
    """A SIGKILL skips the atexit that removes a private copy; the next copy made (here, in this process)
    removes it. A live process's copy stays, as do copies of another machine or pid namespace; a folder
    named after this process's pid with another start time (the pid reused) is removed."""
    from sparklong.annotators import private_model_copy

    folder, temp = tmp_path / "model", tmp_path / "temp"
    folder.mkdir()
    temp.mkdir()
    (folder / WEIGHTS).write_bytes(b"weights")
    killed, killed_root = start_copying(str(folder), str(temp))
    live, live_root = start_copying(str(folder), str(temp))
    killed.kill()
    killed.wait()
    machine = private_model_copy.machine_tag()
    reused = temp / f"sparklong-model-{machine}-{os.getpid()}-1-x1y2z3"
    elsewhere = temp / f"sparklong-model-{'0' * 8 if machine != '0' * 8 else '1' * 8}-{killed.pid}-1-x1y2z3"
    reused.mkdir()
    elsewhere.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where this process makes its copy
    mine = private_model_copy.private_copy(str(folder))
    assert os.listdir(mine) == [WEIGHTS]
    assert not os.path.exists(killed_root) and not reused.exists()
    assert os.path.exists(os.path.join(live_root, "model", WEIGHTS)) and elsewhere.exists()
    live.communicate("")  # a normal exit: its atexit removes its copy
    assert not os.path.exists(live_root)
