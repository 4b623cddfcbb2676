"""Optimizer-step time per rank inside torch's engines: DDP and FSDP2 (fully_shard), 2 ranks,
gloo on loopback, fastoptim.torch.AdamW vs torch.optim.AdamW (for-loop, foreach and fused), in
the same run on the same model, interleaved step by step. Also the whole training step (forward,
backward, step) with each optimizer. Prints medians per rank 0 and writes
bench/results/distributed.json.

    python bench/distributed.py [--steps 40] [--width 1024] [--layers 4]

Threads: each rank defaults to its share of the cores (fastoptim.torch's rank_threads; torch's
own pool is set to the same count here), as they would be under torchrun.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel as DDP

import fastoptim
import fastoptim.torch as fot

IMPLS = {
    "fastoptim": lambda ps: fot.AdamW(ps, lr=1e-3),
    "torch_forloop": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=False),
    "torch_foreach": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True),
    "torch_fused": lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True),
}


def model(width: int, layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    mods = []
    for _ in range(layers):
        mods += [torch.nn.Linear(width, width), torch.nn.GELU()]
    return torch.nn.Sequential(*mods)


def wrap(engine: str, m: torch.nn.Module, world: int) -> torch.nn.Module:
    if engine == "ddp":
        return DDP(m, gradient_as_bucket_view=True)
    mesh = init_device_mesh("cpu", (world,))
    for layer in m:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(m, mesh=mesh)
    return m


def worker(rank: int, world: int, init: str, args, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    results = {}
    try:
        for engine in ("ddp", "fsdp2"):
            setups = {}
            for name, make in IMPLS.items():
                net = wrap(engine, model(args.width, args.layers), world)
                setups[name] = (net, make(net.parameters()))
            torch.set_num_threads(fastoptim.get_num_threads())
            step_t = {n: [] for n in IMPLS}
            total_t = {n: [] for n in IMPLS}
            x = torch.randn(32, args.width, generator=torch.Generator().manual_seed(rank))
            for it in range(args.steps + 3):
                for name, (net, opt) in setups.items():
                    t0 = time.perf_counter()
                    opt.zero_grad()
                    net(x).square().mean().backward()
                    t1 = time.perf_counter()
                    opt.step()
                    t2 = time.perf_counter()
                    if it >= 3:
                        step_t[name].append(t2 - t1)
                        total_t[name].append(t2 - t0)
            results[engine] = {n: {"step_ms": statistics.median(step_t[n]) * 1e3,
                                   "train_step_ms": statistics.median(total_t[n]) * 1e3} for n in IMPLS}
        if rank == 0:
            params = sum(p.numel() for p in model(args.width, args.layers).parameters())
            report = {"ranks": world, "threads_per_rank": fastoptim.get_num_threads(), "params": params,
                      "steps": args.steps, "results": results, "machine": fastoptim.info()}
            with open(out, "w") as f:
                json.dump(report, f, indent=1)
            print(f"# {params:,} params, {world} ranks, {fastoptim.get_num_threads()} thread(s) per rank")
            for engine, row in results.items():
                for name, r in row.items():
                    print(f"{engine:6s} {name:14s} step {r['step_ms']:8.2f} ms   "
                          f"training step {r['train_step_ms']:8.2f} ms")
    finally:
        dist.barrier()
        dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "distributed.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(worker, args=(2, os.path.join(d, "rendezvous"), args, args.out), nprocs=2, join=True)


if __name__ == "__main__":
    main()
