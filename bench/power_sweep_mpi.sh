#!/bin/sh
# `keel power sweep` of 64 points of the shipped default scenario (software floor x GPU
# smoothing floor x storage power, 4 values each) on 1 rank and under `mpirun -np 2`, in one
# run: wall times (mpirun start-up included), their ratio, and a check that both wrote the same
# CSV. The two are run in turns (1 rank, 2 ranks, 1 rank, ...; ROUNDS pairs, default 5) so that
# this VM's drift between minutes falls on both alike; the speed-up is the median of the pairs'
# ratios.
#
#   bench/power_sweep_mpi.sh [KEEL] [ROUNDS]
set -eu
KEEL=${1:-build/release/apps/keel/keel}
ROUNDS=${2:-5}
TMP=$(mktemp -d /tmp/keel_sweep_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cat > "$TMP/grid.toml" <<'GRID'
[sweep]
"mitigation.software.floor_fraction_of_tdp" = [0.3, 0.4, 0.5, 0.6]
"mitigation.smoothing.percent_tmp_floor" = [40, 50, 60, 70]
"mitigation.storage.power_kw" = [3000, 6000, 9000, 12000]
GRID
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "keel: $("$KEEL" --version | head -1); examples/power/default.toml (24 576 GPUs, 300 s at 1 ms), 64 points"
t() {  # wall seconds of a command
  s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
  awk -v a="$s" -v b="$e" 'BEGIN {printf "%.2f\n", b - a}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
pairs=""
for r in $(seq "$ROUNDS"); do
  a=$(t "$KEEL" power sweep examples/power/default.toml --grid "$TMP/grid.toml" --quiet --out "$TMP/one.csv")
  b=$(t mpirun --allow-run-as-root --bind-to core -np 2 "$KEEL" power sweep examples/power/default.toml --grid "$TMP/grid.toml" --quiet --out "$TMP/two.csv")
  pairs="$pairs$a $b
"
done
one=$(printf '%s' "$pairs" | awk '{print $1}' | median)
two=$(printf '%s' "$pairs" | awk '{print $2}' | median)
ratios=$(printf '%s' "$pairs" | awk '{printf "%.2f\n", $1 / $2}')
cmp -s "$TMP/one.csv" "$TMP/two.csv" && same=identical || same=DIFFERENT
echo "1 rank:  $one s (median of $ROUNDS)"
echo "2 ranks: $two s (mpirun --bind-to core -np 2; median of $ROUNDS)"
echo "pairs' speed-ups: $(echo $ratios | tr '\n' ' ')"
echo "speed-up: $(printf '%s\n' "$ratios" | median)x (median of the pairs); outputs $same"
