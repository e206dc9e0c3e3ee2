"""CPU memory: let glibc's malloc keep freed memory for reuse.

Every update allocates and frees the same large activations (tens of MB each: heads over ``H x N`` imagined
states). glibc serves each block above its mmap threshold from a fresh ``mmap`` and returns it with ``munmap``
when freed, so the next update's block faults in every page again. At sheeprl's DreamerV1 sizes from
proprioception (one thread, AMD EPYC) that was about 700,000 minor page faults and 1.2 s of kernel time in a
5.8 s update; with mmap off and no trimming, 30,000 faults and 4.8-4.9 s per update (bitwise the same
computation), with a peak resident memory about 20% higher (2.2 GB against 1.8 GB), since the heap keeps what
it held at its peak.

With malloc's own mmap off, ``np.zeros`` of a large array can no longer rely on fresh zero pages: when malloc
reuses a freed block it writes zeros over all of it, so an image replay buffer of 1M rows would become resident
at once (12 GB at 64x64x3). :func:`lazy_zeros` maps such arrays itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import mmap
import os
import sys
from typing import Any

import numpy as np

#: ``mallopt`` parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4

#: environment variable that turns the setting off when ``"0"``
ENV_VAR = "SB3_DREAMER_KEEP_FREED_MEMORY"


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory in the heap for reuse: no mmap for large blocks
    (``M_MMAP_MAX=0``) and no trimming of the heap's top (``M_TRIM_THRESHOLD`` at its maximum). Process-wide and
    applied once; :meth:`~sb3_dreamer.Dreamer.learn` calls it for models on a CPU.

    :return: whether it applied: on Linux with glibc, unless the environment variable
        ``SB3_DREAMER_KEEP_FREED_MEMORY`` is ``"0"``
    """
    if os.environ.get(ENV_VAR, "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def lazy_zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A zeroed array on its own private anonymous memory map, whose pages the kernel maps only as they are first
    written, whatever malloc's settings; unmapped when the array is freed. ``np.zeros`` where the platform has no
    anonymous maps.

    :param shape: the array's shape
    :param dtype: its data type
    :return: the zeroed array, writable
    :raises MemoryError: where the system refuses the map, as ``np.zeros`` would
    """
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes == 0 or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.zeros(shape, dtype=dtype)
    try:
        memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as error:
        raise MemoryError(f"Unable to map {nbytes / 2**20:,.0f} MiB for an array of shape {shape} ({error})") from error
    return np.frombuffer(memory, dtype=dtype).reshape(shape)
