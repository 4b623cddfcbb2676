"""Run by tests/test_torch_distributed.py: 2 ranks, gloo on loopback (file:// rendezvous).

fastoptim.torch inside FSDP2 (``fully_shard``), differentially against the torch.optim
namesake stepping the same model unsharded in the same process (both ranks see the same data,
so FSDP's averaged gradient is the unsharded one; torch's own Rprop cannot step DTensors):
parameters, gradients and state are DTensors whose local shards
the kernels step in place; one parameter is sharded unevenly (5 rows on 2 ranks) and one has an
empty shard on rank 1 (1 row). For every class fastoptim.torch offers, with and without
``CPUOffloadPolicy(pin_memory=False)``: 3 steps; then (AdamW and NAdam, whose scalar state is a
plain tensor beside the DTensor buffers) a distributed checkpoint (``get_optimizer_state_dict``,
``torch.distributed.checkpoint.save``/``load``, ``set_optimizer_state_dict``) into a fresh
model and optimizer, 2 more steps, and a full (gathered) state dict round trip; finally one
process loads the 2-rank checkpoints (resharded to world size 1) and takes the 2 steps. Prints one
line per case on rank 0: its max abs difference to torch's trajectory.

    python tests/distributed_fsdp.py OUT_DIR
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, fully_shard
from torch.distributed.tensor import DTensor

import fastoptim.torch as fot

KWARGS = {"SGD": dict(lr=0.05, momentum=0.9), "Rprop": dict(lr=0.01), "Adadelta": dict(lr=1.0),
          "ASGD": dict(lr=0.01, t0=1)}
CHECKPOINTED = ("AdamW", "NAdam")


def peer(name: str):
    """torch.optim's class, or the reference package fastoptim's descriptor names (Lion)."""
    import importlib

    path = getattr(fot, name).descriptor.torch_peer or f"torch.optim.{name}"
    module, cls = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)


class Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = torch.nn.Linear(4, 5)  # 5 rows: 3 on rank 0, 2 on rank 1
        self.b = torch.nn.Linear(5, 1)  # 1 row: rank 1's shard is empty

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


def build(name: str, impl: str, offload: bool, world: int, shard: bool = True, extras: dict | None = None,
          dtype: torch.dtype = torch.float32):
    m = Model().to(dtype)
    if shard:
        kw = dict(mesh=init_device_mesh("cpu", (world,)))
        if offload:
            kw["offload_policy"] = CPUOffloadPolicy(pin_memory=False)
        fully_shard(m.a, **kw)
        fully_shard(m, **kw)
    args = dict(KWARGS.get(name, dict(lr=0.01)), **(extras or {}))
    cls = peer(name) if impl == "torch" else getattr(fot, name)
    if impl == "torch":
        args["foreach"] = False
    opt = cls(m.parameters(), **args)
    if hasattr(opt, "train"):  # schedule-free: train mode before stepping
        opt.train()
    return m, opt


def train(m, opt, steps) -> None:
    for it in steps:
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(100 + it)).to(next(m.parameters()).dtype)
        m(x).pow(2).sum().backward()
        opt.step()
        opt.zero_grad()


def params(m) -> dict[str, torch.Tensor]:
    return {n: (p.full_tensor() if isinstance(p, DTensor) else p).detach().clone() for n, p in m.named_parameters()}


def diff(a: dict, b: dict) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def checkpointed(name: str, impl: str, offload: bool, world: int, rank: int, out: str):
    """3 steps, DCP save, fresh model and optimizer, DCP load, 2 steps; then a full state dict
    round trip into a third optimizer (its state must equal the second's)."""
    m, o = build(name, impl, offload, world)
    train(m, o, range(3))
    ckpt = os.path.join(out, f"ckpt_{name}_{impl}_{int(offload)}")
    dcp.save({"model": get_model_state_dict(m), "optim": get_optimizer_state_dict(m, o)}, checkpoint_id=ckpt)
    m2, o2 = build(name, impl, offload, world)
    sd = {"model": get_model_state_dict(m2), "optim": get_optimizer_state_dict(m2, o2)}
    dcp.load(sd, checkpoint_id=ckpt)
    set_model_state_dict(m2, sd["model"])
    set_optimizer_state_dict(m2, o2, sd["optim"])
    train(m2, o2, range(3, 5))
    full = StateDictOptions(full_state_dict=True)
    m3, o3 = build(name, impl, offload, world)
    set_model_state_dict(m3, get_model_state_dict(m2, options=full), options=full)
    set_optimizer_state_dict(m3, o3, get_optimizer_state_dict(m2, o2, options=full), options=full)
    gap = 0.0
    for p2, p3 in zip(m2.parameters(), m3.parameters()):
        for key, v in o2.state[p2].items():
            w = o3.state[p3][key]
            v = v.full_tensor() if isinstance(v, DTensor) else v
            w = w.full_tensor() if isinstance(w, DTensor) else w
            gap = max(gap, (v.float() - w.float()).abs().max().item())
    kinds = sorted({type(v).__name__ for st in o2.state.values() for v in st.values()})
    return params(m2), gap, kinds


def worker(rank: int, world: int, init: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        for offload in (False, True):
            for name in fot.CLASSES:  # the registry's classes (Adafactor refuses DTensor params)
                try:
                    peer(name)
                except ImportError:  # a reference package (extra 'peers') not installed: the test knows
                    continue
                ours_m, ours = build(name, "fastoptim", offload, world)
                ref_m, ref = build(name, "torch", offload, world, shard=False)
                train(ours_m, ours, range(3))
                train(ref_m, ref, range(3))
                d = diff(params(ours_m), params(ref_m))
                if rank == 0:
                    print(f"fsdp2 {name} offload={offload} {d:.3e}", flush=True)
            # fastoptim's compact options, sharded against the same options unsharded (rounding to
            # nearest even: the same bits whatever the sharding)
            for label, extras, dtype in [("bf16-state", dict(state_bits=16), torch.float32),
                                         ("bf16-params+masters", dict(master_weights=True), torch.bfloat16),
                                         ("bf16-params", {}, torch.bfloat16)]:
                ours_m, ours = build("AdamW", "fastoptim", offload, world, extras=extras, dtype=dtype)
                ref_m, ref = build("AdamW", "fastoptim", offload, world, shard=False, extras=extras, dtype=dtype)
                train(ours_m, ours, range(3))
                train(ref_m, ref, range(3))
                d = diff(params(ours_m), params(ref_m))  # (a collective: every rank)
                if rank == 0:
                    print(f"fsdp2-{label} AdamW offload={offload} {d:.3e}", flush=True)
            for name in CHECKPOINTED:
                p_ours, gap_ours, kinds = checkpointed(name, "fastoptim", offload, world, rank, out)
                ref_m, ref = build(name, "torch", offload, world, shard=False)
                train(ref_m, ref, range(5))
                p_ref = params(ref_m)
                if rank == 0:
                    print(f"fsdp2-dcp {name} offload={offload} {diff(p_ours, p_ref):.3e} full-state-gap={gap_ours:.3e} "
                          f"state={'+'.join(kinds)}", flush=True)
    finally:
        try:
            dist.barrier()  # both ranks done before either tears gloo down
        finally:
            dist.destroy_process_group()


def resharded(rank: int, world: int, init: str, out: str) -> None:
    """World size 1 loads what 2 ranks saved (DCP reshards), then steps twice."""
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        for name in CHECKPOINTED:
            m, o = build(name, "fastoptim", False, world)
            sd = {"model": get_model_state_dict(m), "optim": get_optimizer_state_dict(m, o)}
            dcp.load(sd, checkpoint_id=os.path.join(out, f"ckpt_{name}_fastoptim_0"))
            set_model_state_dict(m, sd["model"])
            set_optimizer_state_dict(m, o, sd["optim"])
            train(m, o, range(3, 5))
            ref_m, ref = build(name, "torch", False, world, shard=False)
            train(ref_m, ref, range(5))
            print(f"fsdp2-reshard-2to1 {name} {diff(params(m), params(ref_m)):.3e}", flush=True)
    finally:
        dist.barrier()
        dist.destroy_process_group()


def spawn(fn, world: int, out: str) -> None:
    fd, init = tempfile.mkstemp(prefix="fastoptim_fsdp_", dir=out)
    os.close(fd)
    os.unlink(init)
    mp.spawn(fn, args=(world, init, out), nprocs=world, join=True)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    spawn(worker, 2, out)
    spawn(resharded, 1, out)
