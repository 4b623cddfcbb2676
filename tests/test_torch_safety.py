"""fastoptim.torch under what training code and engines do to an optimizer: p.data rebound
(same shape, another dtype, a smaller tensor), state written, deleted and cleared, parameter
groups given as generators, several threads stepping. Each is compared with torch.optim doing
the same thing, or must raise naming the problem with nothing written."""

from __future__ import annotations

import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: fastoptim.torch needs it")
import fastoptim.torch as fot  # noqa: E402

RTOL = 1e-5  # a few steps: rounding differences (torch contracts to FMA) stay tiny


def pair(n=6, seed=0):
    torch.manual_seed(seed)
    w = torch.randn(n)
    return torch.nn.Parameter(w.clone()), torch.nn.Parameter(w.clone())


def step_both(ours, theirs, p, q, grad):
    p.grad, q.grad = grad.clone(), grad.clone()
    ours.step()
    theirs.step()


def twin_linears(n_in, n_out):
    """Two torch.nn.Linear with the same weights."""
    torch.manual_seed(0)
    m1, m2 = torch.nn.Linear(n_in, n_out), torch.nn.Linear(n_in, n_out)
    m2.load_state_dict(m1.state_dict())
    return m1, m2


def train_step(pairs, x, loss):
    """One zero_grad / backward / step for each (model, optimizer) on the same input."""
    for m, o in pairs:
        o.zero_grad()
        loss(m(x)).backward()
        o.step()


def assert_close(a, b):
    torch.testing.assert_close(a.detach(), b.detach(), rtol=RTOL, atol=1e-7)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_rebound_param_data_is_followed(name):
    p, q = pair()
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    ours, theirs = getattr(fot, name)([p], **kw), getattr(torch.optim, name)([q], **kw)
    g = torch.linspace(-1, 1, 6)
    step_both(ours, theirs, p, q, g)
    new = torch.randn(6)
    p.data, q.data = new.clone(), new.clone()  # same shape, new storage (ZeRO bucket views, FSDP)
    step_both(ours, theirs, p, q, g)
    assert_close(p, q)
    p.data, q.data = p.data.double(), q.data.double()  # model.double() after the optimizer exists
    for s, t in zip(ours.state[p].values(), theirs.state[q].values()):
        if isinstance(s, torch.Tensor) and s.dim():
            s.data, t.data = s.data.double(), t.data.double()
    step_both(ours, theirs, p, q, g.double())
    assert p.dtype == torch.float64
    assert_close(p, q)


def test_param_replaced_by_a_smaller_tensor_is_refused_not_overrun():
    p = torch.nn.Parameter(torch.zeros(1000))
    opt = fot.Adam([p], lr=0.1)
    p.grad = torch.ones(1000)
    opt.step()
    p.data = torch.zeros(10)  # its grad still has 1000 elements
    with pytest.raises(ValueError, match="grad"):
        opt.step()
    p.grad = torch.ones(10)  # now the state (1000 elements) does not fit the param
    with pytest.raises(ValueError, match="exp_avg"):
        opt.step()
    assert not p.detach().any()
    opt.state.clear()  # what torch users do: start the state over
    opt.step()
    assert p.detach().lt(0).all()


def test_model_double_after_construction_matches_torch():
    m1, m2 = twin_linears(4, 3)
    o1, o2 = fot.Adam(m1.parameters(), lr=0.01), torch.optim.Adam(m2.parameters(), lr=0.01)
    x = torch.randn(8, 4)
    train_step(((m1, o1), (m2, o2)), x, lambda y: y.square().sum())  # builds the plan over float32
    m1.double()
    m2.double()
    for o in (o1, o2):  # the state follows (torch.optim needs it too: it does not cast state)
        for st in o.state.values():
            for k in ("exp_avg", "exp_avg_sq"):
                st[k] = st[k].double()
    x = x.double()
    for _ in range(3):
        train_step(((m1, o1), (m2, o2)), x, lambda y: y.square().sum())
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert a.dtype == torch.float64
        assert_close(a, b)


@pytest.mark.parametrize("mutate", ["clear", "del", "assign", "replace_buffer"])
def test_state_written_directly_is_used(mutate):
    p, q = pair(8)
    ours, theirs = fot.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    g = torch.linspace(-1, 1, 8)
    step_both(ours, theirs, p, q, g)
    if mutate == "clear":
        ours.state.clear()
        theirs.state.clear()
    elif mutate == "del":
        del ours.state[p]
        del theirs.state[q]
    elif mutate == "assign":  # as ZeroRedundancyOptimizer does when it loads
        entry = {"step": torch.tensor(7.0), "exp_avg": torch.full((8,), 0.5), "exp_avg_sq": torch.full((8,), 2.0)}
        ours.state[p] = {k: v.clone() for k, v in entry.items()}
        theirs.state[q] = {k: v.clone() for k, v in entry.items()}
    else:
        ours.state[p]["exp_avg"] = torch.full((8,), 0.25)
        theirs.state[q]["exp_avg"] = torch.full((8,), 0.25)
    step_both(ours, theirs, p, q, g)
    assert_close(p, q)
    for key in theirs.state[q]:
        assert_close(ours.state[p][key], theirs.state[q][key])
    assert ours.state_dict()["state"], "the state_dict must hold the new state"


def test_a_step_count_stored_as_a_python_number_is_used():
    p, q = pair(8)
    ours, theirs = fot.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    g = torch.linspace(-1, 1, 8)
    step_both(ours, theirs, p, q, g)
    ours.state[p]["step"] = 1  # e.g. from an old checkpoint; torch keeps a float32 tensor
    step_both(ours, theirs, p, q, g)
    assert_close(p, q)
    assert isinstance(ours.state[p]["step"], torch.Tensor) and ours.state[p]["step"].item() == 2


def test_a_dynamic_subclass_rebuilt_from_param_groups_keeps_every_hyperparameter():
    """As Horovod's DistributedOptimizer does: type(name, (cls,), {})(opt.param_groups)."""
    p, q = pair(8)
    opt = fot.AdamW([{"params": [p], "lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.3, "amsgrad": True}])
    rebuilt = type("Distributed", (fot.AdamW,), {})(opt.param_groups)
    ref = torch.optim.AdamW([{"params": [q], "lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.3,
                              "amsgrad": True}])
    for key in ("lr", "betas", "weight_decay", "amsgrad", "eps", "maximize"):
        assert rebuilt.param_groups[0][key] == ref.param_groups[0][key], key
    g = torch.linspace(-1, 1, 8)
    for _ in range(3):
        step_both(rebuilt, ref, p, q, g)
    assert_close(p, q)


def test_param_groups_given_as_generators_train():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = fot.AdamW([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 1e-3}], lr=1e-2)
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
    extra = torch.nn.Linear(2, 2)
    opt.add_param_group({"params": extra.parameters(), "lr": 0.1})
    assert len(opt.param_groups[2]["params"]) == 2
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    assert all(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


def test_named_parameters_are_accepted_as_torch_does():
    m1, m2 = twin_linears(3, 2)
    ours, theirs = fot.Adam(m1.named_parameters(), lr=0.1), torch.optim.Adam(m2.named_parameters(), lr=0.1)
    train_step(((m1, ours), (m2, theirs)), torch.randn(4, 3), lambda y: y.sum())
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert_close(a, b)
    assert ours.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    with pytest.raises(TypeError, match="ordered collections"):  # as torch: a set has no stable order
        fot.Adam([{"params": set(m1.parameters())}])


def test_threads_stepping_one_torch_optimizer_are_serialized():
    n = 200_000
    torch.manual_seed(0)
    w, g = torch.randn(n), torch.randn(n)

    def run(threads: int, steps: int) -> torch.Tensor:
        p = torch.nn.Parameter(w.clone())
        p.grad = g.clone()
        opt = fot.Adam([p], lr=1e-2)
        errors = []

        def worker():
            try:
                for _ in range(steps):
                    opt.step()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)
        assert not errors
        assert opt.state[p]["step"].item() == threads * steps
        return p.detach()

    assert np.array_equal(run(3, 10).numpy(), run(1, 30).numpy())
