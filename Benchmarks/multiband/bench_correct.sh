#!/usr/bin/env bash
# Times `cordq dwi correct` on the SCT tutorial and testing DWI series (release build) and
# prints the numbers RESULTS.md reports: wall time and peak memory per run, the mean
# displacement per volume in sct_dmri_moco's moco_params convention (mean over slices of
# sqrt(Tx^2 + Ty^2), mm) and the tensor residual in the cord before/after.
# SCT's sct_dmri_moco is run on the same input when it is on PATH (it is not installable on
# the project machine: no network access to its installer), and its moco_params are compared.
#
# Usage: Benchmarks/multiband/bench_correct.sh [REPEATS]   (from the repository root)
# Build first: flock /tmp/cordq-build.lock swift build -c release --product cordq
set -euo pipefail
repeats=${1:-3}
cordq=${CORDQ:-.build/release/cordq}
data=${CORDQ_SHARED_DATA:-../shared/data}
out=${OUT:-$(mktemp -d /tmp/cordq-mb-bench.XXXXXX)}
mkdir -p "$out"
[ -x "$cordq" ] || { echo "no $cordq: build it with flock /tmp/cordq-build.lock swift build -c release --product cordq" >&2; exit 2; }
export CORDQ_QUIET=1

for name in sct_tutorial_data sct_testing_data; do
  dwi="$data/$name/dmri/dmri.nii.gz"
  [ -e "$dwi" ] || { echo "$name: $dwi missing, skipped"; continue; }
  echo "== $name ($dwi)"
  for r in $(seq 1 "$repeats"); do
    # The timer runs inside the lock, so waiting for another job's build is not counted.
    flock /tmp/cordq-build.lock /usr/bin/time -f "%e %M" -o "$out/time.txt" \
      "$cordq" dwi correct "$dwi" "$out/$name.nii.gz" --overwrite > "$out/$name.log"
    read -r wall kib < "$out/time.txt"
    echo "run $r: wall ${wall} s, peak RSS $((kib / 1024)) MiB"
  done
  python3 - "$out/$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["Motion"]; r = d["TensorResidualInCord"]; o = d["Outliers"]
per = m["MeanDisplacementPerVolume_mm"]
print("mean displacement per volume (mm, moco_params convention):", " ".join(f"{x:.3f}" for x in per))
print(f"  mean {m['MeanDisplacement_mm']:.3f} mm, max {m['MaxDisplacement_mm']:.3f} mm")
b, a = r["Before"], r["After"]
print("tensor residual in the cord:", "n/a (too few volumes)" if b is None else f"{100*b:.2f} % -> {100*a:.2f} %")
print(f"outlier groups: {o['Groups']} of {o['ScoredGroups']}; banding index: {d['Banding']['Index_percent']}")
print("b=0 tSNR per group before:", d["B0tSNRPerGroup"]["Before"])
print("b=0 tSNR per group after: ", d["B0tSNRPerGroup"]["After"])
for w in d["Warnings"]: print("warning:", w)
PY
  if command -v sct_dmri_moco > /dev/null; then
    (cd "$out" && mkdir -p "sct_$name" && cd "sct_$name" && \
      /usr/bin/time -f "sct_dmri_moco wall %e s" sct_dmri_moco -i "$dwi" -bvec "$data/$name/dmri/bvecs.txt" -x spline > sct.log 2>&1)
    echo "SCT moco_params: $out/sct_$name/moco_params.tsv (compare column-wise with the line above)"
  else
    echo "sct_dmri_moco: not on PATH (SCT is not installable here): no SCT comparison"
  fi
done
echo "outputs in $out"
