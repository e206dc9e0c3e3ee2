"""Linear layers whose float32 products run on oneDNN on AMD CPUs with AVX-512.

PyTorch computes a float32 ``nn.Linear`` on a CPU with MKL's GEMM, and MKL runs its AVX2 code on AMD processors
even where they have AVX-512. oneDNN, which PyTorch ships as well, uses AVX-512 there. Measured on one core of an
AMD EPYC (Zen 5, family 26), torch 2.13.0: a 2500x400 @ 400x400 product at 98-102 GFLOP/s through ``torch.mm``
and 223-238 GFLOP/s through oneDNN (``torch.ops.mkldnn._linear_pointwise``), and the two backward products at the
same ratio. Imagination multiplies thousands of states by every layer, so most of an update is these products.

:class:`Linear` and :class:`GRUCell` are ``nn.Linear`` and ``nn.GRUCell`` (same parameters, same state-dict keys)
that send float32 products of at least :data:`ONEDNN_MIN_ROWS` rows to oneDNN where
:func:`onednn_linear_enabled` says so; everything else (autocast, other dtypes, other devices, acting at batch
1, where MKL is faster) goes through PyTorch as before. The results agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import functools
import os
import platform

import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_dreamer.common.cpu import cpu_info

#: environment variable: ``"onednn"`` or ``"torch"`` forces the backend of float32 linear layers on a CPU
ENV_VAR = "SB3_DREAMER_LINEAR"
#: the fewest rows (states) sent to oneDNN: below 16, MKL's GEMM is the faster (measured at 400x400: 9.9 against
#: 18.3 us at one row, 64 against 47 us at 16 rows)
ONEDNN_MIN_ROWS = 16
#: the weight gradient ``g^T x`` is summed over blocks of this many rows: oneDNN reads the transposed blocks from
#: cache (measured for 37,500 x 400 rows into 400 outputs: 182 GFLOP/s in blocks of 2,500, 114 in one product)
WEIGHT_GRAD_BLOCK_ROWS = 2500


@functools.cache
def onednn_linear_enabled() -> bool:
    """Whether float32 linear layers on the CPU run on oneDNN: on x86-64 AMD CPUs with AVX-512 (where MKL leaves
    AVX-512 unused), if this PyTorch has oneDNN's linear. The environment variable ``SB3_DREAMER_LINEAR``
    (``"onednn"`` or ``"torch"``) overrides the choice; read once per process.

    :raises ValueError: for any other value of ``SB3_DREAMER_LINEAR``
    """
    choice = os.environ.get(ENV_VAR, "auto")
    if choice not in ("auto", "onednn", "torch"):
        raise ValueError(f'{ENV_VAR} must be "auto", "onednn" or "torch", got {choice!r}.')
    available = th.backends.mkldnn.is_available() and hasattr(th.ops.mkldnn, "_linear_pointwise")
    if choice != "auto":
        return choice == "onednn" and available
    cpu = cpu_info()
    return available and platform.machine() in ("x86_64", "AMD64") and cpu.vendor == "AuthenticAMD" and "avx512f" in cpu.flags


def _onednn_product(x: th.Tensor, weight: th.Tensor, bias: th.Tensor | None = None) -> th.Tensor:
    """``x @ weight.T + bias`` by oneDNN (``x`` 2-D; views such as transposes are read in place)."""
    return th.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDNNLinearFunction(th.autograd.Function):
    """``y = x W^T + b`` with the forward product and both backward products (``dL/dx = g W``,
    ``dL/dW = g^T x``, summed over blocks of :data:`WEIGHT_GRAD_BLOCK_ROWS` rows) on oneDNN."""

    @staticmethod
    def forward(ctx, x: th.Tensor, weight: th.Tensor, bias: th.Tensor | None) -> th.Tensor:
        """``x W^T + b`` for a 2-D ``x``; keeps ``x`` and ``W`` for the backward pass."""
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _onednn_product(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: th.Tensor) -> tuple[th.Tensor | None, th.Tensor | None, th.Tensor | None]:
        """The gradients of ``x``, ``W`` and ``b`` from the output's gradient ``g``, those needed only."""
        x, weight = ctx.saved_tensors
        grad = grad.contiguous()
        grad_x = _onednn_product(grad, weight.t().contiguous()) if ctx.needs_input_grad[0] else None
        grad_weight = None
        if ctx.needs_input_grad[1]:
            for grad_block, x_block in zip(grad.split(WEIGHT_GRAD_BLOCK_ROWS), x.split(WEIGHT_GRAD_BLOCK_ROWS), strict=True):
                block = _onednn_product(grad_block.t(), x_block.t())
                grad_weight = block if grad_weight is None else grad_weight.add_(block)
        grad_bias = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias


def _use_onednn(x: th.Tensor, weight: th.Tensor) -> bool:
    """Whether this product goes to oneDNN: float32 on the CPU outside autocast, enough rows, enabled here."""
    return (
        x.device.type == "cpu"
        and x.dtype == th.float32
        and weight.dtype == th.float32
        and x.numel() >= ONEDNN_MIN_ROWS * x.shape[-1] > 0
        and not th.is_autocast_enabled("cpu")
        and onednn_linear_enabled()
    )


def linear(x: th.Tensor, weight: th.Tensor, bias: th.Tensor | None = None) -> th.Tensor:
    """``F.linear`` with float32 CPU products on oneDNN where :func:`onednn_linear_enabled` (any leading shape)."""
    if not _use_onednn(x, weight):
        return F.linear(x, weight, bias)
    if x.dim() == 2:
        return OneDNNLinearFunction.apply(x, weight, bias)
    y = OneDNNLinearFunction.apply(x.reshape(-1, x.shape[-1]), weight, bias)
    return y.view(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """``nn.Linear`` computed by :func:`linear` (oneDNN for float32 CPU products where enabled)."""

    def forward(self, x: th.Tensor) -> th.Tensor:
        """``x W^T + b``."""
        return linear(x, self.weight, self.bias)


class GRUCell(nn.GRUCell):
    """``nn.GRUCell`` (Cho et al. 2014, PyTorch's gate layout: reset, update, candidate) with its two products
    computed by :func:`linear`: ``r = sigma(W_ir x + W_hr h)``, ``z = sigma(W_iz x + W_hz h)``,
    ``n = tanh(W_in x + r * (W_hn h))`` (biases included), ``h' = (1 - z) n + z h``."""

    def forward(self, x: th.Tensor, h: th.Tensor | None = None) -> th.Tensor:
        """The next state ``h'`` from the input ``x`` (batch, input) and the state ``h`` (batch, hidden)."""
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)
        if not _use_onednn(x, self.weight_ih):
            return super().forward(x, h)
        input_reset, input_update, input_new = linear(x, self.weight_ih, self.bias_ih).chunk(3, dim=-1)
        hidden_reset, hidden_update, hidden_new = linear(h, self.weight_hh, self.bias_hh).chunk(3, dim=-1)
        reset = th.sigmoid(input_reset + hidden_reset)
        update = th.sigmoid(input_update + hidden_update)
        new = th.tanh(input_new + reset * hidden_new)
        return new + update * (h - new)
