#!/usr/bin/env bash
# Longitudinal benchmark (issue 21): a phantom cohort at the demo's axial T2w size
# (0.5 × 0.5 × 3 mm, 32 mm field of view, C1–T1), 3 subjects × 4 visits 91 days apart,
# C5 losing 8 %/year, repositioned between visits (±6 mm S–I, 1 mm SD in plane).
# Prints: wall time of `cordq longitudinal cohort`, of the same sessions run one by one
# with `cordq process --session` (no sharing), their ratio, and the planted vs measured
# CSA change per level (error mean ± SD over subjects and visits). No peer tool does this
# step (SCT has no longitudinal command), so the ratio is against CordQ's own per-session run.
# Usage: Benchmarks/longitudinal/run.sh [cordq binary]   (hold /tmp/cordq-build.lock for timings)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cordq=${1:-$here/.build/release/cordq}
[ -x "$cordq" ] || cordq=$here/.build/debug/cordq
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CORDQ_QUIET=1
"$cordq" phantom cohort "$work/bids" --healthy 3 --compressed 0 --sessions 4 --interval-days 91 --atrophy C5:0.08/y --seed 21 >/dev/null
t0=$(date +%s.%N)
"$cordq" longitudinal cohort "$work/bids" "$work/long" >/dev/null 2>"$work/long.log"
t1=$(date +%s.%N)
for s in "$work"/bids/sub-*; do
  for ses in 01 02 03 04; do
    "$cordq" process "$s" "$work/single/$(basename "$s")_ses-$ses" --session "$ses" --no-qc >/dev/null 2>&1
  done
done
t2=$(date +%s.%N)
python3 - "$work" "$t0" "$t1" "$t2" "$cordq" <<'PY'
import csv, sys, statistics as st
work, t0, t1, t2, exe = sys.argv[1], *map(float, sys.argv[2:5]), sys.argv[5]
long_s, single_s = t1 - t0, t2 - t1
print(f"binary: {exe}")
print(f"cordq longitudinal cohort (3 subjects x 4 visits): {long_s:.1f} s")
print(f"cordq process per session, one by one (12 runs): {single_s:.1f} s")
print(f"ratio longitudinal / per-session processing: {long_s / single_s:.2f}")
truth = {}
for r in csv.DictReader(open(f"{work}/bids/derivatives/truth/session_levels.tsv"), delimiter="\t"):
    truth[(r["participant_id"], r["session_id"], r["level"])] = float(r["measured_csa_mm2"])
errs = {}
for r in csv.DictReader(open(f"{work}/long/cohort_longitudinal.tsv"), delimiter="\t"):
    if r["region"] != "cord" or r["metric"] != "csa_mm2" or r["session"] == "ses-01":
        continue
    k0, k1 = (r["participant_id"], "ses-01", r["level"]), (r["participant_id"], r["session"], r["level"])
    if k0 not in truth or k1 not in truth:
        continue
    planted = 100 * (truth[k1] - truth[k0]) / truth[k0]
    errs.setdefault(r["level"], []).append(float(r["change_percent"]) - planted)
for level in sorted(errs, key=lambda l: (l[0] != "C", int(l[1:]))):
    e = errs[level]
    print(f"{level}: CSA change error {st.mean(e):+.2f} ± {st.stdev(e):.2f} percentage points (n = {len(e)})")
PY
