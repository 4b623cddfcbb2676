"""The command line: info and demo (the README's main job); every value checked before any
work (one line, exit 2), the same install hint for every missing optional package, --help
and the README's synopsis in step with the parser, strict JSON, charts that label every line."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastoptim.cli import command_parsers, main, parse_size

README = Path(__file__).resolve().parents[1] / "README.md"


def strict_json(text):
    """json.loads that rejects NaN/Infinity, as JSON.parse does."""
    def reject(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=reject)


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["isa"] in data["isa_supported"]


def test_python_dash_m_info():
    out = subprocess.run([sys.executable, "-m", "fastoptim", "info"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "isa" in out.stdout


def test_demo_runs_every_method_and_is_reproducible(tmp_path):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    from fastoptim.demo import METHODS, SWEEP_LRS, run_demo

    runs = [run_demo("iris", epochs=3, out=str(tmp_path / f"r{i}"), seed=1, hidden=8, sweep=True,
                     plots=(i == 0), progress=False, verbose=False) for i in range(2)]
    rows = runs[0]["rows"]
    assert [r["method"] for r in rows] == [m.name for m in METHODS]
    for r0, r1 in zip(rows, runs[1]["rows"]):
        assert (r0["train_loss"], r0["test_accuracy"]) == (r1["train_loss"], r1["test_accuracy"])
    assert all(0 <= r["test_accuracy"] <= 1 and r["steps"] > 0 for r in rows)
    for r in rows:
        assert r["us_per_step"] > 0 and r["state_bytes"] >= 0 and r["state"] in ("none", "float32")
        assert r["lr_from"] == "sweep" and r["lr"] == runs[0]["sweep"][r["method"]]["best_lr"]
    assert rows[-1]["state_bytes"] == 2 * rows[3]["state_bytes"] > 0  # AdamW: 2 buffers, momentum: 1
    saved = strict_json((tmp_path / "r0" / "results.json").read_text())  # no Infinity/NaN
    assert saved["rows"][0]["method"] == "batch GD"
    adam = saved["sweep"]["Adam"]
    assert adam["lrs"] == SWEEP_LRS and len(adam["losses"]) == len(adam["diverged"]) == 11
    assert adam["diverged"][-1] and adam["losses"][-1] is None  # lr 10 diverges, written as null
    assert all((loss is None) == d for loss, d in zip(adam["losses"], adam["diverged"]))
    pytest.importorskip("matplotlib", reason="charts need matplotlib (extra 'demo')")
    assert (tmp_path / "r0" / "loss_curves.png").stat().st_size > 0
    assert (tmp_path / "r0" / "lr_sweep.png").stat().st_size > 0


def test_demo_command_line(tmp_path):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    assert main(["demo", "--dataset", "wine", "--epochs", "2", "--no-sweep", "--no-plots", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.json").exists()


@pytest.mark.parametrize("extra, adam_state", [(["--state-bits", "8"], "8-bit"), (["--state-bits", "16"], "bfloat16"),
                                               (["--param-dtype", "float16"], "float32")])
def test_demo_compact_precision_modes(extra, adam_state, capsys):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    if "16" in extra:
        pytest.importorskip("ml_dtypes", reason="bfloat16 state needs ml_dtypes (extra 'bf16')")
    assert main(["demo", "--dataset", "iris", "--epochs", "2", "--no-sweep", "--no-output", "--no-progress",
                 "--hidden", "4", *extra]) == 0
    out = capsys.readouterr().out
    adamw = next(line for line in out.splitlines() if line.startswith("AdamW "))
    assert f" {adam_state} " in adamw  # the format in effect, from the optimizer's own state


def test_demo_table_says_what_is_in_effect():
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    from fastoptim.demo import format_table, run_demo

    kw = dict(dataset="iris", epochs=1, out=None, hidden=8, sweep=False, progress=False, verbose=False)
    rows8, rows32 = (run_demo(state_bits=bits, **kw) for bits in (8, 32))
    by8 = {r["method"]: r for r in rows8["rows"]}
    by32 = {r["method"]: r for r in rows32["rows"]}
    assert by8["Adam"]["state"] == "8-bit" and by8["Adam"]["state_bytes"] < by32["Adam"]["state_bytes"]
    assert by8["Adagrad"]["state"] == "float32"  # no 8-bit Adagrad: said, not hidden
    assert by8["SGD"]["state"] == "none" and by8["SGD"]["state_bytes"] == 0
    notes = " ".join(rows8["notes"])
    assert "Adagrad has no 8-bit state" in notes and "plain SGD keeps no state" in notes
    assert any("fixed" in n for n in rows8["notes"]) and rows8["lr_from"] == "fixed"
    table = format_table(rows8["rows"])
    for column in ("train loss", "test acc", "µs/step", "state", "opt memory"):
        assert column in table
    with pytest.raises(ValueError, match="state_bits"):
        run_demo(state_bits=8, param_dtype="float16", **kw)
    with pytest.raises(ValueError, match="epochs"):
        run_demo(**{**kw, "epochs": 0})


def one_line_error(capsys, argv):
    """Runs the command line; it must exit 2 with one line on stderr and print nothing else."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    assert exc.value.code == 2, captured
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured
    return captured.err.strip()


@pytest.mark.parametrize("argv, named", [
    (["demo", "--epochs", "0"], "--epochs"), (["demo", "--epochs", "two"], "--epochs"),
    (["demo", "--hidden", "0"], "--hidden"), (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--dataset", "mnist"], "--dataset"), (["demo", "--state-bits", "4"], "--state-bits"),
    (["demo", "--param-dtype", "int8"], "--param-dtype"),
    (["demo", "--state-bits", "8", "--param-dtype", "bfloat16"], "--param-dtype bfloat16"),
    (["demo", "--state-bits", "8", "--param-dtype", "float16"], "--param-dtype float16"),
    (["bench", "--sizes", "0"], "--sizes"), (["bench", "--sizes", "1.5"], "--sizes"),
    (["bench", "--sizes", "1e-3"], "--sizes"), (["bench", "--threads", "0"], "--threads"),
    (["bench", "--budget", "0"], "--budget"), (["bench", "--budget", "nan"], "--budget"),
    (["bench", "--rules", "no_such_rule"], "--rules"), (["info", "--jsn"], "--jsn"),
])
def test_bad_values_fail_in_one_line_before_any_work(argv, named, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert named in one_line_error(capsys, argv)
    assert list(tmp_path.iterdir()) == []  # not even the default output folder


@pytest.mark.parametrize("cmd", ["demo", "bench"])
def test_unwritable_out_fails_before_any_work(cmd, capsys, tmp_path):
    if cmd == "demo":
        pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):
        assert "--out" in one_line_error(capsys, [cmd, "--out", str(out), "--no-plots"])


@pytest.mark.parametrize("missing, argv", [
    ("ml_dtypes", ["demo", "--state-bits", "16", "--no-output"]),
    ("ml_dtypes", ["demo", "--param-dtype", "bfloat16", "--no-output"]),
    ("sklearn", ["demo", "--no-output"]),
    ("matplotlib", ["demo"]),
    ("matplotlib", ["bench", "--quick"]),
    ("torch", ["bench", "--peers", "torch_fused", "--no-plots"]),
])
def test_missing_optional_package_gives_one_install_hint(missing, argv, capsys, tmp_path, monkeypatch):
    if missing != "sklearn" and argv[0] == "demo":
        pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    monkeypatch.chdir(tmp_path)
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")] + [missing]:
        monkeypatch.setitem(sys.modules, name, None)  # `import <missing>` now raises ImportError
    err = one_line_error(capsys, argv)
    package = {"sklearn": "scikit-learn"}.get(missing, missing)
    assert re.fullmatch(rf"fastoptim {argv[0]}: error: .*\bneeds {package}: pip install "
                        rf"('fastoptim\[\w+\]'|{package})( \(or pass --no-plots\))?", err), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["10000", "1e4", "10k", "10K", "1E4", "10_000", "0.01M"])
def test_sizes_in_every_spelling(text):
    assert parse_size(text) == 10000


@pytest.mark.parametrize("text", ["0", "1.5", "1e-3", "-10", "ten", "", "k", "1e4.5"])
def test_bad_sizes(text):
    with pytest.raises(ValueError, match="1e4"):
        parse_size(text)


def option_help_blocks(parser):
    """{option: its help text} from the rendered --help of ``parser`` (unwrapped)."""
    blocks, current = {}, None
    for line in parser.format_help().splitlines():
        m = re.match(r"\s{2}(-[\w-]+|--[\w-]+)", line)
        if m:
            current = m.group(1).split(",")[0]
            blocks[current] = line
        elif current and line.startswith(" " * 4) and line.strip():
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


def test_help_shows_every_option_with_its_default(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    for name, parser in command_parsers().items():
        blocks = option_help_blocks(parser)
        for action in parser._actions:
            if action.dest == "help":
                continue
            opt = action.option_strings[0]
            text = " ".join(blocks[opt].split())
            assert re.search(r"\(default: [^)]+\)", text), f"fastoptim {name} --help: {opt} shows no default"
            if action.nargs == 0:
                assert "(default: off)" in text
            elif action.default is not None:
                assert f"(default: {action.default})" in text, text


def test_top_level_help_is_plain_text(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and all(f"{c} " in out for c in ("info", "demo", "bench"))
    assert "``" not in out and ":class:" not in out and ":func:" not in out


def test_readme_synopsis_matches_the_parser():
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    flat = " ".join(section.split())
    for name, parser in command_parsers().items():
        m = re.search(rf"`fastoptim {name}((?: \[[^\]]+\])*)`", flat)
        assert m, f"README's Command line section has no synopsis `fastoptim {name} [...]`"
        shown = dict(re.findall(r"\[(--[\w-]+)(?: ([^\]]+))?\]", m.group(1)))
        options = {a.option_strings[-1]: a for a in parser._actions if a.dest != "help"}
        assert set(shown) == set(options), f"fastoptim {name}: README {sorted(shown)} vs --help {sorted(options)}"
        for opt, action in options.items():
            value = shown[opt]
            if action.nargs == 0:
                assert value == "", (opt, value)
            elif action.nargs in ("+", "*"):
                assert value.endswith("..."), (opt, value)
            elif action.choices is not None:  # all choices, the default first
                assert value == "|".join(map(str, action.choices)) and value.split("|")[0] == str(action.default)
            elif action.default is not None:
                assert value == str(action.default), (opt, value, action.default)


def test_strict_json_writes_non_finite_as_null(tmp_path):
    from fastoptim.outputs import write_json

    write_json(str(tmp_path / "x.json"), {"a": [1.0, math.inf, -math.inf, math.nan], "b": np.float32(2.5),
                                          "c": (np.int64(3),)})
    assert strict_json((tmp_path / "x.json").read_text()) == {"a": [1.0, None, None, None], "b": 2.5, "c": [3]}


def fake_demo_result():
    from fastoptim.demo import METHODS

    names = [m.name for m in METHODS]
    curve = [1.0 / (e + 1) for e in range(10)]
    histories = {n: {"train_loss": [v * (1 + 0.1 * i) for v in curve], "diverged": False}
                 for i, n in enumerate(names)}
    histories["AdamW"]["train_loss"] = list(histories["Adam"]["train_loss"])  # exactly on top of Adam
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    sweep = {n: {"epochs": 2, "lrs": lrs, "losses": [0.5, 0.2, None, None] if i % 2 else [0.5, 0.3, 0.25, None],
                 "diverged": [False, False, True, True] if i % 2 else [False, False, False, True],
                 "best_lr": 1e-2 if i % 2 else 1e-1} for i, n in enumerate(names)}
    return {"rows": [{"method": n, "lr": 0.1} for n in names], "histories": histories, "sweep": sweep,
            "param_dtype": "float32", "state_bits": 32, "lr_from": "sweep"}


def test_demo_charts_label_and_distinguish_every_line():
    pytest.importorskip("matplotlib", reason="charts need matplotlib (extra 'demo')")
    import matplotlib.pyplot as plt

    from fastoptim.demo import METHOD_STYLE, loss_figure, sweep_figure

    result = fake_demo_result()
    fig = loss_figure(result, "test")
    lines = [ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert len(lines) == len(result["histories"])
    looks = {(ln.get_color(), ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(looks) == len(lines)  # colour, line style and marker differ for every method
    adamw = next(ln.get_label() for ln in lines if ln.get_label().startswith("AdamW"))
    assert "on top of Adam" in adamw  # the hidden curve says where it is
    plt.close(fig)

    fig = sweep_figure(result)
    ax, strip = fig.axes
    names = [t.get_text() for t in strip.get_yticklabels()]
    assert names == list(result["sweep"])  # every diverged marker's row is labelled by its method
    for row, name in enumerate(names):
        xs = [x for ln in strip.get_lines() if list(ln.get_ydata()) and ln.get_ydata()[0] == row
              for x in ln.get_xdata()]
        s = result["sweep"][name]
        assert xs == [lr for lr, d in zip(s["lrs"], s["diverged"]) if d]
        assert all(ln.get_color() == METHOD_STYLE[name]["color"] for ln in strip.get_lines()
                   if list(ln.get_ydata()) and ln.get_ydata()[0] == row)
    plt.close(fig)


def test_demo_runs_any_registered_method_by_name(capsys):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    from fastoptim.demo import ALL_METHODS, METHODS, run_demo

    assert [m.name for m in METHODS] == list(ALL_METHODS)[:len(METHODS)]  # the textbook's set stays the default
    assert {"NAdam", "RAdam", "Adamax", "Adadelta", "Rprop", "ASGD"} <= set(ALL_METHODS)
    out = run_demo("iris", epochs=2, out=None, seed=0, hidden=4, sweep=False, progress=False, verbose=False,
                   methods=["NAdam", "Rprop", "Adam"])
    assert [r["method"] for r in out["rows"]] == ["NAdam", "Rprop", "Adam"]
    assert all(np.isfinite(r["train_loss"]) for r in out["rows"])
    with pytest.raises(ValueError, match="methods: unknown"):
        run_demo("iris", epochs=1, out=None, sweep=False, methods=["NoSuchOptimizer"])
    assert main(["demo", "--dataset", "iris", "--epochs", "1", "--hidden", "4", "--no-sweep", "--no-output",
                 "--no-progress", "--methods", "ASGD", "Adadelta"]) == 0
    assert "ASGD" in capsys.readouterr().out
