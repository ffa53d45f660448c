#!/usr/bin/env bash
# The whole test suite (README: `npm test`). Installs what it needs, runs every check, and fails if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
PY=remote-python/.venv/bin/python
export PATH="$PWD/node_modules/.bin:$PATH"

failed=()
step() {
  local name=$1; shift
  printf '\n\033[1m== %s\033[0m\n' "$name"
  if ! "$@"; then failed+=("$name"); fi
}

step "typecheck"        npm run -s typecheck
step "eslint"           npm run -s lint
step "schema drift"     npm run -s schema:check
step "build"            npm run -s build
step "ruff"             "$PY" -m ruff check remote-python
step "import layers"    bash -c "cd remote-python && .venv/bin/lint-imports"
step "ruff (bench)"     "$PY" -m ruff check --config remote-python/pyproject.toml bench
step "pytest"           bash -c "cd remote-python && .venv/bin/python -m pytest -q -p no:cacheprovider"
step "node tests"       node scripts/run-node-tests.mjs

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all checks passed"
