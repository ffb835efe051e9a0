#!/usr/bin/env bash
# Runs every libFuzzer harness built in BUILD_DIR (the fuzz preset) on its corpus for at most
# SECONDS or RUNS executions, whichever comes first, and prints executions, coverage and
# findings per target. New inputs go to BUILD_DIR/corpus/<target> (tests/fuzz/corpus/<target>
# holds the committed seeds; copy a crash there once it is fixed, so CI replays it).
# Usage: tools/run_fuzzers.sh BUILD_DIR [SECONDS] [RUNS]   (FUZZ_TARGETS="a b" runs only those)
set -uo pipefail
build=$1 seconds=${2:-60} runs=${3:-1000000}
src=$(cd "$(dirname "$0")/.." && pwd)
printf '%-16s %12s %8s %8s %10s  %s\n' target executions edges features exec/s findings
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  t=${bin##*/fuzz_}
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $t "* ]]; then continue; fi
  work=$build/corpus/$t art=$build/artifacts/$t
  mkdir -p "$work" "$art"
  log=$build/fuzz_$t.log
  "$bin" -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 -artifact_prefix="$art/" \
    -rss_limit_mb=4096 -timeout=10 "$work" "$src/tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  edges=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  feats=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
  findings=$(ls "$art" | wc -l)
  [ "$rc" -ne 0 ] && status=1
  printf '%-16s %12s %8s %8s %10s  %s\n' "$t" "${execs:-?}" "${edges:-?}" "${feats:-?}" "${eps:-?}" \
    "$( [ "$findings" -gt 0 ] && echo "$findings in $art" || echo none)"
done
exit $status
