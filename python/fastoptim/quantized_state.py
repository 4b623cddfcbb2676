"""Compact optimizer state: 8-bit block-wise (``state_bits=8``) and bfloat16 (``state_bits=16``).

bfloat16 state keeps every state buffer (moments, momentum, sums) of float32 params (or
float32 masters of 16-bit params) in bfloat16, half the memory, rounded to nearest even or,
with ``stochastic_rounding=True``, stochastically from a seeded hash of (seed, step, element):
the same bits for any thread count and ISA. It needs ml_dtypes (extra ``bf16``).

8-bit block-wise state:

Each state buffer of a large float32 parameter is kept as one uint8 code per element and one
float32 scale per block of 256 elements (the block's largest magnitude): 2·(1 + 4/256)/8 =
25.4 % of the float32 state's memory for Adam. A code is a small float relative to its block's
scale, the bits of a float16 with the low ones dropped: first moments and momentum buffers as
sign + 4-bit exponent + 3-bit mantissa (``float8_e4m3fn(code) / 256``: 1.0 is ``0x78``, the
smallest ``2**-17``), the *square root* of second moments (which keeps their range equal to the
first moment's) as 4-bit exponent + 4-bit mantissa (``float16`` bits ``code << 6``: 1.0 is
``0xf0``, the smallest ``2**-18``). Rounding is stochastic, from a seeded counter-based
generator, so results do not depend on thread count or ISA. A block whose second moment
overflows float (inf) restarts from zero moments. Parameters smaller than ``min_8bit_size``
elements keep 32-bit state. Supported: SGD with momentum, RMSprop (not centered), Adam/AdamW
(not amsgrad).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .flat_params import aligned_zeros

BLOCK = int(_core.BLOCK8_SIZE)


@dataclass
class Quantized8:
    """The 8-bit state of one parameter: ``codes`` (uint8, one per element) and ``scales``
    (float32, one per block of 256 elements: the block's largest magnitude)."""

    codes: np.ndarray
    scales: np.ndarray

    @classmethod
    def zeros(cls, size: int) -> Quantized8:
        return cls(aligned_zeros(size, np.uint8), aligned_zeros(-(-size // BLOCK), np.float32))

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.scales.nbytes)

    def copy(self) -> Quantized8:
        return Quantized8(self.codes.copy(), self.scales.copy())

    def dequantize(self, signed: bool) -> np.ndarray:
        """The float32 values the codes stand for, flat: a signed code (moments, momentum) times
        its block's scale; an unsigned one (the root of a second moment) times the scale, squared."""
        c = self.codes.astype(np.uint16)
        bits = (((c & 0x80) << 8) | ((c & 0x7F) << 7)) if signed else (c << 6)
        x = bits.astype(np.uint16).view(np.float16).astype(np.float32)
        v = x * np.repeat(self.scales.astype(np.float32), BLOCK)[: c.size]
        return v if signed else v * v

    def load(self, other: Quantized8, where: str) -> None:
        """Copy ``other`` in place (the step plans keep pointing at these buffers)."""
        if other.codes.shape != self.codes.shape or other.scales.shape != self.scales.shape:
            raise ValueError(f"{where}: 8-bit state of {other.codes.size} elements / {other.scales.size} "
                             f"blocks, expected {self.codes.size} / {self.scales.size}")
        np.copyto(self.codes, other.codes, casting="no")
        np.copyto(self.scales, other.scales, casting="same_kind")


def check_state_bits(group: Mapping[str, Any], supported: bool, why: str = "") -> None:
    """Validate a group's state_bits / min_8bit_size / stochastic_rounding / seed options."""
    bits = group["state_bits"]
    if bits not in (8, 16, 32) or isinstance(bits, bool):
        raise ValueError(f"invalid state_bits: {bits!r} (must be 32, 16 (bfloat16) or 8)")
    if bits == 8 and not supported:
        raise ValueError(f"invalid state_bits: 8-bit state is not available {why}")
    if bits == 16 and bfloat16_dtype() is None:
        raise ValueError("invalid state_bits: bfloat16 state needs ml_dtypes (pip install 'fastoptim[bf16]')")
    if not isinstance(group["stochastic_rounding"], (bool, np.bool_)):
        raise ValueError(f"invalid stochastic_rounding: {group['stochastic_rounding']!r} (must be a bool)")
    size = group.get("min_8bit_size", 0)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise ValueError(f"invalid min_8bit_size: {size!r} (must be an int >= 0)")
    seed = group["seed"]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"invalid seed: {seed!r} (must be an int in [0, 2**32))")


def bfloat16_dtype() -> np.dtype | None:
    """ml_dtypes' bfloat16, or None when ml_dtypes is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


def bf16_full_like(a: np.ndarray, value: float) -> np.ndarray:
    """A 64-byte-aligned bfloat16 array shaped like ``a``, filled with ``value``."""
    dtype = bfloat16_dtype()
    assert dtype is not None
    out = aligned_zeros(a.size, dtype).reshape(a.shape)
    if value:
        out.fill(value)
    return out


def quantized_state(group: Mapping[str, Any], param: np.ndarray) -> bool:
    """Whether ``param`` of ``group`` keeps 8-bit state."""
    return (group.get("state_bits", 32) == 8 and param.dtype == np.float32
            and param.size >= group["min_8bit_size"])
