#!/usr/bin/env bash
# Proves that aarch64 computes the same bits as x86-64: builds the digest driver
# (tests/cpp/digest_driver.cpp, CMake target fastoptim_digest_driver) natively for x86-64, with
# its baseline, avx2 and avx512 kernel copies, and cross-compiled for aarch64
# (tools/aarch64-toolchain.cmake), runs both (aarch64 under qemu-user), and compares the
# per-ISA "all" digests of every kernel's output bits.
#
#   tools/aarch64_digest.sh
#
# Exit status 0 and "bit-identical: x86-64 <isas> and aarch64" when every digest is equal; 1
# with the differing (rule, format) lines otherwise; 2 on a setup or build error.
# Installs what is missing (as root, Debian/Ubuntu): g++-aarch64-linux-gnu, qemu-user, and
# cmake / g++ if absent. Both builds use CMakeLists.txt's flags (FASTOPTIM_KERNEL_FLAGS with
# -ffp-contract=off, the per-ISA -m flags, never -march=native; this script checks that in
# the compile commands). Release build type, as the wheel.
#
# Environment: DIGEST_BUILD_DIR (default build/digest), DIGEST_JOBS (default nproc).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=${DIGEST_BUILD_DIR:-$root/build/digest}
jobs=${DIGEST_JOBS:-$(nproc)}
sysroot=/usr/aarch64-linux-gnu

if [[ $(uname -m) != x86_64 ]]; then
  echo "aarch64_digest.sh: runs on an x86-64 host (found $(uname -m))" >&2
  exit 2
fi

# ---- prerequisites ---------------------------------------------------------------------------
need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || command -v c++ >/dev/null || need+=(g++)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "aarch64_digest.sh: missing ${need[*]}; install them (apt-get install -y ${need[*]}) and rerun" >&2
    exit 2
  fi
  echo "+ apt-get update && apt-get install -y ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

build() {  # build NAME [cmake args...]: configure (once) and build the driver in $bdir/NAME
  local name=$1; shift
  local dir=$bdir/$name
  local g=("${gen[@]}")
  [[ -f $dir/CMakeCache.txt ]] && g=()  # keep the generator of an existing build dir
  echo "+ cmake -S $root -B $dir ${g[*]} -DCMAKE_BUILD_TYPE=Release -DFASTOPTIM_BUILD_EXTENSION=OFF" \
       "-DFASTOPTIM_BUILD_DIGEST_DRIVER=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON $*"
  cmake -S "$root" -B "$dir" "${g[@]}" -DCMAKE_BUILD_TYPE=Release -DFASTOPTIM_BUILD_EXTENSION=OFF \
        -DFASTOPTIM_BUILD_DIGEST_DRIVER=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" >"$dir.configure.log" 2>&1 \
    || { cat "$dir.configure.log" >&2; echo "aarch64_digest.sh: configure of $name failed" >&2; exit 2; }
  echo "+ cmake --build $dir --target fastoptim_digest_driver -j $jobs"
  cmake --build "$dir" --target fastoptim_digest_driver -j "$jobs" >"$dir.build.log" 2>&1 \
    || { tail -n 60 "$dir.build.log" >&2; echo "aarch64_digest.sh: build of $name failed" >&2; exit 2; }
  # The kernels' flags as CMakeLists.txt gives them: no FMA contraction, never -march=native.
  local cmds kern
  cmds=$(grep '"command":' "$dir/compile_commands.json")
  kern=$(grep -c 'isa_kernels' <<<"$cmds" || true)
  if [[ $kern -lt 1 ]] || grep 'isa_kernels' <<<"$cmds" | grep -qv -- '-ffp-contract=off' ||
     grep -qE -- '-m(arch|cpu|tune)=native' <<<"$cmds"; then
    echo "aarch64_digest.sh: $name: kernel objects must be compiled with -ffp-contract=off and without -march=native:" >&2
    grep 'isa_kernels' <<<"$cmds" >&2
    exit 2
  fi
  echo "   $name: $kern kernel objects, each with -ffp-contract=off, none with -march=native"
}

mkdir -p "$bdir"
echo "== native build (x86-64)"
t=$(now)
build x86_64
echo "   native build: $(elapsed "$t")"

echo "== cross build (aarch64)"
t=$(now)
build aarch64 -DCMAKE_TOOLCHAIN_FILE="$root/tools/aarch64-toolchain.cmake"
echo "   cross build: $(elapsed "$t")"

x86_exe=$bdir/x86_64/fastoptim_digest_driver
arm_exe=$bdir/aarch64/fastoptim_digest_driver
if command -v file >/dev/null; then
  file -b "$arm_exe" | grep -q aarch64 || { echo "aarch64_digest.sh: $arm_exe is not an aarch64 program" >&2; exit 2; }
fi

echo "== run"
echo "+ $x86_exe"
t=$(now)
"$x86_exe" >"$bdir/x86_64.txt" || { echo "aarch64_digest.sh: native driver failed" >&2; exit 2; }
echo "   native run: $(elapsed "$t")"
echo "+ qemu-aarch64 -L $sysroot $arm_exe"
t=$(now)
qemu-aarch64 -L "$sysroot" "$arm_exe" >"$bdir/aarch64.txt" || { echo "aarch64_digest.sh: aarch64 driver failed under qemu" >&2; exit 2; }
echo "   qemu run: $(elapsed "$t")"
grep -q '^# .*arch aarch64;' "$bdir/aarch64.txt" || { echo "aarch64_digest.sh: the qemu run did not report arch aarch64" >&2; exit 2; }

grep -h '^#' "$bdir/x86_64.txt" "$bdir/aarch64.txt"
awk '$2 == "all" { print "  x86-64 " $1 ": " $3 }' "$bdir/x86_64.txt"
awk '$2 == "all" { print "  aarch64 " $1 ": " $3 }' "$bdir/aarch64.txt"

# ---- compare -------------------------------------------------------------------------------
isas=$(awk '$2 == "all" { printf "%s%s", sep, $1; sep = " " }' "$bdir/x86_64.txt")
[[ -n $isas ]] || { echo "aarch64_digest.sh: no digests from the native driver" >&2; exit 2; }
[[ $(awk '$2 == "all"' "$bdir/aarch64.txt" | wc -l) -ge 1 ]] || { echo "aarch64_digest.sh: no digest from the aarch64 driver" >&2; exit 2; }
distinct=$(awk '$2 == "all" { print $3 }' "$bdir/x86_64.txt" "$bdir/aarch64.txt" | sort -u | wc -l)
if [[ $distinct -eq 1 ]]; then
  echo "bit-identical: x86-64 $isas and aarch64"
  exit 0
fi
echo "NOT bit-identical: the digests of these (rule, format) differ (x86-64 ISAs | aarch64):"
awk 'FNR == 1 { arch = (arch == "" ? "x86-64" : "aarch64") }
     /^#/ || $2 == "all" { next }
     { key = $2 " " $3; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
       d[key] = d[key] " " arch "/" $1 "=" $4 " (" $5 ")"; if (!((key, $4) in c)) { c[key, $4] = 1; k[key]++ } }
     END { for (i = 1; i <= n; ++i) if (k[order[i]] > 1) print "  " order[i] ":" d[order[i]] }' \
  "$bdir/x86_64.txt" "$bdir/aarch64.txt"
exit 1
