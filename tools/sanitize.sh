#!/usr/bin/env bash
# Build fastoptim._core with AddressSanitizer + UndefinedBehaviorSanitizer in its own build
# directory and run the pytest suite against that build once per instruction set this CPU
# supports (FASTOPTIM_ISA forces the default ISA of each run). Nothing is installed: the
# installed/editable package is left alone (see "Imports" below).
#
#   tools/sanitize.sh [pytest args...]        e.g. tools/sanitize.sh -x -k adam tests/test_adam.py
#
# Environment:
#   CXX=g++ (default) | clang++       compiler (e.g. `apt-get install clang-19` and CXX=clang++-19;
#                                     no OpenMP runtime is needed: the threads are fastoptim's own)
#   PYTHON=python3                    interpreter to build for and test with (numpy, torch, pytest)
#   SANITIZE_ISAS="baseline avx2"     ISAs to run (default: every ISA the sanitized build supports)
#   SANITIZE_OPT=-O2                  optimization level (-O1 gives exacter stacks; -O2 is closer
#                                     to the release code, e.g. gcc's auto-vectorized loops)
#   SANITIZE_BUILD_DIR                default build/sanitize-<compiler>, e.g. build/sanitize-g++
#   SANITIZE_JOBS                     parallel compile jobs (default: nproc)
#
# Exit status: 0 only if every ISA's pytest run passed AND no sanitizer wrote a report, in
# any process (the suite also starts `python -c ...`/`python -m fastoptim` subprocesses;
# they inherit the environment below, so they run the sanitized module too). Every report is
# written to <build dir>/reports/<isa>/{asan,ubsan}.<pid> and summarized at the end (exit
# codes: 86 = ASan report, 87 = UBSan report, in the process that had it).
#
# How the run is set up, and why:
#  * -fsanitize=address,undefined -fno-sanitize-recover=undefined: a UB finding aborts the
#    process instead of printing and going on. float-divide-by-zero and float-cast-overflow
#    are not part of "undefined" (the kernels may produce inf/nan legitimately).
#  * -D_GLIBCXX_SANITIZE_VECTOR=1: ASan annotations in libstdc++'s std::vector, so reading
#    between size() and capacity() is reported as container-overflow. -D_GLIBCXX_ASSERTIONS:
#    bounds checks in operator[] etc. (a failure aborts with a libstdc++ message). No NDEBUG:
#    assert() stays on.
#  * RelWithDebInfo with its flags replaced by "$SANITIZE_OPT -g": pybind11 neither strips
#    nor LTOs that build type, so stacks have file:line.
#  * python is not linked against ASan, so the runtime must come first: LD_PRELOAD of the
#    compiler's ASan runtime (gcc: libasan.so; clang: libclang_rt.asan-x86_64.so, and the
#    module is linked with -shared-libasan, whose runtime also carries UBSan), followed by
#    the module's C++ runtime (libstdc++; see below). gcc's libubsan needs no preload: it is
#    a DT_NEEDED of the module (its report path is set from sitecustomize.py, see below).
#  * ASAN_OPTIONS detect_leaks=0: CPython (and numpy/torch) keep allocations alive until
#    exit by design, so LeakSanitizer would report thousands of "leaks" that are not ours.
#    detect_odr_violation is left on (no ODR report occurs, torch included).
#  * PYTHONMALLOC=malloc: Python objects come from malloc, not pymalloc's arenas, so ASan
#    also sees overflows into Python-owned buffers (bytes, array.array, ...).
#  * Imports: nothing is copied or installed. <tmp>/sitecustomize.py (<tmp> first on
#    PYTHONPATH) puts a finder at the front of sys.meta_path that loads fastoptim from
#    python/fastoptim in place and fastoptim._core from the sanitized build. PYTHONPATH alone
#    is not enough: an editable install (scikit-build-core) puts its own finder at the front
#    of sys.meta_path, ahead of every sys.path entry. Any sitecustomize this one shadows
#    still runs. A pytest plugin (-p _fastoptim_sanitize) prints fastoptim's and _core's
#    __file__ at the start of each run and stops it unless they are the source tree's and the
#    sanitized build's and ASan is loaded; it also names the test each report came from and
#    fails a test whose subprocess wrote a report.
#  * Sources edited during the build (another terminal, an editor) would mix two versions
#    into one module; the build is redone from clean if cpp/ changed while it ran. Python
#    files and tests are read live, as with an editable install.
#  * torch: imports and runs under ASan with this setup (its bundled libraries are not
#    instrumented, which only means they are not checked); no test is excluded.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PY=$("$PYTHON" -c 'import sys; print(sys.executable)')
CXX=${CXX:-g++}
opt=${SANITIZE_OPT:--O2}
jobs=${SANITIZE_JOBS:-$(nproc)}

if ! command -v "$CXX" >/dev/null; then
  echo "sanitize.sh: compiler '$CXX' not found (clang: apt-get install -y clang-19)" >&2
  exit 2
fi
case "$("$CXX" --version)" in
  *clang*) family=clang ;;
  *) family=gcc ;;
esac
bdir=${SANITIZE_BUILD_DIR:-$root/build/sanitize-$(basename "$CXX")}

san_flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
san_flags+=" -D_GLIBCXX_SANITIZE_VECTOR=1 -D_GLIBCXX_ASSERTIONS"
link_flags="-fsanitize=address,undefined"
if [[ $family == clang ]]; then
  link_flags+=" -shared-libasan"
  # ASan's checks keep clang from vectorizing some `omp simd` loops; it warns for each.
  san_flags+=" -Wno-pass-failed"
fi

# ---- build ---------------------------------------------------------------------------------
# CMake cannot switch the compiler of a configured build dir (it drops the cache and our -D
# options with it), so start that dir afresh when CXX names another compiler.
cxx_path=$(command -v "$CXX")
if [[ -f $bdir/CMakeCache.txt ]] &&
   [[ $(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$bdir/CMakeCache.txt") != "$cxx_path" ]]; then
  echo "== $bdir was configured with another compiler: starting it afresh"
  rm -rf "$bdir/CMakeCache.txt" "$bdir/CMakeFiles"
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[[ -f $bdir/CMakeCache.txt ]] && gen=()   # keep the generator of an existing build dir
mkdir -p "$bdir"
echo "== configure $bdir ($CXX, $opt)"
cmake -S "$root" -B "$bdir" "${gen[@]}" \
  -DCMAKE_CXX_COMPILER="$cxx_path" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$san_flags" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt -g" \
  -DCMAKE_MODULE_LINKER_FLAGS="$link_flags" \
  -DCMAKE_SHARED_LINKER_FLAGS="$link_flags" \
  -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF \
  -DPython_EXECUTABLE="$PY" \
  -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" >"$bdir/configure.log" 2>&1 \
  || { cat "$bdir/configure.log" >&2; exit 2; }
# The sources may be edited while this builds; an object compiled from a half-changed set of
# headers gives false reports (e.g. a class of two sizes). So: if anything under cpp/ or
# CMakeLists.txt changed during the build, build again from clean (up to 3 times).
for attempt in 1 2 3; do
  stamp=$bdir/.build-start
  touch "$stamp"
  echo "== build _core (attempt $attempt)"
  clean=()
  [[ $attempt -gt 1 ]] && clean=(--clean-first)
  built=0
  cmake --build "$bdir" --target _core -j "$jobs" "${clean[@]}" && built=1
  changed=$(find "$root/cpp" "$root/CMakeLists.txt" -newer "$stamp" -type f | head -5)
  if [[ -z $changed ]]; then
    [[ $built -eq 1 ]] && break
    echo "sanitize.sh: the build failed" >&2
    exit 2
  fi
  echo "sanitize.sh: sources changed during the build ($(echo $changed)); building again" >&2
  [[ $attempt -eq 3 ]] && { echo "sanitize.sh: sources keep changing; giving up" >&2; exit 2; }
  sleep 20
done
so=$bdir/_core$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
[[ -f $so ]] || { echo "sanitize.sh: the build made no $so" >&2; exit 2; }

# ---- sanitizer runtime to preload ------------------------------------------------------------
if [[ $family == gcc ]]; then
  asan_rt=$("$CXX" -print-file-name=libasan.so)
else
  # the name depends on how clang was built (lib/linux/...-x86_64.so or a per-target dir)
  rtdir=$("$CXX" -print-runtime-dir)
  for asan_rt in "$("$CXX" -print-file-name=libclang_rt.asan-x86_64.so)" \
                 "$rtdir/libclang_rt.asan-x86_64.so" "$rtdir/libclang_rt.asan.so"; do
    [[ -f $asan_rt ]] && break
  done
fi
asan_rt=$(readlink -f "$asan_rt")
[[ -f $asan_rt ]] || { echo "sanitize.sh: ASan runtime not found ($asan_rt)" >&2; exit 2; }
# The C++ runtime the module uses must be preloaded too: ASan looks up the real __cxa_throw
# (its interceptor wraps it) once, at start-up; python itself does not load libstdc++, so
# without this the first C++ exception (e.g. a ValueError from a hyperparameter check)
# dies in "CHECK failed: ... real___cxa_throw != 0".
cxx_rt=$(ldd "$so" | awk '$1 ~ /^lib(stdc|c)\+\+\.so/ && $3 ~ /^\// {print $3; exit}')
[[ -n $cxx_rt ]] || { echo "sanitize.sh: no C++ runtime in ldd $so" >&2; exit 2; }
preload="$asan_rt:$cxx_rt"
# gcc's UBSan is a library of its own (libubsan, loaded with the module) whose copy of the
# sanitizer report code does not take log_path from UBSAN_OPTIONS once libasan is in the
# process (the report then goes to stderr, which pytest's capture loses when the process
# aborts); sitecustomize.py sets it by calling that library's own __sanitizer_set_report_path.
# clang's ASan runtime contains UBSan, so ASan's log_path covers both.
ubsan_rt=
if [[ $family == gcc ]]; then
  ubsan_rt=$(ldd "$so" | awk '$1 ~ /^libubsan\.so/ && $3 ~ /^\// {print $3; exit}')
  [[ -n $ubsan_rt ]] || { echo "sanitize.sh: $so does not link libubsan" >&2; exit 2; }
fi

# ---- import redirection -----------------------------------------------------------------------
# <stage> holds only sitecustomize.py and the pytest plugin; the Python sources are used in
# place (python/fastoptim, live, as with an editable install), _core from $so.
stage=$(mktemp -d "${TMPDIR:-/tmp}/fastoptim-sanitize.XXXXXX")
trap 'rm -rf "$stage"' EXIT

cat >"$stage/sitecustomize.py" <<'EOF'
# Written by tools/sanitize.sh: fastoptim from the source tree, fastoptim._core from the
# sanitized build, ahead of any finder an installed or editable fastoptim put in sys.meta_path.
import importlib.machinery
import importlib.util
import os
import sys

_STAGE = os.path.dirname(os.path.abspath(__file__))
_SRC = os.environ["FASTOPTIM_SANITIZE_SRC"]  # the directory holding the fastoptim package
_SO = os.environ["FASTOPTIM_SANITIZE_SO"]    # the sanitized _core extension


class _SanitizedFastoptim:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "fastoptim._core":
            return importlib.util.spec_from_file_location(name, _SO)
        if name == "fastoptim":
            return importlib.machinery.PathFinder.find_spec(name, [_SRC])
        if name.startswith("fastoptim."):
            return importlib.machinery.PathFinder.find_spec(name, path)
        return None


sys.meta_path.insert(0, _SanitizedFastoptim)

# gcc: send libubsan's reports where ASan's go (see sanitize.sh).
if os.environ.get("FASTOPTIM_SANITIZE_UBSAN_RT"):
    import ctypes

    ctypes.CDLL(os.environ["FASTOPTIM_SANITIZE_UBSAN_RT"]).__sanitizer_set_report_path(
        os.environ["FASTOPTIM_SANITIZE_REPORTS"].encode() + b"/ubsan")

# Run the sitecustomize this file shadows, if the environment has one.
_other = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _STAGE])
if _other is not None and _other.loader is not None:
    _mod = importlib.util.module_from_spec(_other)
    _other.loader.exec_module(_mod)
EOF

cat >"$stage/_fastoptim_sanitize.py" <<EOF
# Written by tools/sanitize.sh: pytest plugin that proves the sanitized build is under test
# and ties each sanitizer report to the test that was running.
import os

import pytest

EXPECTED = os.path.realpath(os.environ["FASTOPTIM_SANITIZE_SO"])
PACKAGE = os.path.realpath(os.path.join(os.environ["FASTOPTIM_SANITIZE_SRC"], "fastoptim"))
REPORTS = os.environ["FASTOPTIM_SANITIZE_REPORTS"]  # the log_path directory of this run


def _reports():
    return set(os.listdir(REPORTS))


def _note(line):
    with open(REPORTS + ".tests", "a") as f:
        f.write(line + "\\n")


def pytest_configure(config):
    import fastoptim
    from fastoptim import _core

    got = os.path.realpath(_core.__file__)
    with open("/proc/self/maps") as f:
        asan = any("asan" in os.path.basename(line.split()[-1]) for line in f if "/" in line)
    print(f"\\n[sanitize] fastoptim: {fastoptim.__file__}\\n[sanitize] _core: {_core.__file__} -> {got}"
          f"\\n[sanitize] active ISA {fastoptim.active_isa()}, supported {fastoptim.supported_isas()}, "
          f"ASan runtime loaded: {asan}", flush=True)
    pkg = os.path.dirname(os.path.realpath(fastoptim.__file__))
    if got != EXPECTED or pkg != PACKAGE or not asan:
        raise pytest.UsageError(f"sanitize.sh: expected {PACKAGE} with {EXPECTED} and ASan loaded")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # "running" is the test in progress when this process itself dies in a report.
    _note(f"running pid={os.getpid()} {item.nodeid}")
    before = _reports()
    yield
    for name in sorted(_reports() - before):  # from a subprocess the test started
        _note(f"report {name} {item.nodeid}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if call.when == "setup":
        item._sanitize_seen = _reports()
    elif call.when == "call" and rep.passed:
        new = _reports() - (item._sanitize_seen or set())
        if new:  # a subprocess died in a sanitizer report and the test did not notice
            rep.outcome = "failed"
            rep.longrepr = "sanitizer report(s) written meanwhile: " + ", ".join(
                os.path.join(REPORTS, n) for n in sorted(new))
EOF

# ---- environment of every Python process ------------------------------------------------------
reports=$bdir/reports
rm -rf "$reports"
run_env() {  # run_env TAG ISA CMD...: CMD in the sanitizer environment, reports to reports/TAG
  local tag=$1 isa=$2; shift 2
  mkdir -p "$reports/$tag"
  env PYTHONPATH="$stage${PYTHONPATH:+:$PYTHONPATH}" \
      FASTOPTIM_SANITIZE_SRC="$root/python" FASTOPTIM_SANITIZE_SO="$so" \
      LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}" \
      PYTHONMALLOC=malloc \
      ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:strict_init_order=1:detect_stack_use_after_return=1:symbolize=1:log_path=$reports/$tag/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
      UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87:symbolize=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
      FASTOPTIM_SANITIZE_UBSAN_RT="$ubsan_rt" \
      FASTOPTIM_SANITIZE_REPORTS="$reports/$tag" \
      ${isa:+FASTOPTIM_ISA=$isa} \
      "$@"
}

echo "== sanitized module: $so"
echo "== preload: $preload"
if ! isas=$(run_env check "" "$PY" -c '
import sys, fastoptim, fastoptim._core as c
print("== fastoptim:", fastoptim.__file__, "| _core:", c.__file__, file=sys.stderr)
print(" ".join(fastoptim.supported_isas()))'); then
  echo "sanitize.sh: the sanitized module does not import" >&2
  cat "$reports"/check/* 2>/dev/null | head -n 40 >&2
  exit 1
fi
if [[ -n ${SANITIZE_ISAS:-} ]]; then
  isas=$SANITIZE_ISAS
fi
echo "== ISAs: $isas"

cd "$root"
declare -A status
for isa in $isas; do
  echo
  echo "================ pytest, FASTOPTIM_ISA=$isa ================"
  set +e
  # no:cacheprovider: leave .pytest_cache (--lf etc.) to the normal, unsanitized runs
  run_env "$isa" "$isa" "$PY" -m pytest -p no:cacheprovider -p _fastoptim_sanitize "$@"
  status[$isa]=$?
  set -e
done

# ---- verdict ---------------------------------------------------------------------------------
fail=0
echo
echo "================ sanitize.sh summary ($CXX $opt) ================"
if [[ -n $(find "$reports/check" -type f) ]]; then fail=1; fi
for isa in $isas; do
  n=$(find "$reports/$isa" -type f | wc -l)
  echo "  $isa: pytest exit ${status[$isa]}, sanitizer reports: $n"
  [[ ${status[$isa]} -eq 0 && $n -eq 0 ]] || fail=1
done
# Each report: the test it came from, its first lines (error, access, top frames) and its
# SUMMARY line; the whole report stays in the file.
for f in $(find "$reports" -mindepth 2 -type f | sort); do
  tag=$(basename "$(dirname "$f")") name=$(basename "$f") pid=${f##*.}
  test=$(awk -v n="$name" '$1 == "report" && $2 == n {$1 = $2 = ""; print substr($0, 3)}' \
         "$reports/$tag.tests" 2>/dev/null | tail -1)
  [[ -n $test ]] || test=$(awk -v p="pid=$pid" '$1 == "running" && $2 == p {$1 = $2 = ""; t = substr($0, 3)}
                                               END {print t}' "$reports/$tag.tests" 2>/dev/null)
  echo
  echo "---------------- $f (test: ${test:-unknown}) ----------------"
  head -n 30 "$f" | cut -c1-400
  grep -m1 '^SUMMARY' "$f" || true
done
if [[ $fail -ne 0 ]]; then
  echo "sanitize.sh: FAILED (reports kept in $reports)" >&2
  exit 1
fi
echo "sanitize.sh: OK"
