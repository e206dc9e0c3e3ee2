"""What the CPU this process runs on is: its vendor and instruction-set flags, read once from ``/proc/cpuinfo``."""

from __future__ import annotations

import functools
import pathlib
from typing import NamedTuple

#: where Linux lists the processors, their vendor and their flags
CPUINFO = pathlib.Path("/proc/cpuinfo")


class CPUInfo(NamedTuple):
    """The first processor's ``vendor_id`` (such as ``"AuthenticAMD"``) and ``flags`` in ``/proc/cpuinfo``."""

    vendor: str
    flags: frozenset[str]


@functools.cache
def cpu_info() -> CPUInfo:
    """The CPU's vendor id and flags (empty where ``/proc/cpuinfo`` cannot be read, as on macOS or Windows)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return CPUInfo("", frozenset())
    vendor, flags = "", frozenset()
    for line in text.splitlines():
        if line.startswith("vendor_id") and not vendor:
            vendor = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = frozenset(line.split(":", 1)[1].split())
    return CPUInfo(vendor, flags)
