#!/usr/bin/env bash
# SSH fan-out: the same work on the same test-bed hosts by four tools, at 1 and at 50 hosts,
# then rewrites the "SSH fan-out" section of BENCHMARKS.md.
#
#   bench/run-ssh-fanout.sh [--runs N] [--port P] [--sizes "1 50"] [--keep]
#
# The work, per host: connect, run 10 commands one after the other (`/bin/echo 0` …
# `/bin/echo 9`), then upload a 1 MB file; all hosts at once. The tools:
#   hoist    bench/src/bin/ssh_fanout_hoist.rs: a config-only Orchestration (namespace from
#            the test bed's inventory, a MultiTask of 10 command tasks + 1 copy, chained).
#   floor    bench/src/bin/ssh_fanout_floor.rs: a minimal hand-written russh program.
#   pyinfra  10 `server.shell` operations + `files.put`, one host entry per test-bed host.
#   ansible  ansible-core: a playbook of 10 `command` tasks + `copy`, gather_facts off,
#            forks=50, pipelining on, ControlMaster=auto ControlPersist=60s.
# Ansible and pyinfra are installed into a venv (~/.cache/hoist/bench-venv, or
# $HOIST_BENCH_VENV) with pip on first use.
#
# The tools run interleaved (for each size, for each run: hoist, floor, pyinfra, ansible), each
# under `timeout 600`. Wall time is the tool's process from start to exit. Controller CPU is
# the user + system time of every process the tool started (a cpuacct cgroup per tool run, so
# daemonised ssh ControlPersist masters count too; without cgroups, `/usr/bin/time`, which
# misses them). The test bed's sshd CPU is measured the same way. After every run, each host's
# copy of the payload is compared with the original (through /proc/PID/root, not over SSH)
# and removed, so every run uploads anew.
#
# Host keys are verified by every tool against the test bed's known_hosts (Ansible through the
# inventory's `-F DIR/ssh_config`: StrictHostKeyChecking yes; pyinfra with
# ssh_strict_host_key_checking=yes). Nothing connects anywhere but the test bed's 127.0.1.x
# addresses. The test bed (port 2400 unless --port) is brought down on exit.
#
# Exits non-zero if a goal is missed (the section is rewritten either way) or a run fails.
# Benchmarks run on demand, never in CI. Needs root (scripts/testbed), python3 with venv.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
doc="$root/BENCHMARKS.md"
heading="## SSH fan-out"

runs=3
port=2400
sizes="1 50"
keep=no
while (($# > 0)); do
  case $1 in
    --runs) runs=$2; shift ;;
    --port) port=$2; shift ;;
    --sizes) sizes=$2; shift ;;
    --keep) keep=yes ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) echo "unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "--runs: a positive number" >&2; exit 2; }
max_hosts=0
for n in $sizes; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "--sizes: positive numbers" >&2; exit 2; }
  ((n > max_hosts)) && max_hosts=$n
done

venv="${HOIST_BENCH_VENV:-$HOME/.cache/hoist/bench-venv}"
work="$(mktemp -d /tmp/hoist-ssh-fanout.XXXXXX)"
# The test bed's sshd reads DIR/authorized_keys as the test user too.
chmod 755 "$work"
tb="$work/tb"
logs="$work/logs"
results="$work/results.tsv"
payload="$work/payload.bin"
cg_root=/sys/fs/cgroup/cpuacct
cg="$cg_root/hoist-ssh-fanout-$$"
use_cg=no
finished=no
mkdir -p "$logs"

note() { printf 'run-ssh-fanout: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Cleanup: test bed down, ssh masters closed, leftover processes of the tool runs ended (by
# PID, from the tool cgroup: only processes this script started), cgroups removed.

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$?
  set +e
  close_masters
  if [[ -f $tb/testbed.conf ]]; then scripts/testbed down "$tb" >/dev/null 2>&1 || note "could not bring down $tb"; fi
  if [[ $use_cg == yes ]]; then
    end_leftovers
    rmdir "$cg/tool" "$cg/testbed" "$cg" 2>/dev/null || note "left $cg (still has processes?)"
  fi
  if [[ $keep == yes || $finished != yes ]]; then
    note "logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Closes the ControlPersist masters of Ansible's runs (they outlive ansible-playbook).
close_masters() {
  local s
  for s in "$work"/cp-*/*; do
    [[ -S $s ]] && timeout 5 ssh -o ControlPath="$s" -O exit testbed-host >/dev/null 2>&1
  done
  rm -rf "$work"/cp-*
}

# Ends what is left in the tool cgroup after a run (daemonised helpers of the tool run).
end_leftovers() {
  local pid left
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=$(cat "$cg/tool/cgroup.procs" 2>/dev/null) || return 0
    [[ -z $left ]] && return 0
    for pid in $left; do kill -TERM "$pid" 2>/dev/null; done
    sleep 0.2
  done
  while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$cg/tool/cgroup.procs"
}

# ---------------------------------------------------------------------------------------------
# Set-up: binaries, venv, cgroups, test bed, payload, the Ansible and pyinfra projects.

cargo build --release -p hoist-bench --bin ssh_fanout_hoist --bin ssh_fanout_floor
bin="$root/target/release"

if [[ ! -x $venv/bin/ansible-playbook || ! -x $venv/bin/pyinfra ]]; then
  note "installing ansible-core and pyinfra into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet ansible-core pyinfra
fi
ansible_version="$("$venv/bin/ansible" --version | sed -n '1s/^ansible \[core \(.*\)\]$/\1/p')"
pyinfra_version="$("$venv/bin/pyinfra" --version | sed 's/^pyinfra: v//')"
openssh_version="$(ssh -V 2>&1 | cut -d, -f1)"

if [[ -w $cg_root ]] && mkdir "$cg" 2>/dev/null && mkdir "$cg/tool" "$cg/testbed"; then
  use_cg=yes
else
  note "no writable cpuacct cgroup: controller CPU from /usr/bin/time (misses daemonised ssh masters)"
fi
cg_join() { [[ $use_cg == yes ]] && echo "$BASHPID" >"$cg/$1/cgroup.procs"; return 0; }
cg_usage() { if [[ $use_cg == yes ]]; then cat "$cg/$1/cpuacct.usage"; else echo 0; fi; }

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
(cg_join testbed; exec scripts/testbed up --port "$port" "$max_hosts" "$tb") >"$logs/testbed-up.log" 2>&1 ||
  { cat "$logs/testbed-up.log" >&2; exit 1; }
# Every address the tools will be given must be the test bed's loopback.
if awk -F'\t' '!/^#/ && $2 !~ /^127\./ { bad = 1 } END { exit !bad }' "$tb/hosts.tsv"; then
  note "the test bed lists a non-loopback address"; exit 1
fi
head -c 1048576 /dev/urandom >"$payload"

# Ansible: a config and a playbook; the inventory is the test bed's (its ansible_ssh_common_args
# `-F DIR/ssh_config` make ssh verify host keys strictly against DIR/known_hosts).
mkdir -p "$work/ansible"
cat >"$work/ansible/ansible.cfg" <<EOF
[defaults]
forks = 50
gathering = explicit
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
local_tmp = $work/ansible/tmp
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s
EOF
{
  echo "- hosts: testbed"
  echo "  gather_facts: false"
  echo "  tasks:"
  for i in 0 1 2 3 4 5 6 7 8 9; do
    echo "    - name: command $i"
    echo "      ansible.builtin.command: /bin/echo $i"
  done
  echo "    - name: upload"
  echo "      ansible.builtin.copy:"
  echo "        src: \"{{ fanout_payload }}\""
  echo "        dest: \"{{ fanout_dest }}\""
} >"$work/ansible/playbook.yml"

# pyinfra: a deploy and an inventory per size, from hosts.tsv.
mkdir -p "$work/pyinfra"
cat >"$work/pyinfra/deploy.py" <<'EOF'
import os

from pyinfra.operations import files, server

for i in range(10):
    server.shell(name=f"command {i}", commands=[f"/bin/echo {i}"])
files.put(name="upload", src=os.environ["FANOUT_PAYLOAD"], dest=os.environ["FANOUT_DEST"])
EOF
for n in $sizes; do
  {
    echo "hosts = ["
    awk -F'\t' -v n="$n" -v key="$tb/id_ed25519" -v kh="$tb/known_hosts" -v cfg="$tb/ssh_config" '
      !/^#/ && ++i <= n {
        printf "    (\"%s\", {\"ssh_port\": %s, \"ssh_user\": \"%s\", \"ssh_key\": \"%s\", ", $2, $3, $4, key
        printf "\"ssh_known_hosts_file\": \"%s\", \"ssh_strict_host_key_checking\": \"yes\", ", kh
        printf "\"ssh_config_file\": \"%s\", \"ssh_allow_agent\": False, \"ssh_look_for_keys\": False}),\n", cfg
      }' "$tb/hosts.tsv"
    echo "]"
  } >"$work/pyinfra/inventory_$n.py"
done

# ---------------------------------------------------------------------------------------------
# Runs

# Checks that hosts 1..N hold the payload at DEST (read from outside, through each host's
# mount namespace) and removes it.
verify_upload() {
  local n=$1 dest=$2 i pid f ok=0
  for ((i = 1; i <= n; i++)); do
    pid=$(<"$tb/host$i/pid")
    f="/proc/$pid/root$dest"
    if cmp -s "$payload" "$f"; then ok=$((ok + 1)); fi
    rm -f "$f"
  done
  ((ok == n)) || { note "only $ok of $n hosts hold the uploaded file $dest"; return 1; }
}

# run_tool TOOL N RUN: one timed run; appends "tool n run wall_s cpu_s testbed_cpu_s" to the
# results.
run_tool() {
  local tool=$1 n=$2 run=$3
  local dest="/tmp/fanout-$tool-$n-$run.bin" log="$logs/$tool-$n-$run.log"
  local -a cmd
  case $tool in
    hoist) cmd=("$bin/ssh_fanout_hoist" --testbed "$tb" --hosts "$n" --payload "$payload" --dest "$dest") ;;
    floor) cmd=("$bin/ssh_fanout_floor" --testbed "$tb" --hosts "$n" --payload "$payload" --dest "$dest") ;;
    pyinfra)
      cmd=(env FANOUT_PAYLOAD="$payload" FANOUT_DEST="$dest"
        "$venv/bin/pyinfra" -y --parallel 50 "$work/pyinfra/inventory_$n.py" "$work/pyinfra/deploy.py")
      ;;
    ansible)
      mkdir -p "$work/cp-$n-$run"
      cmd=(env LC_ALL=C.UTF-8 ANSIBLE_CONFIG="$work/ansible/ansible.cfg" ANSIBLE_SSH_CONTROL_PATH_DIR="$work/cp-$n-$run"
        "$venv/bin/ansible-playbook" -i "$tb/inventory.ini" --limit "testbed[0:$((n - 1))]"
        -e "fanout_payload=$payload" -e "fanout_dest=$dest" "$work/ansible/playbook.yml")
      ;;
  esac
  local c0 s0 t0 t1 c1 s1 rc=0 cpu
  c0=$(cg_usage tool)
  s0=$(cg_usage testbed)
  t0=$EPOCHREALTIME
  if [[ $use_cg == yes ]]; then
    (cg_join tool; exec timeout 600 "${cmd[@]}") >"$log" 2>&1 || rc=$?
  else
    /usr/bin/time -f '%U %S' -o "$log.time" timeout 600 "${cmd[@]}" >"$log" 2>&1 || rc=$?
  fi
  t1=$EPOCHREALTIME
  c1=$(cg_usage tool)
  s1=$(cg_usage testbed)
  if [[ $use_cg == yes ]]; then
    cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  else
    cpu=$(awk '{ printf "%.3f", $1 + $2 }' "$log.time")
  fi
  close_masters
  [[ $use_cg == yes ]] && end_leftovers
  if ((rc != 0)); then
    note "$tool at $n hosts (run $run) failed with status $rc; its output:"
    tail -n 30 "$log" >&2
    return 1
  fi
  verify_upload "$n" "$dest" || { tail -n 30 "$log" >&2; return 1; }
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$n" "$run" "$wall" "$cpu" \
    "$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" >>"$results"
  note "$(printf '%-7s %2s hosts run %s: %7.3f s wall, %6.3f s controller CPU' "$tool" "$n" "$run" "$wall" "$cpu")"
}

tools="hoist floor pyinfra ansible"
for n in $sizes; do
  for ((run = 1; run <= runs; run++)); do
    for tool in $tools; do
      run_tool "$tool" "$n" "$run"
    done
  done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------------------------
# Figures: medians, ratios, goals; the section of BENCHMARKS.md.

# stats TOOL N COLUMN: "median min max" of a results column (4 wall, 5 cpu, 6 test-bed cpu).
stats() {
  awk -F'\t' -v t="$1" -v n="$2" -v c="$3" '$1 == t && $2 == n { print $c }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}
med() { stats "$1" "$2" "$3" | cut -d' ' -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
fmt_s() { awk -v x="$1" 'BEGIN { if (x < 10) printf "%.2f s", x; else printf "%.1f s", x }'; }
# per_host SECONDS N: SECONDS / N, in ms (or s from 1 s on).
per_host() { awk -v x="$1" -v n="$2" 'BEGIN { v = x / n; if (v < 1) printf "%.1f ms", v * 1000; else printf "%.2f s", v }'; }

table="$(mktemp)"
{
  echo "| tool | hosts | median wall | min – max | controller CPU / host | test-bed sshd CPU / host | wall vs floor | hoist faster by |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for n in $sizes; do
    floor_w=$(med floor "$n" 4)
    hoist_w=$(med hoist "$n" 4)
    for tool in $tools; do
      read -r w lo hi < <(stats "$tool" "$n" 4)
      c=$(med "$tool" "$n" 5)
      s=$(med "$tool" "$n" 6)
      if [[ $tool == hoist || $tool == floor ]]; then by="—"; else by="$(ratio "$w" "$hoist_w")x"; fi
      echo "| $tool | $n | $(fmt_s "$w") | $(fmt_s "$lo") – $(fmt_s "$hi") | $(per_host "$c" "$n") | $(per_host "$s" "$n") | $(ratio "$w" "$floor_w")x | $by |"
    done
  done
} >"$table"

goal_n=$max_hosts
status=0
goals="$(mktemp)"
{
  h=$(med hoist "$goal_n" 4)
  a=$(med ansible "$goal_n" 4)
  p=$(med pyinfra "$goal_n" 4)
  f=$(med floor "$goal_n" 4)
  check() { # label value op bar
    if awk -v v="$2" -v b="$4" -v op="$3" 'BEGIN { exit !((op == ">=") ? v >= b : v <= b) }'; then
      echo "| $1 | $2x | $3 $4x | met |"
    else
      echo "| $1 | $2x | $3 $4x | **missed** |"
      return 1
    fi
  }
  echo "| goal at $goal_n hosts | measured | bar | result |"
  echo "|---|---:|---:|---|"
  check "Ansible wall / hoist wall" "$(ratio "$a" "$h")" ">=" 40 || status=1
  check "pyinfra wall / hoist wall" "$(ratio "$p" "$h")" ">=" 3 || status=1
  check "hoist wall / floor wall" "$(ratio "$h" "$f")" "<=" 1.25 || status=1
} >"$goals"

cpus="$(nproc)"
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
mem_gib="$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1024 / 1024 }' /proc/meminfo)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then commit="$commit (with uncommitted changes)"; fi
if ((status == 0)); then verdict="all goals met"; else verdict="**a goal was missed**"; fi
if [[ $use_cg == yes ]]; then
  cpu_how="- Controller CPU per host: user + system time of every process of the run (a cpuacct
  cgroup per run, so Ansible's daemonised ssh ControlPersist masters count), over the hosts."
else
  cpu_how="- Controller CPU per host: user + system time from \`/usr/bin/time\` (waited-for
  children only: Ansible's daemonised ssh ControlPersist masters are missed), over the hosts."
fi

section="$(mktemp)"
{
  echo "$heading"
  echo
  echo "Goals (at 50 hosts): at least 40x faster than Ansible, at least 3x faster than pyinfra, and"
  echo "within 1.25x of the floor, a minimal hand-written russh program. The work, per host: connect,"
  echo "run 10 commands one after the other (\`/bin/echo 0\` … \`/bin/echo 9\`: a program on the host"
  echo "in every tool), upload a 1 MB file; all hosts at once, on the test bed's real \`sshd\` hosts"
  echo "(\`scripts/testbed\`, 127.0.1.x, which run on the same machine as the controller). Host keys"
  echo "are verified against the test bed's \`known_hosts\` by every tool."
  echo
  echo "- hoist (\`bench/src/bin/ssh_fanout_hoist.rs\`): a config-only \`Orchestration\`, namespace from"
  echo "  the test bed's inventory, a \`MultiTask\` of 10 command tasks and a copy chained with \`Deps\`,"
  echo "  concurrency 50, default readiness check (connect + ping per host), in-memory state."
  echo "- floor (\`bench/src/bin/ssh_fanout_floor.rs\`): russh + russh-sftp, one connection per host,"
  echo "  10 exec channels in sequence, one SFTP write of the file (32 KiB writes, 16 in flight)."
  echo "- pyinfra $pyinfra_version: 10 \`server.shell\` + \`files.put\`, \`-y --parallel 50\` (\`--no-wait\`"
  echo "  measured no faster)."
  echo "- Ansible (ansible-core $ansible_version): 10 \`command\` tasks + \`copy\`, \`gather_facts: false\`,"
  echo "  strategy linear, forks=50, pipelining, ControlMaster=auto ControlPersist=60s (a fresh control"
  echo "  path per run), \`interpreter_python=/usr/bin/python3\`; $openssh_version."
  echo
  echo "- Command: \`bench/run-ssh-fanout.sh --runs $runs\` (tools interleaved: for each size, for each"
  echo "  run: hoist, floor, pyinfra, ansible; each uploads to a new path, checked on every host)"
  echo "- Machine: $cpus CPUs (${cpu_model:-unknown model}), $mem_gib GiB memory; load average before the run: $load_before, after: $load_after"
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
  echo "- Result: $verdict"
  echo
  echo "Medians of $runs runs."
  echo "- Wall: the tool's process, from start to exit."
  echo "$cpu_how"
  echo "- Test-bed sshd CPU per host: the same for the test bed's sshd processes and what they ran."
  echo "  It competes with the controller for the same $cpus CPUs, so it bounds every tool's wall time"
  echo "  from below: about (controller + test-bed CPU) / $cpus."
  echo
  cat "$table"
  echo
  cat "$goals"
  echo
} >"$section"

if [[ ! -f $doc ]]; then
  printf '# Benchmarks\n\n' >"$doc"
fi
# Replace the section (from its heading to the next `## ` heading), or append it.
if grep -qxF "$heading" "$doc"; then
  awk -v heading="$heading" -v section="$section" '
    $0 == heading { while ((getline line < section) > 0) print line; skip = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
  ' "$doc" >"$doc.tmp"
  mv "$doc.tmp" "$doc"
else
  cat "$section" >>"$doc"
fi
rm -f "$table" "$goals" "$section"
cat "$results" >&2
finished=yes
echo "updated $doc"
exit "$status"
