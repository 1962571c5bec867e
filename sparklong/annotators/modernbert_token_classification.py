"""ModernBertForTokenClassification: the token classification stage (token_classification_stage.py) on
ModernBERT checkpoints (model_type modernbert)."""
from .token_classification_stage import TokenClassificationStage
from .stage_families import MODERNBERT


class ModernBertForTokenClassification(TokenClassificationStage):
    family = MODERNBERT
    default_pretrained = None  # docs/pretrained.md
