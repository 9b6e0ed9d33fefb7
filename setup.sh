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
          nlohmann-json3-dev libcli11-dev libbenchmark-dev libonig-dev libsentencepiece-dev pkg-config)
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
"$build_dir/bin/gqa-lab-cli" info || true

case "$mode" in
  build) ;;
  test)
    cd "$build_dir"
    QT_QPA_PLATFORM=offscreen ctest --output-on-failure --timeout 900
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
