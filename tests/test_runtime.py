"""ISA dispatch, threads and info(): every ISA gives the same bits, any thread count too."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import DEFAULT_ISA, SUPPORTED_ISAS

import fastoptim as fo
from fastoptim import _core

CONFIGS = [
    (fo.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (fo.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2, maximize=True)),
    (fo.Adagrad, dict(lr=0.05, lr_decay=0.01, weight_decay=0.01)),
    (fo.RMSprop, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.01)),
    (fo.RMSprop, dict(lr=0.01)),
    (fo.Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    (fo.AdamW, dict(lr=0.01, betas=(0.3, 0.9))),
]
SIZES = [1, 7, 16, 33, 1000, 4099]


def trajectory(cls, kwargs, dtype, sizes=SIZES, steps=8, seed=0, **step_kw):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        opt.step([rng.standard_normal(n).astype(dtype) for n in sizes], **step_kw)
    return np.concatenate(params), np.concatenate([np.ravel(v) for s in opt.state.values()
                                                  for k, v in sorted(s.items()) if k != "step"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_every_isa_gives_identical_bits(cls, kwargs, dtype):
    results = {}
    try:
        for name in SUPPORTED_ISAS:
            fo.use_isa(name)
            results[name] = trajectory(cls, kwargs, dtype, max_grad_norm=5.0)
    finally:
        fo.use_isa(DEFAULT_ISA)
    base_p, base_s = results["baseline"]
    for name, (p, s) in results.items():
        assert p.tobytes() == base_p.tobytes(), f"{name} params differ from baseline"
        assert s.tobytes() == base_s.tobytes(), f"{name} state differs from baseline"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=lambda x: getattr(x, "__name__", str(x)))
def test_one_and_two_threads_give_identical_bits(cls, kwargs, dtype, restore_threads):
    sizes = [5, 70001, 3, 129, 40000]  # ragged: thread ranges cut through tensors
    _core.set_min_elements_per_thread(1000)
    fo.set_num_threads(1)
    one = trajectory(cls, kwargs, dtype, sizes, max_grad_norm=50.0)
    fo.set_num_threads(2)
    assert _core.threads_for(sum(sizes)) == 2
    two = trajectory(cls, kwargs, dtype, sizes, max_grad_norm=50.0)
    assert one[0].tobytes() == two[0].tobytes()
    assert one[1].tobytes() == two[1].tobytes()


def test_threads_for_respects_threshold(restore_threads):
    fo.set_num_threads(2)
    _core.set_min_elements_per_thread(1000)
    assert _core.threads_for(1999) == 1
    assert _core.threads_for(2000) == 2
    assert _core.threads_for(10**9) == 2


def test_more_threads_than_cores_give_identical_bits(restore_threads):
    """The pool shares chunks among however many threads get to run: 1, 2, 3 or 7 threads on
    this machine's cores (oversubscribed) step to the same bits."""
    sizes = [5, 70001, 3, 129, 40000]
    _core.set_min_elements_per_thread(1000)
    runs = []
    for threads in (1, 2, 3, 7):
        fo.set_num_threads(threads)
        runs.append(trajectory(fo.Adam, dict(lr=0.01, amsgrad=True), np.float32, sizes, max_grad_norm=50.0))
    for p, s in runs[1:]:
        assert p.tobytes() == runs[0][0].tobytes()
        assert s.tobytes() == runs[0][1].tobytes()


@pytest.mark.parametrize("n", [0, -1, fo.runtime.MAX_THREADS + 1, 10**6, 2**40, 2**70])
def test_thread_count_is_bounded(n, restore_threads):
    before = fo.get_num_threads()
    with pytest.raises(ValueError, match=r"n: number of threads must be in \[1, 1024\]"):
        fo.set_num_threads(n)
    assert fo.get_num_threads() == before
    with pytest.raises((ValueError, TypeError)):
        _core.set_num_threads(n)  # the C++ binding refuses it too
    assert fo.get_num_threads() == before


FORK_SCRIPT = """
import multiprocessing, os, sys
import numpy as np
import fastoptim as fo

fo.set_num_threads(2)

def train(seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(2_000_000).astype(np.float32)
    g = rng.standard_normal(p.size).astype(np.float32)
    opt = fo.Adam([p], lr=1e-2)
    for _ in range(3):
        opt.step([g])
    return p.tobytes()

parent = train(0)                      # the parent's pool has run threads just before the fork
pid = os.fork()
if pid == 0:                           # a bare fork: the child steps with threads
    os._exit(0 if train(0) == parent else 3)
_, status = os.waitpid(pid, 0)
assert os.WEXITSTATUS(status) == 0, status
with multiprocessing.get_context("fork").Pool(2) as pool:
    assert pool.map(train, [0, 0, 1]) == [parent, parent, train(1)]
print("ok")
"""


def test_forked_children_step_with_threads_and_do_not_hang():
    out = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_set_num_threads_validates(restore_threads):
    with pytest.raises(ValueError, match="threads"):
        fo.set_num_threads(0)
    with pytest.raises(TypeError, match="n"):
        fo.set_num_threads(1.5)  # type: ignore[arg-type]
    fo.set_num_threads(1)
    assert fo.get_num_threads() == 1


def test_use_isa_rejects_unknown():
    with pytest.raises(ValueError, match="unknown instruction set 'sse9'"):
        fo.use_isa("sse9")
    assert fo.active_isa() == DEFAULT_ISA


def run_python(code, **env):
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_env_var_forces_isa(isa):
    out = run_python("import fastoptim; print(fastoptim.active_isa())", FASTOPTIM_ISA=isa)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == isa


def test_env_var_unknown_isa_is_a_clear_error():
    out = run_python("import fastoptim", FASTOPTIM_ISA="avx1024")
    assert out.returncode != 0
    assert "FASTOPTIM_ISA" in out.stderr and "avx1024" in out.stderr


def test_default_is_widest_supported():
    out = run_python("import fastoptim; print(fastoptim.active_isa())", FASTOPTIM_ISA="")
    assert out.stdout.strip() == SUPPORTED_ISAS[-1]


def test_info_reports_build_and_runtime():
    data = fo.info()
    assert data["version"] == fo.__version__
    assert data["isa"] in data["isa_supported"]
    assert set(data["isa_supported"]) <= set(data["isa_compiled"])
    assert data["threads"] == fo.get_num_threads()
    assert data["thread_pool"] and data["fork_safe"] is True
    assert "march=native" not in data["cxx_flags"] + data["isa_flags"]
    assert data["compiler"]
