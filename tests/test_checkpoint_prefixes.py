"""One table of encoder key prefixes (checkpoint.ENCODER_PREFIXES) serves the loader and convert_to_long:
each prefix loads, and the prefixes convert_to_long did not strip before ("longformer.") let no
Longformer through it: its model_type is refused before any weight is read."""
import os

import pytest
import torch

from sparklong.models import load
from sparklong.models.checkpoint import ENCODER_PREFIXES
from sparklong.models.convert import convert_to_long
from tiny_models import random_batch, save_longformer


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A LongformerModel folder: encoder keys without a prefix."""
    folder = str(tmp_path_factory.mktemp("plain"))
    save_longformer(folder)
    return folder


@pytest.mark.parametrize("prefix", ENCODER_PREFIXES)
def test_every_prefix_loads_the_same_model(plain, tmp_path, prefix):
    from safetensors.torch import load_file, save_file

    for name in os.listdir(plain):
        if name != "model.safetensors":
            os.symlink(os.path.join(plain, name), tmp_path / name)
    state = load_file(os.path.join(plain, "model.safetensors"))
    save_file({prefix + k: v for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    ids, mask = random_batch(2, 20)
    with torch.no_grad():
        assert torch.equal(load(str(tmp_path))(ids, mask), load(plain)(ids, mask))


def test_convert_refuses_a_longformer(plain, tmp_path):
    with pytest.raises(ValueError, match="model_type 'longformer'"):
        convert_to_long(plain, str(tmp_path / "long"))
    assert not os.path.exists(tmp_path / "long")
