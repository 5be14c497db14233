#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine (root, Debian slurm-wlm + munge), for tests and trials.
#   scripts/slurm-local.sh start STATE_DIR   # prints the SLURM_CONF path to export
#   scripts/slurm-local.sh stop STATE_DIR
# Everything lives under STATE_DIR (config, spool, logs, pid files), so stop + rm -rf leaves nothing behind
# but the munge daemon, which stop also ends when this script started it.
set -euo pipefail
cmd="${1:?usage: slurm-local.sh start|stop STATE_DIR}"
state="$(realpath -m "${2:?usage: slurm-local.sh start|stop STATE_DIR}")"
conf="$state/slurm.conf"

stop() {
  local pids=()
  for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munged.pid"; do
    if [ -f "$pidfile" ]; then
      # shellcheck disable=SC2046
      pids+=($(cat "$pidfile"))
      rm -f "$pidfile"
    fi
  done
  pids+=($(pgrep -f "slurm(ctld|d) -f $conf" || true))
  [ "${#pids[@]}" -gt 0 ] || return 0
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "${pids[@]}" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -9 "${pids[@]}" 2>/dev/null || true
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: slurm-local.sh start|stop STATE_DIR" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "slurm-local.sh: needs root (slurmd runs jobs as their user)" >&2; exit 1; }
for tool in slurmctld slurmd munged sbatch; do
  command -v "$tool" >/dev/null || { echo "slurm-local.sh: '$tool' not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

mkdir -p "$state/spool/ctld" "$state/spool/d" "$state/log"
host="$(hostname -s)"
cpus="$(nproc --all)"
memory="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
cat > "$conf" <<CONF
ClusterName=dynaflip-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmctldPort=$((6817 + RANDOM % 1000))
SlurmdPort=$((7817 + RANDOM % 1000))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

# munge: a key, and a daemon of our own unless a working one answers.
if ! munge -n >/dev/null 2>&1; then
  [ -f /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
  chown -R munge:munge /etc/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
  if id munge >/dev/null 2>&1; then runuser -u munge -- munged --force; else munged --force; fi
  for _ in $(seq 1 20); do munge -n >/dev/null 2>&1 && break; sleep 0.25; done
  cp /run/munge/munged.pid "$state/munged.pid" 2>/dev/null || true
fi

slurmctld -f "$conf" -c
slurmd -f "$conf" -c
export SLURM_CONF="$conf"
for _ in $(seq 1 60); do
  if sinfo -h -o "%T" 2>/dev/null | grep -qE "idle|mixed"; then
    echo "$conf"
    exit 0
  fi
  sleep 0.5
done
echo "slurm-local.sh: the node did not become idle; logs in $state/log" >&2
sinfo >&2 || true
exit 1
