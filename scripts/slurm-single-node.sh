#!/usr/bin/env bash
# A throw-away single-node Slurm on localhost for tests: munged, slurmctld and slurmd from
# Debian's munge and slurm-wlm, run as root with a generated key and slurm.conf in DIR.
#   slurm-single-node.sh start DIR   starts the three daemons, waits until the node is idle,
#                                    prints `export SLURM_CONF=DIR/slurm.conf`
#   slurm-single-node.sh stop DIR    stops them (by the pids in DIR) and leaves DIR
# Exit 3 (with the reason on stderr) when it cannot run here: not root, or a program missing.
set -uo pipefail
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

stop() {
  for d in slurmd slurmctld munged; do
    f="$dir/$d.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
  done
}

case "$cmd" in
stop) stop; exit 0 ;;
start) ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

# The daemons live in /usr/sbin, which is not on every PATH.
export PATH="/usr/sbin:/sbin:$PATH"
[ "$(id -u)" -eq 0 ] || { echo "needs root (slurmd runs jobs as their user; SlurmUser=root)" >&2; exit 3; }
for p in munged mungekey slurmctld slurmd sbatch squeue scontrol; do
  command -v "$p" >/dev/null || { echo "$p is not installed (Debian packages munge and slurm-wlm; scripts/install-deps.sh installs them)" >&2; exit 3; }
done

mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
chmod 700 "$dir" "$dir/munge"
# Ports from the process id, so two test runs on one machine do not meet.
base=$(( 20000 + ($$ % 20000) ))
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
mungekey --create --keyfile="$dir/munge/munge.key" --force 2>/dev/null \
  || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" --force \
  || { echo "munged did not start (see $dir/munge/munged.log)" >&2; exit 3; }

cat > "$dir/slurm.conf" <<CONF
ClusterName=cordqtest
SlurmctldHost=localhost
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=300
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c -f "$SLURM_CONF" || { echo "slurmctld did not start (see $dir/slurmctld.log)" >&2; stop; exit 3; }
slurmd -N localhost -f "$SLURM_CONF" || { echo "slurmd did not start (see $dir/slurmd.log)" >&2; stop; exit 3; }
for _ in $(seq 1 100); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1)
  [ "$state" = "idle" ] && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.2
done
echo "the node did not become idle in 20 s (state: ${state:-none}; see $dir/slurmctld.log and $dir/slurmd.log)" >&2
stop; exit 3
