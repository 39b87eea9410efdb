#!/usr/bin/env bash
# Grey-matter segmentation (issue #25): time per image and, where a reference exists, Dice.
# Images: sct_testing_data/mt/mt1 (40×40×5, 0.84×0.84×17 mm, with SCT's GM mask) and the
# full-size sct_tutorial_data/mt/mt1 (192×192×22, 0.9×0.9×5 mm, no GM reference).
# Caution: on the tutorial scan `seg cord` without a hint outlines tissue beside the cord
# (viewed on slices 1–18), so only its timing is meaningful. No peer runs offline here: SCT's GM models need downloads and PyTorch (issue #25), so only
# CordQ's times are printed. Usage: Benchmarks/gmseg/run.sh [path/to/cordq]  (hold the build lock)
set -euo pipefail
CORDQ=${1:-.build/debug/cordq}
DATA=${CORDQ_SHARED_DATA:-../shared/data}
PY=${PYTHON:-/work/venv-bench/bin/python}
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
for img in "$DATA/sct_testing_data/mt/mt1.nii.gz" "$DATA/sct_tutorial_data/mt/mt1.nii.gz"; do
  name=$(basename "$(dirname "$(dirname "$img")")")
  t0=$(date +%s.%N)
  "$CORDQ" seg cord "$img" "$OUT/$name-cord.nii.gz" --contrast mt | head -1
  t1=$(date +%s.%N)
  "$CORDQ" seg gm "$img" "$OUT/$name-cord_soft.nii.gz" "$OUT/$name-gm.nii.gz" --contrast mt | head -2
  t2=$(date +%s.%N)
  printf '%s: wall time cord %.2f s, grey matter %.2f s (process start and file I/O included)\n' "$name" \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
  ref="$(dirname "$img")/mt1_gmseg.nii.gz"
  if [ -f "$ref" ]; then
    "$PY" - "$OUT/$name-gm.nii.gz" "$ref" <<'PY'
import sys, nibabel as nib
g = nib.load(sys.argv[1]).get_fdata() > 0; r = nib.load(sys.argv[2]).get_fdata() >= 0.5
print("  GM Dice vs mt1_gmseg: %.3f (%d voxels vs %d)" % (2 * (g & r).sum() / (g.sum() + r.sum()), g.sum(), r.sum()))
PY
  fi
done
