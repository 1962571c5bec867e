"""BertEmbeddings: the word embeddings stage (embeddings_stage.py) on the full-attention BERT family's
checkpoints (model_type bert, roberta, xlm-roberta)."""
from .embeddings_stage import EmbeddingsStage
from .stage_families import BERT


class BertEmbeddings(EmbeddingsStage):
    family = BERT
    default_pretrained = None  # docs/pretrained.md
