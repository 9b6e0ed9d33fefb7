#!/usr/bin/env bash
# Checks of the CUDA backend on a machine with an NVIDIA GPU (sm_80 or newer), CUDA 13 and PyTorch.
#   1. build gqa-lab-cli and libgqa_cuda.so (no GUI, no Qt tests) for one architecture
#   2. gqa-lab-cli verify --backend cuda: attention grid, full models, KV cache and maps against the
#      double-precision reference
#   3. compute-sanitizer memcheck on verify, memcheck + racecheck on small runs that reach every kernel
#      (tensor-core prefill, split-K decode + combine, runtime head_dim, fp32 path, maps)
#   4. bench_vs_torch.py: our kernels on .npy inputs against a float64 reference, and timings next to
#      PyTorch scaled_dot_product_attention in the same run
# Usage: tests/gpu/run_gpu_checks.sh [--skip-build] [--quick]
# Environment: BUILD (default build-gpu), OUT (results folder, default $BUILD/gpu-results),
#              GQA_CUDA_ARCHITECTURES (default 90), PYTHON (default python3).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-gpu}
RESULTS=${OUT:-$BUILD/gpu-results}
ARCH=${GQA_CUDA_ARCHITECTURES:-90}
PYTHON=${PYTHON:-python3}
SKIP_BUILD=0
QUICK=0
for a in "$@"; do
  case "$a" in
    --skip-build) SKIP_BUILD=1 ;;
    --quick) QUICK=1 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done
export PATH=/usr/local/cuda/bin:$PATH
mkdir -p "$RESULTS"
CLI=$BUILD/bin/gqa-lab-cli
failures=()

# run NAME CMD...: output to $RESULTS/NAME.log, a one-line verdict here, the log's tail on failure.
run() {
  local name=$1; shift
  echo "== $name: $*"
  local t0=$SECONDS
  "$@" > "$RESULTS/$name.log" 2>&1
  local rc=$?
  if [ $rc -eq 0 ]; then
    echo "   ok ($((SECONDS - t0)) s)"
  else
    echo "   FAILED rc=$rc ($((SECONDS - t0)) s); last lines of $RESULTS/$name.log:"
    tail -n 25 "$RESULTS/$name.log" | sed 's/^/   | /'
    failures+=("$name")
  fi
  return $rc
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$RESULTS/nvidia-smi.csv" 2>&1 || true
cat "$RESULTS/nvidia-smi.csv"

if [ $SKIP_BUILD -eq 0 ]; then
  run configure cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGQA_BUILD_GUI=OFF \
      -DGQA_BUILD_TESTS=OFF -DGQA_BUILD_BENCH=OFF -DGQA_CUDA_ARCHITECTURES="$ARCH" \
    || { echo "configure failed (the engine needs OpenBLAS, nlohmann-json, CLI11 and OpenMP)"; exit 1; }
  run build cmake --build "$BUILD" -j "$(nproc)" --target gqa-lab-cli gqa_cuda || exit 1
fi
[ -x "$CLI" ] || { echo "no $CLI"; exit 1; }
[ -f "$BUILD/bin/libgqa_cuda.so" ] || { echo "no $BUILD/bin/libgqa_cuda.so"; exit 1; }

# The module must resolve every symbol and export only its C entry points.
run module-symbols bash -c "ldd -r '$BUILD/bin/libgqa_cuda.so' | grep -E 'undefined|not found' && exit 1; \
  nm -D --defined-only '$BUILD/bin/libgqa_cuda.so' | grep ' T ' | grep -v -E ' gqa_cuda_(probe|create_backend|abi_version)$' && exit 1; exit 0"
run info "$CLI" info

# 2. Correctness against the double-precision reference.
run verify "$CLI" verify --backend cuda
"$CLI" verify --backend cuda --json > "$RESULTS/verify.json" 2> /dev/null || true

# 3. Sanitizers. Small runs reach: tensor-core prefill (bf16/fp16, D 64/128), split-K decode with several
# chunks + combine, the runtime-head_dim kernel (teaching preset, D 32), fp32 K/V, attention maps.
small_runs=(
  "run --backend cuda --preset teaching --head-dim 64 --dtype bf16 --seq 80 --decode 3 --maps-layer 0 --maps-out $RESULTS/maps_bf16.npy"
  "run --backend cuda --preset teaching --head-dim 128 --dtype fp16 --seq 70 --decode 2"
  "run --backend cuda --preset teaching --dtype fp32 --seq 40 --decode 2"
  "run --backend cuda --preset teaching --dtype bf16 --seq 33 --decode 2"
)
i=0
for args in "${small_runs[@]}"; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  run "memcheck-run$i" compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 "$CLI" $args
  # shellcheck disable=SC2086
  run "racecheck-run$i" compute-sanitizer --tool racecheck --racecheck-report all --error-exitcode 3 "$CLI" $args
  # shellcheck disable=SC2086
  run "synccheck-run$i" compute-sanitizer --tool synccheck --error-exitcode 3 "$CLI" $args
done
if [ $QUICK -eq 0 ]; then
  run memcheck-verify compute-sanitizer --tool memcheck --error-exitcode 3 "$CLI" verify --backend cuda
fi

# 4. PyTorch comparison.
torch_args=(--cli "$CLI" --out "$RESULTS")
[ $QUICK -eq 1 ] && torch_args+=(--quick)
run bench-vs-torch "$PYTHON" "$ROOT/tests/gpu/bench_vs_torch.py" "${torch_args[@]}"
[ -f "$RESULTS/bench_vs_torch.md" ] && cat "$RESULTS/bench_vs_torch.md"

echo
if [ ${#failures[@]} -eq 0 ]; then
  echo "all GPU checks passed; logs in $RESULTS"
  exit 0
fi
echo "FAILED: ${failures[*]}; logs in $RESULTS"
exit 1
