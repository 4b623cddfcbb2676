"""Run-time controls and facts: threads, instruction set, build information."""

from __future__ import annotations

import os
import platform
from typing import Any

from . import _core
from ._version import __version__

MAX_THREADS: int = int(_core.MAX_THREADS)
"""The most threads :func:`set_num_threads` accepts."""

_chosen = False  # set_num_threads was called by the user


def threads_chosen() -> bool:
    """Whether the thread count was chosen (``OMP_NUM_THREADS``, or :func:`set_num_threads`) rather
    than defaulted; fastoptim.torch only adjusts a defaulted count (to a rank's share of the cores)."""
    return _chosen or bool(os.environ.get("OMP_NUM_THREADS"))


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (1 to ``MAX_THREADS`` = 1024; ValueError otherwise) for steps large
    enough to profit. Default: ``OMP_NUM_THREADS`` if set, else the CPUs this process may run
    on. Results are bit-identical for any ``n``. The threads are fastoptim's own pool: a
    process forked after a step (multiprocessing's fork start method) steps with fresh threads."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n: expected an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n: number of threads must be in [1, {MAX_THREADS}], got {n}")
    global _chosen
    _chosen = True
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Number of threads a large step uses."""
    return int(_core.get_num_threads())


def use_isa(name: str) -> None:
    """Run the kernels compiled for ``name`` ("baseline", "avx2", "avx512", or "avx512bf16":
    avx512 with AVX512_BF16's rounding in Muon's momentum pass, the same bits); ValueError if
    this CPU or build lacks it. ``FASTOPTIM_ISA`` does the same at import."""
    _core.use_isa(name)


def active_isa() -> str:
    """The instruction set whose kernels run now."""
    return str(_core.active_isa())


def supported_isas() -> list[str]:
    """Instruction sets compiled into this build that this CPU and OS can run."""
    return list(_core.supported_isas())


def info() -> dict[str, Any]:
    """Version, ISA in use and available, threads, compiler and flags."""
    build = dict(_core.build_info())
    return {
        "version": __version__,
        "isa": active_isa(),
        "isa_supported": supported_isas(),
        "isa_compiled": list(_core.compiled_isas()),
        "isa_env": os.environ.get("FASTOPTIM_ISA"),
        "threads": get_num_threads(),
        "min_elements_per_thread": int(_core.get_min_elements_per_thread()),
        "thread_pool": build["threads"],
        "fork_safe": bool(_core.fork_handler_installed()),
        "compiler": build["compiler"],
        "cxx_flags": build["cxx_flags"],
        "isa_flags": build["isa_flags"],
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
