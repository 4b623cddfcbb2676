"""Turning a benchmark result into a terminal table, Markdown, PNG charts, and a JSON record."""

from __future__ import annotations

import json
import os
from typing import Any

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


def plots(result: dict[str, Any], out: str) -> list[str]:
    """Per rule: GB/s vs size at each thread count with the probe as the roof, and fastoptim's
    speed-up over each peer. Returns the written paths ([] without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    os.makedirs(out, exist_ok=True)
    paths = []
    cols = _contenders(result)
    for rule in dict.fromkeys(p["rule"] for p in result["points"]):
        pts = [p for p in result["points"] if p["rule"] == rule]
        threads = sorted({p["threads"] for p in pts})
        fig, axes = plt.subplots(2, len(threads), figsize=(5.5 * len(threads), 8), squeeze=False)
        for j, t in enumerate(threads):
            sel = sorted((p for p in pts if p["threads"] == t), key=lambda p: (p["dtype"], p["n"]))
            ax = axes[0][j]
            for c in cols:
                xs = [p["n"] for p in sel if c in p["results"]]
                ys = [p["results"][c]["gbps"] for p in sel if c in p["results"]]
                if xs:
                    style = dict(color="black", linestyle="--", linewidth=2) if c == "probe" else dict(marker="o")
                    ax.plot(xs, ys, label="roof (streaming probe)" if c == "probe" else c, **style)
            ax.set_xscale("log")
            ax.set_title(f"{rule}, {t} thread{'s' if t > 1 else ''}: GB/s (minimum bytes / time)")
            ax.set_xlabel("elements")
            ax.set_ylabel("GB/s")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            ax = axes[1][j]
            for c in cols:
                if c in ("fastoptim", "probe"):
                    continue
                xs = [p["n"] for p in sel if c in p["speedup"]]
                ys = [p["speedup"][c] for p in sel if c in p["speedup"]]
                if xs:
                    ax.plot(xs, ys, marker="o", label=f"vs {c}")
            ax.axhline(1.0, color="gray", linewidth=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{rule}, {t} thread{'s' if t > 1 else ''}: fastoptim speed-up")
            ax.set_xlabel("elements")
            ax.set_ylabel("peer time / fastoptim time")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(machine_line(result), fontsize=8)
        fig.tight_layout()
        paths.append(os.path.join(out, f"bench_{rule}.png"))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def write_json(path: str, **payload: Any) -> None:
    """Write ``payload`` with the machine description (``fastoptim.info()``) as JSON to ``path``."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump({"machine": info(), **payload}, f, indent=1)
    print(f"# wrote {path}")
