"""The oneDNN float32 linear layers (sb3_dreamer.common.linear) and the MLP's 2-D products."""

import pytest
import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_dreamer.common import linear as linear_module
from sb3_dreamer.common.linear import ONEDNN_MIN_ROWS, GRUCell, Linear, onednn_linear_enabled
from sb3_dreamer.common.networks import mlp

needs_onednn = pytest.mark.skipif(
    not (th.backends.mkldnn.is_available() and hasattr(th.ops.mkldnn, "_linear_pointwise")),
    reason="this PyTorch has no oneDNN linear",
)


@pytest.fixture
def onednn_calls(monkeypatch):
    """Force the oneDNN path and count its products."""
    calls = []
    product = linear_module._onednn_product

    def counted(*args):
        calls.append(tuple(args[0].shape))
        return product(*args)

    monkeypatch.setattr(linear_module, "onednn_linear_enabled", lambda: True)
    monkeypatch.setattr(linear_module, "_onednn_product", counted)
    return calls


def _close(a: th.Tensor, b: th.Tensor) -> None:
    th.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("shape", [(64, 30), (3, 40, 30)])
def test_onednn_linear_matches_torch_forward_and_backward(onednn_calls, shape):
    th.manual_seed(0)
    layer = Linear(30, 20)
    x = th.randn(*shape, requires_grad=True)
    y = layer(x)
    y.pow(2).sum().backward()
    grads = x.grad.clone(), layer.weight.grad.clone(), layer.bias.grad.clone()
    x.grad, layer.weight.grad, layer.bias.grad = None, None, None
    reference = F.linear(x, layer.weight, layer.bias)
    reference.pow(2).sum().backward()
    _close(y, reference)
    for ours, theirs in zip(grads, (x.grad, layer.weight.grad, layer.bias.grad), strict=True):
        _close(ours, theirs)
    rows = shape[0] * (shape[1] if len(shape) == 3 else 1)
    # the forward product, then dL/dx (rows x 20) and dL/dW (20 x rows) in the backward pass
    assert onednn_calls == [(rows, 30), (rows, 20), (20, rows)]


@needs_onednn
def test_onednn_linear_leaves_small_batches_autocast_and_other_dtypes_to_torch(onednn_calls):
    layer = Linear(30, 20)
    layer(th.randn(ONEDNN_MIN_ROWS - 1, 30))  # acting: MKL is faster at a few rows
    with th.autocast("cpu", dtype=th.bfloat16):
        assert layer(th.randn(64, 30)).dtype == th.bfloat16
    layer.double()(th.randn(64, 30, dtype=th.float64))
    assert onednn_calls == []
    layer.float()(th.randn(ONEDNN_MIN_ROWS, 30))
    assert onednn_calls == [(ONEDNN_MIN_ROWS, 30)]


@needs_onednn
def test_onednn_gru_cell_matches_torch_gru_cell(onednn_calls):
    th.manual_seed(0)
    ours = GRUCell(12, 20)
    theirs = nn.GRUCell(12, 20)
    theirs.load_state_dict(ours.state_dict())  # same parameters, same keys
    x, h = th.randn(32, 12), th.randn(32, 20)
    outputs = []
    for cell in (ours, theirs):
        out = cell(x, h)
        out.pow(2).sum().backward()
        outputs.append((out, *(p.grad for p in cell.parameters())))
    for a, b in zip(*outputs, strict=True):
        _close(a, b)
    assert len(onednn_calls) == 4  # two forward products, two backward (the weights: x and h need no gradient)
    _close(ours(x), theirs(x))  # no state: zeros


def test_linear_backend_environment_variable(monkeypatch):
    try:
        for value, expected in (("torch", False), ("onednn", th.backends.mkldnn.is_available())):
            monkeypatch.setenv("SB3_DREAMER_LINEAR", value)
            onednn_linear_enabled.cache_clear()
            assert onednn_linear_enabled() is expected
        monkeypatch.setenv("SB3_DREAMER_LINEAR", "mkl")
        onednn_linear_enabled.cache_clear()
        with pytest.raises(ValueError, match="SB3_DREAMER_LINEAR"):
            onednn_linear_enabled()
    finally:
        monkeypatch.delenv("SB3_DREAMER_LINEAR")
        onednn_linear_enabled.cache_clear()


def _graph_nodes(tensor: th.Tensor) -> set[str]:
    seen, stack, names = set(), [tensor.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_mlp_runs_in_place_activations_on_2d_products():
    """On (horizon, starts, features) inputs the MLP multiplies 2-D tensors, so its in-place ELU never modifies a
    view: no CopySlices node (a clone, a fill and a strided copy of the whole activation) in the backward graph;
    the same values and gradients as nn.Sequential of the same layers."""
    th.manual_seed(0)
    net = mlp(6, [16, 16], 3, nn.ELU)
    x = th.randn(5, 7, 6, requires_grad=True)
    y = net(x)
    assert y.shape == (5, 7, 3)
    assert "CopySlices" not in _graph_nodes(y)
    y.sum().backward()
    grad = x.grad.clone()
    x.grad = None
    plain = nn.Sequential(*[nn.ELU() if isinstance(m, nn.ELU) else m for m in net])  # out of place
    reference = plain(x)
    reference.sum().backward()
    _close(y, reference)
    _close(grad, x.grad)


def test_cpu_info_reads_the_first_processor(monkeypatch, tmp_path):
    """The vendor and flags come from the first processor's lines; an unreadable file gives neither."""
    from sb3_dreamer.common import cpu

    listing = tmp_path / "cpuinfo"
    listing.write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
        "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu\n"
    )
    monkeypatch.setattr(cpu, "CPUINFO", listing)
    cpu.cpu_info.cache_clear()
    try:
        assert cpu.cpu_info() == cpu.CPUInfo("AuthenticAMD", frozenset({"fpu", "avx2", "avx512f", "avx512_bf16"}))
        cpu.cpu_info.cache_clear()
        monkeypatch.setattr(cpu, "CPUINFO", tmp_path / "missing")
        assert cpu.cpu_info() == cpu.CPUInfo("", frozenset())
    finally:
        cpu.cpu_info.cache_clear()
