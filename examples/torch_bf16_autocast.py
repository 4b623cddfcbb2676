"""bfloat16 autocast training on the CPU with fastoptim.torch, and the optimizer-state formats
side by side: the same MLP trained with each, printing the optimizer's memory, its step time
and the final loss (one run, medians of the steps).

    python examples/torch_bf16_autocast.py [--steps 200] [--width 1024]

Formats (see the README's "PyTorch" section for what to pick):
  float32 params, float32 state       torch.optim.AdamW(fused=True) and fastoptim.torch.AdamW
  float32 params, bfloat16 state      AdamW(..., state_bits=16, stochastic_rounding=True)
  bfloat16 params, float32 masters    AdamW(..., master_weights=True): model.bfloat16()
  bfloat16 params, bfloat16 state     AdamW(...) on model.bfloat16(): torch's semantics
The forward and backward passes run under torch.autocast("cpu", dtype=torch.bfloat16).
"""

import argparse
import statistics
import time

import torch

import fastoptim.torch as fot


def state_bytes(opt) -> int:
    return sum(t.numel() * t.element_size() for st in opt.state.values() for t in st.values()
               if isinstance(t, torch.Tensor) and t.dim())


def run(label, make_model, make_opt, steps, width, seed=0):
    torch.manual_seed(seed)
    model = make_model()
    opt = make_opt(model.parameters())
    g = torch.Generator().manual_seed(1)
    w_true = torch.randn(width, 1, generator=g) / width ** 0.5
    times, loss = [], None
    for _ in range(steps):
        X = torch.randn(64, width, generator=g)
        y = X @ w_true
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(model(X).float(), y)
        loss.backward()
        t = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t)
    params = sum(p.numel() for p in model.parameters())
    print(f"{label:42s} {state_bytes(opt) / params:5.1f} B/param of state  "
          f"step {statistics.median(times) * 1e3:7.2f} ms  final loss {loss.item():.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--width", type=int, default=1024)
    args = ap.parse_args()
    w = args.width

    def mlp():
        return torch.nn.Sequential(torch.nn.Linear(w, w), torch.nn.GELU(), torch.nn.Linear(w, w), torch.nn.GELU(),
                                   torch.nn.Linear(w, 1))

    print(f"MLP {w}-{w}-{w}-1, {args.steps} AdamW steps under bfloat16 autocast, {torch.get_num_threads()} threads")
    run("float32 state: torch.optim.AdamW(fused=True)", mlp, lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True),
        args.steps, w)
    run("float32 state: fastoptim.torch.AdamW", mlp, lambda ps: fot.AdamW(ps, lr=1e-3), args.steps, w)
    run("bfloat16 state (stochastic rounding)", mlp,
        lambda ps: fot.AdamW(ps, lr=1e-3, state_bits=16, stochastic_rounding=True), args.steps, w)
    run("bfloat16 params + float32 masters", lambda: mlp().bfloat16(),
        lambda ps: fot.AdamW(ps, lr=1e-3, master_weights=True), args.steps, w)
    run("bfloat16 params + bfloat16 state (torch's)", lambda: mlp().bfloat16(),
        lambda ps: fot.AdamW(ps, lr=1e-3), args.steps, w)
    run("bfloat16 params: torch.optim.AdamW(fused=True)", lambda: mlp().bfloat16(),
        lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True), args.steps, w)


if __name__ == "__main__":
    main()
