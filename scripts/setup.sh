#!/usr/bin/env bash
# Installs everything the tests and the demo need on a fresh Debian machine; cheap to re-run (each step checks first).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------------------------
need_apt=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need_apt+=(openssh-client)
command -v git >/dev/null 2>&1 || need_apt+=(git)
# zsh and fish: shellQuote's tests check that argv survives every login shell a GPU host may have.
command -v zsh >/dev/null 2>&1 || need_apt+=(zsh)
command -v fish >/dev/null 2>&1 || need_apt+=(fish)
# Debian's Chromium, driven by playwright-core in the dashboard and e2e tests (never `npx playwright install`).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  say "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- npm dependencies ------------------------------------------------------------------------------------------
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f node_modules/.archloop-lock-$lock_hash ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.archloop-lock-$lock_hash
fi

# --- Python venv for the backend -------------------------------------------------------------------------------
# torch==2.13.0 first: on these machines that pin is a CPU wheel on local disk; an unpinned torch pulls a CUDA build.
VENV=$ROOT/remote-python/.venv
py_hash=$(cat remote-python/pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$VENV/.archloop-$py_hash" ]; then
  say "python venv at remote-python/.venv"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q -e "remote-python[dev,ray]"  # ray: the Ray executor and its tests
  touch "$VENV/.archloop-$py_hash"
fi

# --- LEMUR's corpus: the nn-dataset 2.1.2 wheel (the last that ships ab/nn/nn and ab/nn/stat), read as a zip -------
LEMUR_DIR=$HOME/.cache/archloop/lemur
if [ ! -f "$LEMUR_DIR/nn_dataset-2.1.2-py3-none-any.whl" ]; then
  say "LEMUR corpus (nn-dataset 2.1.2 wheel, ~100 MB) into $LEMUR_DIR"
  "$VENV/bin/pip" download -q nn-dataset==2.1.2 --no-deps -d "$LEMUR_DIR"
fi

# --- the embedded demo's model: built once from the seed corpus, cached in ~/.cache/archloop/models ----------------
# (the demo run and the e2e tests need it; a warm cache answers in seconds)
say "demo model (the first time: about 5 minutes on 2 cores)"
"$VENV/bin/python" -m archloop prepare-demo

# --- code-server + Chromium for the e2e tests (cached outside the repo; a warm cache returns at once) --------------
if [ "${ARCHLOOP_SKIP_E2E:-}" = 1 ]; then
  say "ARCHLOOP_SKIP_E2E=1: not installing code-server (e2e tests will be skipped)"
else
  bash scripts/install-code-server.sh >/dev/null
fi
say "ready"
