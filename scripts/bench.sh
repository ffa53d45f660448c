#!/usr/bin/env bash
# The CPU benchmarks in bench/, one after another; each prints its result beside its baseline and the ratio.
#   npm run bench                      # all of them (tens of minutes; run on a quiet machine)
#   npm run bench -- novelty codec     # only these (names below)
#   npm run bench -- --list            # the names and the command each runs
# Arguments for one benchmark: run its command directly (bench/README.md lists each one's options).
# The GPU benchmarks (bench/gpu_*.py) are not run here: they need a CUDA device.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=remote-python/.venv/bin/python

# name|command (run from the repository root)
BENCHMARKS=(
  "codec|npx tsx bench/protocol-codec.ts"
  "novelty|$PY bench/novelty_bench.py"
  "eval|$PY bench/eval_bench.py"
  "sandbox|$PY bench/sandbox_overhead.py"
  "generation|$PY bench/generation_bench.py"
  "demo-model|$PY bench/demo_model_bench.py --baseline"
  "ray|$PY bench/ray_bench.py"
  "ssh|npx tsx bench/ssh-transport.ts"
  "session|npx tsx bench/session-throughput.ts"
  "dashboard|npx tsx bench/dashboard-bench.ts"
)

names() { for entry in "${BENCHMARKS[@]}"; do printf '%s ' "${entry%%|*}"; done; }

if [ "${1:-}" = --list ] || [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
  for entry in "${BENCHMARKS[@]}"; do printf '%-11s %s\n' "${entry%%|*}" "${entry#*|}"; done
  exit 0
fi

selected=()
if [ $# -eq 0 ]; then
  selected=("${BENCHMARKS[@]}")
else
  for name in "$@"; do
    found=
    for entry in "${BENCHMARKS[@]}"; do
      if [ "${entry%%|*}" = "$name" ]; then selected+=("$entry"); found=1; fi
    done
    if [ -z "$found" ]; then
      echo "bench: no benchmark named '$name'; the names are: $(names)" >&2
      exit 2
    fi
  done
fi

if [ ! -x "$PY" ]; then
  echo "bench: $PY is missing; run 'bash scripts/setup.sh' (or npm test once) to create the backend's venv" >&2
  exit 2
fi

failed=()
for entry in "${selected[@]}"; do
  name=${entry%%|*}
  read -r -a command <<<"${entry#*|}"
  echo "== $name: ${command[*]}"
  if ! "${command[@]}"; then
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
