#!/usr/bin/env bash
# Installs the Debian packages CordQ builds against, when any is missing, and checks that a
# Swift 6 toolchain is on PATH. Safe to run repeatedly: it does nothing when all is present.
set -euo pipefail

packages=(libfftw3-dev libnifti-dev libgsl-dev zlib1g-dev libdeflate-dev liblapacke-dev libopenblas-dev libsqlite3-dev libpng-dev libismrmrd-dev ismrmrd-tools libxml2-utils pkg-config chromium)
# `cordq batch --slurm` is tested against a real single-node Slurm that the test starts
# and stops itself (scripts/slurm-single-node.sh): munged, slurmctld and slurmd.
packages+=(slurm-wlm munge)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "cordq set-up: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "cordq set-up: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "cordq set-up: no Swift toolchain on PATH. Install Swift 6.0 or newer (swift.org) and retry." >&2
  exit 1
fi
