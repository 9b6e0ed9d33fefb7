#!/usr/bin/env bash
# Run on the development machine before a device call: the lent GPU machine has no internet and no
# Debian -dev packages, so the header-only dependencies travel in .gpu-deps/ (git-ignored, named in the
# device call's `carry`). OpenBLAS is optional there: without it the CPU reference uses its own GEMM.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu-deps && mkdir -p .gpu-deps/include
cp -r /usr/include/nlohmann .gpu-deps/include/
cp -r /usr/include/CLI .gpu-deps/include/
du -sh .gpu-deps
