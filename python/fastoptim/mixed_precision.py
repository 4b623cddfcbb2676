"""Mixed precision: float16 or bfloat16 params with float32 master weights.

A parameter group whose arrays are ``numpy.float16`` or bfloat16 (``ml_dtypes.bfloat16``,
the optional extra ``bf16``) is stepped through float32 master copies that the optimizer
keeps (and checkpoints as ``"master_param"``); state is float32. Gradients come in the
params' format. One kernel pass reads the 16-bit gradient, updates the master and the state
and writes the master rounded to nearest-even back into the user's 16-bit array, or, for
bfloat16 params with the optimizer's ``stochastic_rounding=True``, rounded stochastically from
a seeded hash of (seed, step, element) (float16 params are always rounded to nearest even).
"""

from __future__ import annotations

import numpy as np

from . import _core
from .flat_params import aligned_zeros


def is_low_precision(a: np.ndarray) -> bool:
    """float16, or a 2-byte dtype named bfloat16 (ml_dtypes)."""
    return a.dtype == np.float16 or (a.dtype.name == "bfloat16" and a.dtype.itemsize == 2)


def master_copy(a: np.ndarray) -> np.ndarray:
    """A 64-byte-aligned float32 copy of a 16-bit array (exact)."""
    out = aligned_zeros(a.size, np.float32).reshape(a.shape)
    _core.widen(np.ascontiguousarray(a), out)
    return out


def check_group_dtypes(arrays: list[np.ndarray], where: str) -> bool:
    """Whether the group is mixed precision; TypeError if it mixes 16-bit and other dtypes."""
    low = [is_low_precision(a) for a in arrays]
    if any(low) and not all(low):
        raise TypeError(f"{where}: mixes 16-bit and other params; put them in separate parameter groups")
    if any(low) and len({a.dtype for a in arrays}) > 1:
        raise TypeError(f"{where}: mixes float16 and bfloat16 params; put them in separate parameter groups")
    return bool(low) and low[0]
