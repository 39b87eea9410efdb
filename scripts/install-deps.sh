#!/usr/bin/env bash
# Installs the Debian packages CordQ builds against, when any is missing, and checks that a
# Swift 6 toolchain is on PATH. Safe to run repeatedly: it does nothing when all is present.
set -euo pipefail

packages=(libfftw3-dev libnifti-dev libgsl-dev zlib1g-dev libdeflate-dev liblapacke-dev libopenblas-dev libsqlite3-dev libpng-dev libismrmrd-dev ismrmrd-tools libxml2-utils pkg-config chromium)
# `cordq batch --slurm` is tested against a real single-node Slurm that the test starts
# and stops itself (scripts/slurm-single-node.sh): munged, slurmctld and slurmd.
packages+=(slurm-wlm munge)
# The BIDS validator (PyPI bids-validator-deno) checks `cordq process`'s derivatives in the tests.
packages+=(python3-venv)

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

# Python peers the tests check CordQ's outputs with, in a private virtual environment (.tools/,
# ignored by git): bids-validator-deno 3.x (BIDS validation of the derivatives) and SimpleITK
# (ITK reading CordQ's transforms). Without PyPI those tests are skipped and say why.
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
if [ ! -x "$tools/venv/bin/bids-validator-deno" ] || ! "$tools/venv/bin/python" -c "import SimpleITK, numpy" 2>/dev/null; then
  if python3 -m venv "$tools/venv" >/dev/null 2>&1 \
     && "$tools/venv/bin/pip" install -q "bids-validator-deno==3.0.2" "SimpleITK>=2.3" numpy >/dev/null 2>&1; then
    echo "cordq set-up: bids-validator-deno, SimpleITK and numpy installed in .tools/venv"
  else
    echo "cordq set-up: could not install bids-validator-deno/SimpleITK from PyPI; the tests that use them will be skipped" >&2
  fi
fi
