"""The base of every model annotator, whatever its architecture: model import (loadSavedModel, pretrained),
the params they all have, the checks before any Spark job, and one Arrow UDF / LightPipeline path over
a pure core `core(model, tokenizer, rows) -> annotations per row`.

A task's stage (embeddings_stage.py, question_answering_stage.py, ...) is written once over this base;
each architecture family's class of it (LongformerEmbeddings, ModernBertEmbeddings, ...) only names its
`family` (stage_families.py) and its pretrained default. What differs between architectures is asked of
the model's config (window length, global attention), never decided by the stage's class."""
from __future__ import annotations

import os

from pyspark.ml import Model
from pyspark.ml.param import Params
from pyspark.sql import SparkSession
from pyspark.sql.functions import col

from ..annotation import annotation_column
from ..cores.batching import DEFAULT_MAX_WINDOW, Batching, window_length
from ..engine_choice import prepare_engine
from ..models.architectures import read_config
from ..models import pretrained as registry
from ..models.checkpoint import check_weights
from ..models.loading import check_task_weights
from ..models.piece_tokenizer import PieceTokenizer
from ..params import (
    HasBatchSize,
    HasCaseSensitive,
    HasEngine,
    HasInputAnnotationCols,
    HasMaxBatchTokens,
    HasMaxSentenceLength,
    HasOutputAnnotationCol,
)
from ..udfs.model_cache import get_model, get_tokenizer
from ..udfs.model_shipping import ship_to_executors
from ..udfs.model_udf import ModelCore, model_udf
from .annotator_types import AnnotatorTypes
from .model_stage import HasModelFolder, ModelStagePersistence
from .stage_families import StageFamily, check_family

class EncoderStage(
    Model,
    HasInputAnnotationCols,
    HasOutputAnnotationCol,
    HasCaseSensitive,
    HasMaxSentenceLength,
    HasBatchSize,
    HasMaxBatchTokens,
    HasEngine,
    HasModelFolder,
    ModelStagePersistence,
    AnnotatorTypes,
):
    family: StageFamily  # the checkpoints it runs, its name's first word, its defaults
    stage_suffix = ""  # the rest of its name: LongformerEmbeddings = Longformer + Embeddings
    task = "embeddings"  # the head sparklong.models.load builds
    input_kinds: tuple[str, ...] = ()  # what each input column holds (arity check and its message)
    optional_inputs = 0  # trailing input columns that may be left out (also of inputAnnotatorTypes)
    default_pretrained: str | None = None  # pretrained() with no name; None: no default

    def __init__(self):
        super().__init__()
        self._folder_config: tuple[str, object] | None = None  # (model folder, its config: models/architectures.py)

    def model_config(self):
        """The model folder's config, read once per folder this stage is given and kept here."""
        folder = self.getModelFolder()
        if self._folder_config is None or self._folder_config[0] != folder:
            self._folder_config = (folder, read_config(folder))
        return self._folder_config[1]

    def core(self) -> ModelCore:
        """core(model, tokenizer, rows) -> annotations per row, with this stage's settings bound."""
        raise NotImplementedError

    def window_length(self) -> int:
        """Tokens per model window (cores/batching.window_length)."""
        return window_length(self.getMaxSentenceLength(), self.model_max_tokens())

    def batching(self) -> Batching:
        """The settings every core takes: window length and the forward-pass budget."""
        return Batching(self.window_length(), self.getBatchSize(), self.batch_token_budget())

    def model_max_tokens(self) -> int:
        """The longest window the model's positions allow; before a model is attached, the longest the
        family's models are trained on."""
        if self.isDefined(self.modelFolder):
            return self.model_config().max_tokens
        return max(DEFAULT_MAX_WINDOW, self.family.max_sentence_length)

    def max_sentence_length_limit(self) -> int:
        """As every stage's, and at least the family's trained length: the family's default (e.g. 8,192, the
        jobs' default too) is a valid setting for any of its models, cut to the model's positions at run time."""
        return max(super().max_sentence_length_limit(), self.family.max_sentence_length)

    # -- model import ----------------------------------------------------------------------------
    @classmethod
    def loadSavedModel(cls, folder: str, spark: SparkSession | None = None):
        """Import a Hugging Face folder of this stage's architecture (config.json, weights, tokenizer files)."""
        folder = os.path.abspath(folder)
        config = read_config(folder)  # validates before any Spark job
        check_family(cls.family, cls.stage_suffix, config.model_type, folder)
        check_weights(folder)  # unreadable or unsafe (code-running pickle) weights fail here
        PieceTokenizer.from_folder(folder)
        check_task_weights(folder, cls.task)
        stage = cls()
        stage._set(modelFolder=folder)
        stage._folder_config = (folder, config)
        stage._on_load(config, os.path.basename(folder.rstrip("/")))
        return stage

    def _on_load(self, config, name: str) -> None:
        """Params taken from the imported model (e.g. dimension); nothing by default."""

    @classmethod
    def pretrained(cls, name: str | None = None, lang: str = "en", remote_loc: str | None = None):
        name = name or cls.default_pretrained
        if name is None:
            raise ValueError(
                f"{cls.__name__} has no default pretrained model (see docs/pretrained.md); name one: "
                f"{cls.__name__}.pretrained(name, remote_loc='owner/repo') downloads a Hugging Face hub repo "
                f"of this task into $SPARKLONG_CACHE/<name>_<lang>/, or loadSavedModel(folder, spark) imports "
                f"a local folder"
            )
        stage = cls.loadSavedModel(registry.resolve(name, lang, remote_loc))
        stage._on_load(stage.model_config(), name)
        return stage

    # -- transform -------------------------------------------------------------------------------
    def light_transform(self, row: dict) -> None:
        """LightPipeline: the same core as the UDF, in this process."""
        folder = self.getModelFolder()
        model = get_model(folder, self.task, **self.engine_settings())
        tokenizer = get_tokenizer(folder, not self.getCaseSensitive())
        inputs = tuple(row.get(c) or [] for c in self.getInputCols())
        row[self.getOutputCol()] = list(self.core()(model, tokenizer, [inputs])[0])

    def input_types(self) -> list[tuple[str, ...]]:
        """One entry per given input column: trailing optional inputs may be left out."""
        return super().input_types()[: len(self.getInputCols())]

    def check_input_types(self, dataset) -> None:
        inputs = self.getInputCols()
        least = len(self.input_kinds) - self.optional_inputs
        if not least <= len(inputs) <= len(self.input_kinds):
            raise ValueError(f"{type(self).__name__}: inputCols must be [{', '.join(self.input_kinds)}], got {inputs}")
        super().check_input_types(dataset)

    def _prepare(self, dataset) -> str:
        """Before any Spark job: input columns and their annotator types checked, engine checked (and
        for engine 'onnx' the graph exported into the model folder, once), model shipped (returns the
        name the UDF resolves it by). No session setting is changed: the UDF bounds its own Arrow batches."""
        self.check_input_types(dataset)
        prepare_engine(self)
        return ship_to_executors(dataset.sparkSession, self.getModelFolder())

    def _transform(self, dataset):
        shipped = self._prepare(dataset)
        udf = model_udf(self.getModelFolder(), shipped, self.task, self.core(), self.getCaseSensitive(),
                        self.engine_settings())
        out = self.getOutputCol()
        column = udf(*[col(c) for c in self.getInputCols()])
        return dataset.withColumn(out, annotation_column(column, out, self.outputAnnotatorType))


class HasClasses(Params):
    """Classifier stages: the labels of the model's head, as Spark NLP's getClasses()."""

    def getClasses(self) -> list[str]:
        config = self.model_config()
        return [config.label(i) for i in range(config.num_labels)]
