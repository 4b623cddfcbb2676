"""FlatParams: packing, views, alignment, pickling, and optimizers stepping the arena."""

import pickle

import numpy as np
import pytest

import fastoptim as fo


def model(rng, dtype=np.float32):
    return {"W1": rng.standard_normal((5, 7)).astype(dtype), "b1": rng.standard_normal(7).astype(dtype),
            "W2": rng.standard_normal((7, 3)).astype(dtype), "b2": rng.standard_normal(3).astype(dtype)}


def test_views_share_the_buffer_and_keep_names_and_shapes(rng):
    arrays = model(rng)
    flat = fo.FlatParams(arrays)
    assert list(flat.params) == ["W1", "b1", "W2", "b2"]
    for name, a in arrays.items():
        np.testing.assert_array_equal(flat[name], a)
        assert flat[name].shape == a.shape
        assert np.shares_memory(flat[name], flat.data)
        assert np.shares_memory(flat.grad_of(name), flat.grad)
        assert flat[name].ctypes.data % 64 == 0
    flat["b1"][...] = 5
    assert np.all(flat.unflatten()["b1"] == 5)
    assert flat.numel == sum(a.size for a in arrays.values())


def test_list_input_and_dtype_rules(rng):
    flat = fo.FlatParams([np.ones(3, np.float64), np.zeros((2, 2))])
    assert flat.dtype == np.float64 and isinstance(flat.params, list)
    assert fo.FlatParams([np.ones(3, np.int32)], dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="dtype"):
        fo.FlatParams([np.ones(3, np.int64)])
    with pytest.raises(ValueError, match="nothing to pack"):
        fo.FlatParams([])
    with pytest.raises(KeyError):
        fo.FlatParams({"a": np.ones(2, np.float32)})["b"]


@pytest.mark.parametrize("cls,kw", [(fo.Adam, dict(lr=0.01, weight_decay=0.1)), (fo.SGD, dict(lr=0.1, momentum=0.9)),
                                    (fo.RMSprop, dict(lr=0.01, centered=True)), (fo.Adagrad, dict(lr=0.1)),
                                    (fo.AdamW, dict(lr=0.01))])
def test_arena_step_equals_separate_arrays_step(cls, kw, rng):
    arrays = model(rng)
    flat = fo.FlatParams(arrays)
    separate = {k: v.copy() for k, v in arrays.items()}
    opt_flat, opt_sep = cls(flat, **kw), cls(separate, **kw)
    (plan, _), = opt_flat._groups[0].plans
    assert plan.num_tensors == 1
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in arrays.items()}
        for k, g in grads.items():
            flat.grads[k][...] = g
        opt_flat.step()
        opt_sep.step(grads)
    for k in arrays:
        assert flat[k].tobytes() == separate[k].tobytes()
    padding = np.ones(flat.data.size, bool)
    for off, shape in zip(flat.offsets, flat.shapes):
        padding[off:off + int(np.prod(shape))] = False
    assert np.all(flat.data[padding] == 0)


def test_arena_optimizer_rejects_foreign_grads(rng):
    flat = fo.FlatParams(model(rng))
    opt = fo.SGD(flat, lr=0.1)
    with pytest.raises(TypeError, match="FlatParams"):
        opt.step({"W1": np.zeros((5, 7), np.float32)})


def test_pickle_keeps_views_shared_and_optimizer_attached(rng):
    flat = fo.FlatParams(model(rng))
    opt = fo.Adam(flat, lr=0.1)
    flat.grad[...] = 1
    opt.step()
    flat2, opt2 = pickle.loads(pickle.dumps((flat, opt)))
    assert flat2.data.ctypes.data % 64 == 0
    np.testing.assert_array_equal(flat2.data, flat.data)
    flat2["W1"][0, 0] = 123.0
    assert flat2.data[0] == 123.0
    flat.grad[...] = 0.5
    flat2.grad[...] = 0.5
    flat["W1"][0, 0] = 123.0
    opt.step()
    opt2.step()
    assert flat.data.tobytes() == flat2.data.tobytes()


def test_state_dict_of_arena_optimizer_round_trips(rng):
    flat = fo.FlatParams(model(rng))
    opt = fo.Adam(flat, lr=0.1)
    flat.grad[...] = 1
    opt.step()
    sd = opt.state_dict()
    assert sd["state"][0]["exp_avg"].shape == flat.data.shape
    opt2 = fo.Adam(fo.FlatParams(model(rng)), lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1
    np.testing.assert_array_equal(opt2.state[0]["exp_avg"], sd["state"][0]["exp_avg"])
