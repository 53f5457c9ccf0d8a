#!/usr/bin/env bash
# Sharded grading on a real Slurm cluster: install Slurm and MUNGE from the Debian packages,
# start a one-node cluster on this machine (munged, slurmctld, slurmd, with their config, keys,
# state and logs in a temporary folder and ports of their own), generate a class of STUDENTS
# Lecture 01 submissions (the solution, the untouched exercise and partly solved files), submit
# the README's array job (taken from the README, adapted: 3 shards, 1 CPU and 2 GB per task,
# Lecture 01 only), wait for it, merge the shards with `camp gradebook merge`, grade the same
# class with one `camp autograde`, and require the two gradebooks and every student's results
# to be identical, byte for byte. The daemons it started are stopped on exit.
# Usage (as root, from anywhere): scripts/slurm_check.sh [STUDENTS]   (default 13, at least 12)
# Takes 1.5 to 3.5 minutes on 2 cores (13 s of it installing the packages); it is not in CI.
# KEEP=1 keeps the temporary folder (logs, gradebooks) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
export TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg
unset CAMP_ROOT PYTHONPATH
students=${1:-13}
shards=3
start=$(date +%s)
say() { echo "[$(( $(date +%s) - start )) s] $*"; }

if ! [[ "$students" =~ ^[0-9]+$ ]] || [ "$students" -lt 12 ]; then
    echo "error: STUDENTS must be a number of at least 12; received '$students'." >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "error: run as root: it installs packages and starts munged, slurmctld and slurmd." >&2
    exit 1
fi
if [ ! -x .venv/bin/camp ]; then
    echo "error: no .venv/bin/camp in $repo; install the course first (install.sh)." >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurm-wlm munge >/dev/null
fi
say "$(dpkg-query -W -f '${Package} ${Version}' slurm-wlm), $(munged --version 2>&1 | head -1)"

work=$(mktemp -d /tmp/camp-slurm.XXXXXX)
chmod 755 "$work"
pids=()
job=""
cleanup() {
    status=$?
    if [ -n "$job" ]; then scancel "$job" 2>/dev/null || true; fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" != 0 ]; then
        for log in "$work"/munged.out "$work"/slurmctld.log "$work"/slurmd.log \
            "$work"/class/grades/shard-*.log; do
            [ -f "$log" ] && { echo "--- tail of $log"; tail -n 15 "$log"; }
        done
    fi
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Grade from a snapshot of the checkout taken now (its tracked and new files, as git lists them):
# an edit made in the checkout while the check runs (a shared machine) cannot then make the two
# runs differ. The snapshot's course_lib comes first on PYTHONPATH, which the jobs inherit.
course="$work/course"
mkdir "$course"
git ls-files -z -co --exclude-standard \
    | while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done \
    | xargs -0 -r cp -P --parents -t "$course"
ln -s "$repo/.venv" "$course/.venv"
export PYTHONPATH="$course"
cd "$course"
.venv/bin/python -c 'import course_lib, sys; sys.exit(not course_lib.__file__.startswith(sys.argv[1]))' \
    "$course/" || { echo "error: the snapshot's course_lib is not the one imported" >&2; exit 1; }
say "snapshot of the checkout in $course"

# MUNGE: a key and a socket of its own, so no system munged is touched.
mkdir -m 700 "$work/munge"
mungekey --create --keyfile="$work/munge/munge.key"
socket="$work/munge/munge.socket"
munged --foreground --force --socket="$socket" --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/munged.seed" \
    --log-file="$work/munge/munged.log" >"$work/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.2; done
munge -n -S "$socket" | unmunge -S "$socket" >/dev/null
say "munged answers on $socket"

# A one-node cluster: this machine, as slurmd -C describes it, reached on 127.0.0.1.
host=$(hostname -s)
mkdir -p "$work/etc" "$work/state" "$work/spool"
cat > "$work/etc/slurm.conf" <<EOF
ClusterName=campcheck
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
$(slurmd -C | head -1) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=camp Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/etc/slurm.conf"
# In the foreground (-D) so that their PIDs are ours to stop; they log to $work/*.log.
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
[ "$state" = idle ] || { echo "error: the node did not come up (state '$state')" >&2; exit 1; }
say "cluster up: $(sinfo -h -o '%P %D node(s) %c CPUs %m MB %T')"

# The class: the solution, the untouched exercise, and files with the first k regions solved.
class="$work/class"
mkdir -p "$class/grades" "$class/single"
ln -s "$repo/.venv" "$class/.venv"  # Imports course_lib from the snapshot (PYTHONPATH).
.venv/bin/python - "$class/submissions" "$students" <<'EOF'
import sys
from pathlib import Path

from course_lib.authoring.generate import partly_solved

out, count = Path(sys.argv[1]), int(sys.argv[2])
solution = Path("solutions/01_nn_recap.py").read_text(encoding="utf-8")
for index in range(count):
    folder = out / f"student{index:02d}"
    folder.mkdir(parents=True)
    text = solution if index == count - 1 else partly_solved(solution, index)
    (folder / "01_nn_recap.py").write_text(text, encoding="utf-8")
EOF
say "class of $students students in $class/submissions"

# The README's job array, adapted: shard count, CPUs and memory per task, Lecture 01 only.
awk '/A Slurm job array/ {found = 1} found && /#!\/bin\/bash/ {on = 1} on && /```/ {exit}
     on {sub(/^  /, ""); print}' README.md > "$class/readme.sbatch"
grep -q -- '--shard "$SLURM_ARRAY_TASK_ID/10"' "$class/readme.sbatch" \
    || { echo "error: the README's Slurm job array was not found or has changed" >&2; exit 1; }
sed -e "s/--array=0-9/--array=0-$((shards - 1))/" -e 's/--cpus-per-task=4/--cpus-per-task=1/' \
    -e 's/--mem=16G/--mem=2G/' \
    -e "s#\$SLURM_ARRAY_TASK_ID/10\"#\$SLURM_ARRAY_TASK_ID/$shards\" --lecture 01#" \
    "$class/readme.sbatch" > "$class/grade.sbatch"
diff "$class/readme.sbatch" "$class/grade.sbatch" | sed 's/^/  /' || true

# The tasks inherit this environment (sbatch --export=ALL): the class's own signing key.
export CAMP_HOME="$work/home"
graded=$(date +%s)
job=$(cd "$class" && sbatch --parsable grade.sbatch)
say "submitted job array $job"
while squeue -h -j "$job" 2>/dev/null | grep -q .; do sleep 5; done
states=$(scontrol -o show job "$job" | grep -o 'JobState=[A-Z_]* .*ExitCode=[0-9:]*' \
    | sed -E 's/JobState=([A-Z_]+).*ExitCode=([0-9:]+)/\1 \2/' | sort | uniq -c || true)
say "array done in $(( $(date +%s) - graded )) s: $(echo $states)"
if [ "$(scontrol -o show job "$job" | grep -vc 'JobState=COMPLETED .*ExitCode=0:0')" != 0 ]; then
    echo "error: a shard did not complete" >&2
    exit 1
fi

cd "$class"
.venv/bin/camp gradebook merge grades/shard-*.csv --submissions submissions/ \
    --out grades/grades.csv
single=$(date +%s)
.venv/bin/camp autograde submissions/ --lecture 01 --out single/grades.csv >/dev/null
say "single-machine run done in $(( $(date +%s) - single )) s"

diff grades/grades.csv single/grades.csv
diff -r grades/results single/results
rows=$(( $(wc -l < grades/grades.csv) - 1 ))
points=$(cut -d, -f3 grades/grades.csv | tail -n +2 | sort -g | uniq | paste -sd ' ')
say "identical: merged gradebook of $shards Slurm shards = single-machine gradebook ($rows rows," \
    "points $points), and every student's results"
