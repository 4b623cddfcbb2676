"""Train a small PyTorch MLP on CPU with fastoptim's Adam: the only change to a torch script
is the import of the optimizer.

    python examples/torch_mlp.py
"""

import torch

from fastoptim.torch import Adam  # was: from torch.optim import Adam


def main() -> None:
    torch.manual_seed(0)
    X = torch.randn(2048, 20)
    y = (X[:, :5].sum(dim=1) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
    opt = Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for _epoch in range(30):
        for i in range(0, len(X), 128):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[i:i + 128]), y[i:i + 128])
            loss.backward()
            opt.step()
        sched.step()
    acc = (model(X).argmax(dim=1) == y).float().mean().item()
    print(f"final loss {loss.item():.4f}, training accuracy {acc:.3f}")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, "/tmp/fastoptim_example.pt")
    restored = torch.optim.Adam(model.parameters(), lr=1e-2)  # the checkpoint loads into torch.optim too
    restored.load_state_dict(torch.load("/tmp/fastoptim_example.pt")["optimizer"])
    print("checkpoint reloaded into torch.optim.Adam: step", restored.state_dict()["state"][0]["step"].item())


if __name__ == "__main__":
    main()
