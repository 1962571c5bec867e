"""Each rule has one owner that every caller goes through; these tests compare the callers, so a second
owner that drifts (another default label name, another engine check, another window clamp) fails here."""
from sparklong.models.config import LongformerConfig, default_labels

from tiny_models import longformer_config


def tiny_config_dict(**extra) -> dict:
    return {**longformer_config().to_dict(), **extra}


def test_unnamed_labels_are_the_same_from_config_json_and_from_a_head():
    raw = tiny_config_dict(num_labels=3)
    raw.pop("id2label", None), raw.pop("label2id", None)
    from_json = LongformerConfig.from_dict(raw)
    from_head = LongformerConfig.from_dict({k: v for k, v in raw.items() if k != "num_labels"}).with_label_count(3)
    assert from_json.id2label == from_head.id2label == default_labels(3) == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert [from_head.label(i) for i in range(4)] == ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"]
