#!/usr/bin/env bash
# Scaling of `cordq batch` on this machine: the same dataset with 1 subject at a time
# (all threads inside it) and with 2 subjects at a time (1 thread each), plus 1 × 1 thread
# (what one Slurm CPU gives). Prints wall time, subjects per minute, the ratio, and the
# per-subject wall time and peak memory from batch.tsv (what cluster requests are sized on).
#
#   Benchmarks/batch/bench_batch.sh [CORDQ] [N_SUBJECTS]
#
# CORDQ defaults to .build/release/cordq (build it with
# `swift build -c release --product cordq --static-swift-stdlib`); N_SUBJECTS to 6. The
# dataset is N demo phantom subjects (`cordq phantom --subject pNN --seed NN`: sagittal and
# axial T2w, 35-volume single-shell DWI, MT-on/MT-off/T1w FLASH, disc labels), each the
# size `make demo` processes. Hold the build lock when timing on a shared machine:
#   flock /tmp/cordq-build.lock Benchmarks/batch/bench_batch.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cordq=${1:-$here/.build/release/cordq}
n=${2:-6}
export CORDQ_ATLAS=${CORDQ_ATLAS:-$here/atlas/CordQ}
work=$(mktemp -d /tmp/cordq-bench-batch.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/ds
mkdir -p "$root"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "cordq: $cordq ($(sha256sum "$cordq" | cut -c1-12)), $n demo phantom subjects"
for i in $(seq 1 "$n"); do
  id=$(printf "p%02d" "$i")
  "$cordq" phantom "$work/gen-$id" --subject "$id" --seed "$i" > /dev/null
  mv "$work/gen-$id/sub-$id" "$root/"
  for d in "$work/gen-$id"/derivatives/*/; do
    name=$(basename "$d")
    [ -d "$d/sub-$id" ] || continue
    mkdir -p "$root/derivatives/$name"
    mv "$d/sub-$id" "$root/derivatives/$name/"
  done
  [ -f "$root/dataset_description.json" ] || cp "$work/gen-$id/dataset_description.json" "$root/"
done
du -sh "$root" | awk '{print "dataset: " $1 " on disk"}'

run() {  # jobs threads
  rm -rf "$root/derivatives/cordq"
  local t0 t1
  t0=$(date +%s.%N)
  CORDQ_QUIET=1 "$cordq" batch "$root" --jobs "$1" --threads "$2" > "$work/run.log" 2>&1 || { cat "$work/run.log"; exit 1; }
  t1=$(date +%s.%N)
  local wall
  wall=$(echo "$t1 - $t0" | bc -l)
  # per-subject wall time and peak memory (median and max) from batch.tsv
  local stats
  stats=$(python3 - "$root/derivatives/cordq/batch.tsv" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["status"] == "ok"]
s = [float(r["seconds"]) for r in rows]; m = [float(r["peak_memory_mib"]) for r in rows]
print(f"{statistics.median(s):.1f} {max(s):.1f} {statistics.median(m):.0f} {max(m):.0f} {len(rows)}")
PY
)
  echo "$1 $2 $wall $stats"
}

printf "\n| jobs × threads | wall s | subjects/min | per-subject wall s (median, max) | per-subject peak MiB (median, max) | ok |\n|---|---|---|---|---|---|\n"
declare -A walls
for cfg in "1 2" "2 1" "1 1"; do
  read -r j t wall smed smax mmed mmax ok <<< "$(run $cfg)"
  walls["$j×$t"]=$wall
  printf "| %s × %s | %.1f | %.2f | %.1f, %.1f | %s, %s | %s/%s |\n" "$j" "$t" "$wall" "$(echo "$n * 60 / $wall" | bc -l)" "$smed" "$smax" "$mmed" "$mmax" "$ok" "$n"
done
printf "\nratio (1 × 2 wall / 2 × 1 wall): %.2f  (> 1: two subjects at once are faster)\n" "$(echo "${walls[1×2]} / ${walls[2×1]}" | bc -l)"
printf "ratio (1 × 1 wall / 1 × 2 wall): %.2f  (threads inside one subject)\n" "$(echo "${walls[1×1]} / ${walls[1×2]}" | bc -l)"
