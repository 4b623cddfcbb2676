"""What the benchmark ran on: CPU, cores, ISA, memory, library versions."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np

from ..runtime import info


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def describe() -> dict[str, Any]:
    d = info()
    d.update({"cores": os.cpu_count(), "numpy": np.__version__, "platform": platform.platform(),
              "mem_available_bytes": available_memory_bytes()})
    try:
        import torch

        d["torch"] = str(torch.__version__)
    except ImportError:
        d["torch"] = None
    return d
