#!/usr/bin/env bash
# Installs what berth needs on a Debian 12 machine (run as root): the Debian packages that provide
# the real daemons (dockerd 20.10, etcd, Keystone, nfs-ganesha, a registry, HAProxy), the docker
# CLIs and docker-compose, python3 (the nodes' stale overlay clean-up runs on it), the npm
# dependencies, and Debian's Node 18 (unpacked, not installed) so the suite can prove the proxy
# bundle runs on the manager's Node (Debian's Node 18 loads acorn, cjs-module-lexer and undici from
# /usr/share/nodejs, hence those three packages), and what the local cloud boots its machines with
# (systemd-nspawn, debootstrap, apt-cacher-ng), and the Debian 13 root the current engine line's tests
# run Docker 26 from (scripts/harness/current-engine-root.sh). Idempotent: it installs only what is missing and
# says what it did.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  docker.io docker-compose docker-registry
  etcd-server etcd-client
  keystone uwsgi uwsgi-plugin-python3
  nfs-ganesha nfs-ganesha-vfs libnfs-utils
  haproxy busybox-static iputils-ping
  node-acorn node-cjs-module-lexer node-undici
  iproute2 iptables openssl procps util-linux curl ca-certificates openssh-server
  python3 runsc
  systemd-container debootstrap apt-cacher-ng
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "==> Debian packages: all present"
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "==> installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
else
  echo "==> npm dependencies: up to date"
fi

node18=.cache/node18
if [[ ! -x $node18/usr/bin/node ]]; then
  echo "==> unpacking Debian's Node 18 into $node18 (for the bundle compatibility test)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  version=$(apt-cache madison nodejs | awk '$3 ~ /^18\./ {print $3; exit}')
  (cd "$tmp" && apt-get download -qq "nodejs=$version" "libnode108=$version" 2>/dev/null)
  mkdir -p "$node18"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$node18"; done
fi
bash scripts/harness/current-engine-root.sh
echo "==> dependencies ready"
