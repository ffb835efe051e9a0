#!/bin/sh
# `keel power sweep` of 64 points of the shipped default scenario (software floor x GPU
# smoothing floor x storage power, 4 values each) on 1 rank and under `mpirun -np 2`, in one
# run: wall times (median of 3, mpirun start-up included), their ratio, and a check that both
# wrote the same CSV.
#
#   bench/power_sweep_mpi.sh [KEEL]
set -eu
KEEL=${1:-build/release/apps/keel/keel}
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
one=$(for r in 1 2 3; do t "$KEEL" power sweep examples/power/default.toml --grid "$TMP/grid.toml" --quiet --out "$TMP/one.csv"; done | median)
two=$(for r in 1 2 3; do t mpirun --allow-run-as-root --bind-to core -np 2 "$KEEL" power sweep examples/power/default.toml --grid "$TMP/grid.toml" --quiet --out "$TMP/two.csv"; done | median)
cmp -s "$TMP/one.csv" "$TMP/two.csv" && same=identical || same=DIFFERENT
echo "1 rank:  $one s"
echo "2 ranks: $two s (mpirun --bind-to core -np 2)"
echo "speed-up: $(awk -v a="$one" -v b="$two" 'BEGIN {printf "%.2f", a / b}')x; outputs $same"
