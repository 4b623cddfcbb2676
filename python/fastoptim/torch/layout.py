"""How a torch tensor's memory is handed to the kernels, which step flat, contiguous buffers.

- A contiguous tensor: its memory, flat.
- A dense tensor in another order (transposed, channels_last): its memory is still one gapless
  block, so it is stepped in memory order, in place, provided its gradient and state have the
  same strides (torch creates state with ``preserve_format``, so they do).
- A tensor whose memory has gaps (a slice such as ``big[..., 0]``): stepped through a contiguous
  shadow copy (copied in before and out after each step: two extra passes over the param).
- A complex tensor: as its real view (``torch.view_as_real``), as torch.optim steps it.
- A float16/bfloat16 tensor: with torch's semantics (state in the param's dtype, arithmetic in
  float32), through float32 work copies of the param and its state, rounded to nearest even
  when copied back; the gradient is widened into a scratch buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


LOW_PRECISION = (torch.float16, torch.bfloat16)


@dataclass
class Binding:
    """A parameter as the kernels see it.

    Attributes:
        param: the user's tensor.
        memory: the flat real tensor the kernel updates: the param's own memory, or a work copy.
        copies: (user's tensor, work copy) pairs copied in before and out after each step: a
            param whose memory has gaps (a contiguous copy), or a float16/bfloat16 param and its
            state (float32 copies: torch's semantics, state kept in the param's dtype and the
            arithmetic done in float32, rounded to nearest even when copied back).
        scratch: where a gradient in another layout or dtype than the kernel's is copied.
    """

    param: torch.Tensor
    memory: torch.Tensor
    copies: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    scratch: torch.Tensor | None = None

    def __post_init__(self) -> None:
        like = self.layout_like()
        self.contiguous = like.is_contiguous() and like.dtype == self.param.dtype
        self.stride = like.stride()

    @classmethod
    def of(cls, p: torch.Tensor) -> Binding:
        if p.dtype in LOW_PRECISION:
            work = torch.empty(p.shape, dtype=torch.float32)
            return cls(p, flat_memory(work), [(p, work)])
        if is_dense(p):
            return cls(p, flat_memory(p))
        work = torch.empty(p.shape, dtype=p.dtype)  # contiguous
        return cls(p, flat_memory(work), [(p, work)])

    @classmethod
    def with_master(cls, p: torch.Tensor, master: torch.Tensor) -> Binding:
        """A 16-bit param stepped through its float32 master (``master_weights=True``): the kernel
        updates the master and writes the param rounded from it, reading the 16-bit gradient."""
        if not p.is_contiguous():
            raise ValueError("master_weights: the 16-bit param must be contiguous")
        return cls(p, flat_memory(master))

    @property
    def widened(self) -> bool:
        """A 16-bit param stepped through float32 work copies (torch's semantics, no masters)."""
        return self.param.dtype in LOW_PRECISION and bool(self.copies)

    def layout_like(self) -> torch.Tensor:
        """The tensor whose layout (and dtype) the kernel steps: the param, or its work copy."""
        return self.copies[0][1] if self.copies else self.param

    def state_work(self, t: torch.Tensor) -> torch.Tensor:
        """A float32 work copy of state tensor ``t`` of a 16-bit param, copied with the param."""
        work = torch.empty(t.shape, dtype=torch.float32)
        self.copies.append((t, work))
        return flat_memory(work)

    def grad_address(self, grad: torch.Tensor) -> int:
        """Address of the gradient in the layout and dtype the kernel steps (copied into
        ``scratch`` when they differ from the param's)."""
        if grad.stride() == self.stride and not self.widened:  # same shape and strides as the dense param
            return grad.data_ptr()  # (with masters: the 16-bit gradient, read as such)
        if self.scratch is None:
            self.scratch = torch.empty_like(self.layout_like())
        self.scratch.copy_(grad)
        return self.scratch.data_ptr()

    def copy_in(self) -> None:
        for user, work in self.copies:
            work.copy_(user.detach())

    def copy_out(self) -> None:
        for user, work in self.copies:
            user.detach().copy_(work)
