#!/usr/bin/env bash
# Installs what Syncmesh needs on a fresh Debian/Ubuntu machine: nats-server 2.12+ (below), redis-server,
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

# nats-server 2.12 or newer (docs/deployment.md): older ones work, but stall writes on block-cache growth
# (the push tail, docs/performance.md P5) and answer retried writes differently. Debian stable has 2.9;
# Debian unstable has a current release, fetched with apt (signatures checked) into .tools/nats-server/,
# where `syncmesh cluster`, the tests and the bench look first (runtime/nats-launcher.ts). The system's
# packages are left as they are. NATS_SERVER_BIN, when set, is used as it is.
NATS_MIN=2.12
# The release the suite last passed on; when Debian unstable has moved past it, its current one is taken.
NATS_TESTED=2.15.1-1
TOOLS_NATS=.tools/nats-server/nats-server

nats_version() { "$1" --version 2>/dev/null | sed -n 's/^nats-server: v\{0,1\}\([0-9][0-9.]*\).*/\1/p'; }
at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

fetch_nats_from_debian() {
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || return 1
  [ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || return 1
  local work
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: unstable\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$work/parts/unstable.sources"
  local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/parts" -o "Dir::State::Lists=$work/lists"
    -o "Dir::Cache=$work/cache" -o "Dir::State::status=/dev/null" -o "Acquire::Languages=none" -o "APT::Sandbox::User=$(id -un)")
  step "nats-server $NATS_MIN+ from Debian unstable (apt download, signatures checked) into .tools/nats-server/"
  if apt-get "${opts[@]}" update -qq &&
    (cd "$work" && { apt-get "${opts[@]}" download -qq "nats-server=$NATS_TESTED" 2>/dev/null || apt-get "${opts[@]}" download -qq nats-server; }) &&
    dpkg-deb -x "$work"/nats-server_*.deb "$work/root" && [ -x "$work/root/usr/sbin/nats-server" ]; then
    mkdir -p "$(dirname "$TOOLS_NATS")"
    install -m 0755 "$work/root/usr/sbin/nats-server" "$TOOLS_NATS"
    rm -rf "$work"
    local v
    v=$(nats_version "$TOOLS_NATS")
    if [ -n "$v" ] && at_least "$v" "$NATS_MIN"; then return 0; fi
    echo "setup: the fetched nats-server does not run here or is older than $NATS_MIN (${v:-no version}); not used" >&2
    rm -f "$TOOLS_NATS"
    return 1
  fi
  rm -rf "$work"
  return 1
}

if [ -n "${NATS_SERVER_BIN:-}" ]; then
  echo "nats-server: $("$NATS_SERVER_BIN" --version) (NATS_SERVER_BIN)" >&2
elif [ -x "$TOOLS_NATS" ] && v=$(nats_version "$TOOLS_NATS") && [ -n "$v" ] && at_least "$v" "$NATS_MIN"; then
  echo "nats-server: $v ($TOOLS_NATS)" >&2
elif command -v nats-server >/dev/null 2>&1 && v=$(nats_version nats-server) && [ -n "$v" ] && at_least "$v" "$NATS_MIN"; then
  echo "nats-server: $v ($(command -v nats-server))" >&2
elif fetch_nats_from_debian; then
  echo "nats-server: $(nats_version "$TOOLS_NATS") ($TOOLS_NATS)" >&2
else
  # No newer one could be had: the system's (from apt when missing) works, with the longer push tail.
  if ! command -v nats-server >/dev/null 2>&1 && ! apt_install nats-server; then
    cat >&2 <<'MSG'
setup: nats-server is not installed and could not be installed automatically.
  Debian/Ubuntu: sudo apt-get install -y nats-server
  macOS:         brew install nats-server
  otherwise:     put nats-server (2.12 or newer; 2.9 works) on PATH, or set NATS_SERVER_BIN to its path.
Then run this setup again.
MSG
    exit 1
  fi
  echo "nats-server: $(nats_version nats-server) ($(command -v nats-server)); $NATS_MIN or newer is recommended (docs/deployment.md)" >&2
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
