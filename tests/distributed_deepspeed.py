"""Run by tests/test_torch_distributed.py when DeepSpeed is installed: DeepSpeed ZeRO stage 2 with
``offload_optimizer: cpu`` and fastoptim.torch.AdamW as the client optimizer (DeepSpeed takes an
untested client optimizer with ``zero_allow_untested_optimizer: true`` and
``zero_force_ds_cpu_optimizer: false``), one process (gloo), against torch.optim.AdamW in the
same engine. Prints the max abs difference of the parameters after 5 steps."""

import os

import torch

os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
for key, value in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
    os.environ.setdefault(key, value)

import deepspeed  # noqa: E402

import fastoptim.torch as fot  # noqa: E402

CONFIG = {"train_micro_batch_size_per_gpu": 4,
          "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}},
          "zero_allow_untested_optimizer": True, "zero_force_ds_cpu_optimizer": False}


def run(make) -> torch.Tensor:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=make(model.parameters()), config=CONFIG)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        loss = engine(torch.randn(4, 8, generator=g)).square().mean()
        engine.backward(loss)
        engine.step()
    return torch.cat([p.detach().flatten().float() for p in model.parameters()])


if __name__ == "__main__":
    deepspeed.init_distributed(dist_backend="gloo")
    ours = run(lambda ps: fot.AdamW(ps, lr=1e-2))
    ref = run(lambda ps: torch.optim.AdamW(ps, lr=1e-2, foreach=False))
    print(f"deepspeed-zero2-offload {(ours - ref).abs().max().item():.3e}", flush=True)
