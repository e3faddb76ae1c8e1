#!/usr/bin/env bash
# Installs what Syncmesh needs on a fresh Debian/Ubuntu machine: nats-server (apt, when missing), redis-server,
# openssl and iproute2 for the tests and the bench (apt, when missing),
# Chromium for the browser tests (apt, when missing; --no-browser skips it), and the npm dependencies,
# then builds.
# Elsewhere (macOS, no root) it stops and names the exact command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=1
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=1 ;;
    --no-browser) with_browser=0 ;;
    *) echo "setup: unknown option $arg (known: --no-browser, --with-browser)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then return 1; fi
  if [ "$apt_updated" = 0 ]; then
    step "apt-get update"
    as_root apt-get update -qq || return 1
    apt_updated=1
  fi
  step "apt-get install -y $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || return 1
}

if [ -n "${NATS_SERVER_BIN:-}" ] || command -v nats-server >/dev/null 2>&1; then
  echo "nats-server: $(${NATS_SERVER_BIN:-nats-server} --version)" >&2
else
  if ! apt_install nats-server; then
    cat >&2 <<'MSG'
setup: nats-server is not installed and could not be installed automatically.
  Debian/Ubuntu: sudo apt-get install -y nats-server
  macOS:         brew install nats-server
  otherwise:     put nats-server (2.9 or newer) on PATH, or set NATS_SERVER_BIN to its path.
Then run this setup again.
MSG
    exit 1
  fi
  echo "nats-server: $(nats-server --version)" >&2
fi

# Tools the tests and the bench use: redis-server (the Socket.IO peer of the load bench), openssl (test
# certificates for TLS), ip from iproute2 (network-namespace test of socket nodes on separate addresses).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ]; then
  if ! apt_install "${missing[@]}"; then
    echo "setup: the tests need ${missing[*]}: sudo apt-get install -y ${missing[*]} (or your system's packages of the same names)." >&2
    exit 1
  fi
fi

if [ "$with_browser" = 1 ]; then
  if [ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_BIN:-}" ]; then
    echo "chromium: present" >&2
  elif ! apt_install chromium; then
    echo "setup: Chromium is needed for the browser tests: sudo apt-get install -y chromium (or set CHROMIUM_BIN)." >&2
    exit 1
  fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed (found $(node --version))." >&2
  exit 1
fi

step "npm ci"
npm ci --no-audit --no-fund
step "build"
npm run build --silent
echo "setup: done" >&2
