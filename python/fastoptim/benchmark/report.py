"""Turning a benchmark result into a terminal table, Markdown, PNG charts, and a JSON record."""

from __future__ import annotations

import os
from typing import Any

from ..outputs import write_json as strict_write_json
from ..runtime import info

CONTENDER_ORDER = ("fastoptim", "probe", "numpy", "torch_forloop", "torch_foreach", "torch_fused", "deepspeed")


def _contenders(result: dict[str, Any]) -> list[str]:
    seen = {c for p in result["points"] for c in p["results"]}
    return [c for c in CONTENDER_ORDER if c in seen]


def machine_line(result: dict[str, Any]) -> str:
    m = result["machine"]
    return (f"{m['cpu']}, {m['cores']} cores, ISA {m['isa']} (of {'/'.join(m['isa_supported'])}), "
            f"fastoptim {m['version']}, numpy {m['numpy']}, torch {m['torch'] or 'not installed'}, {m['compiler']}")


def table(result: dict[str, Any]) -> str:
    cols = _contenders(result)
    head = f"{'rule':14s}{'n':>11s}{'thr':>4s}{'dtype':>8s}" + "".join(f"{c:>15s}" for c in cols) + "   (µs/step)"
    lines = ["machine: " + machine_line(result), head, "-" * len(head)]
    for p in result["points"]:
        cells = "".join(f"{p['results'][c]['us_per_step']:15.2f}" if c in p["results"] else f"{'-':>15s}"
                        for c in cols)
        lines.append(f"{p['rule']:14s}{p['n']:11d}{p['threads']:4d}{p['dtype']:>8s}{cells}")
    for s in result["skipped"]:
        lines.append(f"skipped {s['peer']}: {s['reason']}")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """A Markdown table: per point, fastoptim's µs/step, GB/s and % of the roof, and its
    speed-up over each peer."""
    peers = [c for c in _contenders(result) if c not in ("fastoptim", "probe")]
    head = ["rule", "elements", "threads", "fastoptim µs", "GB/s", "% of roof"] + [f"vs {p}" for p in peers]
    lines = [f"Machine: {machine_line(result)}.", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for p in result["points"]:
        ours = p["results"]["fastoptim"]
        row = [p["rule"], f"{p['n']:,}", str(p["threads"]), f"{ours['us_per_step']:.1f}", f"{ours['gbps']:.1f}",
               f"{ours['pct_of_probe']:.0f}%" if "pct_of_probe" in ours else "-"]
        row += [f"{p['speedup'][c]:.2f}×" if c in p["speedup"] else "-" for c in peers]
        lines.append("| " + " | ".join(row) + " |")
    if result["skipped"]:
        lines.append("")
        lines += [f"Skipped {s['peer']}: {s['reason']}." for s in result["skipped"]]
    return "\n".join(lines)


# One look per contender in every chart and row (a peer keeps its colour in the GB/s row and
# in the speed-up row).
CONTENDER_STYLE: dict[str, dict[str, Any]] = {
    "fastoptim": {"color": "#1f77b4", "marker": "o", "linestyle": "-", "linewidth": 2.2},
    "probe": {"color": "black", "marker": "", "linestyle": "--", "linewidth": 2.0},
    "numpy": {"color": "#ff7f0e", "marker": "s", "linestyle": "-"},
    "torch_forloop": {"color": "#2ca02c", "marker": "^", "linestyle": "-"},
    "torch_foreach": {"color": "#d62728", "marker": "v", "linestyle": "-"},
    "torch_fused": {"color": "#9467bd", "marker": "D", "linestyle": "-"},
    "deepspeed": {"color": "#8c564b", "marker": "P", "linestyle": "-"},
}
CONTENDER_LABEL = {"probe": "roof (streaming probe)"}


def _pyplot() -> Any:
    from ..optional import require

    matplotlib = require("matplotlib", what="drawing charts", extra="demo")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rule_figure(result: dict[str, Any], rule: str) -> Any:
    """One rule's chart (a matplotlib Figure): per thread count, GB/s vs size of every
    contender with the probe as the roof (top row), and fastoptim's speed-up over each peer
    (bottom row), each contender in its :data:`CONTENDER_STYLE` in both rows."""
    plt = _pyplot()
    cols = _contenders(result)
    pts = [p for p in result["points"] if p["rule"] == rule]
    threads = sorted({p["threads"] for p in pts})
    dtypes = sorted({p["dtype"] for p in pts})
    fig, axes = plt.subplots(2, len(threads), figsize=(max(8.0, 5.5 * len(threads)), 8), squeeze=False)
    for j, t in enumerate(threads):
        for dtype in dtypes:
            sel = sorted((p for p in pts if p["threads"] == t and p["dtype"] == dtype), key=lambda p: p["n"])
            suffix = f" {dtype}" if len(dtypes) > 1 else ""
            dash = {} if dtype == dtypes[0] else {"linestyle": ":"}
            ax = axes[0][j]
            for c in cols:
                xs = [p["n"] for p in sel if c in p["results"]]
                ys = [p["results"][c]["gbps"] for p in sel if c in p["results"]]
                if xs:
                    ax.plot(xs, ys, label=CONTENDER_LABEL.get(c, c) + suffix, **{**CONTENDER_STYLE[c], **dash})
            ax = axes[1][j]
            for c in cols:
                if c in ("fastoptim", "probe"):
                    continue
                xs = [p["n"] for p in sel if c in p["speedup"]]
                ys = [p["speedup"][c] for p in sel if c in p["speedup"]]
                if xs:
                    ax.plot(xs, ys, label=CONTENDER_LABEL.get(c, c) + suffix, **{**CONTENDER_STYLE[c], **dash})
        threads_txt = f"{t} thread{'s' if t > 1 else ''}"
        ax = axes[0][j]
        ax.set_xscale("log")
        ax.set_title(f"{rule}, {threads_txt}: GB/s (minimum bytes / time)", fontsize=10)
        ax.set_xlabel("elements")
        ax.set_ylabel("GB/s")
        ax.grid(True, which="both", alpha=0.3)
        ax = axes[1][j]
        ax.axhline(1.0, color="gray", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{rule}, {threads_txt}: fastoptim's speed-up (> 1: faster)", fontsize=10)
        ax.set_xlabel("elements")
        ax.set_ylabel("peer time / fastoptim time")
        ax.grid(True, which="both", alpha=0.3)
    # One legend for every panel (a contender looks the same in all of them), outside the data.
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                handles.setdefault(line.get_label(), line)
    fig.suptitle(machine_line(result), fontsize=8)
    fig.tight_layout()
    # below the panels; savefig(bbox_inches="tight") grows the canvas to hold it
    fig.legend(list(handles.values()), list(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(len(handles), 4 if len(threads) == 1 else 6), fontsize=9, frameon=False)
    return fig


def plots(result: dict[str, Any], out: str) -> list[str]:
    """Per rule, ``bench_<rule>.png`` in ``out`` (see :func:`rule_figure`); the written paths."""
    plt = _pyplot()
    os.makedirs(out, exist_ok=True)
    paths = []
    for rule in dict.fromkeys(p["rule"] for p in result["points"]):
        fig = rule_figure(result, rule)
        paths.append(os.path.join(out, f"bench_{rule}.png"))
        fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
        plt.close(fig)
    return paths


def write_json(path: str, **payload: Any) -> None:
    """Write ``payload`` with the machine description (``fastoptim.info()``) as strict JSON
    (non-finite numbers as null) to ``path``."""
    strict_write_json(path, {"machine": info(), **payload})
    print(f"# wrote {path}")
