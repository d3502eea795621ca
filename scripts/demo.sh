#!/usr/bin/env bash
# The product's main job on the embedded defaults: installs missing Debian packages, builds, and
# runs `anpr demo`. Extra arguments go to `anpr demo` (see `anpr demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >build/demo-build.log 2>&1 ||
    { cat build/demo-build.log; exit 2; }
fi
echo "building anpr ..." >&2
ninja -C build anpr >build/demo-build.log 2>&1 || { cat build/demo-build.log; exit 2; }
exec build/anpr demo --samples samples "$@"
