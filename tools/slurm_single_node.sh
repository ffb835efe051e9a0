#!/usr/bin/env bash
# Single-node Slurm check for `keel mcnn train` under srun (Debian 12, run as root).
#
#   tools/slurm_single_node.sh [KEEL] [WORKDIR]     # KEEL: path to the keel binary (keel-train next to it)
#   tools/slurm_single_node.sh --stop               # stop munged/slurmctld/slurmd again
#
# 1. installs slurm-wlm + munge from apt if missing, writes a one-node slurm.conf
#    (this host, all its CPUs, no cgroups: proctrack/linuxproc, task/none, SlurmUser=root),
#    starts munged, slurmctld, slurmd directly (no systemd needed); re-running is harmless;
# 2. makes a tiny synthetic dataset (128x128, 2 images per class) and trains 2 epochs with
#    `mpirun -np 2` and with `srun -n 2 --mpi=pmix` (Debian's OpenMPI 4.1 + Slurm 22.05 meet over
#    PMIx; --mpi=pmi2 does not work with Debian's OpenMPI), same seed, one thread per rank;
# 3. fails (exit 1) if srun fails, if keel does not report "ranks": 2, or if the srun epoch
#    losses differ from mpirun's. Daemons are left running (use --stop).
set -euo pipefail

stop() {
  for p in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
    if [[ -s $p ]]; then kill "$(cat "$p")" 2>/dev/null || true; fi
  done
  echo "slurm daemons stopped"
}
[[ ${1:-} == --stop ]] && { stop; exit 0; }

KEEL=${1:-build/release/apps/keel/keel}
WORK=${2:-/tmp/keel-slurm-check}
# Optional real BBBC021 metadata for the synthetic rows (default: keel's built-in table).
META_ARGS=()
[[ -n ${KEEL_BBBC021_METADATA:-} ]] && META_ARGS=(--metadata "$KEEL_BBBC021_METADATA")
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 2; }
[[ -x $KEEL ]] || { echo "no keel binary at $KEEL" >&2; exit 2; }
KEEL=$(readlink -f "$KEEL")

# --- 1. install + configure + start --------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client munge
fi
HOST=$(hostname -s)
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
chown munge:munge /run/munge
# NodeName line as slurmd detects it, minus RealMemory (avoids a drain on small differences).
NODE=$(slurmd -C | head -1 | sed 's/ RealMemory=[0-9]*//')
cat >/etc/slurm/slurm.conf.new <<EOF
ClusterName=keel
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
$NODE State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
if ! cmp -s /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf; then
  mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf
  stop >/dev/null  # config changed: restart below
  sleep 1
else
  rm /etc/slurm/slurm.conf.new
fi
munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
scontrol ping 2>/dev/null | grep -q UP || slurmctld
{ [[ -s /run/slurmd.pid ]] && kill -0 "$(cat /run/slurmd.pid)" 2>/dev/null; } || slurmd
for _ in $(seq 30); do sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break; sleep 1; done
sinfo
srun -n 2 hostname

# --- 2. tiny training under mpirun and srun --------------------------------------------------
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776
mkdir -p "$WORK"
[[ -f $WORK/data/BBBC021_v1_image.csv ]] ||
  "$KEEL" mcnn synth --out "$WORK/data" "${META_ARGS[@]}" --height 128 --width 128 \
    --images-per-class 2 --threads 1
TRAIN=(mcnn train --data "$WORK/data" --epochs 2 --batch 4 --threads 1 --seed 1 --json -q)
rm -rf "$WORK/mpirun" "$WORK/srun"; mkdir -p "$WORK/mpirun" "$WORK/srun"
mpirun -np 2 "$KEEL" "${TRAIN[@]}" --log "$WORK/mpirun/log.json" >"$WORK/mpirun/out.json"
srun -n 2 --mpi=pmix "$KEEL" "${TRAIN[@]}" --log "$WORK/srun/log.json" >"$WORK/srun/out.json" ||
  { echo "FAIL: srun run failed" >&2; exit 1; }

# --- 3. checks ---------------------------------------------------------------------------------
python3 - "$WORK" <<'EOF'
import json, sys
w = sys.argv[1]
out = {k: json.load(open(f"{w}/{k}/out.json")) for k in ("mpirun", "srun")}
log = {k: json.load(open(f"{w}/{k}/log.json")) for k in ("mpirun", "srun")}
loss = {k: [round(e["train_loss"], 6) for e in log[k]["epochs"]] for k in log}
for k in out:
    print(f"{k}: ranks={out[k]['ranks']} threads={out[k]['threads']} train_loss/epoch={loss[k]}")
ok = out["srun"]["ranks"] == 2 and loss["srun"] == loss["mpirun"]
print("OK" if ok else "FAIL: srun did not see 2 ranks or its losses differ from mpirun")
sys.exit(0 if ok else 1)
EOF
