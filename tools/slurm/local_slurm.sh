#!/usr/bin/env bash
# A one-node Slurm on this machine, to try profiles/slurm and run tests/workflow/test_slurm.py.
#
#   sudo tools/slurm/local_slurm.sh          # start (install slurm-wlm + munge when missing); idempotent
#   sudo tools/slurm/local_slurm.sh stop     # stop the daemons this script started (by their pid files)
#   tools/slurm/local_slurm.sh status        # sinfo; exit 0 when the node is usable
#
# Debian/Ubuntu (slurm-wlm 22.05 on Debian 12 is what it is tested with), run as root. The node is the
# machine itself with its real CPUs and memory and two *fake* GPUs (gres whose "device files" are
# empty placeholders: jobs asking for --gpus or --gres=gpu are scheduled and counted, no device is
# bound, and CUDA_VISIBLE_DEVICES is left alone), select/cons_tres, no accounting database, so
# Snakemake needs `--slurm-no-account` and `--slurm-status-command squeue` (sacct has nothing to read).
# Finished jobs stay visible to squeue/scontrol for an hour (MinJobAge) for those status checks.
# Environment: SLURM_FAKE_GPUS (default 2), SLURM_PARTITION (default "main"), SLURM_WAIT_S (default 120).
set -euo pipefail

action=${1:-start}
gpus=${SLURM_FAKE_GPUS:-2}
partition=${SLURM_PARTITION:-main}
wait_s=${SLURM_WAIT_S:-120}
[[ $gpus =~ ^[1-9][0-9]*$ ]] || { echo "local_slurm: SLURM_FAKE_GPUS must be a positive integer" >&2; exit 2; }
conf_dir=/etc/slurm
state_dir=/var/spool/slurmctld
spool_dir=/var/spool/slurmd
log_dir=/var/log/slurm
ctld_pid=/run/slurmctld.pid
slurmd_pid=/run/slurmd.pid
munge_pid=/run/munge/munged.pid

say() { echo "local_slurm: $*" >&2; }

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { timeout 10 sinfo -h -N -o %T 2>/dev/null | head -n 1; }

usable() {  # the node answers and takes jobs
    case "$(node_state)" in
        idle | mixed | allocated | completing) return 0 ;;
        *) return 1 ;;
    esac
}

stop_pid() {  # stop one daemon by its pid file, and wait for it to go
    local file=$1
    alive "$file" || return 0
    local pid
    pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

case $action in
    status)
        sinfo 2>/dev/null || { say "Slurm is not running"; exit 1; }
        usable
        exit
        ;;
    stop)
        stop_pid "$slurmd_pid"
        stop_pid "$ctld_pid"
        stop_pid "$munge_pid"
        say "stopped"
        exit 0
        ;;
    start) ;;
    *)
        echo "usage: $0 [start|stop|status]" >&2
        exit 2
        ;;
esac

if [[ $(id -u) -ne 0 ]]; then
    say "must run as root (it installs packages and starts daemons)"
    exit 1
fi

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null \
    || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || { say "slurm-wlm is missing and there is no apt-get"; exit 1; }
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends slurm-wlm munge >&2
fi

# 2. Configuration (rewritten only when it changes; daemons restart then).
host=$(hostname -s)
read -r cpus memory < <(slurmd -C | awk '/^NodeName/ {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    print v["CPUs"], v["RealMemory"] }')
memory=$((memory * 95 / 100))  # a little under the total, for the daemons and the OS

slurm_conf=$(cat <<EOF
# Written by tools/slurm/local_slurm.sh: a one-node test cluster (no accounting, fake GPUs).
ClusterName=radsynth
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state_dir
SlurmdSpoolDir=$spool_dir
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
ProctrackType=proctrack/linuxproc
MpiDefault=none
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
KillWait=30
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory Gres=gpu:$gpus State=UNKNOWN
PartitionName=$partition Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)
# Slurm 22.05 drops a GPU without a device file ("Removing file-less GPU"): point it at plain files.
fake_dir=/var/lib/slurm-fake-gpus
mkdir -p "$fake_dir"
for ((i = 0; i < gpus; i++)); do touch "$fake_dir/gpu$i"; done
gres_conf="NodeName=$host Name=gpu File=$fake_dir/gpu[0-$((gpus - 1))]"

changed=0
mkdir -p "$conf_dir" "$state_dir" "$spool_dir" "$log_dir"
write() {  # write $2 to $1 when it differs
    if [[ ! -f $1 ]] || [[ "$(cat "$1")" != "$2" ]]; then
        printf '%s\n' "$2" >"$1"
        changed=1
    fi
}
write "$conf_dir/slurm.conf" "$slurm_conf"
write "$conf_dir/gres.conf" "$gres_conf"

if [[ $changed -eq 0 ]] && alive "$ctld_pid" && alive "$slurmd_pid" && usable; then
    say "already running: $(sinfo -h -N -o '%N %T %c CPUs %m MB %G')"
    exit 0
fi
if [[ $changed -eq 1 ]]; then
    stop_pid "$slurmd_pid"
    stop_pid "$ctld_pid"
fi

# 3. munge (authentication between the daemons and the clients).
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    mungekey --create --keyfile /etc/munge/munge.key
fi
chown -R munge:munge /etc/munge
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge
chmod 0755 /run/munge
if ! alive "$munge_pid"; then
    say "starting munged"
    runuser -u munge -- munged --pid-file="$munge_pid"
fi
for _ in $(seq 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.2; done
munge -n </dev/null | unmunge >/dev/null || { say "munge does not work"; exit 1; }

# 4. The daemons.
if ! alive "$ctld_pid"; then
    say "starting slurmctld"
    slurmctld -i  # -i: ignore state from an earlier, different configuration
fi
if ! alive "$slurmd_pid"; then
    say "starting slurmd"
    slurmd
fi
for _ in $(seq 50); do alive "$ctld_pid" && alive "$slurmd_pid" && break; sleep 0.2; done

# 5. Wait for the node to take jobs.
for _ in $(seq "$wait_s"); do
    alive "$ctld_pid" && alive "$slurmd_pid" || break
    if usable; then
        say "ready: $(sinfo -h -N -o '%N %T %c CPUs %m MB %G')"
        exit 0
    fi
    case "$(node_state)" in
        down* | drain* | fail*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
say "the node did not become idle within ${wait_s}s (or a daemon stopped):"
timeout 10 sinfo -N -l >&2 || true
tail -n 20 "$log_dir/slurmctld.log" "$log_dir/slurmd.log" >&2 || true
exit 1
