#!/bin/sh
# install-deps.sh — installs what bandsplit needs to build, run and test on
# Debian 12 (as root). Safe to run again: it installs only what is missing.
set -eu

PACKAGES="gcc pkg-config meson ninja-build
libdpdk-dev librdkafka-dev libpq-dev postgresql libcmocka-dev
libjson-c-dev libinih-dev libpcap-dev libmicrohttpd-dev libssl-dev zlib1g-dev
kcat jq socat python3 tzdata procps valgrind clang libclang-rt-14-dev
chromium chromium-headless-shell fonts-wqy-microhei poppler-utils libxlsxwriter-dev python3-openpyxl
libsystemd-dev help2man wrk systemd curl python3-yaml man-db
debhelper dpkg-dev fakeroot lintian"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing — run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The postgresql package would start a system cluster; bandsplit runs its own.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
