"""How a torch tensor's memory is handed to the kernels, which step flat, contiguous buffers.

- A contiguous tensor: its memory, flat.
- A dense tensor in another order (transposed, channels_last): its memory is still one gapless
  block, so it is stepped in memory order, in place, provided its gradient and state have the
  same strides (torch creates state with ``preserve_format``, so they do).
- A tensor whose memory has gaps (a slice such as ``big[..., 0]``): stepped through a contiguous
  shadow copy (copied in before and out after each step: two extra passes over the param).
- A complex tensor: as its real view (``torch.view_as_real``), as torch.optim steps it.
- A float16/bfloat16 tensor: with torch's semantics (state in the param's dtype, arithmetic in
  float32). bfloat16: the param widened into a float32 work copy, the kernel reading the bfloat16
  gradient and state in place and writing the param back rounded to nearest even. float16 (the
  kernels keep no float16 state): float32 work copies of the param and its state, rounded to
  nearest even when copied back, the gradient widened into a scratch buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

try:  # FSDP2's parameters, gradients and state are DTensors: the kernel steps each rank's shard
    from torch.distributed.tensor import DTensor
except ImportError:  # a torch without distributed support
    DTensor = None  # type: ignore[assignment,misc]


def local(t: torch.Tensor) -> torch.Tensor:
    """The plain tensor holding this process's elements: a DTensor's local shard (a view into
    its memory, which the kernels update in place), or ``t`` itself."""
    return t.to_local() if DTensor is not None and isinstance(t, DTensor) else t


class ContiguousWork:
    """A tensor's memory as the contiguous tensor a whole-tensor kernel steps (Muon, Adafactor,
    LAMB): itself, or a contiguous copy (another memory order, or gaps), written back by
    ``done()`` where ``write`` is set."""

    def __init__(self, t: torch.Tensor, write: bool) -> None:
        self.t, self.write = t, write
        self.work = t if t.is_contiguous() else t.contiguous()

    @property
    def copied(self) -> bool:
        """Whether the kernel steps a copy (which ``done()`` writes back)."""
        return self.work is not self.t

    def done(self) -> None:
        if self.write and self.copied:
            self.t.copy_(self.work)


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
    owner: torch.Tensor | None = None  # the optimizer's param when ``param`` is its DTensor shard
    writes_param: bool = False  # the kernel writes the 16-bit param itself (rounded from ``memory``)

    def __post_init__(self) -> None:
        self.distributed = self.owner is not None
        if self.owner is None:
            self.owner = self.param
        like = self.layout_like()
        self.contiguous = like.is_contiguous() and like.dtype == self.param.dtype
        self.stride = like.stride()

    @classmethod
    def of(cls, owner: torch.Tensor) -> Binding:
        p = local(owner)
        own = owner if p is not owner else None
        if p.dtype == torch.bfloat16 and p.is_contiguous():
            # widened into a float32 work copy; the kernel reads the bfloat16 gradient and state
            # in place and writes the param back rounded to nearest even (one pass)
            work = torch.empty(p.shape, dtype=torch.float32)
            return cls(p, flat_memory(work), [(p, work)], owner=own, writes_param=True)
        if p.dtype in LOW_PRECISION:
            work = torch.empty(p.shape, dtype=torch.float32)
            return cls(p, flat_memory(work), [(p, work)], owner=own)
        if is_dense(p):
            return cls(p, flat_memory(p), owner=own)
        work = torch.empty(p.shape, dtype=p.dtype)  # contiguous
        return cls(p, flat_memory(work), [(p, work)], owner=own)

    @property
    def grad(self) -> torch.Tensor:
        """The gradient's local tensor."""
        return local(self.owner.grad)

    @classmethod
    def with_master(cls, owner: torch.Tensor, master: torch.Tensor) -> Binding:
        """A 16-bit param stepped through its float32 master (``master_weights=True``): the kernel
        updates the master and writes the param rounded from it, reading the 16-bit gradient."""
        p = local(owner)
        if not p.is_contiguous():
            raise ValueError("master_weights: the 16-bit param must be contiguous")
        return cls(p, flat_memory(local(master)), owner=owner if p is not owner else None, writes_param=True)

    @property
    def widened(self) -> bool:
        """A 16-bit param whose gradient and state go through float32 work copies (float16, or a
        bfloat16 param with gaps: torch's semantics, without masters)."""
        return self.param.dtype in LOW_PRECISION and bool(self.copies) and not self.writes_param

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
        if self.writes_param:  # the kernel wrote the param (and reads the state in place)
            return
        for user, work in self.copies:
            user.detach().copy_(work)
