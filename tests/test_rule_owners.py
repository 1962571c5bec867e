"""Each rule has one owner that every caller goes through; these tests compare the callers, so a second
owner that drifts (another default label name, another engine check, another window clamp) fails here."""
import pytest

from sparklong import LongformerEmbeddings
from sparklong.engine_choice import prepare_engine
from sparklong.models import load
from sparklong.models.config import LongformerConfig, default_labels
from sparklong.models.onnx_export import export_onnx
from sparklong.udfs.model_cache import ModelCache

from tiny_models import longformer_config, save_model_folder


@pytest.fixture(scope="module")
def embeddings_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("rules") / "model")
    save_model_folder(folder)
    return folder


def tiny_config_dict(**extra) -> dict:
    return {**longformer_config().to_dict(), **extra}


def test_unnamed_labels_are_the_same_from_config_json_and_from_a_head():
    raw = tiny_config_dict(num_labels=3)
    raw.pop("id2label", None), raw.pop("label2id", None)
    from_json = LongformerConfig.from_dict(raw)
    from_head = LongformerConfig.from_dict({k: v for k, v in raw.items() if k != "num_labels"}).with_label_count(3)
    assert from_json.id2label == from_head.id2label == default_labels(3) == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert [from_head.label(i) for i in range(4)] == ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"]


@pytest.mark.parametrize("device, precision", [("cuda", "auto"), ("cpu", "bfloat16")])
def test_an_engine_combination_gets_the_same_error_from_every_caller(embeddings_folder, device, precision):
    """The driver's check (a stage's prepare_engine) and the worker cache's raise the same ValueError."""
    stage = LongformerEmbeddings.loadSavedModel(embeddings_folder).setQuantize("int8").setDevice(device) \
        .setPrecision(precision)
    with pytest.raises(ValueError) as on_driver:
        prepare_engine(stage)
    with pytest.raises(ValueError) as in_worker:
        ModelCache().model(embeddings_folder, "embeddings", **stage.engine_settings())
    assert str(on_driver.value) == str(in_worker.value)
    assert "quantize='int8' runs on the CPU" in str(on_driver.value)


def test_int8_in_half_precision_is_refused_by_load_and_export_alike(embeddings_folder, tmp_path):
    with pytest.raises(ValueError, match="quantize='int8' runs on the CPU in float32") as loading:
        load(embeddings_folder, quantize="int8", dtype="float16")
    with pytest.raises(ValueError) as exporting:
        export_onnx(embeddings_folder, str(tmp_path / "x.onnx"), quantize="int8", dtype="float16")
    assert str(loading.value).replace("'torch'", "'onnx'") == str(exporting.value)


def test_the_stage_and_the_cores_cut_the_same_window(embeddings_folder):
    """maxSentenceLength past the model's positions: the driver's window and the executor's agree."""
    stage = LongformerEmbeddings.loadSavedModel(embeddings_folder).setMaxSentenceLength(4096)
    config = LongformerConfig.from_folder(embeddings_folder)
    assert config.max_tokens < 4096
    assert stage.window_length() == stage.batching().window(config) == config.max_tokens
    assert stage.setMaxSentenceLength(7).batching().window(config) == stage.window_length() == 7


def test_the_stage_reads_config_json_once_per_folder(embeddings_folder, monkeypatch):
    stage = LongformerEmbeddings.loadSavedModel(embeddings_folder)
    from sparklong.annotators import encoder_stage

    reads = []
    original = encoder_stage.read_config
    monkeypatch.setattr(encoder_stage, "read_config", lambda folder: reads.append(folder) or original(folder))
    for _ in range(3):
        stage.batching(), stage.model_max_tokens(), stage.setMaxSentenceLength(64)
    assert reads == []  # loadSavedModel's read is kept
    copy = stage.copy()
    copy._set(modelFolder=embeddings_folder + "/")  # another folder path: read again, then kept
    copy.batching(), copy.batching()
    assert reads == [embeddings_folder + "/"]
