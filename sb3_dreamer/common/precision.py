"""Which precision the world model and imagination compute in: ``"32"``, ``"bf16-mixed"`` or ``"auto"``.

bfloat16 pays only where the hardware computes it natively: CUDA devices with bf16 support, and CPUs with the
AVX512_BF16 or AMX instructions. Elsewhere it is emulated: on an AVX2-only AMD EPYC a 2500x400x400 matmul took
10.5 ms in float32 and 329 ms in bf16 (31x slower), and a Dreamer update at sheeprl's sizes about 11x longer.
"""

from __future__ import annotations

import functools
import warnings

import torch as th

from sb3_dreamer.common.cpu import cpu_info

#: the precisions ``Dreamer(precision=...)`` accepts
PRECISIONS = ("32", "bf16-mixed", "auto")


class EmulatedBF16Warning(UserWarning):
    """``precision="bf16-mixed"`` on a device without native bfloat16: it runs, much slower than float32."""


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: its flags (``/proc/cpuinfo``) list ``avx512_bf16`` or
    ``amx_bf16``. False where they cannot be read."""
    return bool(cpu_info().flags & {"avx512_bf16", "amx_bf16"})


def has_native_bf16(device: th.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (a CUDA device with bf16 support, or such a CPU)."""
    if device.type == "cuda":
        return th.cuda.is_available() and th.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_precision(precision: str, device: th.device) -> str:
    """The precision to compute in on ``device``: ``"auto"`` becomes ``"bf16-mixed"`` where bf16 is native and
    ``"32"`` elsewhere; ``"bf16-mixed"`` on a device that emulates it warns (:class:`EmulatedBF16Warning`).

    :param precision: one of :data:`PRECISIONS`
    :param device: the device the model computes on
    :raises ValueError: for any other precision
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    native = has_native_bf16(device)
    if precision == "auto":
        return "bf16-mixed" if native else "32"
    if precision == "bf16-mixed" and not native:
        warnings.warn(
            f'precision="bf16-mixed" on {device}, which has no native bfloat16 (no AVX512_BF16 or AMX on a CPU): '
            "bf16 is emulated there, measured 31x slower than float32 for a matmul and 11x for a Dreamer update on "
            'an AVX2 CPU. Use precision="auto" (float32 here) or "32".',
            EmulatedBF16Warning,
            stacklevel=3,
        )
    return precision
