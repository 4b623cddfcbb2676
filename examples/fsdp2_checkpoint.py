"""Sharded training with fastoptim.torch under FSDP2 (fully_shard; each rank steps its shard of
every parameter and keeps its shard of the state, as DTensors), with a distributed checkpoint
(torch.distributed.checkpoint) saved, loaded into a fresh model and optimizer, and resumed.

    torchrun --standalone --nproc-per-node 2 examples/fsdp2_checkpoint.py [--offload]

--offload keeps parameters, gradients and optimizer state in host memory (CPUOffloadPolicy):
the step runs on the CPU, the ZeRO-Offload niche inside PyTorch core.
"""

import sys
import tempfile

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, fully_shard

from fastoptim.torch import AdamW  # was: from torch.optim import AdamW


def build(offload: bool):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    kw = dict(mesh=init_device_mesh("cpu", (dist.get_world_size(),)))
    if offload:
        kw["offload_policy"] = CPUOffloadPolicy(pin_memory=False)
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, **kw)
    fully_shard(model, **kw)
    return model, AdamW(model.parameters(), lr=1e-2)


def train(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        X = torch.randn(64, 20, generator=g)
        y = (X[:, :5].sum(dim=1) > 0).long()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
    return loss.item()


def main() -> None:
    dist.init_process_group("gloo")
    offload = "--offload" in sys.argv
    model, opt = build(offload)
    train(model, opt, 100, seed=dist.get_rank())
    box = [tempfile.mkdtemp(prefix="fastoptim_fsdp2_") if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box)  # one checkpoint folder for all ranks
    dcp.save({"model": get_model_state_dict(model), "optim": get_optimizer_state_dict(model, opt)},
             checkpoint_id=box[0])
    model2, opt2 = build(offload)  # a fresh start, as after a restart
    sd = {"model": get_model_state_dict(model2), "optim": get_optimizer_state_dict(model2, opt2)}
    dcp.load(sd, checkpoint_id=box[0])
    set_model_state_dict(model2, sd["model"])
    set_optimizer_state_dict(model2, opt2, sd["optim"])
    loss = train(model2, opt2, 100, seed=100 + dist.get_rank())
    if dist.get_rank() == 0:
        print(f"{dist.get_world_size()} ranks, offload={offload}: resumed from {box[0]}, final loss {loss:.4f}")
    dist.barrier()  # every rank done before gloo is torn down (else a rank may abort)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
