#!/bin/bash
# Installs the Debian 12 packages that building, running and testing
# connectionsd need. Sourced by the README's two commands.
set -euo pipefail
PACKAGES=(
  meson ninja-build pkg-config gcc libc6-dev
  libsystemd-dev libpolkit-gobject-1-dev libglib2.0-dev libnetfilter-conntrack-dev libmnl-dev
  libdbus-1-dev scdoc man-db libxml2-utils clang libclang-rt-14-dev valgrind
  cockpit-ws cockpit-bridge chromium
  dbus polkitd systemd libglib2.0-bin conntrack nftables iproute2 iputils-ping util-linux python3
  python3-dbus python3-gi systemd-container cockpit-system sudo libpam-systemd
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Node.js and npm: the machine may have its own (not Debian's, which would
# conflict); Debian's only where there is none.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# npm packages, pinned by their lockfiles: PatternFly for the Cockpit page,
# playwright-core for the browser tests (it drives Debian's chromium).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for dir in "$here/data/cockpit" "$here/tests/browser"; do
  if [ ! -d "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
