"""LongformerForTokenClassification: the token classification stage (token_classification_stage.py) on
Longformer checkpoints."""
from .token_classification_stage import TokenClassificationStage
from .stage_families import LONGFORMER


class LongformerForTokenClassification(TokenClassificationStage):
    family = LONGFORMER
    default_pretrained = None  # the hub has no Longformer fine-tuned for CoNLL-03 (docs/pretrained.md)
