#!/usr/bin/env bash
# BIDS validation of what CordQ writes (#15): bids-validator-deno 3.x (installed by
# scripts/install-deps.sh into .tools/venv) on
#   1. the demo dataset (demo-output/, when `make demo` has written it), raw + derivatives;
#   2. a small phantom cohort (3 volunteers, 2 patients) run through `cordq batch run`;
#   3. a two-session cohort (2 volunteers × 2 visits) run with `batch run` (every session a unit,
#      into sub-*/ses-*/).
# Prints the number of errors and warnings of each and exits non-zero when any has an error.
# Usage: scripts/validate-bids.sh [CORDQ]   (default .build/release/cordq; `make bids-check`)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cordq="$(cd "$(dirname "${1:-$root/.build/release/cordq}")" && pwd)/$(basename "${1:-$root/.build/release/cordq}")"
validator="${CORDQ_BIDS_VALIDATOR:-$root/.tools/venv/bin/bids-validator-deno}"
[ -x "$validator" ] || { echo "no bids-validator-deno at $validator (run scripts/install-deps.sh)" >&2; exit 2; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
failed=0
check() {   # check PATH [--recursive]
  local out errors warnings
  out="$("$validator" "$@" --format json 2>/dev/null || true)"
  errors="$(printf '%s' "$out" | python3 -c 'import json,sys; i=json.load(sys.stdin)["issues"]["issues"]; print(sum(x["severity"]=="error" for x in i))')"
  warnings="$(printf '%s' "$out" | python3 -c 'import json,sys; i=json.load(sys.stdin)["issues"]["issues"]; print(sum(x["severity"]=="warning" for x in i))')"
  echo "  $* : $errors errors, $warnings warnings"
  if [ "$errors" != "0" ]; then
    failed=1
    printf '%s' "$out" | python3 -c 'import json,sys; [print("    ", x["code"], x.get("location","")) for x in json.load(sys.stdin)["issues"]["issues"] if x["severity"]=="error"][:20]'
  fi
}
if [ -d "$root/demo-output/derivatives/cordq" ]; then
  echo "demo dataset:"
  check "$root/demo-output" --recursive
  check "$root/demo-output/derivatives/cordq"
fi
echo "phantom cohort (3 volunteers, 2 patients) through cordq batch run:"
"$cordq" phantom cohort --healthy 3 --compressed 2 --seed 5 "$work/cohort" >/dev/null
"$cordq" batch run "$work/cohort" --jobs 2 --no-qc >/dev/null
check "$work/cohort" --recursive
check "$work/cohort/derivatives/cordq"
echo "two-session cohort (2 volunteers × 2 visits), batch run (every session):"
"$cordq" phantom cohort --healthy 2 --compressed 0 --sessions 2 --seed 7 "$work/sessions" >/dev/null
"$cordq" batch run "$work/sessions" --jobs 2 --no-qc >/dev/null
check "$work/sessions" --recursive
check "$work/sessions/derivatives/cordq"
exit $failed
