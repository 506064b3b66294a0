#!/bin/sh
# build.sh — configures (once) and builds the whole project into ./build.
set -eu
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
