"""BertSentenceEmbeddings: the document and chunk vectors stage (document_vectors_stage.py) on the full-
attention BERT family's checkpoints (model_type bert, roberta, xlm-roberta)."""
from .document_vectors_stage import DocumentVectorsStage
from .stage_families import BERT


class BertSentenceEmbeddings(DocumentVectorsStage):
    family = BERT
    default_pretrained = "all_minilm_l6_v2"
