"""The benchmark grid: rules × sizes × threads × dtype, every contender timed interleaved on
the same data at the same thread count; results as a JSON-ready dict."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..optional import install_hint
from .contenders import OURS, set_threads, torch_available, torch_step
from .machine import available_memory_bytes, describe
from .numpy_peer import numpy_step
from .rules import RULES_BY_LABEL, TORCH_FUSED, RuleCase
from .timing import measure_interleaved

PEERS = ("numpy", "torch_forloop", "torch_foreach", "torch_fused", "deepspeed")
QUICK = dict(rules=["sgd", "adam"], sizes=[1_000, 100_000, 1_000_000], budget=0.1)


@dataclass
class BenchConfig:
    rules: Sequence[str] = ("sgd", "sgd_momentum", "adagrad", "rmsprop", "adam", "adamw")
    sizes: Sequence[int] = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)
    threads: Sequence[int] = field(default_factory=lambda: sorted({1, os.cpu_count() or 1}))
    dtypes: Sequence[str] = ("float32",)
    peers: Sequence[str] = PEERS
    budget: float = 0.5  # seconds of interleaved timing per point
    memory_fraction: float = 0.5  # of MemAvailable a point may use


def _bytes_per_element(rule: RuleCase, itemsize: int) -> int:
    return itemsize * (1 + 2 * rule.rw_streams)


def _probe_roof(rule: RuleCase, n: int) -> Callable[[], None]:
    from .. import _core

    rw = [np.ones(n, np.float32) for _ in range(rule.rw_streams)]
    g = np.full(n, 1e-3, np.float32)
    return lambda: _core.stream_probe(rw, g)


def _deepspeed_step(rule: RuleCase, params, grads) -> Callable[[], None] | None:
    import torch
    from deepspeed.ops.adam import DeepSpeedCPUAdam  # noqa: PLC0415  (optional peer)

    if rule.name not in ("Adam", "AdamW"):
        return None
    tparams = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.from_numpy(g)
    opt = DeepSpeedCPUAdam(tparams, lr=rule.kwargs["lr"], adamw_mode=rule.name == "AdamW",
                           weight_decay=rule.kwargs.get("weight_decay", 1e-2 if rule.name == "AdamW" else 0.0))
    return opt.step


def peer_availability(peers: Sequence[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Peers that can run here, and the skipped ones with the reason."""
    ok, skipped = [], []
    for peer in peers:
        if peer not in PEERS:
            raise ValueError(f"peers: unknown peer {peer!r}; choose from {PEERS}")
        if peer.startswith("torch") and torch_available() is None:
            skipped.append({"peer": peer, "reason": install_hint(f"the {peer} peer", "torch", None)})
        elif peer == "deepspeed":
            try:
                from deepspeed.ops.adam import DeepSpeedCPUAdam  # noqa: F401
                ok.append(peer)
            except ImportError:
                skipped.append({"peer": peer, "reason": install_hint("the deepspeed peer", "deepspeed", None)})
            except Exception as exc:  # its op failing to build
                skipped.append({"peer": peer, "reason": f"DeepSpeedCPUAdam not importable ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''})"})
        else:
            ok.append(peer)
    return ok, skipped


def run(config: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the grid; return ``{"machine", "config", "skipped", "points"}``."""
    peers, skipped = peer_availability(config.peers)
    rules = [RULES_BY_LABEL[r] for r in config.rules]
    mem = available_memory_bytes()
    points = []
    started = time.perf_counter()
    for dtype_name in config.dtypes:
        dtype = np.dtype(dtype_name)
        for threads in config.threads:
            set_threads(threads)
            for rule in rules:
                for n in config.sizes:
                    need = n * dtype.itemsize * (rule.rw_streams + 1) * (3 + len(peers))
                    if mem is not None and need > config.memory_fraction * mem:
                        skipped.append({"peer": "all", "reason": f"{rule.label} n={n}: needs ~{need >> 20} MiB, "
                                        f"over {config.memory_fraction:.0%} of available memory"})
                        continue
                    points.append(_point(rule, n, threads, dtype, peers, config.budget))
                    log(_point_line(points[-1]))
    return {"machine": describe(), "config": {k: list(v) if isinstance(v, (list, tuple)) else v
                                              for k, v in config.__dict__.items()},
            "skipped": skipped, "points": points, "seconds": time.perf_counter() - started}


def _point(rule: RuleCase, n: int, threads: int, dtype: np.dtype, peers: Sequence[str], budget: float) -> dict:
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(n).astype(dtype)]
    grads = [(rng.standard_normal(n) * 1e-3).astype(dtype)]
    opt = OURS[rule.name]([p.copy() for p in params], **rule.kwargs)
    contenders: dict[str, Callable[[], Any]] = {"fastoptim": lambda: opt.step(grads)}
    if dtype == np.float32:
        contenders["probe"] = _probe_roof(rule, n)
    for peer in peers:
        step = None
        if peer == "numpy":
            step = numpy_step(rule, params, grads)
        elif peer.startswith("torch_"):
            mode = peer.split("_", 1)[1]
            if mode != "fused" or rule.name in TORCH_FUSED:
                step = torch_step(rule, params, grads, mode)
        elif peer == "deepspeed":
            step = _deepspeed_step(rule, params, grads)
        if step is not None:
            contenders[peer] = step
    batch = max(1, 100_000 // n)
    timed = measure_interleaved(contenders, budget_s=budget, batch=batch, min_rounds=5, warmup=2)
    nbytes = _bytes_per_element(rule, dtype.itemsize) * n
    results = {}
    for name, t in timed.items():
        results[name] = {"us_per_step": t.median_s * 1e6, "p10_us": t.p10_s * 1e6, "p90_us": t.p90_s * 1e6,
                         "ns_per_element": t.median_s / n * 1e9, "gbps": nbytes / t.median_s / 1e9,
                         "repeats": t.repeats}
    if "probe" in results:
        for r in results.values():
            r["pct_of_probe"] = 100.0 * results["probe"]["us_per_step"] / r["us_per_step"]
    ours = results["fastoptim"]["us_per_step"]
    speedup = {k: v["us_per_step"] / ours for k, v in results.items() if k not in ("fastoptim", "probe")}
    return {"rule": rule.label, "n": n, "threads": threads, "dtype": dtype.name,
            "bytes_per_element": _bytes_per_element(rule, dtype.itemsize), "results": results, "speedup": speedup}


def _point_line(p: dict) -> str:
    r = p["results"]
    roof = f"{r['fastoptim'].get('pct_of_probe', float('nan')):5.0f}% roof" if "probe" in r else ""
    peers = " ".join(f"{k}:{v:.2f}x" for k, v in p["speedup"].items())
    return (f"{p['rule']:14s} n={p['n']:<10d} thr={p['threads']} {p['dtype']:7s} "
            f"{r['fastoptim']['us_per_step']:11.2f} µs {r['fastoptim']['gbps']:6.1f} GB/s {roof}  {peers}")
