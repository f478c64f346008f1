#!/usr/bin/env bash
# Planning at scale: builds and runs the `plan_scale` benchmark (release build), then rewrites
# the "Planning at scale" section of BENCHMARKS.md with the figures, the machine and the date.
#
#   bench/run-plan-scale.sh [--iterations N]
#
# Exits non-zero if the benchmark misses a bar (the section is rewritten either way).
# Benchmarks run on demand, never in CI.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
doc="$root/BENCHMARKS.md"
heading="## Planning at scale"

out="$(mktemp)"
section="$(mktemp)"
trap 'rm -f "$out" "$section" "$doc.tmp"' EXIT

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release -p hoist-bench --bin plan_scale
status=0
cargo run --quiet --release -p hoist-bench --bin plan_scale -- "$@" | tee "$out" || status=$?

cpus="$(nproc)"
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
mem_gib="$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1024 / 1024 }' /proc/meminfo)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  commit="$commit (with uncommitted changes)"
fi
if [ "$status" -eq 0 ]; then verdict="all bars met"; else verdict="**a bar was missed** (exit status $status)"; fi

{
  echo "$heading"
  echo
  echo "Bar: planning a model of 10,000 resources, 10,000 roles and 50,000 tasks takes under 1 s and"
  echo "under 300 MB, and \`plan()\` itself under 0.5 s (issue 10). The model"
  echo "(\`bench/src/bin/plan_scale.rs\`): an infra model with a network, a"
  echo "security group, 16 subnets, a database server with a public IP and a \`Multi<Server>\` whose"
  echo "children the namespace makes; a namespace of 10,000 roles, each on \`infra.app.mine()\`, with"
  echo "variables at three scopes (one wired to the role's own server's output); a config model whose"
  echo "\`MultiTask\` fans a five-task struct with its own \`Deps\` out over every role."
  echo
  echo "- Command: \`bench/run-plan-scale.sh${*:+ $*}\` (\`cargo run --release -p hoist-bench --bin plan_scale\`)"
  echo "- Machine: $cpus CPUs (${cpu_model:-unknown model}), $mem_gib GiB memory; load average before the run: $load_before"
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
  echo "- Result: $verdict"
  echo
  cat "$out"
  echo
} >"$section"

if [ ! -f "$doc" ]; then
  cat >"$doc" <<'EOF'
# Benchmarks

hoist's quality bars are measured by benchmarks, not by timed tests. Benchmarks run on demand,
never in CI: each section names the script that produced it, and running that script again
rewrites the section. Each section shows the command, the machine (CPUs, memory), the date and
the measured figures. Timings depend on what else the machine is doing, so each section also
records the load average before its run; compare figures taken under similar load.

EOF
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

echo "updated $doc"
exit "$status"
