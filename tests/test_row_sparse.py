"""Row-sparse gradients (an embedding table's): only the rows named are stepped, duplicates summed
first, for every rule of the registry, in the NumPy API and in fastoptim.torch (sparse COO)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import RULE_CASES, RULE_IDS, on_every_isa_and_thread_count

import fastoptim as fo

ROWS, DIM = 400, 9  # rows of 9: every row a vector body and a scalar tail


def _named_rows(rng, n_rows, count):
    """``count`` row numbers with repeats (some rows three times), in no order."""
    base = rng.choice(n_rows, size=count - count // 3, replace=False)
    idx = np.concatenate([base, base[: count // 6], base[: count // 6]])
    return rng.permutation(idx).astype(np.int64)


def _summed(idx, values, rows):
    """The gradient of each of ``rows`` (sorted, unique): its values added in order of appearance."""
    out = np.zeros((len(rows), *values.shape[1:]), values.dtype)
    where = {r: k for k, r in enumerate(rows)}
    for i, v in zip(idx, values):
        out[where[i]] += v
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kwargs", RULE_CASES, ids=RULE_IDS)
def test_rows_named_step_as_those_rows_would_alone(cls, kwargs, dtype, restore_threads):
    """A table stepped from (indices, values) gradients that name the same rows every step moves
    exactly as those rows, cut out as a dense param, move under the summed dense gradients: the
    same bits, on every ISA and thread count; the rows not named do not move, nor does their state."""
    rng = np.random.default_rng(7)
    init = rng.standard_normal((ROWS, DIM)).astype(dtype)
    bias0 = rng.standard_normal(5).astype(dtype)
    idx_steps, val_steps = [], []
    for _ in range(4):
        idx = _named_rows(rng, ROWS, 180)
        idx_steps.append(idx if not idx_steps else rng.permutation(idx_steps[0]))  # the same rows each step
        val_steps.append(rng.standard_normal((len(idx), DIM)).astype(dtype))
    bias_grads = [rng.standard_normal(5).astype(dtype) for _ in range(4)]
    rows = np.unique(idx_steps[0])

    def sparse_run():
        table, bias = init.copy(), bias0.copy()
        opt = cls([table, bias], **kwargs)
        for idx, vals, bg in zip(idx_steps, val_steps, bias_grads):
            opt.step([fo.RowSparse(idx, vals), bg])
        return table, bias, opt

    def dense_run():
        part, bias = init[rows].copy(), bias0.copy()
        opt = cls([part, bias], **kwargs)
        for idx, vals, bg in zip(idx_steps, val_steps, bias_grads):
            opt.step([_summed(idx, vals, rows), bg])
        return part, bias, opt

    part, bias_d, dense_opt = dense_run()
    assert not np.array_equal(part, init[rows]), "the rows did not move: the test shows nothing"
    untouched = np.setdiff1d(np.arange(ROWS), rows)
    for isa, threads, (table, bias, opt) in on_every_isa_and_thread_count(sparse_run):
        where = f"{isa}, {threads} threads"
        assert table[rows].tobytes() == part.tobytes(), where
        assert bias.tobytes() == bias_d.tobytes(), where
        assert table[untouched].tobytes() == init[untouched].tobytes(), where
        for name, buf in opt.state[0].items():
            if isinstance(buf, np.ndarray) and buf.shape == table.shape:
                assert buf[rows].tobytes() == dense_opt.state[0][name].tobytes(), (where, name)
                fresh = cls([init.copy()], **kwargs)._state_fill(opt.param_groups[0])[name]
                start = init[untouched] if name in opt.descriptor.copied_buffers() else fresh
                expected = np.broadcast_to(np.asarray(start, buf.dtype), buf[untouched].shape)
                assert np.array_equal(buf[untouched], expected), (where, name)


def test_a_table_of_vectors_and_rows_of_several_dimensions():
    """Rows are what values' trailing dimensions make them: one element of a vector, or a
    (2, 3) block of a (10, 2, 3) param."""
    rng = np.random.default_rng(1)
    vec = rng.standard_normal(30).astype(np.float32)
    cube = rng.standard_normal((10, 2, 3)).astype(np.float32)
    v0, c0 = vec.copy(), cube.copy()
    opt = fo.SparseAdam([vec, cube], lr=0.1)
    opt.step([fo.RowSparse(np.array([4, 4, 9]), np.ones(3, np.float32)),
              fo.RowSparse(np.array([2]), np.ones((1, 2, 3), np.float32))])
    assert np.flatnonzero(vec != v0).tolist() == [4, 9]
    assert [i for i in range(10) if not np.array_equal(cube[i], c0[i])] == [2]
    # SparseAdam's first step moves every named element by lr (m/sqrt(v) = ±1 up to eps)
    np.testing.assert_allclose(v0[[4, 9]] - vec[[4, 9]], 0.1, rtol=1e-5)


def test_the_norm_for_clipping_is_that_of_the_summed_rows():
    """max_grad_norm clips by the norm of the gradient the rows add up to (duplicates summed)."""
    rng = np.random.default_rng(2)
    table = rng.standard_normal((50, 4))
    idx = np.array([3, 8, 3, 3, 20])
    vals = rng.standard_normal((5, 4))
    dense = np.zeros_like(table)
    np.add.at(dense, idx, vals)
    result = fo.Adagrad([table], lr=0.1).step([fo.RowSparse(idx, vals)], max_grad_norm=0.5)
    assert result.grad_norm == pytest.approx(np.linalg.norm(dense), rel=1e-12)
    nonfinite = vals.copy()
    nonfinite[1, 2] = np.nan
    before = table.copy()
    opt = fo.Adagrad([table], lr=0.1)
    assert opt.step([fo.RowSparse(idx, nonfinite)], skip_nonfinite=True).skipped
    assert np.array_equal(table, before) and opt.state[0]["step"] == 0


def _bad_inputs(table):
    n = table.shape[0]
    good = np.ones((2, table.shape[1]), table.dtype)
    return [
        (fo.RowSparse(np.array([1, n]), good), ValueError, rf"index {n} \(at 1\) is outside \[0, {n}\)"),
        (fo.RowSparse(np.array([-1, 2]), good), ValueError, r"index -1 \(at 0\)"),
        (fo.RowSparse(np.array([1.0, 2.0]), good), TypeError, "indices must be integers"),
        (fo.RowSparse(np.array([[1, 2]]), good), ValueError, "indices must be 1-D"),
        (fo.RowSparse(np.array([1, 2, 3]), good), ValueError, r"values must have one row per index \(3\)"),
        (fo.RowSparse(np.array([1, 2]), good.astype(np.float64)), TypeError, "values have dtype float64"),
        (fo.RowSparse(np.array([1, 2]), np.ones((2, 5), table.dtype)), ValueError, "rows of 5 elements do not divide"),
        (fo.RowSparse([1, 2], good), TypeError, "indices must be a numpy.ndarray"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_bad_row_sparse_gradients_are_refused_naming_them_and_nothing_changes(case):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((6, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    opt = fo.Adam([table, bias], lr=0.1)
    opt.step([fo.RowSparse(np.array([0, 5]), np.ones((2, 4), np.float32)), np.ones(4, np.float32)])
    before = copy.deepcopy(opt.state_dict())
    t0, b0 = table.copy(), bias.copy()
    grad, error, message = _bad_inputs(table)[case]
    with pytest.raises(error, match=r"grads\[0\] \(row-sparse\): " + message):
        opt.step([grad, np.ones(4, np.float32)])
    assert np.array_equal(table, t0) and np.array_equal(bias, b0)
    after = opt.state_dict()
    assert after["state"][0]["step"] == before["state"][0]["step"] == 1
    for k in ("exp_avg", "exp_avg_sq"):
        assert np.array_equal(after["state"][0][k], before["state"][0][k])


def test_values_that_alias_what_the_step_writes_are_refused():
    table = np.zeros((8, 4), np.float32)
    opt = fo.Adam([table], lr=0.1)
    with pytest.raises(ValueError, match="shares memory with params"):
        opt.step(fo.RowSparse(np.array([1]), table[2:3]))


def test_formats_that_cannot_step_rows_alone_say_so():
    table = np.zeros((64, 128), np.float32)
    with pytest.raises(ValueError, match="row-sparse gradients cannot step 8-bit block-wise state"):
        fo.Adam([table], state_bits=8, min_8bit_size=1).step(fo.RowSparse(np.array([1]), np.ones((1, 128), np.float32)))
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed: 16-bit params need it")
    half = np.zeros((8, 4), ml_dtypes.bfloat16)
    with pytest.raises(TypeError, match="row-sparse gradients need float32/float64 params"):
        fo.Adam([half]).step(fo.RowSparse(np.array([1]), np.ones((1, 4), ml_dtypes.bfloat16)))


def test_bfloat16_state_with_stochastic_rounding_gives_the_same_bits_on_every_thread_count(restore_threads):
    """The rounding of a row's state is keyed by the row's place in the table, not by how the
    rows fall to threads."""
    pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed: bfloat16 state needs it")
    rng = np.random.default_rng(4)
    init = rng.standard_normal((500, 16)).astype(np.float32)
    idx = _named_rows(rng, 500, 300)
    vals = rng.standard_normal((len(idx), 16)).astype(np.float32)

    def run():
        table = init.copy()
        opt = fo.SparseAdam([table], lr=0.01, state_bits=16, stochastic_rounding=True, seed=5)
        for _ in range(3):
            opt.step(fo.RowSparse(idx, vals))
        return table.tobytes(), opt.state[0]["exp_avg"].tobytes()

    results = on_every_isa_and_thread_count(run)
    assert all(r == results[0][2] for _, _, r in results)


# -- fastoptim.torch: sparse COO gradients ---------------------------------------------------------------
def _embedding_runs(torch, make_opt, steps=5, dim=6, seed=0):
    """An nn.Embedding(sparse=True) and a linear head trained on lookups with repeated ids."""
    torch.manual_seed(seed)
    emb = torch.nn.Embedding(40, dim, sparse=True)
    head = torch.nn.Linear(dim, 1)
    opts = make_opt(emb, head)
    g = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        ids = torch.randint(0, 40, (24,), generator=g)
        ids[:4] = ids[4]  # one id five times
        for o in opts:
            o.zero_grad()
        head(emb(ids)).square().mean().backward()
        for o in opts:
            o.step()
    return emb.weight.detach().clone(), head.weight.detach().clone(), opts


@pytest.mark.parametrize("name", ["SparseAdam", "Adagrad"])
def test_embedding_with_sparse_gradients_matches_torch(name):
    torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
    import fastoptim.torch as fot

    kwargs = dict(lr=0.05)
    results = {}
    for impl, mod in (("torch", torch.optim), ("ours", fot)):
        def make(emb, head, mod=mod):
            sparse_opt = getattr(mod, name)(emb.parameters(), **kwargs)
            return [sparse_opt, mod.Adam(head.parameters(), lr=0.01)]
        results[impl] = _embedding_runs(torch, make)
    (te, th, topts), (oe, oh, oopts) = results["torch"], results["ours"]
    assert not torch.equal(te, _embedding_runs(torch, lambda e, h: [], steps=0)[0])
    torch.testing.assert_close(oe, te, rtol=2e-6, atol=1e-7)
    torch.testing.assert_close(oh, th, rtol=2e-6, atol=1e-7)
    ts, os_ = topts[0].state_dict()["state"][0], oopts[0].state_dict()["state"][0]
    assert set(ts) == set(os_)
    for key in ts:
        if isinstance(ts[key], torch.Tensor):
            torch.testing.assert_close(os_[key], ts[key], rtol=2e-6, atol=1e-9)
        else:
            assert os_[key] == ts[key] and type(os_[key]) is type(ts[key])


def test_sparse_adam_refuses_dense_gradients_and_complex_params_as_torch_does():
    torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
    import fastoptim.torch as fot

    p = torch.nn.Parameter(torch.ones(4, 2))
    opt = fot.SparseAdam([p])
    p.grad = torch.ones(4, 2)
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        opt.step()
    assert torch.equal(p.detach(), torch.ones(4, 2)) and len(opt.state) == 0
    with pytest.raises(ValueError, match="SparseAdam does not support complex parameters"):
        fot.SparseAdam([torch.nn.Parameter(torch.ones(3, dtype=torch.complex64))])


def test_sparse_gradients_of_params_with_gaps_and_of_several_sparse_dims():
    """A param with gaps steps through its contiguous copy; a gradient with two sparse dims
    names (i, j) blocks; both as torch.optim.SparseAdam steps them."""
    torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
    import fastoptim.torch as fot

    g = torch.Generator().manual_seed(5)
    base = torch.randn(12, 8, generator=g)
    cube0 = torch.randn(5, 4, 3, generator=g)
    grads = [torch.randn(6, 4, generator=g) for _ in range(3)]
    cube_grads = [torch.randn(5, 4, 3, generator=g) * (torch.rand(5, 4, 1, generator=g) < 0.4) for _ in range(3)]
    out = {}
    for impl, cls in (("torch", torch.optim.SparseAdam), ("ours", fot.SparseAdam)):
        gapped = torch.nn.Parameter(base.clone()[::2, ::2])
        cube = torch.nn.Parameter(cube0.clone())
        opt = cls([gapped, cube], lr=0.1)
        for gr, cg in zip(grads, cube_grads):
            gapped.grad = gr.to_sparse(1)
            cube.grad = cg.to_sparse(2)  # sparse over (i, j), dense rows of 3
            opt.step()
        out[impl] = (gapped.detach().clone(), cube.detach().clone())
    for a, b in zip(out["ours"], out["torch"]):
        torch.testing.assert_close(a, b, rtol=2e-6, atol=1e-7)


def test_sparse_gradients_where_rows_cannot_be_stepped_in_place_are_refused():
    torch = pytest.importorskip("torch", reason="torch is not installed: the differential tests need it")
    import fastoptim.torch as fot

    p = torch.nn.Parameter(torch.ones(3, 4).t())  # dense but column-major: rows are not rows of memory
    opt = fot.Adam([p])
    p.grad = torch.ones(4, 3).to_sparse(1)
    with pytest.raises(RuntimeError, match="sparse gradients step the rows they name"):
        opt.step()
    assert torch.equal(p.detach(), torch.ones(4, 3))
