#!/usr/bin/env bash
# One command, run here (the development machine, Debian 12) right before a device call: fills .gpu-deps/
# (git-ignored) with what the lent GPU machine lacks, then name `.gpu-deps` in the call's `carry`.
# That machine has CUDA, CMake, ninja, g++ and PyTorch, but no internet and no Debian -dev packages:
#   include/    nlohmann-json and CLI11 (header-only), oniguruma.h, sentencepiece_processor.h/_trainer.h
#   lib/        libonig and libsentencepiece(_train) from this machine's packages, under their link-time
#               (.so) and run-time (.so.N) names, as plain files (a carried symlink may not survive)
#   lib/pkgconfig/  oniguruma.pc and sentencepiece.pc, relocated (prefix = ${pcfiledir}/../..)
#   bin/pkg-config  this machine's pkgconf (+ libpkgconf), used there only when it has no pkg-config
#   testdata/models/tiny-llama-gqa  a copy of ../shared/testdata's model (../shared does not travel)
# OpenBLAS is deliberately not carried: the GPU build configures with -DCMAKE_DISABLE_FIND_PACKAGE_OpenBLAS=ON
# and the CPU backend (only a second opinion in `verify`) falls back to its own GEMM.
# Needs: apt-get install nlohmann-json3-dev libcli11-dev libonig-dev libsentencepiece-dev pkgconf
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DEPS=$ROOT/.gpu-deps
TESTDATA=${GQA_TESTDATA_DIR:-$ROOT/../shared/testdata}
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
LIBDIR=/usr/lib/$MULTIARCH

need() { [ -e "$1" ] || { echo "prepare_deps: missing $1 (apt-get install $2)" >&2; exit 1; }; }
need /usr/include/nlohmann/json.hpp nlohmann-json3-dev
need /usr/include/CLI/CLI.hpp libcli11-dev
need /usr/include/oniguruma.h libonig-dev
need "$LIBDIR/libonig.so" libonig-dev
need /usr/include/sentencepiece_processor.h libsentencepiece-dev
need "$LIBDIR/libsentencepiece.so" libsentencepiece-dev
need "$LIBDIR/libsentencepiece_train.so" libsentencepiece-dev
need /usr/bin/pkgconf pkgconf
need "$TESTDATA/models/tiny-llama-gqa/reference/expected.json" "the shared test data (GQA_TESTDATA_DIR)"

rm -rf "$DEPS"
mkdir -p "$DEPS/include" "$DEPS/lib/pkgconfig" "$DEPS/bin" "$DEPS/testdata/models"
cp -r /usr/include/nlohmann /usr/include/CLI "$DEPS/include/"
cp /usr/include/oniguruma.h /usr/include/oniggnu.h /usr/include/onigposix.h "$DEPS/include/"
cp /usr/include/sentencepiece_processor.h /usr/include/sentencepiece_trainer.h "$DEPS/include/"

# A library under its .so name (what -lNAME links) and its SONAME (what the loader looks for).
carry_lib() {
  local dev=$LIBDIR/$1 soname
  soname=$(objdump -p "$dev" | awk '/SONAME/ {print $2}')
  cp -L "$dev" "$DEPS/lib/$1"
  [ -n "$soname" ] && [ "$soname" != "$1" ] && cp -L "$dev" "$DEPS/lib/$soname"
  return 0
}
carry_lib libonig.so
carry_lib libsentencepiece.so
carry_lib libsentencepiece_train.so

for pc in oniguruma sentencepiece; do
  sed -e 's|^prefix=.*|prefix=${pcfiledir}/../..|' -e 's|^exec_prefix=.*|exec_prefix=${prefix}|' \
      -e 's|^libdir=.*|libdir=${prefix}/lib|' -e 's|^includedir=.*|includedir=${prefix}/include|' \
      "$LIBDIR/pkgconfig/$pc.pc" > "$DEPS/lib/pkgconfig/$pc.pc"
done

cp -L /usr/bin/pkgconf "$DEPS/bin/pkgconf.bin"
cp -L "$LIBDIR/libpkgconf.so.3" "$DEPS/lib/"
cat > "$DEPS/bin/pkg-config" <<'EOF'
#!/bin/sh
# this machine's pkgconf with its library beside it (only for machines without pkg-config)
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH="$here/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/pkgconf.bin" "$@"
EOF
chmod +x "$DEPS/bin/pkg-config"

cp -r "$TESTDATA/models/tiny-llama-gqa" "$DEPS/testdata/models/"

# Self-check: the relocated .pc files resolve into .gpu-deps through the carried pkg-config.
PKG_CONFIG_PATH=$DEPS/lib/pkgconfig PKG_CONFIG_LIBDIR=$DEPS/lib/pkgconfig "$DEPS/bin/pkg-config" --libs --cflags oniguruma sentencepiece
du -sh "$DEPS"
echo "prepared $DEPS: name .gpu-deps in the device call's carry"
