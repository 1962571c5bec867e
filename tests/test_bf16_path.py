"""bfloat16 on the CPU: every architecture's forward stays in bfloat16 from the embeddings to the last hidden
state (no float32 round trip between layers) and equals float32 within the cosine bound; which CPUs compute
bfloat16 natively, and the one-line warning where one does not."""
import pytest
import torch

from sparklong.models import load
from sparklong.models.cpu_linears import OneDnnLinear
from sparklong.models.devices import cpu_bf16_native, slow_cpu_precision
from tiny_models import random_batch, save_bert_folder, save_longformer, save_modernbert_folder

SAVERS = {"longformer": save_longformer, "modernbert": save_modernbert_folder, "bert": save_bert_folder}
PADS = {"longformer": 1, "modernbert": 1, "bert": 0}


@pytest.mark.parametrize("family", sorted(SAVERS))
def test_every_module_computes_in_bfloat16_and_the_result_matches_float32(tmp_path, family):
    folder = str(tmp_path / family)
    SAVERS[family](folder)
    bf16 = load(folder, dtype="bfloat16")
    float_outputs = []  # (module, dtype) of every floating tensor a module returned in another dtype

    def check(module, _inputs, output):
        for out in output if isinstance(output, tuple) else (output,):
            if isinstance(out, torch.Tensor) and out.is_floating_point() and out.dtype != torch.bfloat16:
                float_outputs.append((type(module).__name__, out.dtype))

    hooks = [m.register_forward_hook(check) for m in bf16.modules()]
    ids, mask = random_batch(2, 60, vocab=100, pad_id=PADS[family])
    glob = torch.zeros_like(ids)
    glob[:, 0] = 1  # Longformer's global rows and its merge of global keys into the local ones; others ignore it
    with torch.no_grad():
        got = bf16(ids, mask, glob)
    for hook in hooks:
        hook.remove()
    assert float_outputs == [] and got.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in bf16.parameters())
    if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        # every linear through oneDNN in bf16 (FFN activation fused): none left to F.linear's addmm
        assert not any(isinstance(m, torch.nn.Linear) for m in bf16.modules())
        assert any(isinstance(m, OneDnnLinear) for m in bf16.modules())
    with torch.no_grad():
        want = load(folder)(ids, mask, glob)  # float32
    cosine = torch.nn.functional.cosine_similarity(got.float()[mask.bool()], want[mask.bool()], dim=-1)
    assert cosine.min().item() >= 0.99


@pytest.mark.parametrize("cpuinfo, native", [
    ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n", True),  # AMD Zen 4
    ("flags\t\t: fpu avx2 avx512f amx_tile amx_bf16 amx_int8\n", True),  # Intel Sapphire Rapids
    ("Features\t: fp asimd bf16 i8mm sve\n", True),  # Arm Neoverse V1 (Graviton 3)
    ("flags\t\t: fpu avx2 avx512f avx512_vnni\n", False),  # Intel Cascade Lake: AVX-512, no bf16
    ("Features\t: fp asimd\n", False),  # Graviton 2
    ("model name\t: some CPU\n", None),  # no flags line: unknown
])
def test_native_bfloat16_read_from_cpuinfo(cpuinfo, native):
    assert cpu_bf16_native(cpuinfo) is native


def test_slow_precisions_warn_in_one_line_naming_the_fix():
    cpu, gpu = torch.device("cpu"), torch.device("cuda:0")
    assert slow_cpu_precision("bfloat16", cpu, True) is None
    assert slow_cpu_precision("float32", cpu, False) is None
    assert slow_cpu_precision("bfloat16", gpu, False) is None  # a GPU's precision is not this check's
    for dtype, native, why in (("bfloat16", False, "no native bfloat16"), ("bfloat16", None, "unknown"),
                               ("float16", True, "float16")):
        message = slow_cpu_precision(dtype, cpu, native)
        assert "\n" not in message and why in message and "'float32'" in message
