#!/usr/bin/env bash
# Complex MP-PCA before the magnitude step, against MP-PCA on magnitudes, on RESOLVE phantom
# series (#17): `cordq phantom kspace --sequence resolve` (64², 8 coils, 4 slices, b = 0 + 30
# directions at b = 1000) at three noise levels, reconstructed as magnitude and as complex
# (`cordq recon --complex`), each denoised by `cordq denoise mppca`, compared with the
# simulator's truth_combined (NRMSE and the diffusion-weighted bias, in the object and in the
# cord). Usage: Benchmarks/recon/complex_mppca.sh [CORDQ] (default .build/release/cordq);
# needs a Python with nibabel and numpy as $PYTHON (default /work/venv-bench/bin/python).
set -euo pipefail
C="$(cd "$(dirname "${1:-.build/release/cordq}")" && pwd)/$(basename "${1:-.build/release/cordq}")"
PY="${PYTHON:-/work/venv-bench/bin/python}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
for noise in 0.03 0.06 0.1; do
  d="$work/n$noise"
  "$C" phantom kspace "$d" --sequence resolve --matrix 64 --coils 8 --slices 4 --directions 30 --noise "$noise" --seed 3 >/dev/null
  "$C" recon "$d/resolve.h5" "$d/mag.nii.gz" >/dev/null
  "$C" recon "$d/resolve.h5" "$d/cplx.nii.gz" --complex >/dev/null
  "$C" denoise mppca "$d/mag.nii.gz" "$d/mag_den.nii.gz" >/dev/null
  "$C" denoise mppca "$d/cplx.nii.gz" "$d/cplx_den.nii.gz" >/dev/null
  "$PY" "$here/complex_mppca_eval.py" "$d"
done
echo "files in $work"
