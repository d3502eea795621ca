#!/usr/bin/env bash
# The product's main job on the embedded defaults: installs missing Debian packages, builds, and
# runs `anpr demo`. Extra arguments go to `anpr demo` (see `anpr demo --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C build anpr >/dev/null
exec build/app/anpr demo --samples samples "$@"
