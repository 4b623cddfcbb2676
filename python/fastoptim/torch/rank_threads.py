"""Threads per process when several ranks share a machine.

A rank that starts as many threads as the machine has cores, beside another rank doing the same,
oversubscribes the cores (2 ranks x all cores): both slow down. When the thread count was not
chosen (no ``OMP_NUM_THREADS``, no ``fastoptim.set_num_threads``) and a process group is up,
fastoptim.torch gives each rank its share: the CPUs this process may use divided by the ranks
on this machine (``LOCAL_WORLD_SIZE``, which torchrun sets; else the world size, as for
``torch.multiprocessing.spawn`` on one machine). torchrun itself sets ``OMP_NUM_THREADS=1`` when
it is unset, which is respected as a choice.
"""

from __future__ import annotations

import os

from .. import _core
from ..runtime import threads_chosen


def rank_share() -> int | None:
    """This rank's share of the cores, or None outside a process group (or on one rank)."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if not (dist.is_available() and dist.is_initialized()):
        return None
    ranks_here = int(os.environ.get("LOCAL_WORLD_SIZE") or dist.get_world_size())
    if ranks_here <= 1:
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // ranks_here)


def share_cores_between_ranks() -> None:
    """Lower a defaulted thread count to this rank's share (a chosen one is left alone)."""
    if threads_chosen():
        return
    share = rank_share()
    if share is not None and share < _core.get_num_threads():
        _core.set_num_threads(share)
