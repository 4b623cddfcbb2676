# CMake toolchain for cross-compiling fastoptim's C++ (the digest driver: no Python) for
# aarch64 Linux with Debian's cross compiler (apt-get install g++-aarch64-linux-gnu); the
# result runs under qemu-user: qemu-aarch64 -L /usr/aarch64-linux-gnu PROGRAM.
# Used by tools/aarch64_digest.sh. CMakeLists.txt then selects the aarch64 ISA list
# (baseline only) and applies the same FASTOPTIM_KERNEL_FLAGS (-ffp-contract=off included:
# GCC contracts a*b+c to FMA by default on aarch64, which would change bits).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(FASTOPTIM_AARCH64_PREFIX aarch64-linux-gnu- CACHE STRING "prefix of the cross tools")
set(CMAKE_CXX_COMPILER ${FASTOPTIM_AARCH64_PREFIX}g++)
set(CMAKE_C_COMPILER ${FASTOPTIM_AARCH64_PREFIX}gcc)

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
