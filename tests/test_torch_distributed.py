"""fastoptim.torch inside torch's distributed engines (2 ranks, gloo on loopback), against
torch.optim in the same engine: DDP with bucket-view gradients, ZeroRedundancyOptimizer with
and without parameters_as_bucket_view, and ZeRO's consolidate/load checkpoint round trip.
The ranks run in a child process group that the test ends whatever happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed: fastoptim.torch needs it")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("this torch build has no gloo backend", allow_module_level=True)

SCRIPT = Path(__file__).with_name("distributed_zero_ddp.py")
CASES = ["ddp", "zero", "zero_bucket_view", "zero+resume", "zero_bucket_view+resume"]


def test_ddp_and_zero_match_torch_optim():
    proc = subprocess.Popen([sys.executable, str(SCRIPT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    finally:  # end every rank (the spawned ranks share the child's process group)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
    assert proc.returncode == 0, err[-3000:]
    diffs = dict(line.split() for line in out.splitlines() if line.split() and line.split()[0] in CASES)
    assert sorted(diffs) == sorted(CASES), out
    for case, diff in diffs.items():
        # the same formula in float32; torch's for-loop AdamW rounds a few ulps differently
        assert float(diff) <= 1e-6, f"{case}: max |fastoptim - torch.optim| = {diff}"
