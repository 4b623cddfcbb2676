"""Run by tests/test_torch_distributed.py: 2 ranks, gloo on loopback (file:// rendezvous).

fastoptim.torch.AdamW inside torch's engines, differentially against torch.optim.AdamW in the
same engine: DDP with gradients as views into its buckets, ZeroRedundancyOptimizer with and
without parameters_as_bucket_view (it rebinds p.data and copies group keys around each step),
and ZeRO's checkpoint round trip (consolidate on rank 0, load on every rank, which writes
optimizer.state directly). Prints one line per case on rank 0: its max abs difference to
torch's trajectory.
"""

from __future__ import annotations

import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel as DDP

import fastoptim.torch as fot

STEPS = 5


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


def train(rank: int, ddp: torch.nn.Module, opt, steps: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed * 10 + rank)
    for _ in range(steps):
        x = torch.randn(16, 8, generator=g)
        opt.zero_grad()
        ddp(x).square().mean().backward()
        opt.step()


def make(kind: str, cls, params):
    if kind.startswith("ddp"):
        return cls(params, lr=1e-2)
    return ZeroRedundancyOptimizer(params, optimizer_class=cls, lr=1e-2,
                                   parameters_as_bucket_view=(kind == "zero_bucket_view"))


def train_with_closure(rank: int, ddp: torch.nn.Module, opt, steps: int, seed: int) -> None:
    """As Lightning drives an optimizer: step(closure), the closure runs forward and backward."""
    g = torch.Generator().manual_seed(seed * 10 + rank)
    for _ in range(steps):
        x = torch.randn(16, 8, generator=g)

        def closure(x=x):
            opt.zero_grad()
            loss = ddp(x).square().mean()
            loss.backward()
            return loss
        opt.step(closure)


def case(rank: int, kind: str, cls, after: str) -> torch.Tensor:
    m = model()
    ddp = DDP(m, gradient_as_bucket_view=kind != "ddp_no_bucket_view", find_unused_parameters=after == "rebucket")
    opt = make(kind, cls, ddp.parameters())
    (train_with_closure if after == "closure" else train)(rank, ddp, opt, STEPS, 0)
    if after in ("resume", "reload"):  # ZeRO checkpoint: consolidate, then every rank loads it
        opt.consolidate_state_dict(to=0)
        box = [opt.state_dict() if rank == 0 else None]
        dist.broadcast_object_list(box, src=0)
        if after == "resume":  # into a fresh optimizer
            opt = make(kind, cls, ddp.parameters())
        opt.load_state_dict(box[0])  # "reload": into the one that has stepped (ZeRO writes its state)
        train(rank, ddp, opt, 2, 1)
    if after == "rebucket":  # freezing a layer makes ZeRO rebuild its buckets and rebind every param.data
        m[0].weight.requires_grad_(False)
        train(rank, ddp, opt, 2, 1)
    return torch.cat([p.detach().flatten() for p in m.parameters()])


def run(rank: int, world: int, init: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    for kind, after in [("ddp", ""), ("ddp_no_bucket_view", ""), ("ddp", "closure"), ("zero", ""),
                        ("zero_bucket_view", ""), ("zero", "resume"), ("zero_bucket_view", "resume"),
                        ("zero", "reload"), ("zero_bucket_view", "reload"), ("zero_bucket_view", "rebucket")]:
        ours = case(rank, kind, fot.AdamW, after)
        ref = case(rank, kind, lambda ps, **kw: torch.optim.AdamW(ps, foreach=False, **kw), after)
        if rank == 0:
            print(f"{kind}{'+' + after if after else ''} {(ours - ref).abs().max().item():.3e}", flush=True)
    if rank == 0:  # each rank's share of the cores (the count was not chosen: no OMP_NUM_THREADS)
        import fastoptim
        print(f"threads {fastoptim.get_num_threads()}", flush=True)
    dist.barrier()  # every rank done before gloo is torn down (else a rank may abort)
    dist.destroy_process_group()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(run, args=(2, f"file://{d}/rendezvous"), nprocs=2, join=True)
    sys.exit(0)
