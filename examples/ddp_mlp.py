"""Data-parallel training with fastoptim.torch under DistributedDataParallel: each rank steps its
full copy of the model after DDP's all-reduce; the only change to a DDP script is the import.

    torchrun --standalone --nproc-per-node 2 examples/ddp_mlp.py
"""

import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from fastoptim.torch import AdamW  # was: from torch.optim import AdamW


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DDP(torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2)),
                gradient_as_bucket_view=True)
    opt = AdamW(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(rank)  # each rank its own batches
    for _ in range(200):
        X = torch.randn(64, 20, generator=g)
        y = (X[:, :5].sum(dim=1) > 0).long()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
    X = torch.randn(1024, 20, generator=torch.Generator().manual_seed(99))
    acc = (model(X).argmax(dim=1) == (X[:, :5].sum(dim=1) > 0)).float().mean().item()
    if rank == 0:
        print(f"{dist.get_world_size()} ranks ({os.environ.get('OMP_NUM_THREADS', 'default')} threads each): "
              f"final loss {loss.item():.4f}, accuracy {acc:.3f}")
    dist.barrier()  # every rank done before gloo is torn down (else a rank may abort)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
