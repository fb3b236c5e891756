#!/bin/sh
# Installs every Debian package Trellis needs to build, test, benchmark and run its demo.
# Idempotent and quiet: packages already present are skipped without touching apt.
set -eu

PACKAGES="
build-essential cmake ninja-build pkg-config git
clang-format
libboost-dev libboost-system-dev
liblmdb-dev lmdb-utils
libmsgpack-cxx-dev
libnl-3-dev libnl-route-3-dev
libzmq3-dev cppzmq-dev
libspdlog-dev libfmt-dev
nlohmann-json3-dev
libcli11-dev
libgtest-dev libgmock-dev googletest
libbenchmark-dev
iproute2 iputils-ping iperf3 nftables util-linux procps psmisc netcat-openbsd python3 curl
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all $(echo $PACKAGES | wc -w) packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing (run as root to install them)" >&2
  exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
