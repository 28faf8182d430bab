#!/usr/bin/env bash
# Installs the Debian packages circuits needs that are missing (run as root on Debian 12).
set -euo pipefail
packages=(
  g++ make cmake pkg-config
  clang libclang-rt-14-dev
  libeigen3-dev libspectra-dev libhdf5-dev libboost-program-options-dev doctest-dev nlohmann-json3-dev
  python3 python3-numpy python3-h5py python3-torch
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
