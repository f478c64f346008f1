#!/usr/bin/env bash
# AWS provisioning at scale: starts a fresh moto_server (scripts/moto), builds and runs the
# `aws_scale` benchmark (bench/aws) behind the fault proxy at the chosen concurrency (10, the
# bar) and at 20 and 100 (for information), then rewrites the "AWS provisioning at scale" section of
# BENCHMARKS.md with the figures, the machine and the date.
#
#   bench/run-aws-scale.sh [--instances N] [--latency-ms MS]
#
# A release build (the first one compiles aws-sdk-ec2 optimised: about ten minutes here): in a
# debug build the SDK's own work (signing, XML) costs ~15 ms per call, which the benchmark would
# otherwise count against hoist. Exits non-zero if the bar is missed (the section is rewritten
# either way). Benchmarks run on demand, never in CI.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
doc="$root/BENCHMARKS.md"
heading="## AWS provisioning at scale"

out="$(mktemp)"
info="$(mktemp)"
info20="$(mktemp)"
section="$(mktemp)"
moto_dir="$(mktemp -d /tmp/hoist-bench-moto.XXXXXX)"
trap 'scripts/moto down "$moto_dir"; rm -rf "$moto_dir"; rm -f "$out" "$info" "$info20" "$section" "$doc.tmp"' EXIT

cargo build --release -p hoist-bench-aws --bin aws_scale
HOIST_TEST_MOTO_URL="$(scripts/moto up "$moto_dir")"
export HOIST_TEST_MOTO_URL
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
status=0
cargo run --release --quiet -p hoist-bench-aws --bin aws_scale -- --concurrency 10 "$@" | tee "$out" || status=$?
cargo run --release --quiet -p hoist-bench-aws --bin aws_scale -- --concurrency 20 "$@" | tee "$info20" || true
cargo run --release --quiet -p hoist-bench-aws --bin aws_scale -- --concurrency 100 "$@" | tee "$info" || true
moto_version="$("${HOIST_MOTO_VENV:-$HOME/.cache/hoist/moto-venv}/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')"

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
  echo "Bar: provisioning makespan within 1.15x of the critical-path bound (the sequential EC2 calls"
  echo "along the deepest path at the chosen concurrency, times the per-call latency), and teardown"
  echo "likewise; nothing of the system left in the emulator afterwards. The model"
  echo "(\`bench/aws/src/main.rs\`): 100 instances, each launched on its own network interface and"
  echo "given its own Elastic IP, in one VPC, subnet and security group; moto_server behind the fault"
  echo "proxy (\`hoist_aws::testing::FaultProxy\`), which adds 200 ms to every call."
  echo
  echo "The per-call latency is measured, not assumed: the mean time of one EC2 call end to end (the"
  echo "200 ms, plus moto's service time and the client's), from a small copy of the model"
  echo "provisioned and torn down one call at a time just before the run. The bound against the"
  echo "200 ms alone is shown for information. The \"against this run's mean call time\" rows use the"
  echo "mean time a call took during the run itself, queueing in moto included: moto serves calls"
  echo "in one Python process, so they queue in it as concurrency grows; the gap between that bound"
  echo "and the makespan is hoist's (scheduling, the instance poller's gathering pause)."
  echo
  echo "- Command: \`bench/run-aws-scale.sh${*:+ $*}\` (\`cargo run --release -p hoist-bench-aws --bin aws_scale\`)"
  echo "- Machine: $cpus CPUs (${cpu_model:-unknown model}), $mem_gib GiB memory; load average before the run: $load_before"
  echo "- Emulator: moto ${moto_version:-unknown} (moto_server on 127.0.0.1, reset before the run)"
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
  echo "- Result: $verdict"
  echo
  echo "### At concurrency 10 (the bar)"
  echo
  cat "$out"
  echo
  echo "### At concurrency 20 (for information: the issue's orientation figure, a loop with 20 in flight, took 6.6 s up)"
  echo
  cat "$info20"
  echo
  echo "### At concurrency 100 (for information: moto is the bottleneck)"
  echo
  cat "$info"
  echo
} >"$section"

# Replace the section (from its heading to the next `## ` heading), or append it.
if grep -qxF "$heading" "$doc"; then
  awk -v heading="$heading" -v section="$section" '
    $0 == heading { while ((getline line < section) > 0) print line; skip = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
  ' "$doc" >"$doc.tmp"
  mv "$doc.tmp" "$doc"
else
  printf '\n' >>"$doc"
  cat "$section" >>"$doc"
fi

echo "updated $doc"
exit "$status"
