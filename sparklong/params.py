"""Shared Params mixins. One convention: subclass Params, class-level Param with a typeConverter,
camelCase chainable setters that validate and raise ValueError naming the param and allowed values."""
from __future__ import annotations

from pyspark.ml.param import Param, Params, TypeConverters

from .cores.batching import DEFAULT_MAX_WINDOW, longest_window_setting
from .cores.value_checks import check_choice, check_range
# The engine's choices come from a module without torch, so importing params loads no model code.
from .engine_options import CPU_BATCH_TOKENS, DEVICES, ENGINES, PRECISIONS, QUANTIZE


def _columns(cols) -> list[str]:
    """setInputCols("a", "b") and setInputCols(["a", "b"]) both work, as in Spark NLP."""
    if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
        cols = cols[0]
    return TypeConverters.toListString(list(cols))


class HasInputAnnotationCols(Params):
    inputCols = Param(Params._dummy(), "inputCols", "input annotation columns", TypeConverters.toListString)

    def setInputCols(self, *cols):
        return self._set(inputCols=_columns(cols))

    def getInputCols(self) -> list[str]:
        return self.getOrDefault(self.inputCols)


class HasOutputAnnotationCol(Params):
    outputCol = Param(Params._dummy(), "outputCol", "output annotation column", TypeConverters.toString)

    def setOutputCol(self, value: str):
        return self._set(outputCol=value)

    def getOutputCol(self) -> str:
        return self.getOrDefault(self.outputCol)


class HasCaseSensitive(Params):
    caseSensitive = Param(Params._dummy(), "caseSensitive", "keep case before BPE", TypeConverters.toBoolean)

    def setCaseSensitive(self, value: bool):
        return self._set(caseSensitive=value)

    def getCaseSensitive(self) -> bool:
        return self.getOrDefault(self.caseSensitive)


class HasBatchSize(Params):
    batchSize = Param(Params._dummy(), "batchSize", "documents per forward pass (upper bound)", TypeConverters.toInt)

    def setBatchSize(self, value: int):
        check_range("batchSize", int(value), 1, 4096)
        return self._set(batchSize=value)

    def getBatchSize(self) -> int:
        return self.getOrDefault(self.batchSize)


class HasMaxBatchTokens(Params):
    maxBatchTokens = Param(
        Params._dummy(), "maxBatchTokens",
        f"padded tokens per forward pass, at most (default {CPU_BATCH_TOKENS}; unset on a GPU: from its memory)",
        TypeConverters.toInt,
    )

    def __init__(self):
        super().__init__()
        self._setDefault(maxBatchTokens=CPU_BATCH_TOKENS)

    def batch_token_budget(self) -> int | None:
        """maxBatchTokens when the user set it, else None: the device's own budget (cores/forward.py)."""
        return self.getMaxBatchTokens() if self.isSet(self.maxBatchTokens) else None

    def setMaxBatchTokens(self, value: int):
        check_range("maxBatchTokens", int(value), 1, 1 << 24)
        return self._set(maxBatchTokens=value)

    def getMaxBatchTokens(self) -> int:
        return self.getOrDefault(self.maxBatchTokens)


class HasMaxSentenceLength(Params):
    maxSentenceLength = Param(
        Params._dummy(), "maxSentenceLength", "tokens per model window, special tokens included", TypeConverters.toInt
    )

    def model_max_tokens(self) -> int:
        """Longest window the model's positions allow; DEFAULT_MAX_WINDOW until a model is attached."""
        return DEFAULT_MAX_WINDOW

    def max_sentence_length_limit(self) -> int:
        """The largest maxSentenceLength (and token count a docStride or an answer may span) accepted."""
        return longest_window_setting(self.model_max_tokens())

    def setMaxSentenceLength(self, value: int):
        check_range("maxSentenceLength", int(value), 1, self.max_sentence_length_limit())
        return self._set(maxSentenceLength=value)

    def getMaxSentenceLength(self) -> int:
        return self.getOrDefault(self.maxSentenceLength)


class HasDimension(Params):
    dimension = Param(Params._dummy(), "dimension", "embedding dimension", TypeConverters.toInt)

    def setDimension(self, value: int):
        check_range("dimension", int(value), 1, 1 << 16)
        return self._set(dimension=value)

    def getDimension(self) -> int:
        return self.getOrDefault(self.dimension)


class HasStorageRef(Params):
    storageRef = Param(Params._dummy(), "storageRef", "name identifying these embeddings", TypeConverters.toString)

    def setStorageRef(self, value: str):
        return self._set(storageRef=value)

    def getStorageRef(self) -> str:
        return self.getOrDefault(self.storageRef)


class HasEngine(Params):
    engine = Param(Params._dummy(), "engine", "inference engine: torch or onnx (onnxruntime)", TypeConverters.toString)
    device = Param(Params._dummy(), "device", "auto (in a Spark task: the GPU Spark assigned it), cpu or cuda",
                   TypeConverters.toString)
    precision = Param(
        Params._dummy(), "precision", "auto (bfloat16 on GPUs that have it, else float16; float32 on CPUs), "
        "float32, bfloat16 or float16", TypeConverters.toString,
    )
    quantize = Param(
        Params._dummy(), "quantize", "none, or int8: int8 linear layers on the CPU (either engine)",
        TypeConverters.toString,
    )

    def __init__(self):
        super().__init__()
        self._setDefault(engine="torch", device="auto", precision="auto", quantize="none")

    def setEngine(self, value: str):
        check_choice("engine", value, ENGINES)
        return self._set(engine=value)

    def getEngine(self) -> str:
        return self.getOrDefault(self.engine)

    def setDevice(self, value: str):
        check_choice("device", value, DEVICES)
        return self._set(device=value)

    def getDevice(self) -> str:
        return self.getOrDefault(self.device)

    def setPrecision(self, value: str):
        check_choice("precision", value, PRECISIONS)
        return self._set(precision=value)

    def getPrecision(self) -> str:
        return self.getOrDefault(self.precision)

    def setQuantize(self, value: str):
        check_choice("quantize", value, QUANTIZE)
        return self._set(quantize=value)

    def getQuantize(self) -> str:
        return self.getOrDefault(self.quantize)

    def engine_settings(self) -> dict:
        """engine, device, precision and quantize: udfs.model_cache.get_model's keyword arguments."""
        return dict(engine=self.getEngine(), device=self.getDevice(), precision=self.getPrecision(),
                    quantize=self.getQuantize())


def set_params(stage: Params, kwargs: dict) -> Params:
    """Apply keyword_only constructor arguments through the validating camelCase setters."""
    for name, value in kwargs.items():
        if value is not None:
            getattr(stage, "set" + name[0].upper() + name[1:])(value)
    return stage
