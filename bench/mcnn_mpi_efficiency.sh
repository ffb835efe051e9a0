#!/bin/sh
# Data-parallel efficiency of `keel mcnn train` on this node: the same training (same data, global
# batch, epochs, seed) as 1 rank x 2 threads and as `mpirun -np 2` x 1 thread; prints both img/s
# (training phase of the last epoch, as `keel mcnn train --json` reports it) and
#   efficiency = img/s(2 ranks x 1 thread) / img/s(1 rank x 2 threads).
#
#   bench/mcnn_mpi_efficiency.sh [KEEL] [DATA] [extra train options...]
#
# KEEL defaults to build/release/apps/keel/keel; DATA to a synthetic 256x256 set made on first use
# (/tmp/keel_mcnn_eff). Extra options go to both runs (e.g. --precision bf16); EPOCHS (default 2)
# and BATCH (global, default 8) come from the environment. The img/s compared are the last
# epoch's, so the first epoch's warm-up steps (bf16 needs 4-5) do not count.
set -eu
KEEL=${1:-build/release/apps/keel/keel}
DATA=${2:-/tmp/keel_mcnn_eff}
[ $# -ge 2 ] && shift 2 || shift $#
if [ ! -f "$DATA/BBBC021_v1_image.csv" ]; then
  "$KEEL" mcnn synth --quiet --out "$DATA" --height 256 --width 256 --images-per-class 8 --seed 3
fi
# glibc would unmap and re-fault big buffers on every step (shared/MEASURED.md).
export MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776
COMMON="mcnn train --quiet --json --data $DATA --epochs ${EPOCHS:-2} --batch ${BATCH:-8} --val-fraction 0.1 --seed 1"
one=$(KEEL_MPI=0 "$KEEL" $COMMON --threads 2 "$@")
two=$(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 \
  -x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ "$KEEL" $COMMON --threads 1 "$@")
/usr/bin/python3 - "$one" "$two" <<'EOF'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("1 rank x %d threads: %.2f img/s" % (a["threads"], a["img_per_s"]))
print("%d ranks x %d thread: %.2f img/s (allreduce %.1f%% of step time)"
      % (b["ranks"], b["threads"], b["img_per_s"], 100 * b.get("comm_fraction", 0)))
print("efficiency (2x1 / 1x2): %.1f%%" % (100 * b["img_per_s"] / a["img_per_s"]))
EOF
