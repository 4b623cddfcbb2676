"""How a torch tensor's memory is handed to the kernels, which step flat, contiguous buffers.

- A contiguous tensor: its memory, flat.
- A dense tensor in another order (transposed, channels_last): its memory is still one gapless
  block, so it is stepped in memory order, in place, provided its gradient and state have the
  same strides (torch creates state with ``preserve_format``, so they do).
- A tensor whose memory has gaps (a slice such as ``big[..., 0]``): stepped through a contiguous
  shadow copy (copied in before and out after each step: two extra passes over the param).
- A complex tensor: as its real view (``torch.view_as_real``), as torch.optim steps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def is_dense(t: torch.Tensor) -> bool:
    """Whether ``t``'s elements fill one gapless, non-overlapping block of memory, in some order."""
    dims = sorted((s, n) for s, n in zip(t.stride(), t.shape) if n != 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return False
        expected *= size
    return True


def flat_memory(t: torch.Tensor) -> torch.Tensor:
    """A dense tensor's memory as a flat real tensor, in memory order (complex: two reals each)."""
    if t.is_complex():
        t = torch.view_as_real(t)
    if t.is_contiguous():
        return t.detach().reshape(-1)
    return t.detach().as_strided((t.numel(),), (1,))


@dataclass
class Binding:
    """A parameter as the kernels see it.

    Attributes:
        param: the user's tensor.
        memory: the flat real tensor the kernel updates (the param's own memory, or ``shadow``'s).
        shadow: a contiguous copy, for a param whose memory has gaps; copied in before and out
            after each step.
        scratch: where a gradient in another layout than the param's is copied for the kernel.
    """

    param: torch.Tensor
    memory: torch.Tensor
    shadow: torch.Tensor | None = None
    scratch: torch.Tensor | None = None
    contiguous: bool = False  # the kernel's layout is contiguous: a contiguous gradient is read in place

    def __post_init__(self) -> None:
        like = self.layout_like()
        self.contiguous = like.is_contiguous()
        self.stride = like.stride()

    @classmethod
    def of(cls, p: torch.Tensor) -> Binding:
        if is_dense(p):
            return cls(p, flat_memory(p))
        shadow = torch.empty(p.shape, dtype=p.dtype)  # contiguous
        return cls(p, flat_memory(shadow), shadow)

    def layout_like(self) -> torch.Tensor:
        """The tensor the kernel's layout follows (the param, or its shadow)."""
        return self.shadow if self.shadow is not None else self.param

    def grad_address(self, grad: torch.Tensor) -> int:
        """Address of the gradient in the layout the kernel steps (copied into ``scratch`` when
        its strides differ from the param's, or the param has a shadow)."""
        if grad.stride() == self.stride:  # same shape and strides as the dense param (or shadow)
            return grad.data_ptr()
        if self.scratch is None:
            self.scratch = torch.empty_like(self.layout_like())
        self.scratch.copy_(grad)
        return self.scratch.data_ptr()

    def copy_in(self) -> None:
        if self.shadow is not None:
            self.shadow.copy_(self.param.detach())

    def copy_out(self) -> None:
        if self.shadow is not None:
            self.param.detach().copy_(self.shadow)
