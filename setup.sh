#!/usr/bin/env bash
# GQA Lab set-up on Debian 12: installs the packages, builds in Release, then starts the app or runs the tests.
#   ./setup.sh run     install, build, start the app (the CLI's default run where there is no display)
#   ./setup.sh test    install, build, run every test through ctest
#   ./setup.sh build   install and build only
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-run}"
case "$mode" in run | test | build) ;; *) echo "usage: $0 run|test|build" >&2; exit 2 ;; esac

packages=(cmake g++ ninja-build qt6-base-dev libqt6svg6 libqcustomplot-dev xvfb xauth libopenblas-dev
          nlohmann-json3-dev libcli11-dev libbenchmark-dev libonig-dev libsentencepiece-dev pkg-config
          clang-14 libclang-rt-14-dev libomp-14-dev clang-format-14)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# CUDA is optional: used when NVIDIA's toolkit is installed. CI builds one architecture to stay fast.
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
if [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
  if [ "${CI:-}" = "true" ]; then
    cmake_args+=(-DGQA_CUDA_ARCHITECTURES=90)
  fi
else
  echo "==> no CUDA toolkit at /usr/local/cuda: building the CPU backend only"
fi
# CI must run the suites that read ../shared/testdata (GQA_TESTDATA_DIR overrides where it is).
if [ "${CI:-}" = "true" ]; then
  cmake_args+=(-DGQA_REQUIRE_TESTDATA=ON)
fi
if [ -n "${GQA_TESTDATA_DIR:-}" ]; then
  cmake_args+=(-DGQA_TESTDATA_DIR="$GQA_TESTDATA_DIR")
fi
build_dir="${GQA_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$(nproc)"
echo "==> built $build_dir in $SECONDS s"
"$build_dir/bin/gqa-lab-cli" info || true

case "$mode" in
  build) ;;
  test)
    # The checked-in style (.clang-format) is enforced: unformatted code fails the tests.
    if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
      echo "==> clang-format check"
      git ls-files -z '*.cpp' '*.h' '*.cu' '*.cuh' | xargs -0 clang-format-14 --dry-run --Werror
    fi
    cd "$build_dir"
    t_tests=$SECONDS
    QT_QPA_PLATFORM=offscreen ctest --output-on-failure --timeout 900
    echo "==> ctest in $build_dir: $((SECONDS - t_tests)) s"
    cd "$OLDPWD"
    # ---- Sanitizers and fuzzing (tests/fuzz/README.md) -------------------------------------------------
    # On by default (CI runs them; green end to end from a clean clone, 26 min in all on 2 cores);
    # GQA_SANITIZERS=0 ./setup.sh test skips them.
    # (a) the engine, the CLI and the engine tests (with the fuzz regression replays) under ASan + UBSan:
    #     GCC, no GUI, no CUDA, in build-asan, at -O1 (quicker to build, and the tests stay quick) with
    #     libstdc++'s bounds checks (_GLIBCXX_ASSERTIONS: an index past size() inside the capacity, which ASan
    #     alone cannot see); (b) the UI worker/controller tests under ThreadSanitizer in build-tsan; (c) every
    #     libFuzzer target (clang-14, build-fuzz) for a fixed number of runs on its corpus.
    if [ "${GQA_SANITIZERS:-1}" != "0" ]; then
    san_common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGQA_ENABLE_CUDA=OFF -DGQA_BUILD_BENCH=OFF)
    [ "${CI:-}" = "true" ] && san_common+=(-DGQA_REQUIRE_TESTDATA=ON)
    [ -n "${GQA_TESTDATA_DIR:-}" ] && san_common+=(-DGQA_TESTDATA_DIR="$GQA_TESTDATA_DIR")
    t0=$SECONDS
    echo "==> ASan + UBSan: engine, CLI, engine tests (build-asan)"
    cmake -S . -B build-asan "${san_common[@]}" -DGQA_BUILD_GUI=OFF -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -D_GLIBCXX_ASSERTIONS"
    cmake --build build-asan -j "$(nproc)"
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
      QT_QPA_PLATFORM=offscreen ctest --output-on-failure --timeout 1800)
    t1=$SECONDS
    echo "==> ThreadSanitizer: UI worker and controller tests (build-tsan)"
    tsan_tests=(tst_engine_controller)
    cmake -S . -B build-tsan "${san_common[@]}" -DGQA_BUILD_GUI=ON \
      -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer"
    cmake --build build-tsan -j "$(nproc)" --target "${tsan_tests[@]}"
    for t in "${tsan_tests[@]}"; do
      # One OpenMP thread: libgomp is not TSan-instrumented, and its barriers would read as races; the
      # suppressions cover Qt's and GLib's own (uninstrumented) hand-overs between threads, nothing of ours.
      QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 \
        TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/fuzz/tsan-qt.supp" \
        "build-tsan/bin/$t"
    done
    t2=$SECONDS
    echo "==> libFuzzer targets, ${GQA_FUZZ_RUNS:-20000} runs each (build-fuzz)"
    cmake -S . -B build-fuzz "${san_common[@]}" -DGQA_FUZZ=ON -DGQA_BUILD_GUI=OFF -DGQA_BUILD_TESTS=OFF \
      -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14
    cmake --build build-fuzz -j "$(nproc)" --target gqa_fuzz_all
    tests/fuzz/run.sh build-fuzz "${GQA_FUZZ_RUNS:-20000}"
    echo "==> sanitizer stages: ASan+UBSan $((t1 - t0)) s, TSan $((t2 - t1)) s, fuzzing $((SECONDS - t2)) s"
    fi
    # ---- end of sanitizers and fuzzing ---------------------------------------------------------------------
    ;;
  run)
    if [ -x "$build_dir/bin/gqa-lab" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
      exec "$build_dir/bin/gqa-lab"
    elif [ -x "$build_dir/bin/gqa-lab" ]; then
      echo "==> no display: starting GQA Lab under Xvfb would show nothing; running the default preset in the CLI instead"
      exec "$build_dir/bin/gqa-lab-cli" run
    else
      exec "$build_dir/bin/gqa-lab-cli" run
    fi
    ;;
esac
