"""The command line: info and demo (the README's main job)."""

import json
import subprocess
import sys

import pytest

from fastoptim.cli import main


def test_info_json(capsys):
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["isa"] in data["isa_supported"]


def test_python_dash_m_info():
    out = subprocess.run([sys.executable, "-m", "fastoptim", "info"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "isa" in out.stdout


def test_demo_runs_every_method_and_is_reproducible(tmp_path):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    from fastoptim.demo import METHODS, run_demo

    runs = [run_demo("iris", epochs=3, out=str(tmp_path / f"r{i}"), seed=1, hidden=8, sweep=(i == 0),
                     plots=(i == 0), progress=False, verbose=False) for i in range(2)]
    rows = runs[0]["rows"]
    assert [r["method"] for r in rows] == [m.name for m in METHODS]
    for r0, r1 in zip(rows, runs[1]["rows"]):
        assert (r0["train_loss"], r0["test_accuracy"]) == (r1["train_loss"], r1["test_accuracy"])
    assert all(0 <= r["test_accuracy"] <= 1 and r["steps"] > 0 for r in rows)
    saved = json.loads((tmp_path / "r0" / "results.json").read_text())
    assert saved["rows"][0]["method"] == "batch GD"
    assert len(saved["sweep"]["Adam"]["losses"]) == 11
    pytest.importorskip("matplotlib", reason="charts need matplotlib (extra 'demo')")
    assert (tmp_path / "r0" / "loss_curves.png").stat().st_size > 0
    assert (tmp_path / "r0" / "lr_sweep.png").stat().st_size > 0


def test_demo_command_line(tmp_path):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    assert main(["demo", "--dataset", "wine", "--epochs", "2", "--no-sweep", "--no-plots", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.json").exists()


@pytest.mark.parametrize("extra", [["--state-bits", "8"], ["--state-bits", "16"], ["--param-dtype", "float16"]])
def test_demo_compact_precision_modes(extra, capsys):
    pytest.importorskip("sklearn", reason="the demo's data sets ship with scikit-learn (extra 'demo')")
    if "16" in extra:
        pytest.importorskip("ml_dtypes", reason="bfloat16 state needs ml_dtypes (extra 'bf16')")
    assert main(["demo", "--dataset", "iris", "--epochs", "2", "--no-sweep", "--no-output", "--no-progress",
                 "--hidden", "4", *extra]) == 0
    out = capsys.readouterr().out
    assert "AdamW" in out and ("state 8-bit" in out or "state 16-bit" in out or "params float16" in out)
