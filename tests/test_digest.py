"""Every ISA copy of every kernel gives the same bits: builds the standalone digest driver
(tests/cpp/digest_driver.cpp, CMake option FASTOPTIM_BUILD_DIGEST_DRIVER; no Python inside)
natively in a temporary directory and compares the digests it prints for each ISA this CPU
supports. The cross-architecture check (aarch64 under qemu) is tools/aarch64_digest.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "cpp" / "digest_driver.cpp"


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _run(cmd: list[str], timeout: int, what: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} took more than {timeout} s: {' '.join(cmd)}")
    if out.returncode != 0:
        pytest.fail(f"{what} failed (exit {out.returncode}): {' '.join(cmd)}\n"
                    f"{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out.stdout


@pytest.fixture(scope="module")
def digests(tmp_path_factory) -> list[list[str]]:
    if not (ROOT / "CMakeLists.txt").is_file() or not DRIVER.is_file():
        pytest.skip("the digest driver's sources (CMakeLists.txt, tests/cpp/) are not beside these tests")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found on PATH: the digest driver cannot be built")
    cxx = _compiler()
    if cxx is None:
        pytest.skip("no C++ compiler found (CXX, c++, g++, clang++): the digest driver cannot be built")
    build = tmp_path_factory.mktemp("digest-build")
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    # -O2 rather than Release's -O3: the same kernels in less build time (the bits must not
    # depend on the optimization level either); the kernel flags are CMakeLists.txt's own.
    _run([cmake, "-S", str(ROOT), "-B", str(build), *gen, f"-DCMAKE_CXX_COMPILER={cxx}",
          "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS_RELEASE=-O2 -DNDEBUG",
          "-DFASTOPTIM_BUILD_EXTENSION=OFF", "-DFASTOPTIM_BUILD_DIGEST_DRIVER=ON"], 120, "cmake configure")
    jobs = str(min(os.cpu_count() or 2, 8))
    _run([cmake, "--build", str(build), "--target", "fastoptim_digest_driver", "-j", jobs], 300, "building the driver")
    exe = build / "fastoptim_digest_driver"
    out = _run([str(exe)], 120, "the digest driver")
    return [line.split() for line in out.splitlines() if line and not line.startswith("#")]


def test_every_isa_gives_the_same_bits(digests):
    totals = {row[0]: row[2] for row in digests if row[1] == "all"}
    assert "baseline" in totals, digests
    by_case: dict[tuple[str, str], dict[str, str]] = {}
    for row in digests:
        if row[1] != "all":
            by_case.setdefault((row[1], row[2]), {})[row[0]] = row[3]
    # every rule and format was stepped on every ISA
    assert all(set(d) == set(totals) for d in by_case.values())
    rules = {rule for rule, _ in by_case}
    assert {"sgd", "adagrad", "rmsprop", "adam"} <= rules
    assert ("adam", "8bit") in by_case and ("sgd", "bf16-params+bf16-state-sr") in by_case
    differing = {case: d for case, d in by_case.items() if len(set(d.values())) > 1}
    assert not differing, f"ISAs {sorted(totals)} differ in: {differing}"
    assert len(set(totals.values())) == 1, totals


def test_no_nan_in_the_kernel_outputs(digests):
    # The inputs are chosen so that no rule's update makes a NaN (the digests hash NaN
    # canonically); the gradient-statistics lines, fed an Inf on purpose, count one per tensor,
    # and the whole-tensor optimizers' line ("matrix": Muon, Adafactor, LAMB on the same extreme
    # inputs, through sums of squares that overflow) has some in float32, the same on every ISA.
    for row in digests:
        if row[1] not in ("all", "grad_stats", "matrix"):
            assert row[4] == "nan=0", row
    matrix = {(row[0], row[2]): row[4] for row in digests if row[1] == "matrix"}
    assert matrix and all(v == "nan=0" for (_, fmt), v in matrix.items() if fmt == "f64"), matrix
    assert len({v for (_, fmt), v in matrix.items() if fmt == "f32"}) == 1, matrix
