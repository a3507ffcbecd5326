#!/usr/bin/env bash
# The root the harness runs a current Docker engine from: Debian 13 (trixie) debootstrapped with its
# docker.io (26.1), which needs trixie's glibc and so cannot run on this Debian 12 host directly.
# The harness makes it the root of each engine's private mount namespace (scripts/harness/engine.ts).
# Built once and kept in $BERTH_CLOUD_CACHE (default /var/cache/berth), like the local cloud's base
# image; a changed package list rebuilds it (the stamp records the list).
set -euo pipefail
cache=${BERTH_CLOUD_CACHE:-/var/cache/berth}
root=$cache/engine-trixie
mirror=${BERTH_CLOUD_MIRROR:-http://deb.debian.org/debian}
# docker.io pulls containerd and runc; tini is docker-init (`--init`), only recommended; runsc is
# gVisor, the gvisor sandbox's runtime (infra/sandbox.ts), as a node with berth:sandbox gvisor has it.
packages=docker.io,tini,iptables,iproute2,ca-certificates,procps,runsc
if [[ -f $root/.berth-root-complete && "$(cat "$root/.berth-root-complete")" == "$packages" ]]; then
  echo "==> current engine root: $root (cached)"
  exit 0
fi

echo "==> building the current engine root in $root (debootstrap trixie, a few minutes)"
# The previous root stays in place while the new one is built, and aside ($root.old) until the next
# rebuild: engines already running from it keep their binaries.
rm -rf "$root.tmp" "$root.old"
mkdir -p "$cache"
debootstrap --variant=minbase --include="$packages" trixie "$root.tmp" "$mirror" >"$cache/debootstrap-trixie.log" 2>&1 ||
  { tail -n 30 "$cache/debootstrap-trixie.log" >&2; exit 1; }
chroot "$root.tmp" apt-get clean
echo "$packages" >"$root.tmp/.berth-root-complete"
if [[ -e $root ]]; then mv "$root" "$root.old"; fi
mv "$root.tmp" "$root"
echo "==> current engine root ready: $root ($(chroot "$root" dockerd --version))"
