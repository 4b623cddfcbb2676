"""Parsing of the params argument and mirroring of grads."""

import numpy as np
import pytest

from fastoptim.param_structure import group_layout, is_group_list


def test_layout_kinds():
    a = np.zeros(2, np.float32)
    assert group_layout(a, "params").kind == "array"
    assert group_layout([a], "params").kind == "list"
    lay = group_layout({"x": a}, "params")
    assert lay.kind == "dict" and lay.names == ["x"]
    with pytest.raises(TypeError, match="params"):
        group_layout(3.0, "params")


def test_grads_must_mirror_dict_keys():
    a, b = np.zeros(2, np.float32), np.zeros(3, np.float32)
    lay = group_layout({"a": a, "b": b}, "params")
    g = lay.grads({"b": b, "a": a}, "grads")
    assert g[0] is a and g[1] is b
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['c'\]"):
        lay.grads({"a": a, "c": b}, "grads")
    with pytest.raises(TypeError, match="mapping"):
        lay.grads([a, b], "grads")


def test_group_list_detection():
    a = np.zeros(2, np.float32)
    assert is_group_list([{"params": [a]}])
    assert not is_group_list([a])
    assert not is_group_list([])
