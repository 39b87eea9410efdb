#!/usr/bin/env bash
# Benchmark (not a test) of `cordq process`: wall time and peak RSS on the demo subject and
# on the 4x larger phantom, for one binary or a before/after pair.
#
#   Benchmarks/process/bench_process.sh BEFORE_BIN [AFTER_BIN]
#
# Each binary runs `BIN process SUBJECT OUTDIR` N times per subject (a fresh, empty OUTDIR
# each time) under `/usr/bin/time -v`; runs of the two binaries alternate so that drift on
# the machine hits both alike. One untimed warm-up run per binary and subject comes first
# (page cache, dynamic libraries). Nothing is assumed about the binaries beyond that CLI.
#
# Prints a table: subject, binary, runs, median wall (s) with min-max, median user+sys CPU
# (s), median peak RSS (MiB), rows in OUTDIR/*_metrics.tsv, the highest CPU load of other
# processes seen just before a timed run (max_load, 0-1), and, with two binaries, the
# after/before ratios of median wall and median peak RSS. Every run is also appended to
# $RAW (TSV) when set.
#
# Settings (environment):
#   N=3                 timed runs per binary and subject
#   WARMUP=1            untimed runs first (0 for none)
#   SUBJECTS="…"        subject folders, space-separated (default: $DATA/demo/sub-phantom01
#                       and $DATA/large/sub-phantom01, DATA=/work/bench-data); the table
#                       names each by its dataset folder (demo, large)
#   LABELS="before after"  names of the binaries in the table
#   BENCH_LOCK=FILE     take `flock FILE` around each run (leave unset when the whole script
#                       already runs under `flock FILE …`: the two would deadlock)
#   RAW=FILE            append one TSV line per run (time, subject, binary, path, run,
#                       wall s, cpu s, peak KiB, rows, other processes' CPU load before it)
#   IDLE_MAX=0.25 IDLE_WAIT=120  before each timed run, wait (at most IDLE_WAIT s) until the
#                       other processes use less than IDLE_MAX of the machine's CPU (a 1 s
#                       sample of /proc/stat): the cores are shared, and a `swift test`
#                       running beside a measurement doubles its wall time. IDLE_WAIT=0: no wait
#   CORDQ_ATLAS, CORDQ_PROTOCOLS, CORDQ_THREADS are passed through to cordq: a binary
#   outside a CordQ checkout finds no atlas by itself (see ProcessPipeline.standardAtlas).
#
# Inputs: `cordq phantom $DATA/demo` and
#   Benchmarks/process/make_large_subject.py $DATA/demo $DATA/large
# (see RESULTS.md beside this script).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
[[ $# -ge 1 && $# -le 2 ]] || usage 2
[[ $1 == -h || $1 == --help ]] && usage 0

N=${N:-3}
WARMUP=${WARMUP:-1}
DATA=${DATA:-/work/bench-data}
SUBJECTS=${SUBJECTS:-"$DATA/demo/sub-phantom01 $DATA/large/sub-phantom01"}
read -r -a labels <<< "${LABELS:-before after}"
bins=("$@")
for b in "${bins[@]}"; do [[ -x $b ]] || { echo "bench_process: $b is not an executable" >&2; exit 2; }; done
read -r -a subjects <<< "$SUBJECTS"
for s in "${subjects[@]}"; do [[ -d $s ]] || { echo "bench_process: no subject folder $s" >&2; exit 2; }; done

if [[ ! -x /usr/bin/time ]]; then
  echo "bench_process: installing Debian's time (for /usr/bin/time -v)" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq time >/dev/null
fi

# A binary outside a checkout needs CORDQ_ATLAS: say so before running anything.
for b in "${bins[@]}"; do
  if [[ -z ${CORDQ_ATLAS:-} ]]; then
    d=$(dirname "$(readlink -f "$b")"); found=""
    while [[ $d != / ]]; do [[ -d $d/atlas/CordQ/atlas ]] && { found=1; break; }; d=$(dirname "$d"); done
    [[ -n $found ]] || { echo "bench_process: $b has no atlas/CordQ above it; set CORDQ_ATLAS (and CORDQ_PROTOCOLS)" >&2; exit 2; }
  fi
done

IDLE_MAX=${IDLE_MAX:-0.25}
IDLE_WAIT=${IDLE_WAIT:-120}
# busy: fraction of all cores busy over the next second (0-1).
busy() {
  local a b
  a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat); sleep 1
  b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2]; printf "%.2f\n", (d > 0 ? (y[1] - x[1]) / d : 0) }'
}
# wait_idle: prints the load seen when the run may start (after waiting for a quiet machine).
wait_idle() {
  local load start=$SECONDS
  load=$(busy)
  while awk -v l="$load" -v m="$IDLE_MAX" 'BEGIN { exit !(l >= m) }' && ((SECONDS - start < IDLE_WAIT)); do
    sleep 2; load=$(busy)
  done
  awk -v l="$load" -v m="$IDLE_MAX" 'BEGIN { exit !(l >= m) }' && echo "# machine still busy ($load) after ${IDLE_WAIT} s; measuring anyway" >&2
  echo "$load"
}

work=$(mktemp -d /tmp/bench-process.XXXXXX)
trap 'rm -rf "$work"' EXIT

# run BIN SUBJECT [timed] -> prints "wall_s cpu_s peak_kib rows load"; fails when cordq fails.
run() {
  local bin=$1 subject=$2 timed=${3:-} out="$work/out" tv="$work/time.txt" log="$work/log.txt" load=nan status=0
  rm -rf "$out" "$tv"
  [[ -n ${BENCH_LOCK:-} ]] && { exec 9>"$BENCH_LOCK"; flock 9; }
  [[ -n $timed && $IDLE_WAIT -gt 0 ]] && load=$(wait_idle)
  /usr/bin/time -v -o "$tv" "$bin" process "$subject" "$out" >"$log" 2>&1 || status=$?
  [[ -n ${BENCH_LOCK:-} ]] && exec 9>&-
  if ((status)); then
    echo "bench_process: $bin process $subject failed:" >&2; tail -20 "$log" >&2; [[ -f $tv ]] && grep -E 'Exit status|Command' "$tv" >&2
    return 1
  fi
  local rows=0 tsv
  tsv=$(ls "$out"/*_metrics.tsv 2>/dev/null | head -1 || true)
  [[ -n $tsv ]] && rows=$(($(wc -l < "$tsv") - 1))
  awk -v rows="$rows" -v load="$load" '
    /Elapsed \(wall clock\)/ { t = $NF; n = split(t, p, ":"); wall = 0; for (i = 1; i <= n; i++) wall = wall * 60 + p[i] }
    /User time \(seconds\)/ { cpu += $NF }
    /System time \(seconds\)/ { cpu += $NF }
    /Maximum resident set size/ { rss = $NF }
    END { printf "%.2f %.2f %d %d %s\n", wall, cpu, rss, rows, load }' "$tv"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A results   # key "s b" -> lines "wall cpu rss rows"
echo "# $(date -u +%FT%TZ) on $(hostname): nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), N=$N, warm-up $WARMUP" >&2
for si in "${!subjects[@]}"; do
  s=${subjects[$si]}
  for ((w = 0; w < WARMUP; w++)); do
    for bi in "${!bins[@]}"; do echo "# warm-up ${labels[$bi]:-bin$bi} on $s" >&2; run "${bins[$bi]}" "$s" >/dev/null; done
  done
  for ((i = 1; i <= N; i++)); do
    for bi in "${!bins[@]}"; do
      r=$(run "${bins[$bi]}" "$s" timed)
      echo "# run $i ${labels[$bi]:-bin$bi} $(basename "$(dirname "$s")"): wall/cpu/rss/rows/load $r" >&2
      results["$si $bi"]+="$r"$'\n'
      [[ -n ${RAW:-} ]] && printf '%s\t%s\t%s\t%s\t%d\t%s\n' "$(date -u +%FT%TZ)" "$(basename "$(dirname "$s")")" "${labels[$bi]:-bin$bi}" "${bins[$bi]}" "$i" "${r// /$'\t'}" >> "$RAW"
    done
  done
done

printf '\n%-8s %-8s %4s %10s %15s %9s %9s %6s %9s' subject binary runs "wall_s" "(min-max)" "cpu_s" "peak_MiB" rows "max_load"
[[ ${#bins[@]} -eq 2 ]] && printf ' %11s %11s' "wall_ratio" "mem_ratio"
printf '\n'
for si in "${!subjects[@]}"; do
  name=$(basename "$(dirname "${subjects[$si]}")")
  declare -a mw=() mm=()
  for bi in "${!bins[@]}"; do
    lines=${results["$si $bi"]}
    wall=$(awk 'NF { print $1 }' <<< "$lines" | median)
    lo=$(awk 'NF { print $1 }' <<< "$lines" | sort -g | head -1)
    hi=$(awk 'NF { print $1 }' <<< "$lines" | sort -g | tail -1)
    cpu=$(awk 'NF { print $2 }' <<< "$lines" | median)
    mib=$(awk 'NF { print $3 / 1024 }' <<< "$lines" | median)
    rows=$(awk 'NF { print $4 }' <<< "$lines" | sort -u | paste -sd/)
    load=$(awk 'NF { print $5 }' <<< "$lines" | sort -g | tail -1)
    mw[$bi]=$wall; mm[$bi]=$mib
    printf '%-8s %-8s %4d %10.2f %15s %9.2f %9.1f %6s %9s' "$name" "${labels[$bi]:-bin$bi}" "$N" "$wall" "($lo-$hi)" "$cpu" "$mib" "$rows" "$load"
    if [[ ${#bins[@]} -eq 2 && $bi -eq 1 ]]; then
      printf ' %11.3f %11.3f' "$(awk -v a="${mw[1]}" -v b="${mw[0]}" 'BEGIN { print a / b }')" "$(awk -v a="${mm[1]}" -v b="${mm[0]}" 'BEGIN { print a / b }')"
    fi
    printf '\n'
  done
done
