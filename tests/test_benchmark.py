"""The benchmark harness: `fastoptim bench --quick` output structure (not timings), the
NumPy peer's formulas, and timing helpers."""

import json

import numpy as np
import pytest

import fastoptim as fo
from fastoptim.benchmark.contenders import OURS
from fastoptim.benchmark.numpy_peer import numpy_step
from fastoptim.benchmark.rules import RULES
from fastoptim.benchmark.timing import measure_interleaved
from fastoptim.cli import main


def test_bench_quick_writes_json_table_and_markdown(tmp_path, capsys, restore_threads):
    rc = main(["bench", "--quick", "--sizes", "1e3", "3k", "--threads", "1", "2", "--budget", "0.01",
               "--out", str(tmp_path), "--no-plots"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "fastoptim" in out and "µs/step" in out
    result = json.loads((tmp_path / "bench.json").read_text(), parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert set(result) >= {"machine", "config", "skipped", "points"}
    assert {"cpu", "cores", "isa", "numpy", "torch", "version"} <= set(result["machine"])
    assert len(result["points"]) == 2 * 2 * 2  # rules x sizes x threads
    for p in result["points"]:
        assert p["rule"] in ("sgd", "adam") and p["n"] in (1000, 3000) and p["threads"] in (1, 2)
        assert p["bytes_per_element"] == (12 if p["rule"] == "sgd" else 28)
        ours = p["results"]["fastoptim"]
        for key in ("us_per_step", "p10_us", "p90_us", "ns_per_element", "gbps", "pct_of_probe", "repeats"):
            assert key in ours and ours[key] > 0
        assert "probe" in p["results"] and "numpy" in p["results"]
        assert set(p["speedup"]) == set(p["results"]) - {"fastoptim", "probe"}
    skipped = {s["peer"] for s in result["skipped"]}
    ran = {c for p in result["points"] for c in p["results"]}
    for peer in ("numpy", "torch_forloop", "torch_foreach", "torch_fused", "deepspeed"):
        assert peer in ran or peer in skipped, f"{peer} neither ran nor was listed as skipped"
    md = (tmp_path / "bench.md").read_text()
    assert md.startswith("Machine:") and "| rule |" in md


def test_bench_rejects_unknown_rule(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--rules", "no_such_rule"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("rule", RULES, ids=[r.label for r in RULES])
def test_numpy_peer_computes_the_same_step(rule):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(257).astype(np.float32)]
    grads = [rng.standard_normal(257).astype(np.float32)]
    ours = [params[0].copy()]
    opt = OURS[rule.name](ours, **rule.kwargs)
    step = numpy_step(rule, params, grads)
    for _ in range(5):
        opt.step(grads)
        step()
    assert not np.array_equal(step.params[0], params[0])
    np.testing.assert_allclose(step.params[0], ours[0], rtol=1e-4, atol=1e-6)


def test_measure_interleaved_times_every_contender():
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1

    def b():
        calls["b"] += 1
        np.arange(1000).sum()
    res = measure_interleaved({"a": a, "b": b}, budget_s=0.01, min_rounds=5, warmup=1, batch=3)
    assert calls["a"] == calls["b"] >= (5 + 1) * 3
    assert res["b"].median_s > 0 and res["a"].repeats == res["b"].repeats


def test_stream_probe_computes_its_formula():
    from fastoptim import _core

    a = [np.ones(100, np.float32), np.full(100, 2.0, np.float32)]
    g = np.full(100, 0.25, np.float32)
    _core.stream_probe(a, g)
    np.testing.assert_array_equal(a[0], 0.75)
    np.testing.assert_array_equal(a[1], 1.25)
    with pytest.raises(ValueError, match="shares memory"):
        _core.stream_probe([a[0]], a[0])
    assert fo.active_isa()


def test_matrix_pass_probes_compute_their_formulas(restore_threads):
    # bench/matrix_roof.py's roofs: each probe must touch every element of its streams once
    from fastoptim import _core

    rng = np.random.default_rng(0)
    fo.set_num_threads(2)
    _core.set_min_elements_per_thread(1000)
    rows, cols = 5, 20000  # wider than a column tile (16384): two tiles per row block
    a0, g = rng.standard_normal(rows * cols).astype(np.float32), rng.standard_normal(rows * cols).astype(np.float32)
    w = rng.standard_normal(cols).astype(np.float32)
    a = a0.copy()
    _core.pass_probe("rw_cols", [a, g, w, cols])
    want = np.float32(0.5) * a0 + (g.reshape(rows, cols) * w).ravel()
    np.testing.assert_array_equal(a, want)
    a = a0.copy()
    o16, o32 = np.empty(a.size, np.uint16), np.empty(a.size, np.float32)
    _core.pass_probe("rw_out", [a, g, o16])
    np.testing.assert_array_equal(a, np.float32(0.5) * a0 + g)
    np.testing.assert_array_equal(o16, (a.view(np.uint32) >> 16).astype(np.uint16))
    b = a.copy()
    _core.pass_probe("rw_out", [b, g, o32])
    np.testing.assert_array_equal(o32, b)
    c = a0.copy()
    _core.pass_probe("half_rw", [c, o16])
    np.testing.assert_array_equal(c, np.float32(0.5) * a0 + (o16.astype(np.uint32) << 16).view(np.float32))
    with pytest.raises(ValueError, match="cols must divide"):
        _core.pass_probe("rw_cols", [a, g, w, 7])


def test_bench_charts_keep_each_contender_in_one_colour():
    pytest.importorskip("matplotlib", reason="charts need matplotlib (extra 'demo')")
    import matplotlib.pyplot as plt

    from fastoptim.benchmark.report import CONTENDER_STYLE, rule_figure

    def point(n, threads):
        peers = ["numpy", "torch_foreach", "torch_fused"] if threads == 1 else ["torch_fused"]
        results = {c: {"gbps": 1.0 + i, "us_per_step": 1.0} for i, c in enumerate(["fastoptim", "probe", *peers])}
        return {"rule": "adam", "n": n, "threads": threads, "dtype": "float32", "results": results,
                "speedup": {c: 2.0 for c in peers}}
    result = {"machine": {"cpu": "x", "cores": 2, "isa": "avx2", "isa_supported": ["avx2"], "version": "0",
                          "numpy": "2", "torch": None, "compiler": "gcc"},
              "points": [point(n, t) for t in (1, 2) for n in (1000, 10000)]}
    fig = rule_figure(result, "adam")
    colours = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_label().startswith("_"):
                continue
            name = {"roof (streaming probe)": "probe"}.get(line.get_label(), line.get_label())
            colours.setdefault(name, set()).add(line.get_color())
    assert set(colours) == {"fastoptim", "probe", "numpy", "torch_foreach", "torch_fused"}
    for name, seen in colours.items():  # same colour in every panel and both rows
        assert seen == {CONTENDER_STYLE[name]["color"]}, (name, seen)
    assert len({CONTENDER_STYLE[c]["color"] for c in colours}) == len(colours)
    legend_labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(legend_labels) == sorted({"fastoptim", "roof (streaming probe)", "numpy", "torch_foreach",
                                            "torch_fused"})
    plt.close(fig)
